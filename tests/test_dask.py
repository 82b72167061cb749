"""``--runner dask``: the same pipeline on a Dask cluster gives exactly what DirectRunner gives.

The CLI runs for real (subprocesses), once on DirectRunner and once on Dask with the same
run id, and both outputs are read back with DuckDB: the same article rows, the same
``(article_id, canonical_id, method)`` duplicates, the same rejects, the same files and
seen-index entries. Dask is imported at the top on purpose: without the ``dask`` extra this
module fails to import, it is never skipped.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import dask  # noqa: F401  (the 'dask' extra must be installed for the tests)
import distributed
import duckdb
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms import userstate, window
from conftest import ROOT, SEEDS

from benchmarks.corpus import articles as generated_articles
from pipelines import runners

pytestmark = pytest.mark.slow  # Dask clusters and CLI runs on them: minutes

CLI = Path(sys.executable).with_name("news-ingest")
RUN_ID = "dask-vs-direct"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    command = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "pipelines"]
    return subprocess.run([*command, "run", "-q", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of two single-threaded worker processes, the shape --runner dask starts."""
    local = runners.start_local_cluster(2)
    yield local.scheduler_address
    local.close()


# --- inputs ------------------------------------------------------------------------------------

def _rss(items: list[dict], title: str) -> str:
    entries = []
    for item in items:
        pub = item["published_at"].strftime("%a, %d %b %Y %H:%M:%S +0000") if item.get("published_at") else None
        body = "".join(f"<p>{html.escape(p)}</p>" for p in (item.get("body") or "").split("\n\n") if p)
        entries.append(
            "<item>"
            + (f"<title>{html.escape(item['title'])}</title>" if item.get("title") else "")
            + f"<link>{html.escape(item['url'])}</link><guid isPermaLink=\"false\">{html.escape(item['guid'])}</guid>"
            + (f"<pubDate>{pub}</pubDate>" if pub else "")
            + f"<content:encoded><![CDATA[{body}]]></content:encoded></item>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
            f"<title>{title}</title><link>https://feeds.example/</link><description>test</description>"
            + "\n".join(entries) + "</channel></rss>\n")


def write_corpus(root: Path, count: int) -> Path:
    """``count`` generated entries (near and exact copies among them) in four RSS feeds, one
    entry repeated in two feeds (a guid duplicate), the bundled seeds, and inputs every reader
    and Normalize must reject."""
    items = generated_articles(count, seed=11)
    (root / "feeds").mkdir(parents=True)
    shutil.copytree(SEEDS / "documents", root / "documents")
    for name in ("world.rss", "wire.atom", "science.rdf"):
        shutil.copy(SEEDS / "feeds" / name, root / "feeds" / name)
    feeds = [items[number::4] for number in range(4)]
    feeds[1].append(feeds[0][0])  # the same entry (absolute guid) in a second feed
    start = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    feeds[2] += [
        {"title": "", "url": "https://bad.example/untitled", "guid": "tag:bad,1", "body": "No title here."},
        {"title": "Not a web link", "url": "ftp://bad.example/file", "guid": "tag:bad,2", "body": "Text."},
        {"title": "From the future", "url": "https://bad.example/future", "guid": "tag:bad,3", "body": "Text.",
         "published_at": start + dt.timedelta(days=3650)},
    ]
    for number, entries in enumerate(feeds):
        (root / "feeds" / f"generated-{number}.rss").write_text(_rss(entries, f"Generated {number}"), encoding="utf-8")
    (root / "feeds" / "page.html").write_text("<!doctype html><html><body><p>Not a feed</p></body></html>")
    (root / "documents" / "empty.txt").write_bytes(b"")
    (root / "documents" / "binary.dat").write_bytes(bytes(range(256)) * 4)
    names = [f"generated-{n}.rss" for n in range(4)] + ["world.rss", "wire.atom", "science.rdf", "page.html",
                                                        "missing.rss"]
    (root / "feeds.yaml").write_text("feeds:\n" + "".join(f"  - feeds/{name}\n" for name in names))
    return root


