"""core.feed_list: feeds.yaml -> FeedSource entries."""

import os
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipelines.core.feed_list import FeedListError, FeedSource, load_feed_list, parse_feed_list, parse_opml

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
BASE = "/base/dir"


def test_strings_and_mappings():
    text = """
feeds:
  - feeds/world.rss
  - url: https://ex.com/rss
    name: Example News
  - url: feeds/wire.atom
  - /abs/path/science.rdf
  - http://ex.org/feed.xml
"""
    assert parse_feed_list(text, BASE) == [
        FeedSource("/base/dir/feeds/world.rss"),
        FeedSource("https://ex.com/rss", "Example News"),
        FeedSource("/base/dir/feeds/wire.atom"),
        FeedSource("/abs/path/science.rdf"),
        FeedSource("http://ex.org/feed.xml"),
    ]


def test_relative_paths_are_normalised_against_base_dir():
    text = "feeds:\n  - ../up.rss\n  - ./here/./x.rss\n  - a/../b.rss\n"
    assert [s.location for s in parse_feed_list(text, BASE)] == [
        "/base/up.rss", "/base/dir/here/x.rss", "/base/dir/b.rss"]


def test_duplicates_are_dropped_first_one_wins():
    text = """
feeds:
  - feeds/world.rss
  - ./feeds/world.rss
  - /base/dir/feeds/world.rss
  - url: https://a.com/x
    name: First
  - url: https://a.com/x
    name: Second
  - https://a.com/x
"""
    assert parse_feed_list(text, BASE) == [FeedSource("/base/dir/feeds/world.rss"),
                                           FeedSource("https://a.com/x", "First")]


def test_name_is_text():
    [source] = parse_feed_list("feeds:\n  - url: https://ex.com/a\n    name: 5\n", BASE)
    assert source.name == "5"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "feeds:", "feeds: []"])
def test_empty_lists(text):
    assert parse_feed_list(text, BASE) == []


@pytest.mark.parametrize("text,fragment", [
    ("feeds:\n  - file:///etc/passwd\n", "scheme 'file' is not allowed"),
    ("feeds:\n  - ftp://ex.com/x.rss\n", "scheme 'ftp' is not allowed"),
    ("feeds:\n  - url: ftp://ex.com/x.rss\n", "scheme 'ftp' is not allowed"),
    ("feeds:\n  - javascript:alert(1)\n", "scheme 'javascript' is not allowed"),
    ("feeds:\n  - data:text/plain,x\n", "scheme 'data' is not allowed"),
    ("feeds:\n  - http:///no-host\n", "URL has no host"),
    ("feeds:\n  - '   '\n", "empty feed entry"),
    ("feeds: [unclosed", "not valid YAML"),
    ("other: []\n", "must be a mapping with a 'feeds:' list"),
    ("- feeds/world.rss\n", "must be a mapping with a 'feeds:' list"),
    ("just text", "must be a mapping with a 'feeds:' list"),
    ("feeds: feeds/world.rss\n", "'feeds' must be a list"),
    ("feeds:\n  - url: https://ex.com\n    nam: typo\n", "unknown keys ['nam']"),
    ("feeds:\n  - 5\n", "expected a path, a URL or a mapping with 'url'"),
    ("feeds:\n  - url: 5\n", "expected a path, a URL or a mapping with 'url'"),
    ("feeds:\n  - name: no url\n", "expected a path, a URL or a mapping with 'url'"),
    ("feeds:\n  - [a, b]\n", "expected a path, a URL or a mapping with 'url'"),
])
def test_refused_lists(text, fragment):
    with pytest.raises(FeedListError) as info:
        parse_feed_list(text, BASE, name="my.yaml")
    message = str(info.value)
    assert fragment in message
    assert message.startswith("my.yaml")
    assert "\n" not in message  # one line for a human


def test_error_names_the_entry_number():
    with pytest.raises(FeedListError, match="entry 3"):
        parse_feed_list("feeds:\n  - a.rss\n  - b.rss\n  - ftp://x/c\n", BASE)


def test_feed_list_error_is_a_value_error():
    assert issubclass(FeedListError, ValueError)


