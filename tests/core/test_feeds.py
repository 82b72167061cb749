"""core.feeds: RSS/Atom bytes -> raw articles, rejects and a feed report."""

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipelines.core import records as r
from pipelines.core.feed_list import FeedSource
from pipelines.core.feeds import STAGE, FeedResult, failed_feed, feed_report, parse_feed

PROPERTY = settings(max_examples=150, deadline=None)
FEEDS = Path(__file__).resolve().parents[2] / "seeds" / "feeds"
UTC = dt.timezone.utc


def seed(name: str) -> FeedResult:
    path = FEEDS / name
    return parse_feed(FeedSource(location=str(path)), path.read_bytes())


def rss(items: str, channel_title: str = "Channel") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{channel_title}</title>'
            f"<link>https://ex.com/</link><description>d</description>{items}</channel></rss>").encode()


# --- bundled seeds ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name,count,format_", [("world.rss", 4, "rss20"), ("wire.atom", 4, "atom10"),
                                                ("science.rdf", 3, "rss10")])
def test_seed_feeds(name, count, format_):
    result = seed(name)
    location = str(FEEDS / name)
    assert len(result.entries) == count
    assert result.rejects == []
    assert result.report["status"] == "ok"
    assert result.report["format"] == format_
    assert result.report["entries"] == count
    assert result.report["bytes"] == (FEEDS / name).stat().st_size
    assert result.report["feed"] == location and result.report["bozo"] is None
    for entry in result.entries:
        assert set(entry) == set(r.RAW_FIELDS)
        assert entry["source_type"] == "feed"
        assert entry["source"] == entry["feed_url"] == location
        assert entry["title"] and entry["url"] and entry["guid"]
        assert entry["published_at"].tzinfo is not None
        assert entry["published_at"].utcoffset() == dt.timedelta(0)


def test_rss_entry_fields():
    entries = seed("world.rss").entries
    bonn, mumbai, afghan, fed = entries
    assert bonn["title"] == "Climate negotiators meet in Bonn to prepare for the next summit"
    assert bonn["guid"] == "tag:news.example.org,2020:world/4411"
    assert bonn["url"] == "https://news.example.org/world/2020/03/climate-talks-bonn?id=4411"
    assert bonn["authors"] == ["Anna Keller"]
    assert bonn["categories"] == ["Climate", "World"]
    assert bonn["published_at"] == dt.datetime(2020, 3, 9, 9, 0, tzinfo=UTC)
    assert bonn["source_name"] == "Example World News"  # the feed's title when the list gives no name
    # content:encoded is the body, description the summary
    assert mumbai["body"].startswith("<p>MUMBAI (Reuters) - Heavy rain")
    assert mumbai["summary"] == "Heavy rain floods low-lying parts of India's financial capital."
    assert mumbai["text_is_html"] is True
    assert mumbai["authors"] == [] and mumbai["categories"] == ["Asia"]
    # +0430 is converted to UTC
    assert afghan["published_at"] == dt.datetime(2020, 3, 29, 13, 50, tzinfo=UTC)
    assert afghan["authors"] == ["Staff and agencies"]
    # without content the description is the body too
    assert fed["body"] == fed["summary"]
    assert fed["body"].startswith("WASHINGTON (Reuters) - The Federal Reserve")


def test_atom_entry_fields():
    bonn, fed, italy, oil = seed("wire.atom").entries
    assert bonn["source_name"] == "Example Wire – Top Stories"
    assert bonn["published_at"] == dt.datetime(2020, 3, 9, 10, 0, tzinfo=UTC)  # from <updated>
    assert bonn["text_is_html"] is False
    assert fed["guid"] == "urn:uuid:6a4f1c2e-8d3b-4f7a-9e21-0c5d7b8a9f10"
    assert fed["url"] == "https://news.example.org/business/2020/03/fed-cut?utm_source=atom&utm_medium=feed"
    assert fed["authors"] == []
    # type="html" title becomes text
    assert italy["title"] == "Italy extends lockdown to the whole country"
    assert italy["authors"] == ["Giulia Romano", "Marco Bianchi"]
    assert italy["categories"] == ["Europe", "Health"]
    assert italy["published_at"] == dt.datetime(2020, 3, 9, 20, 40, tzinfo=UTC)
    assert italy["summary"] is None  # feedparser's copy of content is not a summary
    assert italy["body"].startswith("<p>ROME (AP)") and italy["text_is_html"] is True
    assert oil["body"] is None and oil["summary"] is None


def test_rdf_entry_fields():
    comet, italy, bonn = seed("science.rdf").entries
    assert comet["authors"] == ["Lena Fischer"]
    assert comet["categories"] == ["Astronomy"]
    assert comet["published_at"] == dt.datetime(2020, 3, 12, 10, 0, tzinfo=UTC)
    assert italy["published_at"] == dt.datetime(2020, 3, 9, 21, 0, tzinfo=UTC)
    assert bonn["url"] == "HTTPS://NEWS.EXAMPLE.ORG:443/world/2020/03/climate-talks-bonn?id=4411#top"