# --- reading the outputs back ------------------------------------------------------------------

def _parquet(output: Path, folder: str) -> str | None:
    return f"read_parquet('{output}/{folder}/*/*.parquet', hive_partitioning=true)" \
        if list((output / folder).glob("*/*.parquet")) else None


def snapshot(output: Path) -> dict:
    """What a run wrote, in a form two runs can be compared by (``ingested_at``, the start
    time, differs by construction and is left out)."""
    [manifest_file] = (output / "_runs").glob("*.json")
    manifest = json.loads(manifest_file.read_text())
    articles = _parquet(output, "articles")
    duplicates = _parquet(output, "duplicates")
    rejects = _parquet(output, "rejects")
    rows = {}
    if articles:
        relation = duckdb.sql(f"select * exclude (ingested_at, ingest_date) from {articles}")
        rows = {row[0]: dict(zip(relation.columns, row)) for row in relation.fetchall()}
    return {
        "articles": rows,
        "duplicates": sorted(duckdb.sql(
            f"select article_id, canonical_id, method, round(similarity, 9) from {duplicates}").fetchall())
        if duplicates else [],
        "rejects": sorted(duckdb.sql(
            f"select reject_id, stage, reason, regexp_extract(source, '[^/]+$') from {rejects}").fetchall())
        if rejects else [],
        "status": manifest["status"],
        "counts": manifest["counts"],
        "reconciled": manifest["reconciled"],
        "files": sorted((f["path"], f["rows"]) for f in manifest["files"]),
        "index_files": manifest.get("index_files"),
        "state_files": sorted(os.listdir(output / "_state")) if (output / "_state").is_dir() else [],
    }, manifest


def assert_same_output(direct: Path, on_dask: Path) -> dict:
    expected, direct_manifest = snapshot(direct)
    got, dask_manifest = snapshot(on_dask)
    assert set(got["articles"]) == set(expected["articles"])
    assert got["duplicates"] == expected["duplicates"]
    assert got["rejects"] == expected["rejects"]
    for article_id, row in expected["articles"].items():  # enrichment, cluster sizes, everything
        assert got["articles"][article_id] == row, article_id
    assert got == expected
    # Beam's DaskRunner keeps no metrics; the manifest says so with an empty dict, not a crash.
    assert direct_manifest["metrics"]["read_feeds/feeds"] == len(direct_manifest["feeds"])
    assert dask_manifest["metrics"] == {}
    return expected


# --- the CLI, DirectRunner against Dask ---------------------------------------------------------

def test_bundled_seeds_on_a_cluster_the_cli_starts(tmp_path):
    direct = run_cli("--seeds", str(SEEDS), "--output", str(tmp_path / "direct"), "--run-id", RUN_ID)
    assert direct.returncode == 0, direct.stderr
    on_dask = run_cli("--seeds", str(SEEDS), "--output", str(tmp_path / "dask"), "--run-id", RUN_ID,
                      "--runner", "dask")
    assert on_dask.returncode == 0, on_dask.stderr
    assert "Traceback" not in on_dask.stderr

    result = assert_same_output(tmp_path / "direct", tmp_path / "dask")
    assert result["counts"] == {"read": 18, "written": 10, "duplicates": 8, "rejected": 0, "quarantined": 0}
    [manifest] = (tmp_path / "dask" / "_runs").glob("*.json")
    beam_args = json.loads(manifest.read_text())["beam_args"]
    assert beam_args[:2] == ["--runner", runners.DASK_RUNNER] and "--dask_client_address" in beam_args


