"""The CLI run for real on DirectRunner, its output read back the way downstream users read it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, SEED_DOCUMENT, SEEDS, files_under, suites_with_word_cap

import schemas

CLI = Path(sys.executable).with_name("news-ingest")
BONN = "https://news.example.org/world/2020/03/climate-talks-bonn?id=4411"


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    command = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "pipelines"]
    return subprocess.run([*command, "run", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def manifest_of(output: Path) -> dict:
    [path] = (output / "_runs").glob("*.json")
    return json.loads(path.read_text())


def parquet_glob(output: Path, folder: str) -> str:
    return f"{output}/{folder}/**/*.parquet"


def count_rows(output: Path, folder: str) -> int:
    """Rows of a table as DuckDB reads them; a table without files (no folder: nothing of that
    kind was written) has none."""
    if not files_under(output / folder, "*.parquet"):
        return 0
    return duckdb.sql(f"select count(*) from read_parquet('{parquet_glob(output, folder)}')").fetchall()[0][0]


def assert_reconciles(output: Path, manifest: dict) -> None:
    counts = manifest["counts"]
    assert counts["read"] == counts["written"] + counts["duplicates"] + counts["rejected"] + counts["quarantined"]
    assert manifest["reconciled"] is True
    # the manifest's counts are what is on disk, read back by a real downstream reader
    assert count_rows(output, "articles") == counts["written"]
    assert count_rows(output, "duplicates") == counts["duplicates"]
    assert count_rows(output, "rejects") == counts["rejected"]
    assert count_rows(output, "quarantine") == counts["quarantined"]
    on_disk = sorted(str(p.relative_to(output)) for p in output.rglob("*.parquet")
                     if not str(p.relative_to(output)).startswith("_"))
    assert on_disk == sorted(f["path"] for f in manifest["files"])
    assert files_under(output / "_staging") == [], "staged files left after the commit"
    for record in manifest["files"]:
        assert json.loads((output / record["validation"]).read_text())["success"] == record["validation_success"]


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("seeds_run") / "out"
    result = run_cli("--seeds", str(SEEDS), "--output", str(output))
    return output, result


def test_bundled_seeds_run_ok(seeds_run):
    output, result = seeds_run
    assert result.returncode == 0, result.stderr
    manifest = manifest_of(output)
    assert manifest["status"] == "ok"
    assert f"run {manifest['run_id']} ok" in result.stdout
    assert manifest["counts"] == {"read": 18, "written": 10, "duplicates": 8, "rejected": 0, "quarantined": 0}
    assert_reconciles(output, manifest)
    assert {f["feed"].rsplit("/", 1)[1]: f["status"] for f in manifest["feeds"]} == {
        "world.rss": "ok", "wire.atom": "ok", "science.rdf": "ok"}


def test_articles_have_the_schema_and_hive_partitions(seeds_run):
    output, _ = seeds_run
    files = files_under(output / "articles", "*.parquet")
    assert files, "no article files"
    for path in files:
        assert path.parent.name.startswith("ingest_date=")
        schema = pq.read_schema(path)
        assert schema.equals(schemas.ARTICLE_SCHEMA, check_metadata=False)
        assert schema.metadata[b"news_ingest.schema_version"] == schemas.SCHEMA_VERSION.encode()
    dataset = ds.dataset(output / "articles", format="parquet", partitioning="hive")
    assert dataset.to_table().num_rows == 10


def test_seed_document_as_a_downstream_reader_sees_it(seeds_run):
    output, _ = seeds_run
    rows = duckdb.sql(
        f"select title, dateline_location, dateline_credit, language, published_at, source_type, body, "
        f"word_count, ingest_date from read_parquet('{parquet_glob(output, 'articles')}', hive_partitioning=true) "
        f"where title = 'Afghan officials and Taliban hold video conference'").fetchall()
    assert len(rows) == 1
    _title, location, credit, language, published, source_type, body, words, ingest_date = rows[0]
    assert (location, credit, language, published, source_type) == ("KABUL", "Agencies", "en", None, "document")
    assert body.startswith("Afghan government officials held a video conference on Sunday")
    assert "KABUL" not in body.split("\n\n")[0]
    assert words > 400
    assert str(ingest_date) == manifest_of(output)["started_at"][:10]


def test_syndicated_copy_of_the_seed_document_is_a_near_duplicate(seeds_run):
    output, _ = seeds_run
    rows = duckdb.sql(
        f"select d.method, d.similarity, a.title, a.cluster_size from "
        f"read_parquet('{parquet_glob(output, 'duplicates')}') d join "
        f"read_parquet('{parquet_glob(output, 'articles')}') a on d.canonical_id = a.article_id "
        f"where d.url like 'https://wire.example.com/asia/%'").fetchall()
    assert len(rows) == 1
    method, similarity, title, cluster_size = rows[0]
    assert (method, title, cluster_size) == ("near", "Afghan officials and Taliban hold video conference", 2)
    assert 0.7 <= similarity < 1.0


def test_repost_under_tracking_url_is_counted_once(seeds_run):
    output, _ = seeds_run
    kept = duckdb.sql(f"select article_id, url, cluster_size from read_parquet('{parquet_glob(output, 'articles')}') "
                      f"where canonical_url = '{BONN}'").fetchall()
    assert len(kept) == 1
    kept_id, kept_url, cluster_size = kept[0]
    assert kept_url == BONN and cluster_size == 5
    repost = duckdb.sql(f"select canonical_id, method, similarity, source_type from "
                        f"read_parquet('{parquet_glob(output, 'duplicates')}') "
                        f"where url like '%utm_source=twitter%'").fetchall()
    assert repost == [(kept_id, "url", 1.0, "document")]
    # and every duplicate points at an article that exists
    dangling = duckdb.sql(
        f"select count(*) from read_parquet('{parquet_glob(output, 'duplicates')}') d "
        f"anti join read_parquet('{parquet_glob(output, 'articles')}') a on d.canonical_id = a.article_id").fetchall()
    assert dangling[0][0] == 0


@pytest.mark.slow
def test_ids_and_clusters_are_stable_across_runs(seeds_run, tmp_path):
    output, _ = seeds_run
    again = tmp_path / "again"
    result = run_cli("--seeds", str(SEEDS), "--output", str(again), "--shards", "1", "-q")
    assert result.returncode == 0, result.stderr

    def clusters(out):
        return sorted(duckdb.sql(f"select article_id, canonical_id, method from "
                                 f"read_parquet('{parquet_glob(out, 'duplicates')}')").fetchall())

    def ids(out):
        return sorted(duckdb.sql(f"select article_id from read_parquet('{parquet_glob(out, 'articles')}')").fetchall())

    assert ids(again) == ids(output) and len(ids(output)) == 10
    assert clusters(again) == clusters(output)


BOZO_RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Cut short</title>
<item><title>Complete item</title><link>https://cut.example.com/1</link><description>Fine.</description></item>
<item><title>Second item</title><link>https://cut.example.com/2</link></item>
<item><title>Unfinished"""


