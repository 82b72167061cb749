"""Cost model: what each per-record step of the batch pipeline costs outside Beam, and the best
time the pipeline could possibly reach on this machine.

    .venv/bin/python -m benchmarks.corpus --records 10000 --out /tmp/c10k        # once
    .venv/bin/python -m benchmarks.cost_model --corpus /tmp/c10k --repeat 3 --cores 2 \\
        [--startup-s S] [--startup-full-s S] [--full-articles 200] [--json OUT]

Why: the issue's targets are "``--enrich core`` >= 0.5x the throughput of the floor (feedparser
parsing every feed, nothing else) on 10,000 entries, start-up included, on 2 cores" and
"``--enrich full`` >= 0.1x the floor". Before tuning Beam, know whether the pipeline's own work
can meet them at all: this computes a lower bound on the run time, and so an upper bound on the
ratio any runner could reach with today's code.

What it measures. Every record of a ``benchmarks.corpus`` directory goes through the
pipeline's own per-element code in a plain Python loop, in this one process, stage after stage
as the Beam graph (``pipelines/pipeline.py``) wires them, and each step is timed with
``time.perf_counter`` (summed per step). The DoFns of ``pipelines/transforms`` are called
directly (``setup()`` and ``start_bundle()`` once, then ``process()`` per element: the very code, arguments and order
of a run, and through them the Beam-free functions of ``pipelines/core``); where the graph has
a shuffle (``GroupByKey``, ``CoGroupByKey``, ``Distinct``, side inputs) a dict stands in for it
at no cost. Steps (``STEPS``): reading feeds (``FetchHostFeedsFn``: state lookup, file read,
DTD check, feedparser, entries -> raw records, per host key) and documents
(``ParseDocumentFn``), normalisation, the exact dedup passes (keys; grouping and
``merge_group``), the near-duplicate pass (sketch, band keys, priority, packing; candidate pairs,
verification, leader clusters, absorbing), emitting kept and duplicate rows, ``enrich_core``,
the row check (articles and duplicates), reject rows, batching (three tables), GX validation
per batch (in-process, the real suites) and writing each batch (Arrow, Parquet bytes, GX result
JSON, written and fsynced under a scratch output). A record rejected by a step stops there and
is counted. Per-run caches that make a second pass over the same records cheaper (band keys,
word frequencies) are emptied before every repeat, as a run starts with them empty.

Reported per step: the median over ``--repeat`` passes in seconds and in ms per corpus record
(every step is divided by all records read, also those that see fewer, such as ``enrich_core``
which sees kept articles only), and ``calls`` (DoFn calls: per host key, file, record, cluster,
batch; for ``near_match`` the candidate pairs verified). ``total_cpu_s`` is their sum.

One-offs (loading the language model and gazetteer, building the GX validators and their first
validation, the full profile's models) are timed apart and NOT added to the per-record cost: a
real run pays them in its start-up, which is measured as a whole (below).

Floor: ``benchmarks/baselines.py floor`` run as ``bench.py`` runs it, a fresh process on the
whole corpus (start-up included, the number the target compares with; median of ``--repeat``),
and its ``floor()`` function timed in this process too, for reference.

Start-up: ``--startup-s``, else ``news-ingest run --seeds C1 --output O --enrich core -q
--no-seen-index`` on a one-record corpus, a fresh process timed like ``bench.py`` does (median
of ``--startup-repeat``); the same with ``--enrich full`` for the full bound
(``--startup-full-s``; when only ``--startup-s`` is given it stands for both).

Bound (the formula is written into the JSON as well)::

    best_case_s(R records, C cores) = startup_s + total_cpu_s / C
    best_case_ratio = (R / best_case_s) / (R / floor_s) = floor_s / best_case_s

``total_cpu_s`` is the sum of the per-step medians. For ``full`` the profile's batched
``enrich_full`` (``EnrichFullFn``, batches of ``EnrichArticles``' size) is timed on
``--full-articles`` kept articles; its cost per article times the kept articles replaces the
``enrich_core`` step (``enrich_full`` runs ``enrich_core`` itself), i.e. the full-profile cost
per article scaled by kept/total per record.

Caveats. A lower bound, not a prediction: one process, perfect division over ``C`` cores, no
Beam at all. A Beam run adds per-element overhead (coders, receivers, DoFn invocation), the
shuffles of every ``GroupByKey`` (pickling, sorting), the commit (journal, renames, manifest)
and the feed-state save; the seen-index is off (``--no-seen-index``, as in ``bench.py``). Times
are wall time of this single thread (perf_counter): a busy machine inflates them, so read them
next to the load averages recorded in the JSON. Not a test: nothing here judges time.

Output: a table on stdout and ``benchmarks/results/cost-model-<UTC stamp>.json`` (or ``--json``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import apache_beam as beam  # noqa: E402
from apache_beam.io.fileio import ReadableFile  # noqa: E402
from apache_beam.io.filesystems import FileSystems  # noqa: E402

import pipelines.cli  # noqa: E402,F401 - its log filter goes in before Beam's import logs its noise
from benchmarks import baselines, bench  # noqa: E402
from benchmarks.corpus import CorpusSpec, write_corpus  # noqa: E402
from expectations import SUITES_DIR  # noqa: E402
from pipelines.config import RunConfig, new_run_id  # noqa: E402
from pipelines.core import cleaning, nlp, seen_index  # noqa: E402
from pipelines.core.batches import RowBatch, make_batches, partition_of, shard_of  # noqa: E402
from pipelines.core.dedupe import METHODS, merge_group  # noqa: E402
from pipelines.core.feed_list import load_feed_list  # noqa: E402
from pipelines.core.fetch import host_key  # noqa: E402
from pipelines.core.geo import gazetteer  # noqa: E402
from pipelines.core.near_dedupe import pack_sketch  # noqa: E402
from pipelines.core.validation import load_suite_json  # noqa: E402
from pipelines.transforms.dedupe import (  # noqa: E402
    _ROUTED,
    _UNKEYED,
    EmitClusterFn,
    KeyClusterFn,
    MergeNearDuplicates,
    RouteToLeaderFn,
    SketchFn,
    _absorb_members,
    _assign,
    _partner_parts,
    _route_pair,
    _route_sketch,
    _shard_bands,
    _shard_pairs,
    _verify_cell,
)
from pipelines.transforms.enrich import EnrichArticles, EnrichCoreFn, EnrichFullFn  # noqa: E402
from pipelines.transforms.normalize import NormalizeFn  # noqa: E402
from pipelines.transforms.read_documents import ParseDocumentFn  # noqa: E402
from pipelines.transforms.read_feeds import FetchHostFeedsFn  # noqa: E402
from pipelines.transforms.tags import DUPLICATES, QUARANTINED, REJECTS, VALID  # noqa: E402
from pipelines.transforms.validate import CheckRowFn, ValidateBatchFn  # noqa: E402
from pipelines.transforms.write_parquet import WriteBatchFn  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
TABLES = ("articles", "duplicates", "rejects")
_DEFAULTS = {f.name: f for f in dataclasses.fields(RunConfig)}
BATCH_SIZE = _DEFAULTS["batch_size"].default  # the pipeline's defaults (pipelines/config.py)
SHARDS = _DEFAULTS["shards"].default
NEAR = _DEFAULTS["near"].default_factory()
POLICY = _DEFAULTS["fetch_policy"].default_factory()
SCHEDULE = _DEFAULTS["feed_schedule"].default_factory()
TARGETS = {"core": bench.TARGETS["core_vs_floor_10k"], "full": bench.TARGETS["full_vs_floor"]}
FORMULA = ("best_case_s = startup_s + total_cpu_s / cores; "
           "best_case_ratio = (records / best_case_s) / (records / floor_s) = floor_s / best_case_s; "
           "total_cpu_s = sum of the per-step medians (core); full: total_cpu_s(core) - enrich_core "
           "+ full_ms_per_article / 1000 * kept_articles")

# Pipeline steps in the order a record meets them: (name, what is timed).
STEPS = (
    ("parse_feeds", "FetchHostFeedsFn per host key: state lookup, read, DTD check, feedparser, entries -> records"),
    ("parse_documents", "ParseDocumentFn per file: open, read, parse_document"),
    ("normalize", "NormalizeFn: normalize_article"),
    ("dedup_keys", "KeyClusterFn per cluster and exact pass: dedup_key (guid, url, content)"),
    ("dedup_merge", "clusters started, grouped by key (a dict), merge_group per group (priority)"),
    ("near_sketch", "SketchFn (sketch, text_band_keys, priority) and pack_sketch"),
    ("near_match", "band shards -> candidate pairs, routing, unpack + verify per cell, leaders, absorb"),
    ("emit_clusters", "EmitClusterFn: kept_row, duplicate_rows"),
    ("enrich_core", "EnrichCoreFn: enrich_core"),
    ("check_rows", "CheckRowFn (schemas.check_row, check_values) on articles and duplicates"),
    ("reject_rows", "Reject.to_row of every reject"),
    ("batch", "partition_of/shard_of keys, grouping, make_batches (3 tables)"),
    ("gx_validate", "ValidateBatchFn per batch: RowBatch.to_arrow + GX validation (in-process)"),
    ("write_parquet", "WriteBatchFn per batch: to_arrow, parquet_bytes, GX result JSON, written + fsynced"),
)
STEP_NAMES = tuple(name for name, _ in STEPS)
LOG = logging.getLogger("news_ingest")


# --- helpers --------------------------------------------------------------------------------------------

def _split(outputs: Iterable[Any]) -> tuple[list, dict[str, list]]:
    """A DoFn's outputs as ``(main outputs, {tag: tagged outputs})``."""
    main, tagged = [], {}
    for out in outputs:
        if isinstance(out, beam.pvalue.TaggedOutput):
            tagged.setdefault(out.tag, []).append(out.value)
        else:
            main.append(out)
    return main, tagged


