"""Issue 9, hostile XML: entity bombs, external entities and DTD fetches. Real feedparser, real files,
a real HTTP server that records every request; no mocks.

What feedparser 6 does on its own (checked, and pinned by these tests): its expat parser fetches
no external entity or DTD and expat (>= 2.4) stops amplification; but on any XML error feedparser
re-parses with its loose parser, which expands the prolog's "safe" entities itself without a
limit. ``core.feeds.unsafe_dtd`` closes that (and refuses external/parameter entities outright).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import everything_written, manifest_of, rejects_of, run_cli
from live_server import LiveServer
from measure import measure

from pipelines.core import records as r
from pipelines.core.feed_list import FeedSource
from pipelines.core.feeds import MAX_ENTITY_EXPANSION, STATUS_ERROR, STATUS_OK, parse_feed, unsafe_dtd

HOSTILE = Path(__file__).resolve().parents[1] / "fixtures" / "hostile"
SECRET = "S3CRET-c0ffee-do-not-leak"
SOURCE = FeedSource("https://example.com/feed.rss")


def fixture(name: str, **replacements: str) -> bytes:
    text = (HOSTILE / name).read_text()
    for key, value in replacements.items():
        text = text.replace(f"@{key}@", value)
    return text.encode()


@pytest.fixture
def secret_file(tmp_path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


@pytest.fixture
def server():
    with LiveServer() as live:
        for path in ("/entity", "/public-entity", "/parameter", "/rss.dtd", "/rss-0.91.dtd"):
            live.route(path, lambda h: h.reply(200, b'<!ENTITY leak "FETCHED">'))
        yield live


def _no_secret_anywhere(result) -> None:
    text = repr(result.entries) + repr(result.report) + "".join(
        repr((reject.message, reject.title, reject.guid)) for reject in result.rejects)
    assert SECRET not in text


# --- entity expansion ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["billion_laughs.rss", "billion_laughs_one_line.rss"])
def test_billion_laughs_is_refused_at_once(name):
    result = parse_feed(SOURCE, fixture(name))
    assert result.report["status"] == STATUS_ERROR and not result.entries
    [reject] = result.rejects
    assert reject.reason == r.FEED_UNSAFE_XML
    assert "made of other entities" in reject.message


@pytest.mark.parametrize("kind", ["quadratic", "quadratic_utf16"])
def test_quadratic_blowup_is_refused_in_bounded_time_and_memory(kind):
    # Without the guard feedparser's loose parser builds a 2.5 GB string (minutes, or the OOM killer).
    result = measure(kind, timeout=120)
    assert result["status"] == STATUS_ERROR and result["reasons"] == [r.FEED_UNSAFE_XML]
    assert result["rss_growth_mb"] < 100, result


def test_entities_within_the_budget_are_expanded():
    uses = MAX_ENTITY_EXPANSION // 100 - 10
    data = (f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "{"y" * 100}">\n]>\n<rss version="2.0">'
            f'<channel><title>T</title><item><title>t</title><link>https://e.com/1</link><description>'
            f'{"&a;" * uses}</description></item></channel></rss>').encode()
    assert unsafe_dtd(data) is None
    result = parse_feed(SOURCE, data)
    assert result.report["status"] in (STATUS_OK, "bozo") and len(result.entries[0]["body"]) == 100 * uses
    over = data.replace(b"</description>", b"&a;" * 20 + b"</description>")
    assert "would expand to" in unsafe_dtd(over)
    # feedparser's loose parser expands references without the semicolon too: they count
    for unterminated in (b"&a ", b"&a<b>x</b>"):
        sneaky = data.replace(b"&a;" * uses, unterminated * (uses + 20))
        assert "would expand to" in unsafe_dtd(sneaky)


def test_small_entities_and_a_netscape_doctype_still_parse(server):
    data = fixture("small_entities.rss", BASE_URL=server.url(""))
    assert unsafe_dtd(data) is None
    result = parse_feed(SOURCE, data)
    assert result.report["format"] == "rss091n" and len(result.entries) == 1
    assert result.entries[0]["title"] == "Small\u00a0entities are fine"
    assert result.entries[0]["source_name"] == "Example Wire"
    assert server.hits() == []  # the DTD named in the DOCTYPE was never fetched


# --- external entities, DTDs ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["xxe_file.rss", "xxe_plain_path.rss"])
def test_an_external_entity_never_reads_a_local_file(name, secret_file):
    data = fixture(name, SECRET_PATH=str(secret_file))
    result = parse_feed(SOURCE, data)
    assert [reject.reason for reject in result.rejects] == [r.FEED_UNSAFE_XML]
    assert "external entity (secret, SYSTEM)" in result.rejects[0].message
    _no_secret_anywhere(result)


@pytest.mark.parametrize("name", ["xxe_file.rss", "xxe_plain_path.rss"])
def test_feedparser_alone_does_not_read_the_file_either(name, secret_file):
    # The second line of defence, pinned: if the guard ever lets one through, expat still does not
    # resolve external entities in feedparser's settings.
    import io

    import feedparser

    parsed = feedparser.parse(io.BytesIO(fixture(name, SECRET_PATH=str(secret_file))))
    assert SECRET not in repr(parsed)


@pytest.mark.parametrize("name", ["xxe_http.rss", "xxe_public.rss", "parameter_entity.rss"])
def test_an_external_or_parameter_entity_is_never_fetched(name, server):
    result = parse_feed(SOURCE, fixture(name, BASE_URL=server.url("")))
    assert [reject.reason for reject in result.rejects] == [r.FEED_UNSAFE_XML]
    assert "FETCHED" not in repr(result.entries)
    assert server.hits() == []


def test_an_external_dtd_is_never_fetched_and_the_feed_is_read(server):
    result = parse_feed(SOURCE, fixture("external_dtd.rss", BASE_URL=server.url("")))
    assert result.report["status"] == STATUS_OK
    assert [e["title"] for e in result.entries] == ["External DTD only"]
    assert server.hits() == []


@pytest.mark.slow
def test_hostile_feeds_through_the_cli_fetch_nothing_and_leak_nothing(tmp_path, server, secret_file):
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    for name in ("xxe_file.rss", "xxe_http.rss", "parameter_entity.rss", "billion_laughs.rss"):
        (feeds / name).write_bytes(fixture(name, SECRET_PATH=str(secret_file), BASE_URL=server.url("")))
    listing = tmp_path / "feeds.yaml"
    listing.write_text("feeds:\n" + "".join(f"  - feeds/{p.name}\n" for p in sorted(feeds.iterdir())))
    output = tmp_path / "out"
    done = run_cli("--feed-list", str(listing), "--no-documents", "--output", str(output))
    assert done.returncode == 4, done.stderr  # every feed failed and nothing else was read
    manifest = manifest_of(output)
    assert {report["status"] for report in manifest["feeds"]} == {"error"}
    assert sorted(reason for _, reason, _ in rejects_of(output)) == [r.FEED_UNSAFE_XML] * 4
    assert server.hits() == []
    assert str(secret_file) in everything_written(output)  # the payload keeps the feed as served ...
    assert SECRET not in everything_written(output) + done.stdout + done.stderr  # ... but not the file
