"""Issue 9: a zoo of unusual but real-world feed shapes (tests/fixtures/feed_zoo/) through the real CLI
(``--enrich core``, a feed list of file paths): every entry is written, a duplicate or a reject, the
manifest reconciles, and each fixture gives what is asserted for it here."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_helpers import manifest_of, rejects_of, rows_of, run_cli
from conftest import assert_reconciles

pytestmark = pytest.mark.slow  # a real CLI run over the feed zoo

ZOO = Path(__file__).resolve().parents[1] / "fixtures" / "feed_zoo"

# file -> titles written to articles/
WRITTEN = {
    "atom03.xml": ["Atom 0.3 entry"],
    "atom10.xml": ["Atom 1.0 entry"],  # type="html" title: markup gone
    "koi8r.xml": ["Новости дня"],
    "rdf10.xml": ["RDF item"],
    "rss091.xml": ["Café crème in 0.91", "Second 0.91 item"],  # ISO-8859-1
    "rss092.xml": ["With enclosure"],
    "rss20_namespaces.xml": ["CDATA title & more", "Numeric “entities” — ok"],
    "truncated.xml": ["Before the cut"],
    "utf16_bom.xml": ["UTF-16 with a byte-order mark"],
    "utf8_bom_missing_fields.xml": ["No channel title, no link, no date"],
    "windows1252.xml": ["“Smart quotes” cost €5 — ok"],
}
REJECTED = sorted([
    ("normalize", "BAD_URL", "rss20_namespaces.xml"),  # javascript: link
    ("normalize", "FUTURE_PUBLISHED_DATE", "atom10.xml"),  # updated 2999
    ("normalize", "MISSING_TITLE", "rss092.xml"),  # 0.92 item with a description only
    ("normalize", "MISSING_TITLE", "truncated.xml"),  # the entry cut in its title
    ("normalize", "MISSING_TITLE", "utf8_bom_missing_fields.xml"),  # <item></item>
    ("read_feeds", "FEED_MALFORMED", "html_page.xml"),
    ("read_feeds", "FEED_MALFORMED", "json_feed.xml"),
])


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("zoo")
    shutil.copytree(ZOO, base / "zoo")
    listing = base / "feeds.yaml"
    listing.write_text("feeds:\n" + "".join(f"  - zoo/{p.name}\n" for p in sorted(ZOO.glob("*.xml"))))
    output = base / "out"
    done = run_cli("--feed-list", str(listing), "--no-documents", "--output", str(output))
    assert done.returncode == 0, done.stderr
    return output, manifest_of(output), done


def test_every_entry_is_accounted_for(zoo_run):
    output, manifest, done = zoo_run
    assert_reconciles(output, manifest)
    counts = manifest["counts"]
    assert (counts["read"], counts["written"], counts["duplicates"], counts["rejected"]) == (21, 13, 1, 7)
    assert "Traceback" not in done.stderr


def test_what_each_fixture_gives(zoo_run):
    output, _manifest, _ = zoo_run
    written: dict[str, list[str]] = {}
    for feed_url, title in rows_of(output, "articles", "feed_url, title"):
        written.setdefault(Path(feed_url).name, []).append(title)
    assert {name: sorted(titles) for name, titles in written.items()} == {k: sorted(v) for k, v in WRITTEN.items()}
    assert [(stage, reason, Path(source).name) for stage, reason, source in rejects_of(output)] == REJECTED
    # the second entry with guid zoo-20-a is the duplicate
    assert [Path(f).name for (f,) in rows_of(output, "duplicates", "feed_url")] == ["rss20_namespaces.xml"]


def test_fields_from_namespaces_links_and_dates(zoo_run):
    output, _, _ = zoo_run
    rows = {title: (url, published, authors, categories, body, dateline) for
            title, url, published, authors, categories, body, dateline in rows_of(
                output, "articles", "title, url, cast(published_at as varchar), authors, categories, body, "
                                    "dateline_location")}
    _url, published, authors, categories, body, dateline = rows["CDATA title & more"]
    assert (authors, categories, dateline) == (["Ana Autor"], ["World"], "KABUL")
    assert published.startswith("2024-05-01 08:00:00")  # +02:00 stored as UTC
    assert body == "Full content here.\n\nSecond paragraph."  # content:encoded, not the description
    assert rows["Second 0.91 item"][0] == "https://zoo.example/091/b"  # relative: against the channel link
    assert rows["Atom 1.0 entry"][0] == "https://zoo.example/a10/entry-1"  # relative: against xml:base
    assert rows["Numeric “entities” — ok"][1] is None  # dated 1970: a placeholder, not a date


def test_feed_reports(zoo_run):
    _, manifest, _ = zoo_run
    reports = {Path(report["feed"]).name: report for report in manifest["feeds"]}
    assert {name: report["status"] for name, report in reports.items()} == {
        **{name: "ok" for name in WRITTEN if name != "truncated.xml"}, "truncated.xml": "bozo",
        "html_page.xml": "error", "json_feed.xml": "error"}
    assert {name: report["format"] for name, report in reports.items() if report["format"]} == {
        "atom03.xml": "atom03", "atom10.xml": "atom10", "koi8r.xml": "rss20", "rdf10.xml": "rss10",
        "rss091.xml": "rss091n", "rss092.xml": "rss092", "rss20_namespaces.xml": "rss20", "truncated.xml": "rss20",
        "utf16_bom.xml": "rss20", "utf8_bom_missing_fields.xml": "rss20", "windows1252.xml": "rss20"}
