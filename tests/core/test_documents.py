"""core.documents: plain-text documents (with optional YAML front matter) -> raw articles or rejects."""

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipelines.core import records as r
from pipelines.core.documents import STAGE, parse_document, parse_timestamp

PROPERTY = settings(max_examples=200, deadline=None)
SEEDS = Path(__file__).resolve().parents[2] / "seeds" / "documents"
UTC = dt.timezone.utc


def doc(text: str) -> bytes:
    return text.encode("utf-8")


def parsed(data: bytes, source: str = "docs/a.txt") -> dict:
    result = parse_document(source, data)
    assert isinstance(result, dict), result
    return result


def rejected(data: bytes, source: str = "docs/a.txt") -> r.Reject:
    result = parse_document(source, data)
    assert isinstance(result, r.Reject), result
    return result


# --- seeds ------------------------------------------------------------------------------------------

def test_real_seed_document():
    path = SEEDS / "000_fc173cf85abe3055.txt"
    raw = parsed(path.read_bytes(), str(path))
    assert raw["title"] == "Afghan officials and Taliban hold video conference"
    assert raw["published_at"] is None
    assert raw["url"] is None and raw["source_name"] is None
    assert raw["body"].lstrip().startswith("KABUL (Agencies): Afghan government officials")
    assert raw["source"] == str(path)
    assert set(raw) == set(r.RAW_FIELDS)
    assert raw["source_type"] == "document" and raw["text_is_html"] is False
    assert raw["feed_url"] is None and raw["guid"] is None and raw["summary"] is None
    assert raw["authors"] == [] and raw["categories"] == []


def test_seed_with_front_matter():
    raw = parsed((SEEDS / "001_bonn_climate_talks.txt").read_bytes())
    assert raw["url"] == "https://news.example.org/world/2020/03/climate-talks-bonn?id=4411"
    assert raw["source_name"] == "Example Wire"
    assert raw["published_at"] == dt.datetime(2020, 3, 9, 8, 30, tzinfo=UTC)
    assert raw["title"] == "Climate negotiators meet in Bonn to prepare for the next summit"
    assert "---" not in raw["body"] and "source:" not in raw["body"]


@pytest.mark.parametrize("path", sorted(SEEDS.glob("*.txt")), ids=lambda p: p.name)
def test_every_seed_parses(path):
    raw = parsed(path.read_bytes())
    assert raw["title"] and raw["body"].strip()


# --- front matter ----------------------------------------------------------------------------------

def test_front_matter_fields():
    raw = parsed(doc("---\nurl: https://ex.com/a\nsource: Wire\npublished: 2020-03-09T08:30:00+02:00\n---\n"
                     "Headline here\n\nFirst paragraph.\n\nSecond paragraph.\n"))
    assert raw["url"] == "https://ex.com/a"
    assert raw["source_name"] == "Wire"
    assert raw["published_at"] == dt.datetime(2020, 3, 9, 6, 30, tzinfo=UTC)
    assert raw["published_at"].utcoffset() == dt.timedelta(0)
    assert raw["title"] == "Headline here"
    assert raw["body"].strip() == "First paragraph.\n\nSecond paragraph."


@pytest.mark.parametrize("published,expected", [
    ("2020-03-09T08:30:00", dt.datetime(2020, 3, 9, 8, 30, tzinfo=UTC)),  # naive time is UTC
    ("2020-03-09 08:30:00", dt.datetime(2020, 3, 9, 8, 30, tzinfo=UTC)),
    ('"2020-03-09T08:30:00"', dt.datetime(2020, 3, 9, 8, 30, tzinfo=UTC)),  # a string, not a YAML timestamp
    ("2020-03-09", dt.datetime(2020, 3, 9, tzinfo=UTC)),  # date only: midnight UTC
    ('"2020-03-09"', dt.datetime(2020, 3, 9, tzinfo=UTC)),
    ("2020-03-09T08:30:00Z", dt.datetime(2020, 3, 9, 8, 30, tzinfo=UTC)),
    ('"2020-03-09T10:30:00-05:00"', dt.datetime(2020, 3, 9, 15, 30, tzinfo=UTC)),
])
def test_published_forms(published, expected):
    raw = parsed(doc(f"---\npublished: {published}\n---\nTitle\nBody"))
    assert raw["published_at"] == expected
    assert raw["published_at"].tzinfo is not None and raw["published_at"].utcoffset() == dt.timedelta(0)


