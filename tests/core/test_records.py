"""core.records: the reject record, reason codes and id rules."""

import datetime as dt
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schemas
from pipelines.core import records as r

PROPERTY = settings(max_examples=150, deadline=None)
UTC = dt.timezone.utc
INGESTED_AT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


# --- reason codes --------------------------------------------------------------------------------------

def test_reason_codes_are_upper_snake_and_equal_their_names():
    codes = {name: value for name, value in vars(r).items() if isinstance(value, str) and name.isupper()
             and re.fullmatch(r"[A-Z_]+", value) and name not in ("RAW_FIELDS",)}
    assert len(codes) >= 17
    for name, value in codes.items():
        assert value == name
        assert re.fullmatch(r"[A-Z]+(_[A-Z]+)*", value)


def test_raw_fields_cover_what_normalize_reads():
    assert len(r.RAW_FIELDS) == len(set(r.RAW_FIELDS)) == 14
    assert {"source_type", "source", "title", "body", "text_is_html", "published_at"} <= set(r.RAW_FIELDS)


# --- Reject.to_row ---------------------------------------------------------------------------------------

def test_reject_row_fits_the_schema():
    reject = r.Reject("read_documents", r.DECODE_ERROR, "not UTF-8", "document", "docs/a.txt",
                      guid=None, title="T", payload=b"caf\xe9")
    row = reject.to_row("run-1", INGESTED_AT)
    assert schemas.check_row(row, schemas.REJECT_SCHEMA) == []
    assert set(row) == set(schemas.REJECT_SCHEMA.names)
    assert re.fullmatch(r"[0-9a-f]{32}", row["reject_id"])
    assert row["payload_truncated"] is False


def test_reject_row_without_payload():
    row = r.Reject("s", "R", "m", "feed", "src").to_row("run", INGESTED_AT)
    assert row["payload"] is None and row["payload_truncated"] is False
    assert schemas.check_row(row, schemas.REJECT_SCHEMA) == []


def test_message_becomes_one_line():
    row = r.Reject("s", "R", "multi\nline \t  message", "feed", "src").to_row("run", INGESTED_AT)
    assert row["message"] == "multi line message"


def test_payload_is_capped():
    payload = b"a" * r.PAYLOAD_CAP + b"tail"
    row = r.Reject("s", "R", "m", "feed", "src", payload=payload).to_row("run", INGESTED_AT)
    assert len(row["payload"]) == r.PAYLOAD_CAP == 1 << 20
    assert row["payload_truncated"] is True
    at_cap = r.Reject("s", "R", "m", "feed", "src", payload=b"a" * r.PAYLOAD_CAP).to_row("run", INGESTED_AT)
    assert at_cap["payload_truncated"] is False


def test_reject_id_is_stable_and_depends_on_identity():
    base = r.Reject("s", "R", "message", "feed", "src", guid="g", payload=b"p")
    same = r.Reject("s", "R", "another message", "feed", "src", guid="g", payload=b"p")
    row = base.to_row("run-1", INGESTED_AT)
    assert row["reject_id"] == base.to_row("run-2", INGESTED_AT + dt.timedelta(days=1))["reject_id"]
    assert row["reject_id"] == same.to_row("run-1", INGESTED_AT)["reject_id"]
    for other in (r.Reject("t", "R", "m", "feed", "src", guid="g", payload=b"p"),
                  r.Reject("s", "Q", "m", "feed", "src", guid="g", payload=b"p"),
                  r.Reject("s", "R", "m", "feed", "other", guid="g", payload=b"p"),
                  r.Reject("s", "R", "m", "feed", "src", guid="h", payload=b"p"),
                  r.Reject("s", "R", "m", "feed", "src", guid="g", payload=b"q"),
                  r.Reject("s", "R", "m", "feed", "src", guid="g")):
        assert other.to_row("run-1", INGESTED_AT)["reject_id"] != row["reject_id"]


def test_reject_is_frozen():
    reject = r.Reject("s", "R", "m", "feed", "src")
    with pytest.raises(AttributeError):
        reject.reason = "OTHER"


@PROPERTY
@given(st.text(min_size=1), st.text(), st.one_of(st.none(), st.text()), st.one_of(st.none(), st.binary()))
def test_reject_rows_always_fit_the_schema(source, message, guid, payload):
    row = r.Reject("stage", r.STAGE_ERROR, message, "feed", source, guid=guid, payload=payload).to_row(
        "run", INGESTED_AT)
    assert schemas.check_row(row, schemas.REJECT_SCHEMA) == []
    assert "\n" not in row["message"] and len(row["message"]) <= 300


# --- stage_error / json_payload -----------------------------------------------------------------------

def test_stage_error_keeps_the_record():
    record = {"source_type": "feed", "source": "https://ex.com/rss", "guid": "g", "title": "T" * 600,
              "published_at": INGESTED_AT}
    reject = r.stage_error("normalize", record, TypeError("bad title"))
    assert reject.reason == r.STAGE_ERROR and reject.stage == "normalize"
    assert reject.message == "TypeError: bad title"
    assert reject.source == "https://ex.com/rss" and reject.guid == "g"
    assert len(reject.title) == 500
    assert json.loads(reject.payload)["published_at"] == "2026-01-02 03:04:05+00:00"