@pytest.mark.slow
def test_bad_input_is_rejected_and_the_rest_completes(tmp_path, httpserver):
    seeds = tmp_path / "seeds"
    (seeds / "documents").mkdir(parents=True)
    (seeds / "feeds").mkdir()
    shutil.copy(SEED_DOCUMENT, seeds / "documents")
    (seeds / "documents" / "empty.txt").write_bytes(b"")
    (seeds / "documents" / "binary.dat").write_bytes(bytes(range(256)) * 4)
    (seeds / "documents" / "latin1.txt").write_bytes("Crème brûlée\n\nDu texte.".encode("latin-1"))
    shutil.copy(SEEDS / "feeds" / "world.rss", seeds / "feeds")
    (seeds / "feeds" / "page.html").write_text("<!doctype html><html><body><p>Not a feed</p></body></html>")
    (seeds / "feeds" / "cut.rss").write_bytes(BOZO_RSS)
    httpserver.expect_request("/error.rss").respond_with_data("oops", status=500)
    (seeds / "feeds.yaml").write_text(
        "feeds:\n  - feeds/world.rss\n  - feeds/page.html\n  - feeds/cut.rss\n  - feeds/missing.rss\n"
        f"  - url: {httpserver.url_for('/error.rss')}\n    name: Flaky server\n")
    output = tmp_path / "out"

    result = run_cli("--seeds", str(seeds), "--output", str(output), "--http-retries", "1", "--http-backoff", "0")

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    manifest = manifest_of(output)
    assert_reconciles(output, manifest)
    rejects = sorted(duckdb.sql(f"select stage, reason, regexp_extract(source, '[^/]+$') from "
                                f"read_parquet('{parquet_glob(output, 'rejects')}')").fetchall())
    assert rejects == [
        ("normalize", "MISSING_TITLE", "cut.rss"),  # the cut-off item, recovered by feedparser without a title
        ("read_documents", "BINARY_CONTENT", "binary.dat"),
        ("read_documents", "DECODE_ERROR", "latin1.txt"),
        ("read_documents", "EMPTY_DOCUMENT", "empty.txt"),
        ("read_feeds", "FEED_HTTP_ERROR", "error.rss"),
        ("read_feeds", "FEED_MALFORMED", "page.html"),
        ("read_feeds", "FEED_NOT_FOUND", "missing.rss"),
    ]
    payload = duckdb.sql(f"select payload from read_parquet('{parquet_glob(output, 'rejects')}') "
                         f"where reason = 'DECODE_ERROR'").fetchall()[0][0]
    assert bytes(payload) == "Crème brûlée\n\nDu texte.".encode("latin-1")  # nothing is lost
    feeds = {f["feed"].rsplit("/", 1)[1]: (f["status"], f["entries"]) for f in manifest["feeds"]}
    assert feeds == {"world.rss": ("ok", 4), "page.html": ("error", 0), "cut.rss": ("bozo", 3),
                     "missing.rss": ("error", 0), "error.rss": ("error", 0)}
    titles = duckdb.sql(f"select title from read_parquet('{parquet_glob(output, 'articles')}')").fetchall()
    assert ("Second item",) in titles and ("Afghan officials and Taliban hold video conference",) in titles
    assert "1 malformed but read, 3 failed" in result.stdout