def test_empty_front_matter_and_null_values():
    raw = parsed(doc("---\n---\nTitle\nBody"))
    assert raw["title"] == "Title" and raw["body"] == "Body"
    raw = parsed(doc("---\nurl:\nsource:\npublished:\n---\nTitle\n"))
    assert raw["url"] is None and raw["source_name"] is None and raw["published_at"] is None


def test_blank_lines_before_front_matter():
    raw = parsed(doc("\n\n---\nsource: S\n---\nTitle\n"))
    assert raw["source_name"] == "S" and raw["title"] == "Title"


def test_source_is_kept_as_text():
    assert parsed(doc("---\nsource: 42\n---\nT\n"))["source_name"] == "42"


def test_url_is_stripped():
    assert parsed(doc('---\nurl: " https://ex.com/a "\n---\nT\n'))["url"] == "https://ex.com/a"


def test_title_only_document_has_empty_body():
    raw = parsed(doc("  Just a headline  \n"))
    assert raw["title"] == "Just a headline" and raw["body"] == ""


def test_utf8_bom_is_accepted():
    raw = parsed(b"\xef\xbb\xbf---\nsource: S\n---\nCaf\xc3\xa9 headline\nBody")
    assert raw["title"] == "Café headline"
    assert raw["source_name"] == "S"


def test_front_matter_closing_line_may_have_trailing_spaces():
    assert parsed(doc("---\nsource: a\n---   \nTitle\n"))["title"] == "Title"


# --- rejects ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("data,reason", [
    (b"", r.EMPTY_DOCUMENT),
    (b"   \n\t\n  ", r.EMPTY_DOCUMENT),
    (b"---\nsource: x\n---\n\n   \n", r.EMPTY_DOCUMENT),
    (b"Title\x00with a NUL byte", r.BINARY_CONTENT),
    (bytes(range(1, 9)) * 10 + b"hello", r.BINARY_CONTENT),
    (b"caf\xe9", r.DECODE_ERROR),
    (b"Title\n\xff\xfe body", r.DECODE_ERROR),
    (b"---\nurl: [unclosed\n---\nTitle\n", r.BAD_FRONT_MATTER),
    (b"---\nurl:\thttps://ex.com\n---\nTitle\n", r.BAD_FRONT_MATTER),
    (b"---\n- a\n- b\n---\nTitle\n", r.BAD_FRONT_MATTER),
    (b"---\njust a string\n---\nTitle\n", r.BAD_FRONT_MATTER),
    (b"---\n~\n---\nTitle\n", r.BAD_FRONT_MATTER),
    (b"---\nauthor: Someone\n---\nTitle\n", r.BAD_FRONT_MATTER),
    (b"---\nsource: !!python/object:os.system x\n---\nTitle\n", r.BAD_FRONT_MATTER),
    (b"---\nurl: https://ex.com\nTitle\nBody\n", r.BAD_FRONT_MATTER),
    (b"---\n", r.BAD_FRONT_MATTER),
    (b"---\nurl: ftp://ex.com/a\n---\nTitle\n", r.BAD_URL),
    (b"---\nurl: /relative/path\n---\nTitle\n", r.BAD_URL),
    (b"---\nurl: javascript:alert(1)\n---\nTitle\n", r.BAD_URL),
    (b"---\nurl: 5\n---\nTitle\n", r.BAD_URL),
    (b"---\nurl: \"\"\n---\nTitle\n", r.BAD_URL),
    (b"---\npublished: yesterday\n---\nTitle\n", r.BAD_PUBLISHED_DATE),
    (b"---\npublished: 12345\n---\nTitle\n", r.BAD_PUBLISHED_DATE),
    (b"---\npublished: true\n---\nTitle\n", r.BAD_PUBLISHED_DATE),
    (b"---\npublished: \"\"\n---\nTitle\n", r.BAD_PUBLISHED_DATE),
    (b"---\npublished: \"2020-13-01\"\n---\nTitle\n", r.BAD_PUBLISHED_DATE),
    (b"---\npublished: \"9999-12-31T23:00:00-05:00\"\n---\nTitle\n", r.BAD_PUBLISHED_DATE),
])
def test_reject_reasons(data, reason):
    reject = rejected(data, "docs/bad.txt")
    assert reject.reason == reason
    assert reject.stage == STAGE == "read_documents"
    assert reject.source_type == "document"
    assert reject.source == "docs/bad.txt"
    assert reject.payload == data  # the bytes are kept for rejects/
    assert reject.message