def test_list_name_overrides_feed_title():
    path = FEEDS / "wire.atom"
    result = parse_feed(FeedSource(str(path), "Example Wire"), path.read_bytes())
    assert {e["source_name"] for e in result.entries} == {"Example Wire"}
    assert result.report["name"] == "Example Wire"


# --- hand-made feeds ---------------------------------------------------------------------------------

def test_rss_entry_without_optional_fields():
    result = parse_feed(FeedSource("https://ex.com/rss"), rss("<item><description>Only text</description></item>"))
    [entry] = result.entries
    assert entry["title"] is None and entry["url"] is None and entry["guid"] is None
    assert entry["published_at"] is None
    assert entry["authors"] == [] and entry["categories"] == []
    assert entry["body"] == entry["summary"] == "Only text"
    assert entry["source_name"] == "Channel"


def test_blank_channel_title_gives_no_source_name():
    result = parse_feed(FeedSource("x"), rss("<item><title>T</title></item>", channel_title="   "))
    assert result.entries[0]["source_name"] is None


def test_empty_but_valid_feed_is_ok_with_no_entries():
    result = parse_feed(FeedSource("x"), rss(""))
    assert result.entries == [] and result.rejects == []
    assert result.report["status"] == "ok" and result.report["entries"] == 0


def test_guid_and_link_are_stripped_and_blank_categories_dropped():
    items = ("<item><title>T</title><guid>  g-1  </guid><link>  https://ex.com/a  </link>"
             "<category>  News </category><category> </category><author>  a@ex.com (Ann) </author></item>")
    [entry] = parse_feed(FeedSource("x"), rss(items)).entries
    assert entry["guid"] == "g-1"
    assert entry["url"] == "https://ex.com/a"
    assert entry["categories"] == ["News"]
    assert entry["authors"] and entry["authors"][0] == entry["authors"][0].strip()


def test_scripts_are_sanitised_out_of_html():
    items = "<item><title>T</title><description>&lt;p&gt;Hi&lt;script&gt;alert(1)&lt;/script&gt;&lt;/p&gt;</description></item>"
    [entry] = parse_feed(FeedSource("x"), rss(items)).entries
    assert "script" not in entry["body"] and "Hi" in entry["body"]


def test_truncated_feed_keeps_recovered_entries():
    data = (FEEDS / "world.rss").read_bytes()
    cut = data.index(b"</item>", data.index(b"</item>") + 1) + len(b"</item>") + 40  # inside the third item
    result = parse_feed(FeedSource("/feeds/world.rss"), data[:cut])
    assert result.report["status"] == "bozo"
    assert result.report["bozo"]  # the parser's complaint, one line
    assert "\n" not in result.report["bozo"]
    assert result.rejects == []
    assert 2 <= len(result.entries) <= 3
    assert result.entries[0]["title"] == "Climate negotiators meet in Bonn to prepare for the next summit"
    assert result.report["entries"] == len(result.entries)


def test_unescaped_ampersand_is_bozo_but_kept():
    data = (FEEDS / "world.rss").read_bytes().replace(b"Example World News", b"Example & News", 1)
    result = parse_feed(FeedSource("x"), data)
    assert result.report["status"] == "bozo"
    assert len(result.entries) == 4


@pytest.mark.parametrize("data,fragment", [
    (b"", "empty"),
    (b"   \n\t ", "empty"),
    (bytes(range(256)) * 4, "not a feed"),
    (b'{"items": []}', "not a feed"),
    (b"<!DOCTYPE html><html><head><title>Hi</title></head><body><p>Not a feed</p></body></html>",
     "no RSS/Atom root element"),
    (b"<?xml version='1.0'?><note><to>x</to></note>", "not a feed"),
])
def test_unusable_bytes_become_one_reject(data, fragment):
    source = FeedSource("https://ex.com/feed", "Ex")
    result = parse_feed(source, data)
    assert result.entries == []
    [reject] = result.rejects
    assert reject.reason == r.FEED_MALFORMED
    assert reject.stage == STAGE == "read_feeds"
    assert reject.source_type == "feed" and reject.source == "https://ex.com/feed"
    assert reject.payload == data
    assert fragment in reject.message
    report = result.report
    assert report["status"] == "error" and report["reason"] == r.FEED_MALFORMED
    assert report["bytes"] == len(data) and report["entries"] == 0
    assert fragment in report["error"] and report["name"] == "Ex"


