"""core.normalize: raw article -> article row, or a reject."""

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schemas
from pipelines.core import records as r
from pipelines.core.documents import parse_document
from pipelines.core.feed_list import FeedSource
from pipelines.core.feeds import parse_feed
from pipelines.core.normalize import FUTURE_TOLERANCE, STAGE, normalize_article
from pipelines.core.text import content_hash

PROPERTY = settings(max_examples=150, deadline=None)
SEEDS = Path(__file__).resolve().parents[2] / "seeds"
UTC = dt.timezone.utc
INGESTED_AT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
RUN_ID = "run-test"
ENRICHMENT_PROBLEMS = ["word_count is null"]  # Enrich fills word_count later


def raw(**overrides):
    record = {
        "source_type": "feed", "source": "https://ex.com/rss", "source_name": "Ex",
        "feed_url": "https://ex.com/rss", "guid": "g-1", "url": "https://ex.com/a?utm_source=x&id=7",
        "title": "  Kabul   talks\nresume ", "summary": None,
        "body": "KABUL (Agencies): Afghan officials met on Sunday.\n\nThey talked for two hours.",
        "text_is_html": False, "authors": [], "categories": [],
        "published_at": dt.datetime(2020, 3, 9, 8, 30, tzinfo=UTC),
    }
    record.update(overrides)
    return record


def normalized(record, ingested_at=INGESTED_AT):
    row = normalize_article(record, RUN_ID, ingested_at)
    assert isinstance(row, dict), row
    return row


def rejected(record, ingested_at=INGESTED_AT):
    result = normalize_article(record, RUN_ID, ingested_at)
    assert isinstance(result, r.Reject), result
    return result


# --- rows ------------------------------------------------------------------------------------------

def test_row_from_raw_with_dateline():
    row = normalized(raw())
    assert row["title"] == "Kabul talks resume"
    assert row["body"] == "Afghan officials met on Sunday.\n\nThey talked for two hours."
    assert row["dateline_location"] == "KABUL" and row["dateline_credit"] == "Agencies"
    assert row["url"] == "https://ex.com/a?utm_source=x&id=7"
    assert row["canonical_url"] == "https://ex.com/a?id=7"
    assert row["content_hash"] == content_hash("Afghan officials met on Sunday. They talked for two hours.")
    assert row["cluster_size"] == 1
    assert row["run_id"] == RUN_ID and row["ingested_at"] == INGESTED_AT
    assert re.fullmatch(r"[0-9a-f]{32}", row["article_id"])
    assert row["article_id"] == r.article_id("feed", "https://ex.com/rss", "g-1", row["url"], row["content_hash"])


def test_row_passes_schema_check_except_enrichment():
    row = normalized(raw())
    assert list(row) == schemas.ARTICLE_SCHEMA.names
    assert schemas.check_row(row) == ENRICHMENT_PROBLEMS
    assert row["word_count"] is None and row["language"] is None and row["language_confidence"] is None


def test_row_without_dateline():
    row = normalized(raw(body="US officials said talks would resume."))
    assert row["dateline_location"] is None and row["dateline_credit"] is None
    assert row["body"] == "US officials said talks would resume."


def test_dateline_without_credit():
    row = normalized(raw(body="NEW DELHI, India — Rain fell on Monday."))
    assert (row["dateline_location"], row["dateline_credit"]) == ("NEW DELHI", None)
    assert row["body"] == "Rain fell on Monday."


def test_html_body_becomes_paragraphs():
    body = "<p>ROME (AP) — Italy extended its restrictions.</p><p>Public  gatherings<br>are banned.</p>"
    row = normalized(raw(body=body, text_is_html=True, summary="<b>Short</b> &amp; sweet"))
    assert row["body"] == "Italy extended its restrictions.\n\nPublic gatherings\n\nare banned."
    assert (row["dateline_location"], row["dateline_credit"]) == ("ROME", "AP")
    assert row["summary"] == "Short & sweet"


def test_plain_text_is_not_read_as_html():
    row = normalized(raw(body="Profits <b>rose</b> &amp; fell.", summary="a &amp; b"))
    assert row["body"] == "Profits <b>rose</b> &amp; fell."
    assert row["summary"] == "a &amp; b"


def test_empty_body_hashes_the_title():
    row = normalized(raw(body=None, summary=None))
    assert row["body"] == ""
    assert row["content_hash"] == content_hash("Kabul talks resume")
    assert row["summary"] is None
    assert schemas.check_row(row) == ENRICHMENT_PROBLEMS


def test_blank_summary_becomes_null():
    assert normalized(raw(summary="  <p> </p> ", text_is_html=True))["summary"] is None