def test_unknown_key_message_names_the_key():
    reject = rejected(b"---\nauthor: x\nsource: y\nlang: en\n---\nT\n")
    assert "author" in reject.message and "lang" in reject.message


def test_decode_error_message_names_the_byte():
    assert "byte 3" in rejected(b"caf\xe9").message


@pytest.mark.parametrize("published", ["2020-13-01", "2020-02-30", "2020-03-09 25:00:00"])
def test_impossible_unquoted_date_is_a_reject(published):
    result = parse_document("docs/a.txt", doc(f"---\npublished: {published}\n---\nTitle\n"))
    assert isinstance(result, r.Reject)
    assert result.reason in (r.BAD_PUBLISHED_DATE, r.BAD_FRONT_MATTER)


def test_crlf_front_matter():
    raw = parsed(b"---\r\nurl: https://ex.com/a\r\nsource: Wire\r\n---\r\nTitle\r\nBody\r\nMore\r\n")
    assert raw["title"] == "Title"
    assert raw["url"] == "https://ex.com/a"
    assert raw["source_name"] == "Wire"
    assert "\r" not in raw["body"] and raw["body"].split() == ["Body", "More"]


# --- parse_timestamp -------------------------------------------------------------------------------

def test_parse_timestamp():
    assert parse_timestamp(dt.date(2020, 1, 2)) == dt.datetime(2020, 1, 2, tzinfo=UTC)
    assert parse_timestamp(dt.datetime(2020, 1, 2, 3)) == dt.datetime(2020, 1, 2, 3, tzinfo=UTC)
    plus_two = dt.timezone(dt.timedelta(hours=2))
    stamp = parse_timestamp(dt.datetime(2020, 1, 2, 3, tzinfo=plus_two))
    assert stamp == dt.datetime(2020, 1, 2, 1, tzinfo=UTC) and stamp.tzinfo == UTC
    assert parse_timestamp(" 2020-01-02T03:04:05+01:00 ") == dt.datetime(2020, 1, 2, 2, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize("value", ["", "   ", "not a date", None, 5, 1.5, ["2020-01-01"]])
def test_parse_timestamp_refuses(value):
    with pytest.raises(ValueError):
        parse_timestamp(value)


# --- properties ------------------------------------------------------------------------------------

@PROPERTY
@given(st.binary(max_size=300))
@example(b"\xef\xbb\xbf")
@example(b"---\n---\n")
@example(b"---\n: \n---\nx")
def test_parse_document_never_raises_on_bytes(data):
    result = parse_document("docs/x.txt", data)
    assert isinstance(result, (dict, r.Reject))
    if isinstance(result, r.Reject):
        assert result.stage == STAGE and result.reason.isupper() and result.payload == data
    else:
        assert set(result) == set(r.RAW_FIELDS)
        assert result["title"] and result["title"] == result["title"].strip()


_FRONT_VALUE = st.one_of(st.text(max_size=20), st.sampled_from(
    ["https://ex.com/a", "2020-03-09", "2020-03-09T08:30:00Z", "[1, 2]", "{a: b}", "null", "'x'", "&a x"]))


@PROPERTY
@given(st.lists(st.tuples(st.sampled_from(["url", "source", "published", "other"]), _FRONT_VALUE), max_size=3),
       st.text(max_size=50))
@example([("published", "2020-13-01")], "Title")
@example([("published", "2020-02-30 10:00:00")], "Title")
def test_parse_document_never_raises_on_front_matter_documents(pairs, rest):
    front = "".join(f"{key}: {value}\n" for key, value in pairs)
    data = f"---\n{front}---\n{rest}".encode()
    result = parse_document("docs/x.txt", data)
    assert isinstance(result, (dict, r.Reject))
    if isinstance(result, dict):
        assert result["published_at"] is None or result["published_at"].utcoffset() == dt.timedelta(0)


_TITLE = st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp")), min_size=1, max_size=40).filter(
    lambda s: s.strip() and s.strip() != "---" and not s.lstrip().startswith("---"))


@PROPERTY
@given(_TITLE, st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=80))
def test_first_line_is_the_title_and_the_rest_the_body(title, body):
    raw = parsed(f"{title}\n{body}".encode())
    assert raw["title"] == title.strip()
    assert raw["body"].strip() == body.strip()