def test_generated_corpus_and_a_second_run_on_two_workers(tmp_path, cluster):
    seeds = write_corpus(tmp_path / "corpus", 300)
    outputs = {"direct": tmp_path / "direct", "dask": tmp_path / "dask"}
    runner_args = {"direct": [], "dask": ["--runner", "dask", "--dask_client_address", cluster]}

    for name, output in outputs.items():
        result = run_cli("--seeds", str(seeds), "--output", str(output), "--run-id", RUN_ID, *runner_args[name])
        assert result.returncode == 0, result.stderr
    first = assert_same_output(outputs["direct"], outputs["dask"])
    methods = {method for _, _, method, _ in first["duplicates"]}
    assert {"guid", "url", "content", "near"} <= methods
    assert {reason for _, _, reason, _ in first["rejects"]} == {
        "EMPTY_DOCUMENT", "BINARY_CONTENT", "FEED_MALFORMED", "FEED_NOT_FOUND", "MISSING_TITLE", "BAD_URL",
        "FUTURE_PUBLISHED_DATE"}
    assert first["reconciled"] and len(first["articles"]) > 200

    # Again over the same output: the seen-index (MatchFiles, CoGroupByKey, reading earlier
    # articles back) turns every article into a duplicate of the first run's, on both runners.
    # (--enrich core: nothing is left to enrich, so spaCy need not load.)
    for name, output in outputs.items():
        shutil.rmtree(output / "_runs")
        result = run_cli("--seeds", str(seeds), "--output", str(output), "--run-id", RUN_ID + "-2",
                         "--enrich", "core", *runner_args[name])
        assert result.returncode == 0, result.stderr
    second = assert_same_output(outputs["direct"], outputs["dask"])
    assert second["counts"]["written"] == 0
    assert second["counts"]["duplicates"] == len(first["articles"]) + len(first["duplicates"])


def test_a_run_that_fails_on_a_worker_exits_1_with_a_failed_manifest(tmp_path, cluster):
    output = tmp_path / "out"
    output.mkdir()
    (output / "articles").write_text("a file where the articles folder should be")
    result = run_cli("--seeds", str(SEEDS), "--output", str(output), "--no-feeds", "--enrich", "core",
                     "--runner", "dask", "--dask_client_address", cluster)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if "failed: OSError" in line]
    [manifest] = (output / "_runs").glob("*.json")
    assert json.loads(manifest.read_text())["status"] == "failed"


# --- the runner on small pipelines --------------------------------------------------------------

class _SplitFn(beam.DoFn):
    def process(self, number):
        if number % 2:
            yield beam.pvalue.TaggedOutput("odd", number)
        else:
            yield number


class _AppendFn(beam.DoFn):
    """Writes each element as a JSON line to ``folder/name`` (one file per process and bundle)."""

    def __init__(self, folder: str, name: str) -> None:
        self.folder, self.name = folder, name

    def process(self, element):
        with open(os.path.join(self.folder, f"{self.name}-{os.getpid()}.jsonl"), "a") as handle:
            handle.write(json.dumps(element) + "\n")
        yield element