def test_authors_and_categories_are_cleaned_and_deduplicated():
    row = normalized(raw(authors=["  Anna  Keller ", "Anna Keller", "", "  ", "Bo"],
                         categories=["World", "World ", "Climate\n"]))
    assert row["authors"] == ["Anna Keller", "Bo"]
    assert row["categories"] == ["World", "Climate"]


def test_no_url_means_no_canonical_url():
    row = normalized(raw(url=None))
    assert row["url"] is None and row["canonical_url"] is None
    assert schemas.check_row(row) == ENRICHMENT_PROBLEMS


def test_published_at_may_be_missing():
    row = normalized(raw(published_at=None))
    assert row["published_at"] is None


def test_published_up_to_a_day_after_the_run_is_kept():
    row = normalized(raw(published_at=INGESTED_AT + FUTURE_TOLERANCE))
    assert row["published_at"] == INGESTED_AT + dt.timedelta(days=1)


# --- identity and hashing ---------------------------------------------------------------------------

def test_content_hash_ignores_dateline_credit_and_whitespace():
    a = normalized(raw(body="KABUL (Agencies): Afghan officials met on Sunday.", guid="a"))
    b = normalized(raw(body="KABUL (AFP) --   Afghan officials\nmet on Sunday.\n\n", guid="b"))
    assert a["content_hash"] == b["content_hash"]
    assert (a["dateline_credit"], b["dateline_credit"]) == ("Agencies", "AFP")
    assert a["article_id"] != b["article_id"]


def test_content_hash_differs_for_different_text():
    a = normalized(raw(body="Officials met on Sunday."))
    b = normalized(raw(body="Officials met on Monday."))
    assert a["content_hash"] != b["content_hash"]


def test_article_id_is_stable():
    assert normalized(raw())["article_id"] == normalized(raw())["article_id"]
    # a later run gives the same id
    later = normalized(raw(), ingested_at=INGESTED_AT + dt.timedelta(days=30))
    assert later["article_id"] == normalized(raw())["article_id"]


@pytest.mark.parametrize("change", [
    {"guid": "g-2"},
    {"feed_url": "https://other.example/rss", "source": "https://other.example/rss"},
    {"source_type": "document"},
])
def test_article_id_differs_for_different_identity(change):
    assert normalized(raw(**change))["article_id"] != normalized(raw())["article_id"]


def test_article_id_falls_back_to_url_then_content():
    by_url = normalized(raw(guid=None))
    assert by_url["article_id"] == r.stable_hash("feed", "https://ex.com/rss", "url:https://ex.com/a?utm_source=x&id=7")
    # the link as published, so a re-post under a tracking URL keeps its own id
    assert normalized(raw(guid=None, url="https://ex.com/a?id=7"))["article_id"] != by_url["article_id"]
    by_content = normalized(raw(guid=None, url=None))
    assert by_content["article_id"] == r.stable_hash("feed", "https://ex.com/rss",
                                                     f"content:{by_content['content_hash']}")


# --- rejects ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("title", [None, "", "   \n\t", "\x00\x07"])
def test_missing_title(title):
    reject = rejected(raw(title=title))
    assert reject.reason == r.MISSING_TITLE
    assert reject.stage == STAGE == "normalize"
    assert reject.title is None and reject.guid == "g-1"
    assert reject.source_type == "feed" and reject.source == "https://ex.com/rss"
    assert json.loads(reject.payload)["guid"] == "g-1"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "/relative/link", "ftp://ex.com/a", "   ", "mailto:a@b.c"])
def test_bad_url(url):
    reject = rejected(raw(url=url))
    assert reject.reason == r.BAD_URL
    assert reject.title == "Kabul talks resume"
    assert json.loads(reject.payload)["url"] == url


def test_future_published_date():
    reject = rejected(raw(published_at=INGESTED_AT + FUTURE_TOLERANCE + dt.timedelta(microseconds=1)))
    assert reject.reason == r.FUTURE_PUBLISHED_DATE
    assert "2026-01-03" in reject.message
    reject = rejected(raw(published_at=dt.datetime(2030, 1, 1, tzinfo=UTC)))
    assert reject.reason == r.FUTURE_PUBLISHED_DATE


def test_reject_row_fits_the_reject_schema():
    row = rejected(raw(url="javascript:x")).to_row(RUN_ID, INGESTED_AT)
    assert schemas.check_row(row, schemas.REJECT_SCHEMA) == []


# --- seeds end to end (reader -> normalize) ----------------------------------------------------------

def _seed_raws():
    raws = []
    for path in sorted((SEEDS / "feeds").iterdir()):
        raws += parse_feed(FeedSource(str(path)), path.read_bytes()).entries
    for path in sorted((SEEDS / "documents").glob("*.txt")):
        raws.append(parse_document(str(path), path.read_bytes()))
    return raws