@pytest.mark.parametrize("location,remote", [
    ("https://ex.com/rss", True), ("http://ex.com/rss", True), ("/abs/feeds/world.rss", False),
    ("relative/http://x", False),
])
def test_is_remote(location, remote):
    assert FeedSource(location).is_remote is remote


def test_upper_case_scheme_is_remote():
    [source] = parse_feed_list("feeds:\n  - HTTPS://ex.com/rss\n  - https://ex.com/rss\n", BASE)
    assert source.is_remote
    assert source.location == "https://ex.com/rss"
    assert FeedSource("HTTP://ex.com/rss").is_remote


# --- load_feed_list ---------------------------------------------------------------------------------

def test_load_bundled_seed_list():
    sources = load_feed_list(str(SEEDS / "feeds.yaml"))
    feeds_dir = SEEDS / "feeds"
    assert sources == [FeedSource(str(feeds_dir / "world.rss")),
                       FeedSource(str(feeds_dir / "wire.atom"), "Example Wire"),
                       FeedSource(str(feeds_dir / "science.rdf"))]
    assert all(os.path.isfile(s.location) and not s.is_remote for s in sources)


def test_load_resolves_against_the_list_directory(tmp_path, monkeypatch):
    lists = tmp_path / "conf"
    lists.mkdir()
    (lists / "feeds.yaml").write_text("feeds:\n  - local/a.rss\n  - ../b.rss\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # a relative list path still resolves against the list's directory
    sources = load_feed_list("conf/feeds.yaml")
    assert [s.location for s in sources] == [str(lists / "local" / "a.rss"), str(tmp_path / "b.rss")]


def test_load_missing_list(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(FeedListError, match="not found") as info:
        load_feed_list(str(missing))
    assert str(missing) in str(info.value)


def test_load_unreadable_lists(tmp_path):
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"feeds:\n  - caf\xe9.rss\n")
    with pytest.raises(FeedListError, match="cannot read feed list"):
        load_feed_list(str(latin1))
    with pytest.raises(FeedListError, match="cannot read feed list"):
        load_feed_list(str(tmp_path))  # a directory


def test_load_errors_are_named_after_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds:\n  - ftp://x/y\n", encoding="utf-8")
    with pytest.raises(FeedListError) as info:
        load_feed_list(str(bad))
    assert str(info.value).startswith(str(bad))


# --- OPML ---------------------------------------------------------------------------------------------

OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="World" title="World">
      <outline type="rss" text="BBC text" title="BBC World" xmlUrl="https://feeds.example.com/world.xml"
               htmlUrl="https://example.com/world"/>
      <outline text="Europe">
        <outline type="rss" text="Only text" xmlUrl="https://eu.example.com/rss"/>
        <outline text="Deeper"><outline text="Deep" xmlURL="feeds/deep.rss"/></outline>
      </outline>
    </outline>
    <outline type="rss" text="Top level" xmlUrl="http://top.example.org/feed"/>
    <outline text="Empty folder"/>
    <outline type="rss" title="Duplicate" xmlUrl="https://feeds.example.com/world.xml"/>
    <outline type="rss" title="  " text="" xmlUrl="https://noname.example.com/rss"/>
  </body>
</opml>
"""


def test_opml_with_nesting():
    assert parse_opml(OPML, BASE) == [
        FeedSource("https://feeds.example.com/world.xml", "BBC World"),  # title wins over text
        FeedSource("https://eu.example.com/rss", "Only text"),  # text when there is no title
        FeedSource("/base/dir/feeds/deep.rss", "Deep"),  # any depth; relative path; attribute case
        FeedSource("http://top.example.org/feed", "Top level"),
        FeedSource("https://noname.example.com/rss"),  # blank names are no names
    ]


def test_parse_feed_list_detects_opml_by_content():
    assert parse_feed_list(OPML, BASE) == parse_opml(OPML, BASE)
    assert parse_feed_list("\ufeff  \n" + OPML.split("\n", 1)[1], BASE) == parse_opml(OPML, BASE)


def test_opml_namespaced_and_empty():
    assert parse_opml('<opml version="1.0"><body/></opml>', BASE) == []
    assert parse_opml('<opml version="1.0"><head/><body><outline text="x"/></body></opml>', BASE) == []
    assert parse_opml('<o:opml xmlns:o="urn:x"><o:body><o:outline xmlUrl="https://a.com/r"/></o:body></o:opml>',
                      BASE) == [FeedSource("https://a.com/r")]


@pytest.mark.parametrize("text,fragment", [
    ('<opml><body><outline text="F"><outline title="Bad" xmlUrl="file:///etc/passwd"/></outline></body></opml>',
     "outline 1 (F > Bad): scheme 'file' is not allowed"),
    ('<opml><body><outline xmlUrl="https://ok.com/a"/><outline text="X" xmlUrl="ftp://ex.com/x"/></body></opml>',
     "outline 2 (X): scheme 'ftp' is not allowed"),
    ('<opml><body><outline text="Blank" xmlUrl="  "/></body></opml>', "empty feed entry"),
    ('<opml><body><outline xmlUrl="http:///nohost"/></body></opml>', "URL has no host"),
    ("<opml><body><outline></body></opml>", "is not valid OPML"),
    ("<opml><head/></opml>", "OPML without a <body>"),
    ("<rss version='2.0'><channel/></rss>", "root element is <rss>, expected <opml>"),
    ("<", "is not valid OPML"),
])
def test_refused_opml(text, fragment):
    with pytest.raises(FeedListError) as info:
        parse_feed_list(text, BASE, name="subs.opml")
    message = str(info.value)
    assert fragment in message and message.startswith("subs.opml") and "\n" not in message


def test_opml_bytes_in_an_unknown_encoding_are_refused():
    with pytest.raises(FeedListError, match=r"^subs\.opml is not valid OPML"):
        parse_opml(b'<?xml version="1.0" encoding="x-unknown"?><opml><body/></opml>', BASE, "subs.opml")


def test_opml_entity_bomb_is_refused():
    bomb = ('<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa">'
            + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
            + ']><opml><body><outline text="&i;" xmlUrl="https://a.com/r"/></body></opml>')
    with pytest.raises(FeedListError, match="not valid OPML"):
        parse_opml(bomb, BASE)


def test_load_opml_by_extension_and_by_content(tmp_path):
    (tmp_path / "subs.opml").write_text(OPML, encoding="utf-8")
    (tmp_path / "subs.xml").write_text(OPML, encoding="utf-8")
    expected = parse_opml(OPML, str(tmp_path))
    assert load_feed_list(str(tmp_path / "subs.opml")) == expected
    assert load_feed_list(str(tmp_path / "subs.xml")) == expected
    assert expected[2].location == str(tmp_path / "feeds" / "deep.rss")
    (tmp_path / "yaml.opml").write_text("feeds:\n  - a.rss\n", encoding="utf-8")
    with pytest.raises(FeedListError, match="not valid OPML"):  # the extension says OPML
        load_feed_list(str(tmp_path / "yaml.opml"))


def test_load_opml_in_its_declared_encoding(tmp_path):
    text = ('<?xml version="1.0" encoding="ISO-8859-1"?><opml version="2.0"><body>'
            '<outline title="Caf\u00e9 du monde" xmlUrl="https://cafe.example.fr/rss"/></body></opml>')
    (tmp_path / "latin1.opml").write_bytes(text.encode("latin-1"))
    assert load_feed_list(str(tmp_path / "latin1.opml")) == [
        FeedSource("https://cafe.example.fr/rss", "Caf\u00e9 du monde")]


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300),
                 st.builds(lambda url, title: f'<opml><body><outline title="{title}" xmlUrl="{url}"/></body></opml>',
                           st.text(max_size=40), st.text(max_size=20))))
@example(b"<opml><body><outline xmlUrl='https://a.com/x'/></body></opml>")
@example('<opml><body><outline title="a&#10;b" xmlUrl="ftp://x"/></body></opml>')
def test_parse_opml_returns_sources_or_a_feed_list_error(data):
    try:
        sources = parse_opml(data, BASE)
    except FeedListError as exc:
        assert "\n" not in str(exc)
    else:
        assert all(isinstance(s, FeedSource) and (s.is_remote or s.location.startswith("/")) for s in sources)