@pytest.mark.slow
def test_failing_validation_quarantines_the_failing_rows_and_exits_3(tmp_path):
    suites = suites_with_word_cap(tmp_path / "suites", max_words=100)
    output = tmp_path / "out"

    result = run_cli("--seeds", str(SEEDS), "--output", str(output), "--expectations", str(suites),
                     "--shards", "1")

    assert result.returncode == 3, result.stderr
    manifest = manifest_of(output)
    assert manifest["status"] == "quarantined"
    assert manifest["counts"]["quarantined"] + manifest["counts"]["written"] == 10
    assert_reconciles(output, manifest)
    # only the articles over the cap are quarantined; the rest of their batch is written
    long_ = duckdb.sql(f"select word_count from read_parquet('{parquet_glob(output, 'quarantine')}')").fetchall()
    short = duckdb.sql(f"select word_count from read_parquet('{parquet_glob(output, 'articles')}')").fetchall()
    assert long_ and short and all(n > 100 for (n,) in long_) and all(n <= 100 for (n,) in short)
    [record] = [f for f in manifest["files"] if f["destination"] == "quarantine"]
    assert record["path"].startswith("quarantine/articles/ingest_date=")
    assert "expect_column_values_to_be_between(word_count)" in record["failed_expectations"]
    result_json = json.loads((output / record["validation"]).read_text())
    assert result_json["success"] is False