def test_every_seed_normalises_to_a_valid_row():
    rows = [normalized(record) for record in _seed_raws()]
    assert len(rows) == 11 + 7  # feed entries + documents in seeds/
    assert all(schemas.check_row(row) == ENRICHMENT_PROBLEMS for row in rows)
    assert len({row["article_id"] for row in rows}) == len(rows)
    by_title = {row["title"]: row for row in rows}
    kabul = by_title["Afghan officials and Taliban hold video conference"]
    assert (kabul["dateline_location"], kabul["dateline_credit"]) == ("KABUL", "Agencies")
    assert kabul["body"].startswith("Afghan government officials held a video conference")
    mumbai = by_title["Mumbai hit by early monsoon floods"]
    assert (mumbai["dateline_location"], mumbai["dateline_credit"]) == ("MUMBAI", "Reuters")
    assert "<p>" not in mumbai["body"] and "\n\n" in mumbai["body"]


def test_wire_copies_of_one_story_hash_alike():
    by_source = {}
    for record in _seed_raws():
        row = normalized(record)
        by_source.setdefault(row["title"], []).append(row)
    feed_mumbai = by_source["Mumbai hit by early monsoon floods"][0]
    doc_mumbai = by_source["Early monsoon rains flood parts of Mumbai"][0]
    assert feed_mumbai["content_hash"] == doc_mumbai["content_hash"]
    assert feed_mumbai["article_id"] != doc_mumbai["article_id"]


def test_tracking_url_variants_share_canonical_url():
    rows = [normalized(record) for record in _seed_raws()]
    bonn = {row["canonical_url"] for row in rows if "climate-talks-bonn" in (row["url"] or "")}
    assert bonn == {"https://news.example.org/world/2020/03/climate-talks-bonn?id=4411"}


# --- property --------------------------------------------------------------------------------------

_TEXT = st.one_of(st.none(), st.text(max_size=60), st.sampled_from([
    "<p>KABUL (AP): Officials met.</p><p>More.</p>", "WASHINGTON (Reuters) - The Fed cut rates.",
    "&amp; <b>bold</b>", "<script>x</script>", "  ", "PARIS (AFP) --"]))
_URL = st.one_of(st.none(), st.text(max_size=30), st.sampled_from([
    "https://ex.com/a", "http://Ex.com:80/x?utm_source=y#f", "javascript:x", "/rel", "HTTPS://EX.COM"]))
_STAMP = st.one_of(st.none(), st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2100, 1, 1),
                                           timezones=st.just(UTC)))
_RAW = st.fixed_dictionaries({
    "source_type": st.sampled_from(["feed", "document"]), "source": st.text(min_size=1, max_size=20),
    "source_name": st.one_of(st.none(), st.text(max_size=20)), "feed_url": st.one_of(st.none(), st.text(max_size=20)),
    "guid": st.one_of(st.none(), st.text(max_size=20)), "url": _URL, "title": _TEXT, "summary": _TEXT,
    "body": _TEXT, "text_is_html": st.booleans(), "authors": st.lists(st.text(max_size=10), max_size=3),
    "categories": st.lists(st.text(max_size=10), max_size=3), "published_at": _STAMP,
})


@PROPERTY
@given(_RAW)
def test_normalize_article_never_raises(record):
    result = normalize_article(record, RUN_ID, INGESTED_AT)
    if isinstance(result, r.Reject):
        assert result.stage == STAGE
        assert result.reason in (r.MISSING_TITLE, r.BAD_URL, r.FUTURE_PUBLISHED_DATE)
        assert result.to_row(RUN_ID, INGESTED_AT)["payload"] == r.json_payload(record)
    else:
        assert schemas.check_row(result) == ENRICHMENT_PROBLEMS
        assert result["title"] and "\n" not in result["title"]
        assert result["canonical_url"] is None or result["canonical_url"].startswith("http")
        assert result["body"] == result["body"].strip()


def test_published_at_in_another_zone_or_naive_is_stored_as_utc():
    kabul = dt.timezone(dt.timedelta(hours=4, minutes=30))
    row = normalized(raw(published_at=dt.datetime(2020, 3, 29, 18, 20, tzinfo=kabul)))
    assert row["published_at"] == dt.datetime(2020, 3, 29, 13, 50, tzinfo=UTC)
    assert row["published_at"].utcoffset() == dt.timedelta(0)
    naive = normalized(raw(published_at=dt.datetime(2020, 3, 29, 18, 20)))
    assert naive["published_at"] == dt.datetime(2020, 3, 29, 18, 20, tzinfo=UTC)
    assert schemas.check_row(row) == ["word_count is null"]