def _constructs(p: beam.Pipeline, folder: str) -> None:
    """Every construct Beam's own DaskRunner gets wrong, each ending in a sink of its own."""
    numbers = p | "Numbers" >> beam.Create(range(500))
    split = numbers | "Split" >> beam.ParDo(_SplitFn()).with_outputs("odd", main="even")
    split.even | "Even" >> beam.ParDo(_AppendFn(folder, "even"))
    split.odd | "Odd" >> beam.ParDo(_AppendFn(folder, "odd"))
    (numbers
     | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=7)  # emits in finish_bundle
     | "Flatten" >> beam.FlatMap(lambda batch: batch)
     | "Batched" >> beam.ParDo(_AppendFn(folder, "batched")))
    parsed = (numbers | "Divide" >> beam.Map(lambda n: 1000 // (n % 50)).with_exception_handling())
    parsed.bad | "Failed" >> beam.Map(lambda bad: bad[0]) | "Bad" >> beam.ParDo(_AppendFn(folder, "bad"))
    total = numbers | "Count" >> beam.combiners.Count.Globally()
    (numbers
     | "Key" >> beam.Map(lambda n: (n % 7, n))
     | "Group" >> beam.GroupByKey()
     | "Sum" >> beam.Map(lambda group, total: [group[0], sum(group[1]), total], beam.pvalue.AsSingleton(total))
     | "Sums" >> beam.ParDo(_AppendFn(folder, "sums")))


def _read_sinks(folder: Path) -> dict:
    found: dict = {}
    for path in folder.glob("*.jsonl"):
        found.setdefault(path.name.split("-")[0], []).extend(json.loads(line) for line in path.read_text().split("\n")
                                                            if line)
    return {name: sorted(values) for name, values in found.items()}


def test_multiple_outputs_finish_bundle_side_inputs_and_every_branch(tmp_path, cluster):
    results = {}
    for name, args in {"direct": ["--runner", "DirectRunner"],
                       "dask": ["--runner", runners.DASK_RUNNER, "--dask_client_address", cluster]}.items():
        folder = tmp_path / name
        folder.mkdir()
        with beam.Pipeline(options=PipelineOptions(args)) as p:
            _constructs(p, str(folder))
        results[name] = _read_sinks(folder)
    assert results["dask"] == results["direct"]
    assert results["dask"]["even"] == list(range(0, 500, 2)) and results["dask"]["odd"] == list(range(1, 500, 2))
    assert results["dask"]["batched"] == list(range(500))
    assert results["dask"]["bad"] == list(range(0, 500, 50))
    assert [row[2] for row in results["dask"]["sums"]] == [500] * 7


class _StatefulFn(beam.DoFn):
    SEEN = userstate.ReadModifyWriteStateSpec("seen", beam.coders.VarIntCoder())

    def process(self, element, seen=beam.DoFn.StateParam(SEEN)):
        yield element


@pytest.mark.parametrize("build, message", [
    (lambda p: p | beam.Create([1]) | beam.WindowInto(window.FixedWindows(60)), "global window only"),
    (lambda p: p | beam.Create([("a", 1)]) | beam.ParDo(_StatefulFn()), "stateful or splittable"),
])
def test_what_the_runner_cannot_run_fails_before_running(cluster, build, message):
    p = beam.Pipeline(options=PipelineOptions(["--runner", runners.DASK_RUNNER, "--dask_client_address", cluster]))
    build(p)
    with pytest.raises(NotImplementedError, match=message):
        p.run()


# --- dask_runner_args ---------------------------------------------------------------------------

def test_runner_arguments_are_translated_and_other_runners_left_alone():
    assert runners.dask_runner_args(["--runner", "DirectRunner", "--direct_num_workers", "2"])[0] == [
        "--runner", "DirectRunner", "--direct_num_workers", "2"]
    for spelling in (["--runner", "dask"], ["--runner=DaskRunner"], ["--runner", runners.BEAM_DASK_RUNNER]):
        args, cleanup = runners.dask_runner_args([*spelling, "--dask_client_address", "tcp://10.0.0.1:8786"])
        assert args == ["--runner", runners.DASK_RUNNER, "--dask_client_address", "tcp://10.0.0.1:8786"]
        cleanup()  # nothing was started


def test_a_local_cluster_is_started_for_the_run_and_shut_down_after():
    args, cleanup = runners.dask_runner_args(["--runner", "dask", "--dask_npartitions", "3"], workers=2)
    address = args[args.index("--dask_client_address") + 1]
    assert args[:2] == ["--runner", runners.DASK_RUNNER] and "--dask_npartitions" in args
    with distributed.Client(address, timeout=30) as client:
        assert sorted(client.nthreads().values()) == [1, 1]  # one single-threaded process per worker
    cleanup()
    with pytest.raises(OSError):
        distributed.Client(address, timeout=2)