def test_unwritable_output_fails_with_one_line_and_exit_1(tmp_path):
    # (an --output that is a file is a usage error before the run: tests/test_cli_behaviour.py)
    blocker = tmp_path / "out"
    blocker.mkdir()
    (blocker / "_staging").write_text("a file where the staging directory should be")
    result = run_cli("--seeds", str(SEEDS), "--output", str(blocker), "-q")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if "failed:" in line]


@pytest.mark.slow
def test_second_run_over_the_same_inputs_writes_no_new_articles(tmp_path):
    output = tmp_path / "out"
    first = run_cli("--seeds", str(SEEDS), "--output", str(output), "--run-id", "first", "-q")
    second = run_cli("--seeds", str(SEEDS), "--output", str(output), "--run-id", "second", "-q")
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    manifests = {m["run_id"]: m for m in (json.loads(p.read_text()) for p in (output / "_runs").glob("*.json"))}
    assert manifests["first"]["counts"]["written"] == 10
    assert manifests["second"]["counts"] == {"read": 18, "written": 0, "duplicates": 18, "rejected": 0,
                                             "quarantined": 0}
    assert manifests["first"]["index_files"] and all(
        (output / f["path"]).exists() for f in manifests["first"]["index_files"])
    # every duplicate of the second run points at an article the first run wrote
    rows = duckdb.sql(
        f"select d.method, a.run_id from read_parquet('{parquet_glob(output, 'duplicates')}') d "
        f"left join read_parquet('{parquet_glob(output, 'articles')}') a on d.canonical_id = a.article_id "
        f"where d.run_id = 'second'").fetchall()
    assert len(rows) == 18 and {run for _, run in rows} == {"first"}
    assert count_rows(output, "articles") == 10


@pytest.mark.slow
def test_near_duplicate_of_an_earlier_run_is_caught(tmp_path):
    seeds = tmp_path / "seeds"
    (seeds / "documents").mkdir(parents=True)
    shutil.copy(SEED_DOCUMENT, seeds / "documents")
    output = tmp_path / "out"
    assert run_cli("--seeds", str(seeds), "--output", str(output), "--run-id", "one", "-q").returncode == 0

    original = SEED_DOCUMENT.read_text(encoding="utf-8")
    _title, body = original.split("\n", 1)
    paragraphs = [p for p in body.strip().split("\n\n")]
    copy = ("---\nurl: https://syndicator.example.net/afghan-talks\nsource: Syndicator\n---\n"
            "Afghanistan and Taliban officials talk by video\n\n"
            + "\n\n".join(paragraphs[:7]).replace("KABUL (Agencies):", "KABUL (AP) —")
            .replace("Sunday", "Sunday afternoon") + "\n\nCopyright 2020 The Syndicator. All rights reserved.\n")
    (seeds / "documents" / "000_fc173cf85abe3055.txt").unlink()
    (seeds / "documents" / "copy.txt").write_text(copy, encoding="utf-8")
    result = run_cli("--seeds", str(seeds), "--output", str(output), "--run-id", "two", "-q")
    assert result.returncode == 0, result.stderr
    [(method, similarity, canonical_run)] = duckdb.sql(
        f"select d.method, d.similarity, a.run_id from read_parquet('{parquet_glob(output, 'duplicates')}') d "
        f"join read_parquet('{parquet_glob(output, 'articles')}') a on d.canonical_id = a.article_id").fetchall()
    assert (method, canonical_run) == ("near", "one") and similarity >= 0.9
    assert count_rows(output, "articles") == 1


RSS_ONE = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Live</title>
<item><title>First live story</title><link>https://live.example.com/1</link><guid>https://live.example.com/1</guid></item>
</channel></rss>"""
RSS_TWO = RSS_ONE.replace(b"</channel>", b"""<item><title>Second live story</title>
<link>https://live.example.com/2</link><guid>https://live.example.com/2</guid></item></channel>""")