def test_the_http_charset_is_used_and_no_charset_does_not_mean_us_ascii():
    cyrillic = "\u041d\u043e\u0432\u043e\u0441\u0442\u0438"
    undeclared = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>C</title><item><title>'
                  + cyrillic.encode("cp1251") + b"</title></item></channel></rss>")
    source = FeedSource("https://ex.com/rss")
    result = parse_feed(source, undeclared, "application/rss+xml; charset=windows-1251")
    assert result.entries[0]["title"] == cyrillic and result.report["status"] == "ok"
    assert result.report["content_type"] == "application/rss+xml; charset=windows-1251"
    guessed = parse_feed(source, undeclared, "application/rss+xml")  # nothing says cp1251: not guessed right
    assert guessed.entries[0]["title"] != cyrillic
    # text/xml without a charset would be US-ASCII under RFC 3023 (feedparser flags that as bozo);
    # we pass only a charset on, so the XML declaration decides and the feed is fine.
    declared = rss("<item><title>Caf\u00e9</title></item>")
    result = parse_feed(source, declared, "text/xml")
    assert result.entries[0]["title"] == "Caf\u00e9" and result.report["status"] == "ok"


def test_a_wrong_media_type_does_not_make_a_feed_bozo():
    result = parse_feed(FeedSource("https://ex.com/rss"), rss("<item><title>T</title></item>"),
                        "text/html; charset=utf-8")
    assert result.report["status"] == "ok" and result.report["bozo"] is None


def test_bytes_that_look_like_a_path_are_not_opened(tmp_path):
    secret = tmp_path / "local.rss"
    secret.write_bytes((FEEDS / "world.rss").read_bytes())
    result = parse_feed(FeedSource("https://remote.example/feed"), str(secret).encode())
    assert result.entries == []
    assert [reject.reason for reject in result.rejects] == [r.FEED_MALFORMED]


# --- feed_report / failed_feed -----------------------------------------------------------------------

def test_feed_report_defaults_and_overrides():
    report = feed_report(FeedSource("https://ex.com/rss", "Ex"), "ok", entries=3, format="rss20")
    assert report == {"feed": "https://ex.com/rss", "name": "Ex", "status": "ok", "http_status": None,
                      "bytes": 0, "entries": 3, "new_entries": 0, "format": "rss20", "content_type": None,
                      "bozo": None, "error": None, "reason": None, "next_due": None, "failures": 0,
                      "final_url": None, "state_error": None}


def test_failed_feed():
    result = failed_feed(FeedSource("https://ex.com/rss"), r.FEED_HTTP_ERROR, "HTTP 404\nfrom server")
    assert result.entries == []
    [reject] = result.rejects
    assert (reject.reason, reject.source, reject.payload) == (r.FEED_HTTP_ERROR, "https://ex.com/rss", None)
    assert result.report["status"] == "error" and result.report["bytes"] == 0
    assert result.report["error"] == "HTTP 404 from server"


# --- properties -------------------------------------------------------------------------------------

def _check_result(result: FeedResult, data: bytes) -> None:
    assert isinstance(result, FeedResult)
    assert result.report["status"] in ("ok", "bozo", "error")
    assert result.report["entries"] == len(result.entries)
    if result.report["status"] == "error":
        assert result.entries == [] and len(result.rejects) == 1
        assert result.rejects[0].reason == r.FEED_MALFORMED
    else:
        assert result.rejects == []
        assert result.report["bytes"] == len(data)
    for entry in result.entries:
        assert set(entry) == set(r.RAW_FIELDS)
        assert entry["published_at"] is None or entry["published_at"].utcoffset() == dt.timedelta(0)


@PROPERTY
@given(st.binary(max_size=400))
@example(b"<rss")
@example(b"<?xml version='1.0'?><rss version='2.0'><channel><item><title>x")
def test_parse_feed_never_raises_on_bytes(data):
    _check_result(parse_feed(FeedSource("https://ex.com/rss"), data), data)


_XML_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="<&"), max_size=30)


@PROPERTY
@given(_XML_TEXT, _XML_TEXT, _XML_TEXT, _XML_TEXT)
def test_parse_feed_never_raises_on_odd_entry_values(title, link, date, description):
    items = (f"<item><title>{title}</title><link>{link}</link><pubDate>{date}</pubDate>"
             f"<description>{description}</description></item>")
    data = rss(items)
    result = parse_feed(FeedSource("https://ex.com/rss"), data)
    _check_result(result, data)
    assert len(result.entries) == 1


def test_entries_carry_their_position_in_the_feed():
    """Identical entries are told apart by where they stand: raw articles and rejects alike."""
    untitled = "<item><description>Same text.</description></item>"
    long_title = f"<item><title>{'x' * (r.MAX_TITLE_CHARS + 1)}</title></item>"
    result = parse_feed(FeedSource("https://ex.com/rss"),
                        rss(untitled + "<item><title>T</title></item>" + untitled + long_title))
    assert [entry["position"] for entry in result.entries] == [0, 1, 2]
    assert result.entries[0] | {"position": 2} == result.entries[2]
    [reject] = result.rejects
    assert (reject.reason, reject.position) == (r.TITLE_TOO_LONG, 3)