def _timed(process, elements: Iterable[Any], step: str, add) -> tuple[list, dict[str, list]]:
    """Every element through ``process`` (a DoFn's), each call timed under ``step``: the main
    outputs of all calls and their tagged outputs (``{tag: values}``)."""
    main, tagged = [], {}
    for element in elements:
        start = time.perf_counter()
        out, tags = _split(process(element))
        add(step, start)
        main += out
        for tag, values in tags.items():
            tagged.setdefault(tag, []).extend(values)
    return main, tagged


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def reset_run_caches() -> None:
    """Empty the per-process caches a run starts without and that would make a second pass over
    the same records cheaper: band keys by article, word frequencies of the cleaner and of NLP."""
    seen_index._BAND_KEYS.clear()
    for cached in (cleaning._zipf, nlp._zipf):
        cached.cache_clear()


def read_corpus(corpus: Path) -> dict:
    description = json.loads((corpus / "corpus.json").read_text(encoding="utf-8"))
    description["records"] = description["spec"]["records"]
    return description


class Timer:
    """Seconds and calls per step."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STEP_NAMES, 0.0)
        self.calls = dict.fromkeys(STEP_NAMES, 0)

    def add(self, step: str, started: float) -> None:
        self.seconds[step] += time.perf_counter() - started
        self.calls[step] += 1


# --- one-offs ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Context:
    """What a run sets up once (DoFn ``setup()``s, models, validators), and what it took."""

    corpus: Path
    scratch: Path
    started_at: dt.datetime
    run_id: str
    one_off_s: dict[str, float]
    feeds_fn: FetchHostFeedsFn
    enrich_fn: EnrichCoreFn
    validate_fns: dict[str, ValidateBatchFn]


def prepare(corpus: Path, scratch: Path) -> Context:
    """Set up every DoFn once, as a worker does; each one-off is timed."""
    one_off: dict[str, float] = {}
    started_at = dt.datetime.now(dt.timezone.utc)

    start = time.perf_counter()
    feeds_fn = FetchHostFeedsFn(POLICY, SCHEDULE, str(scratch / "_state"), started_at)  # the CLI's OUTPUT/_state
    feeds_fn.setup()
    one_off["feed_reader_setup"] = time.perf_counter() - start

    start = time.perf_counter()
    enrich_fn = EnrichCoreFn()
    enrich_fn.setup()  # the language model
    one_off["language_model"] = time.perf_counter() - start
    start = time.perf_counter()
    gazetteer()  # loaded on the first dateline otherwise
    one_off["gazetteer"] = time.perf_counter() - start

    start = time.perf_counter()
    validate_fns = {}
    for table in TABLES:
        validate_fns[table] = ValidateBatchFn(table, load_suite_json(SUITES_DIR, table))
        validate_fns[table].setup()  # imports GX (the first) and builds the validator
    one_off["gx_import_and_validators"] = time.perf_counter() - start
    start = time.perf_counter()
    partition = partition_of({"ingested_at": started_at})
    level = LOG.level
    LOG.setLevel(logging.ERROR)  # an empty articles batch fails its suite: not worth a warning
    try:
        for table, fn in validate_fns.items():  # GX's first validation, on an empty batch
            list(fn.process(RowBatch(table, partition, "warm-up", ())))
    finally:
        LOG.setLevel(level)
    one_off["gx_first_validation"] = time.perf_counter() - start
    return Context(corpus, scratch, started_at, new_run_id(started_at), one_off, feeds_fn, enrich_fn, validate_fns)


# --- one pass over the corpus -----------------------------------------------------------------------------

def model_pass(ctx: Context) -> tuple[Timer, dict[str, int], list[dict]]:
    """Every record through every step once; ``(timer, counts, kept article rows before enrichment)``."""
    reset_run_caches()
    timer, counts = Timer(), {}
    add = timer.add
    output = ctx.scratch / "out"
    shutil.rmtree(output, ignore_errors=True)

    # Read: feeds (one FetchHostFeedsFn call per host key, as after GroupByHost) and documents.
    raws, rejects = [], []
    feed_rejects = 0
    feed_list = ctx.corpus / "feeds.yaml"
    sources = load_feed_list(str(feed_list)) if feed_list.is_file() else []
    by_host: dict[str, list] = {}
    for source in sources:
        by_host.setdefault(host_key(source.location, POLICY.host_concurrency), []).append(source)
    for key in sorted(by_host):
        start = time.perf_counter()
        entries, tagged = _split(ctx.feeds_fn.process((key, by_host[key])))
        add("parse_feeds", start)
        raws += entries
        rejects += tagged.get(REJECTS, [])
        feed_rejects += len(tagged.get(REJECTS, []))
    counts["feeds"] = len(sources)
    counts["feed_entries"] = len(raws)
    counts["feed_rejects"] = feed_rejects

    parse_document = ParseDocumentFn()
    start = time.perf_counter()
    matched = FileSystems.match([os.path.join(str(ctx.corpus.resolve()), "documents", "*")])[0].metadata_list
    add("parse_documents", start)
    documents = document_rejects = 0
    for metadata in sorted(matched, key=lambda m: m.path):
        start = time.perf_counter()
        articles, tagged = _split(parse_document.process(ReadableFile(metadata)))
        add("parse_documents", start)
        raws += articles
        rejects += tagged.get(REJECTS, [])
        documents += len(articles)
        document_rejects += len(tagged.get(REJECTS, []))
    counts["documents"] = documents
    counts["document_rejects"] = document_rejects
    counts["read"] = len(raws) + len(rejects)  # every input record is an article or a reject

    # Normalize.
    normalize = NormalizeFn(ctx.run_id, ctx.started_at)
    rows, tagged = _timed(normalize.process, raws, "normalize", add)
    rejects += tagged.get(REJECTS, [])
    counts["normalized"] = len(rows)
    counts["normalize_rejects"] = len(raws) - len(rows)

    # Deduplicate: exact passes, then near-duplicates (MergeNearDuplicates' graph, shuffles as dicts).
    start = time.perf_counter()
    clusters = [(row, []) for row in rows]
    add("dedup_merge", start)
    for method in METHODS:
        keyed, tagged = _timed(KeyClusterFn(method).process, clusters, "dedup_keys", add)
        unkeyed = tagged.get(_UNKEYED, [])
        start = time.perf_counter()
        groups: dict[str, list] = {}
        for key, cluster in keyed:
            groups.setdefault(key, []).append(cluster)
        clusters = [merged for group in groups.values() for merged in merge_group(group, method)] + unkeyed
        add("dedup_merge", start)
    if NEAR is not None:
        clusters = _near_pass(clusters, timer)

    kept, tagged = _timed(EmitClusterFn().process, clusters, "emit_clusters", add)
    duplicates = tagged.get(DUPLICATES, [])
    counts["kept"] = len(kept)
    counts["duplicates_found"] = len(duplicates)

    # Enrich (core profile).
    enriched, tagged = _timed(ctx.enrich_fn.process, kept, "enrich_core", add)
    rejects += tagged.get(REJECTS, [])
    counts["enrich_rejects"] = len(kept) - len(enriched)

    # CheckRows on articles and on duplicates.
    checked: dict[str, list] = {}
    for table, table_rows in (("articles", enriched), ("duplicates", duplicates)):
        check_fn = CheckRowFn(table)
        check_fn.start_bundle()  # the suite parameters its value rules compare with
        checked[table], tagged = _timed(check_fn.process, table_rows, "check_rows", add)
        rejects += tagged.get(REJECTS, [])
        counts[f"{table}_check_rejects"] = len(table_rows) - len(checked[table])

    # RejectRows.
    reject_rows = []
    for reject in rejects:
        start = time.perf_counter()
        reject_rows.append(reject.to_row(ctx.run_id, ctx.started_at))
        add("reject_rows", start)
    checked["rejects"] = reject_rows

    # Per table: BatchRows, ValidateBatches, WriteParquetBatches (valid) or quarantine.
    written = dict.fromkeys(TABLES, 0)
    quarantined_rows = batches = quarantined_batches = 0
    for table in TABLES:
        start = time.perf_counter()
        partitions: dict[tuple, list] = {}
        for row in checked[table]:
            partitions.setdefault((partition_of(row), shard_of(row, table, SHARDS)), []).append(row)
        table_batches = [batch for key, group in partitions.items()
                         for batch in make_batches(table, key[0], group, BATCH_SIZE)]
        add("batch", start)
        writers = {VALID: WriteBatchFn(str(output), ctx.run_id, table),
                   QUARANTINED: WriteBatchFn(str(output), ctx.run_id, "quarantine")}
        for batch in table_batches:
            start = time.perf_counter()
            _, tagged = _split(ctx.validate_fns[table].process(batch))
            add("gx_validate", start)
            [(tag, element)] = [(tag, value) for tag, values in tagged.items() for value in values]
            start = time.perf_counter()
            _split(writers[tag].process(element))
            add("write_parquet", start)
            batches += 1
            if tag == VALID:
                written[table] += len(batch.rows)
            else:
                quarantined_batches += 1
                quarantined_rows += len(batch.rows)
    shutil.rmtree(output, ignore_errors=True)
    counts.update(written=written["articles"], duplicates=written["duplicates"], rejected=written["rejects"],
                  quarantined=quarantined_rows, batches=batches, quarantined_batches=quarantined_batches)
    return timer, counts, kept


def _near_pass(clusters: list, timer: Timer) -> list:
    """MergeNearDuplicates on ``clusters``: its DoFns and functions, its shuffles as dicts."""
    add = timer.add
    merge = MergeNearDuplicates(NEAR)
    shards, parts = merge.band_shards, merge.verify_parts
    sketch_fn = SketchFn(NEAR)
    sketches, packed = [], {}
    for cluster in clusters:
        start = time.perf_counter()
        for item in sketch_fn.process(cluster):
            sketches.append(item)
            article_id, (found, rank, _) = item
            packed[article_id] = (pack_sketch(found), rank)
        add("near_sketch", start)

    start = time.perf_counter()
    by_shard: dict[int, list] = {}  # ShardBands, GroupBandShards
    for item in sketches:
        for shard, member in _shard_bands(item, shards):
            by_shard.setdefault(shard, []).append(member)
    pairs = sorted({pair for shard, members in by_shard.items()  # CandidatePairs, DistinctPairs
                    for pair in _shard_pairs((shard, members), NEAR)})
    needs: dict[str, set] = {}  # PartnerParts, DistinctNeeds, JoinNeeds
    for pair in pairs:
        for article_id, part in _partner_parts(pair, parts):
            needs.setdefault(article_id, set()).add(part)
    cells: dict[tuple, list] = {}  # RouteSketches, RoutePairs, GroupCells
    for article_id, need in needs.items():
        for cell, entry in _route_sketch((article_id, {"sketch": [packed[article_id]], "need": list(need)}), parts):
            cells.setdefault(cell, []).append(entry)
    for pair in pairs:
        cell, entry = _route_pair(pair, parts)
        cells.setdefault(cell, []).append(entry)
    edges = [edge for cell in cells.items() for edge in _verify_cell(cell, NEAR)]  # VerifyCells
    assignments = _assign(edges)  # CollectEdges, LeaderClusters
    route = RouteToLeaderFn()
    alone, routed = [], {}
    for cluster in clusters:  # RouteToLeader, GroupByLeader, Absorb
        out, tagged = _split(route.process(cluster, assignments))
        alone += out
        for leader, entry in tagged.get(_ROUTED, []):
            routed.setdefault(leader, []).append(entry)
    merged = [_absorb_members(leader, entries) for leader, entries in routed.items()]
    add("near_match", start)
    timer.calls["near_match"] = len(pairs)  # calls: candidate pairs verified
    return alone + merged


# --- the full profile ------------------------------------------------------------------------------------

def full_enrichment(kept: list[dict], articles: int, repeat: int) -> dict:
    """``enrich_full`` (``EnrichFullFn``, batches of ``EnrichArticles``' size) on ``articles`` kept rows."""
    if articles <= 0 or not kept:
        return {"articles": 0, "ms_per_article": None, "runs_s": [], "one_off_s": 0.0}
    start = time.perf_counter()
    fn = EnrichFullFn()
    fn.setup()
    load_s = time.perf_counter() - start
    sample = sorted(kept, key=lambda row: row["article_id"])[:articles]  # ids are hashes: a fair sample
    size = EnrichArticles().batch_size
    runs, rejected = [], 0
    for _ in range(repeat):
        reset_run_caches()
        start = time.perf_counter()
        for i in range(0, len(sample), size):
            _, tagged = _split(fn.process(sample[i:i + size]))
            rejected += len(tagged.get(REJECTS, []))
        runs.append(time.perf_counter() - start)
    median = _median(runs)
    return {"articles": len(sample), "batch_size": size, "ms_per_article": median * 1000 / len(sample),
            "runs_s": runs, "median_s": median, "rejects": rejected // repeat, "one_off_s": load_s}


# --- fresh processes: the floor and the start-up ----------------------------------------------------------

def floor_process(corpus: Path, description: dict, work: Path, label: str) -> dict:
    """``baselines.py floor`` on the corpus, a fresh process timed as ``bench.py`` does."""
    cmd = bench.command("floor", bench.Corpus(corpus, description), work / "floor-out", [])
    result = bench.measure(cmd, work / "logs", label, bench.child_env())
    with contextlib.suppress(ValueError, IndexError):
        result["counts"] = json.loads(result["stdout_tail"].strip().splitlines()[-1])
    if result["exit_code"] != 0 or result.get("counts", {}).get("read") != description["records"]:
        raise RuntimeError(f"the floor failed: exit {result['exit_code']}, counts {result.get('counts')}, "
                           f"{result['stderr_tail']}")
    return result


def floor_in_process(corpus: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    counts = baselines.floor(corpus, corpus / "feeds.yaml")
    return time.perf_counter() - start, counts


def measure_startup(profile: str, repeat: int, work: Path) -> dict:
    """``news-ingest run ... --enrich PROFILE -q --no-seen-index`` on a one-record corpus, fresh
    processes (``bench.command`` and ``bench.measure``); median seconds of ``repeat`` runs."""
    root = work / "startup-corpus"
    if not (root / "corpus.json").exists():
        write_corpus(CorpusSpec(records=1), root)
    description = read_corpus(root)
    runs = []
    for index in range(repeat):
        output = work / f"startup-out-{profile}-{index}"
        shutil.rmtree(output, ignore_errors=True)
        cmd = bench.command(profile, bench.Corpus(root, description), output, [])
        result = bench.measure(cmd, work / "logs", f"startup-{profile}-{index}", bench.child_env())
        manifest = bench._manifest(output)
        if result["exit_code"] != 0 or not manifest or (manifest.get("counts") or {}).get("read") != 1:
            raise RuntimeError(f"start-up run ({profile}) failed: exit {result['exit_code']} "
                               f"{result['stderr_tail']}")
        shutil.rmtree(output, ignore_errors=True)
        runs.append({"seconds": result["seconds"], "cpu_s": result["cpu_s"], "load": result["load"]})
    return {"seconds": _median([r["seconds"] for r in runs]), "runs": runs, "command": cmd,
            "source": f"measured: median of {repeat} fresh processes on a 1-record corpus"}


# --- the bound ---------------------------------------------------------------------------------------------

def bound(records: int, cores: int, startup_s: float, total_cpu_s: float, floor_s: float, target: float) -> dict:
    """The best case of a run (see ``FORMULA``), its ratio to the floor, and the CPU budget the target leaves."""
    best_case_s = startup_s + total_cpu_s / cores
    ratio = (records / best_case_s) / (records / floor_s)
    budget_s = cores * (floor_s / target - startup_s)  # total_cpu_s at which the best case just meets the target
    return {"records": records, "cores": cores, "startup_s": startup_s, "total_cpu_s": total_cpu_s,
            "floor_s": floor_s, "best_case_s": best_case_s, "best_case_ratio": ratio, "target": target,
            "target_reachable": ratio >= target, "cpu_budget_s": budget_s,
            "cpu_budget_ms_per_record": budget_s * 1000 / records}


# --- the whole model ------------------------------------------------------------------------------------------

def run_model(corpus: Path, repeat: int = 3, cores: int = 2, startup_s: float | None = None,
              startup_full_s: float | None = None, full_articles: int = 200, startup_repeat: int = 3,
              log=print) -> dict:
    """Measure everything and return the report (see the module docstring)."""
    corpus = Path(corpus).resolve()
    description = read_corpus(corpus)
    records = description["records"]
    started = dt.datetime.now(dt.timezone.utc)
    report: dict[str, Any] = {
        "harness": "benchmarks/cost_model.py", "started_at": started.isoformat(), "machine": bench.machine_info(),
        "corpus": {"path": str(corpus), "records": records, "feeds": description["feeds"],
                   "feed_entries": description["feed_entries"], "documents": description["documents"],
                   "truth": description["truth"], "bytes": description["bytes"], "spec": description["spec"]},
        "settings": {"repeat": repeat, "cores": cores, "full_articles": full_articles, "batch_size": BATCH_SIZE,
                     "shards": SHARDS, "near": dataclasses.asdict(NEAR) if NEAR else None,
                     "enrich_batch_size": EnrichArticles().batch_size, "startup_repeat": startup_repeat},
        "formula": FORMULA,
    }
    with tempfile.TemporaryDirectory(prefix="cm_") as scratch_dir:
        scratch = Path(scratch_dir)
        log(f"cost model on {corpus} ({records:,} records), {repeat} repeat(s); load "
            f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())}")
        ctx = prepare(corpus, scratch)
        log("one-offs: " + ", ".join(f"{k} {v:.2f}s" for k, v in ctx.one_off_s.items()))
        passes, floor_runs, floor_local = [], [], []
        counts, kept = None, []
        for index in range(repeat):
            load = [round(x, 2) for x in os.getloadavg()]
            started_pass = time.perf_counter()
            cpu_started = time.process_time()
            timer, pass_counts, kept = model_pass(ctx)
            wall, cpu = time.perf_counter() - started_pass, time.process_time() - cpu_started
            if counts is not None and pass_counts != counts:
                raise RuntimeError(f"repeat {index} counted differently: {pass_counts} != {counts}")
            counts = pass_counts
            passes.append({"seconds": timer.seconds, "calls": timer.calls, "wall_s": wall,
                           "process_cpu_s": cpu, "load": load})
            local_s, _floor_counts = floor_in_process(corpus)
            floor_local.append(local_s)
            floor_runs.append(floor_process(corpus, description, scratch, f"floor-{index}"))
            log(f"  repeat {index + 1}: model {sum(timer.seconds.values()):.2f} s of steps ({wall:.2f} s wall, "
                f"{cpu:.2f} s CPU), floor {floor_runs[-1]['seconds']:.2f} s as a process "
                f"({local_s:.2f} s in-process), load {'/'.join(map(str, load))}")
        full = full_enrichment(kept, full_articles, repeat)
        if full["articles"]:
            log(f"  enrich_full: {full['ms_per_article']:.1f} ms/article on {full['articles']} articles "
                f"(models {full['one_off_s']:.2f} s)")

        startup: dict[str, Any] = {}
        if startup_s is None:
            log("  start-up: fresh `news-ingest run` on a 1-record corpus ...")
            startup["core"] = measure_startup("core", startup_repeat, scratch)
        else:
            startup["core"] = {"seconds": startup_s, "source": "--startup-s"}
        if startup_full_s is not None:
            startup["full"] = {"seconds": startup_full_s, "source": "--startup-full-s"}
        elif startup_s is not None or not full["articles"]:
            startup["full"] = {"seconds": startup["core"]["seconds"],
                               "source": "the core start-up (no --startup-full-s given)"}
        else:
            startup["full"] = measure_startup("full", startup_repeat, scratch)

    steps = {}
    for name, what in STEPS:
        runs = [p["seconds"][name] for p in passes]
        median = _median(runs)
        steps[name] = {"median_s": median, "ms_per_record": median * 1000 / records,
                       "calls": passes[-1]["calls"][name], "runs_s": runs, "what": what}
    total_core = sum(step["median_s"] for step in steps.values())
    full_total = None
    if full["articles"]:
        full["kept_articles"] = counts["kept"]
        full["ms_per_record"] = full["ms_per_article"] * counts["kept"] / records  # scaled by kept/total
        full_total = total_core - steps["enrich_core"]["median_s"] + full["ms_per_article"] / 1000 * counts["kept"]
    floor_s = _median([r["seconds"] for r in floor_runs])
    one_off = dict(ctx.one_off_s)
    if full["articles"]:
        one_off["full_models"] = full["one_off_s"]
    report.update(
        counts=counts,
        steps=steps,
        total_cpu_s={"core": total_core, "full": full_total},
        cpu_ms_per_record={"core": total_core * 1000 / records,
                           "full": full_total * 1000 / records if full_total is not None else None},
        passes=[{k: v for k, v in p.items() if k not in ("seconds", "calls")} for p in passes],
        one_off_s=one_off,
        full_enrichment=full,
        floor={"seconds": floor_s, "articles_per_s": records / floor_s,
               "process_runs": [{k: r[k] for k in ("seconds", "cpu_s", "peak_rss_mb", "load", "counts")}
                                for r in floor_runs],
               "in_process_s": _median(floor_local), "in_process_runs_s": floor_local,
               "startup_s_estimate": floor_s - _median(floor_local),
               "what": "baselines.py floor, a fresh process on the whole corpus (start-up included), "
                       "median; in_process_s: its floor() function timed in this process"},
        startup=startup,
        bounds={"formula": FORMULA,
                "core": bound(records, cores, startup["core"]["seconds"], total_core, floor_s, TARGETS["core"])},
        finished_at=dt.datetime.now(dt.timezone.utc).isoformat(),
    )
    if full_total is not None:
        report["bounds"]["full"] = bound(records, cores, startup["full"]["seconds"], full_total, floor_s,
                                         TARGETS["full"])
    return report


def print_table(report: dict, out=sys.stdout) -> None:
    records = report["corpus"]["records"]
    counts = report["counts"]

    def line(text: str = "") -> None:
        print(text, file=out)

    line(f"\ncost model: {records:,} records ({report['corpus']['feeds']} feeds, {report['corpus']['documents']} "
         f"documents), {report['settings']['repeat']} repeat(s), medians")
    line(f"counts: read {counts['read']} -> normalized {counts['normalized']} -> kept {counts['kept']} "
         f"+ duplicates {counts['duplicates_found']}; written {counts['written']}, duplicates {counts['duplicates']}, "
         f"rejected {counts['rejected']}, quarantined {counts['quarantined']}; {counts['batches']} batches")
    line(f"{'step':<16}{'calls':>8}{'median s':>11}{'ms/record':>11}{'share':>8}")
    total = report["total_cpu_s"]["core"]
    for name, step in report["steps"].items():
        share = step["median_s"] / total if total else 0.0
        line(f"{name:<16}{step['calls']:>8}{step['median_s']:>11.3f}{step['ms_per_record']:>11.4f}{share:>8.1%}")
    line(f"{'total (core)':<16}{'':>8}{total:>11.3f}{report['cpu_ms_per_record']['core']:>11.4f}")
    full = report["full_enrichment"]
    if full["articles"]:
        line(f"{'total (full)':<16}{'':>8}{report['total_cpu_s']['full']:>11.3f}"
             f"{report['cpu_ms_per_record']['full']:>11.4f}   (enrich_full {full['ms_per_article']:.2f} ms/article "
             f"on {full['articles']} articles x {full['kept_articles']} kept, replacing enrich_core)")
    line("one-offs (not per record; a run pays them in its start-up): "
         + ", ".join(f"{k} {v:.2f} s" for k, v in report["one_off_s"].items()))
    floor = report["floor"]
    line(f"floor: {floor['seconds']:.2f} s as a process ({floor['articles_per_s']:.0f} records/s), "
         f"{floor['in_process_s']:.2f} s in-process")
    line("start-up: " + ", ".join(f"{k} {v['seconds']:.2f} s ({v['source']})" for k, v in report["startup"].items()))
    line(f"bound: {report['bounds']['formula']}")
    for profile in ("core", "full"):
        b = report["bounds"].get(profile)
        if b is None:
            continue
        line(f"  {profile}: best case {b['startup_s']:.2f} + {b['total_cpu_s']:.2f} / {b['cores']} = "
             f"{b['best_case_s']:.2f} s; best-case ratio {b['best_case_ratio']:.3f}x floor (target {b['target']}: "
             f"{'reachable' if b['target_reachable'] else 'NOT reachable'}); CPU budget for the target "
             f"{b['cpu_budget_s']:.2f} s = {b['cpu_budget_ms_per_record']:.3f} ms/record")


def write_report(report: dict, path: Path | None = None) -> Path:
    """The report as JSON at ``path`` (default ``benchmarks/results/cost-model-<UTC stamp>.json``)."""
    stamp = dt.datetime.fromisoformat(report["started_at"]).strftime("%Y%m%dT%H%M%SZ")
    path = Path(path) if path else RESULTS / f"cost-model-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    return path


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True, help="a benchmarks.corpus directory")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the corpus (default 3); medians")
    parser.add_argument("--cores", type=int, default=2, help="cores the bound divides the work over (default 2)")
    parser.add_argument("--startup-s", type=float, help="start-up seconds of a core run (default: measured)")
    parser.add_argument("--startup-full-s", type=float,
                        help="start-up seconds of a full run (default: measured; --startup-s when only it is given)")
    parser.add_argument("--startup-repeat", type=int, default=3, help="fresh runs for a measured start-up (default 3)")
    parser.add_argument("--full-articles", type=int, default=200,
                        help="kept articles the full profile is timed on (default 200; 0: no full bound)")
    parser.add_argument("--json", type=Path, help="default: benchmarks/results/cost-model-<UTC stamp>.json")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.cores < 1 or args.startup_repeat < 1 or args.full_articles < 0:
        parser.error("repeats and cores must be at least 1, --full-articles not negative")
    if not (args.corpus / "corpus.json").is_file():
        parser.error(f"{args.corpus} is not a benchmarks.corpus directory (no corpus.json)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", force=True)
    for handler in logging.getLogger().handlers:  # GX sets some of its loggers to INFO
        handler.setLevel(logging.WARNING)
    LOG.setLevel(logging.WARNING)  # as `news-ingest run -q`
    report = run_model(args.corpus, args.repeat, args.cores, args.startup_s, args.startup_full_s,
                       args.full_articles, args.startup_repeat)
    report["command"] = [sys.executable, "-m", "benchmarks.cost_model", *(sys.argv[1:] if argv is None else argv)]
    path = write_report(report, args.json)
    print_table(report)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