@pytest.mark.slow
def test_live_feed_from_opml_with_conditional_get_and_state(tmp_path, httpserver):
    """Three runs against a local server: new feed, unchanged feed (304), feed that gained an entry."""
    from werkzeug.wrappers import Response

    bodies = [RSS_ONE]
    seen_headers = []

    def handler(request):
        seen_headers.append(request.headers.get("If-None-Match"))
        etag = f'"v{len(bodies)}"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(bodies[-1], status=200, headers={"ETag": etag, "Content-Type": "application/rss+xml"})

    httpserver.expect_request("/live.rss").respond_with_handler(handler)
    opml = tmp_path / "feeds.opml"
    opml.write_text(f"""<?xml version="1.0"?><opml version="2.0"><head><title>Mine</title></head><body>
<outline text="News"><outline text="Live" title="Live desk" type="rss" xmlUrl="{httpserver.url_for('/live.rss')}"/>
</outline></body></opml>""")
    output = tmp_path / "out"

    def run(run_id):
        result = run_cli("--feed-list", str(opml), "--no-documents", "--output", str(output), "--run-id", run_id,
                         "--feed-interval", "0", "--host-interval", "0", "-q")
        assert result.returncode == 0, result.stderr
        return json.loads((output / "_runs" / f"{run_id}.json").read_text())

    first = run("first")
    second = run("second")
    bodies.append(RSS_TWO)
    third = run("third")

    assert first["counts"]["written"] == 1 and first["feeds"][0]["status"] == "ok"
    assert first["feeds"][0]["name"] == "Live desk"
    assert second["feeds"][0]["status"] == "not_modified" and second["counts"]["read"] == 0
    assert second["feed_counts"]["not_modified"] == 1
    assert seen_headers[:2] == [None, '"v1"']  # the validator was stored and sent back
    assert third["feeds"][0]["new_entries"] == 1
    assert (third["counts"]["written"], third["counts"]["duplicates"]) == (1, 1)  # the old entry is a duplicate
    titles = sorted(r[0] for r in duckdb.sql(f"select title from read_parquet('{parquet_glob(output, 'articles')}')").fetchall())
    assert titles == ["First live story", "Second live story"]
    assert list((output / "_state").rglob("*.json"))


def test_seed_document_is_enriched(seeds_run):
    output, _ = seeds_run
    [(persons, locations, countries, quotes, hyphen_repairs, dateline_country, keywords, tone, body)] = duckdb.sql(
        f"select persons, locations, countries, quotes, hyphen_repairs, dateline_country, keywords, tone, body "
        f"from read_parquet('{parquet_glob(output, 'articles')}') "
        f"where title = 'Afghan officials and Taliban hold video conference'").fetchall()
    assert {"Zalmay Khalilzad", "Jawed Faisal", "Mohib", "Suhail Shaheen", "Sami Yousafzai"} <= set(persons)
    assert {"Kabul", "Qatar", "Doha", "Zabul", "Kunduz"} <= set(locations) and "AF" in countries
    assert {"speaker": "Jawed Faisal"}.items() <= next(q for q in quotes if q["speaker"] == "Jawed Faisal").items()
    assert hyphen_repairs == 6 and dateline_country == "AF" and keywords and -1 <= tone <= 1
    for broken in ("Khal-ilzad", "f-ocused", "d-iscussion", "t-he", "w-hich", "ha-ve"):
        assert broken not in body
    for compound in ("follow-on", "intra-Afghan", "US-Taliban"):
        assert compound in body


@pytest.mark.slow
def test_core_profile_leaves_the_full_columns_null(tmp_path):
    output = tmp_path / "out"
    result = run_cli("--seeds", str(SEEDS), "--output", str(output), "--enrich", "core", "--no-feeds", "-q")
    assert result.returncode == 0, result.stderr
    [(nulls, countries)] = duckdb.sql(
        f"select count(*) filter (where persons is null and quotes is null and tone is null), "
        f"count(dateline_country) from read_parquet('{parquet_glob(output, 'articles')}')").fetchall()
    assert nulls == count_rows(output, "articles") and countries >= 3