def test_stage_error_source_fallbacks():
    assert r.stage_error("s", {"feed_url": "f", "url": "u"}, ValueError()).source == "f"
    assert r.stage_error("s", {"url": "u"}, ValueError()).source == "u"
    bare = r.stage_error("s", {}, ValueError("x"))
    assert (bare.source_type, bare.source, bare.title, bare.payload) == ("unknown", "", None, b"{}")
    assert r.stage_error("s", {"title": 12345}, ValueError()).title == "12345"


def test_json_payload_is_sorted_and_unicode():
    payload = r.json_payload({"b": "é", "a": dt.date(2020, 1, 2)})
    assert payload == '{"a": "2020-01-02", "b": "é"}'.encode()


# --- one_line ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [("a\n\nb\tc  d", "a b c d"), ("  x  ", "x"), ("", ""), (42, "42")])
def test_one_line(text, expected):
    assert r.one_line(text) == expected


def test_one_line_limit():
    assert r.one_line("a" * 300) == "a" * 300
    cut = r.one_line("a" * 301)
    assert len(cut) == 300 and cut.endswith("…")
    assert r.one_line("abcdef", limit=4) == "abc…"


# --- stable_hash / article_id ----------------------------------------------------------------------------

def test_stable_hash():
    assert re.fullmatch(r"[0-9a-f]{32}", r.stable_hash("a", "b"))
    assert len(r.stable_hash("a", length=16)) == 16
    assert r.stable_hash("a", "b") != r.stable_hash("b", "a")
    assert r.stable_hash("ab") != r.stable_hash("a", "b")
    assert r.stable_hash("a", None, "b") == r.stable_hash("a", "", "b")
    assert r.stable_hash("a", "b", length=64).startswith(r.stable_hash("a", "b"))


def test_article_id_key_precedence():
    by_guid = r.article_id("feed", "f", "g", "u", "h")
    assert by_guid == r.article_id("feed", "f", "g", "other-url", "other-hash")
    assert by_guid == r.stable_hash("feed", "f", "guid:g")
    by_url = r.article_id("feed", "f", None, "u", "h")
    assert by_url == r.article_id("feed", "f", "", "u", "other-hash") == r.stable_hash("feed", "f", "url:u")
    by_content = r.article_id("document", None, None, None, "h")
    assert by_content == r.stable_hash("document", None, "content:h")
    assert len({by_guid, by_url, by_content}) == 3


def test_article_id_scopes():
    assert r.article_id("feed", "f1", "g", None, "h") != r.article_id("feed", "f2", "g", None, "h")
    assert r.article_id("feed", "f", "g", None, "h") != r.article_id("document", "f", "g", None, "h")
    # a guid that happens to equal a URL is not confused with that URL
    assert r.article_id("feed", "f", "u", None, "h") != r.article_id("feed", "f", None, "u", "h")


@PROPERTY
@given(st.sampled_from(["feed", "document"]), st.one_of(st.none(), st.text()), st.one_of(st.none(), st.text()),
       st.one_of(st.none(), st.text()), st.text())
def test_article_id_is_deterministic_hex(source_type, feed_url, guid, url, digest):
    first = r.article_id(source_type, feed_url, guid, url, digest)
    assert first == r.article_id(source_type, feed_url, guid, url, digest)
    assert re.fullmatch(r"[0-9a-f]{32}", first)


def test_stable_hash_parts_cannot_collide_through_the_separator():
    assert r.stable_hash("a\x1fb") != r.stable_hash("a", "b")
    assert r.stable_hash("ab", "") != r.stable_hash("a", "b")
    assert r.stable_hash(None, "x") == r.stable_hash("", "x")


# --- ids of input records ----------------------------------------------------------------------------

def test_identical_records_at_two_positions_of_one_source_have_two_ids():
    """Two identical entries of one feed (say, both untitled) are two input records."""
    first, second = (r.Reject("normalize", r.MISSING_TITLE, "record has no title", "feed", "feeds/a.rss",
                              payload=b'{"title": null}', position=position) for position in (3, 4))
    rows = [first.to_row("run", INGESTED_AT), second.to_row("run", INGESTED_AT)]
    assert rows[0]["reject_id"] != rows[1]["reject_id"]
    assert [row["position"] for row in rows] == [3, 4]
    assert rows[0]["reject_id"] == first.to_row("run-2", INGESTED_AT)["reject_id"]  # stable across runs
    whole = r.Reject("read_feeds", r.FEED_MALFORMED, "not a feed", "feed", "feeds/a.rss", payload=b"x")
    assert whole.to_row("run", INGESTED_AT)["position"] is None


def test_every_reject_our_code_makes_keeps_the_rejects_rules():
    """The rejects' suite has no CheckRows before it (a reject cannot be rejected): its rules hold by
    construction, for every reason code and stage."""
    from pipelines.core import documents, feeds, normalize
    from pipelines.transforms import enrich, validate

    codes = [value for name, value in vars(r).items() if isinstance(value, str) and value == name and name.isupper()]
    stages = {documents.STAGE, feeds.STAGE, normalize.STAGE, enrich.STAGE, validate.STAGE}
    for code in codes:
        for stage in stages:
            for source_type in ("feed", "document", "unknown"):
                row = r.Reject(stage, code, "m", source_type, "src", position=0).to_row("run", INGESTED_AT)
                assert schemas.check_values(row, "rejects") == [], (stage, code)
    assert stages == set(schemas.rules.STAGES)
