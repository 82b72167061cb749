"""How a scheduled run's time and memory grow with the seen-index of its output.

    .venv/bin/python -m benchmarks.index_growth --runs 5 --records 10000 [--out-json PATH] [--keep DIR]

What it measures: ``--runs`` successive runs into ONE output directory, each a fresh process
of the real CLI, ``news-ingest run --seeds C --output O --enrich core -q`` (the seen-index on,
as a scheduled job runs it), each with a different corpus of ``--records`` records
(``benchmarks/corpus.py``: corpus i has seed 7 + i and story prefix ``d<i>-``, the first one
the defaults, so the corpora share no guid or link: different days' news). Per run: the
entries in ``O/_index/*.parquet`` before and after it, wall and CPU seconds and peak RSS of the child
(``benchmarks.bench.measure``: ``ru_maxrss`` from ``os.wait4``, the process tree sampled every
50 ms, the load average when it started), and the run manifest's counts
(``O/_runs/<run_id>.json``) with ``seen``, the duplicates it dropped as copies of an earlier
run's article (the prefixes make that 0 unless the near-duplicate check matched across days).

Why: every run reads the index its predecessors wrote. A scheduled job whose run time grows
with its history eventually runs longer than its interval (and skips runs on the output
lock); a job whose memory grows with it eventually no longer fits its machine. The table
shows the growth per run at a fixed corpus size, so the cost of the history is the
difference between the first run (empty index) and the later ones.

Results: ``benchmarks/results/index-growth-<UTC time>.json`` (``--out-json``): the command, the
machine (CPUs, memory, versions, git commit; as ``benchmarks/bench.py``), the corpora and one
row per run. A benchmark, not a test: nothing judges the time. The exit code is 1 when a run
failed (non-zero exit, no manifest, counts that do not reconcile, not every record read).
Read every number next to its load average: the machine may be shared.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench import BIN, MB, RESULTS, child_env, machine_info, measure  # noqa: E402
from benchmarks.corpus import CorpusSpec, write_corpus  # noqa: E402

FIRST_SEED = 7
COUNTS = ("written", "duplicates", "rejected", "quarantined")


def corpus_spec(run: int, records: int, entries_per_feed: int) -> CorpusSpec:
    """Corpus of run ``run`` (0-based): seed 7 + run, prefix ``d<run>-`` (none for the first)."""
    return CorpusSpec(records=records, entries_per_feed=entries_per_feed, seed=FIRST_SEED + run,
                      story_prefix=f"d{run}-" if run else "")


def index_entries(output: Path) -> tuple[int, int]:
    """``(entries, files)`` of the seen-index: rows of ``output/_index/*.parquet`` (not ``_corrupt/``)."""
    files = sorted((output / "_index").glob("*.parquet")) if (output / "_index").is_dir() else []
    return sum(pq.ParquetFile(path).metadata.num_rows for path in files), len(files)


def manifests(output: Path) -> set[Path]:
    return set((output / "_runs").glob("*.json")) if (output / "_runs").is_dir() else set()


def seen_duplicates(output: Path, manifest: dict) -> int:
    """Duplicates the run dropped as copies of an earlier run's article: their ``canonical_id``
    is none of the articles the run wrote (an in-corpus copy points at this run's article)."""
    tables: dict[str, list[Path]] = {"articles": [], "duplicates": []}
    for record in manifest.get("files", []):
        if record.get("destination") in tables:
            tables[record["destination"]].append(output / record["path"])
    written = {value for path in tables["articles"]
               for value in pq.read_table(path, columns=["article_id"]).column("article_id").to_pylist()}
    return sum(1 for path in tables["duplicates"]
               for value in pq.read_table(path, columns=["canonical_id"]).column("canonical_id").to_pylist()
               if value not in written)


def run_once(number: int, corpus: Path, records: int, output: Path, work: Path, env: dict[str, str],
             beam_args: list[str]) -> dict:
    """One measured run of the CLI into ``output``; its row of the table."""
    before, files_before = index_entries(output)
    known = manifests(output)
    cmd = [str(BIN / "news-ingest"), "run", "--seeds", str(corpus), "--output", str(output),
           "--enrich", "core", "-q", *beam_args]
    measured = measure(cmd, work / "logs", f"run-{number}", env)
    after, files_after = index_entries(output)
    row = {"run": number, "corpus": corpus.name, "index_entries_before": before, "index_files_before": files_before,
           **{k: measured[k] for k in ("seconds", "peak_rss_mb", "tree_rss_mb", "cpu_s", "load", "exit_code")},
           "index_entries_after": after, "index_files_after": files_after}
    new = sorted(manifests(output) - known)
    problem = f"exit code {measured['exit_code']}" if measured["exit_code"] != 0 else None
    if len(new) != 1:
        problem = problem or f"{len(new)} new run manifests, expected 1"
        row["stderr_tail"] = measured["stderr_tail"]
    else:
        manifest = json.loads(new[0].read_text())
        counts = manifest.get("counts") or {}
        row.update(run_id=manifest["run_id"], status=manifest["status"], counts=counts,
                   seen=seen_duplicates(output, manifest) if counts else None)
        if not counts:
            problem = problem or f"run {manifest['status']}: {manifest.get('error')}"
        elif counts["read"] != sum(counts[k] for k in COUNTS):
            problem = problem or f"counts do not reconcile: {counts}"
        elif counts["read"] != records:
            problem = problem or f"read {counts['read']} of {records} records"
        if problem:
            row["stderr_tail"] = measured["stderr_tail"]
    row["error"] = problem
    return row


def print_table(rows: list[dict], corpora: list[dict]) -> None:
    print("\nrun  index before  index after  seconds  cpu s  peak MB  originals  written  duplicates  seen"
          "  load 1/5/15")
    for row, corpus in zip(rows, corpora, strict=False):
        counts = row.get("counts") or {}
        print(f"{row['run']:>3} {row['index_entries_before']:>13,} {row['index_entries_after']:>12,} "
              f"{row['seconds']:>8.1f} {row['cpu_s']:>6.1f} {row['peak_rss_mb']:>8.1f} "
              f"{corpus['truth']['originals']:>10,} "
              f"{counts.get('written', -1):>8,} {counts.get('duplicates', -1):>11,} "
              f"{row.get('seen') if row.get('seen') is not None else '-':>5}  "
              f"{'/'.join(f'{x:.2f}' for x in row['load'])}" + (f"  FAILED: {row['error']}" if row["error"] else ""))


def growth(rows: list[dict]) -> dict | None:
    """Last run against the first (empty index): time and peak memory, ratio and per 100k entries."""
    ok = [r for r in rows if not r["error"]]
    if len(ok) < 2 or ok[0]["run"] != 1:
        return None
    first, last = ok[0], ok[-1]
    entries = last["index_entries_before"] - first["index_entries_before"]
    out = {"from_run": first["run"], "to_run": last["run"], "index_entries": entries,
           "time_ratio": round(last["seconds"] / first["seconds"], 3),
           "peak_rss_ratio": round(last["peak_rss_mb"] / first["peak_rss_mb"], 3)}
    if entries:
        out["seconds_per_100k_entries"] = round((last["seconds"] - first["seconds"]) * 100_000 / entries, 2)
        out["peak_mb_per_100k_entries"] = round((last["peak_rss_mb"] - first["peak_rss_mb"]) * 100_000 / entries, 1)
    return out


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="successive runs into the one output (default 5)")
    parser.add_argument("--records", type=int, default=10_000, help="records per corpus (default 10000)")
    parser.add_argument("--entries-per-feed", type=int, default=CorpusSpec.entries_per_feed)
    parser.add_argument("--out-json", type=Path,
                        help=f"where the JSON goes (default {RESULTS.relative_to(ROOT)}/index-growth-<UTC time>.json)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="work in DIR (corpora corpus-<i>/, the output out/, logs/) and keep it; "
                             "DIR's corpora and output are replaced (default: a temporary directory, removed)")
    parser.add_argument("--beam-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for every run, e.g. --beam-arg=--direct_num_workers=2")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.records < 1 or args.entries_per_feed < 1:
        parser.error("--runs, --records and --entries-per-feed must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.timezone.utc)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    json_path = args.out_json or RESULTS / f"index-growth-{stamp}.json"
    env = child_env()
    argv_ = sys.argv[1:] if argv is None else list(argv)
    report = {"harness": "benchmarks/index_growth.py",
              "command": [sys.executable, "-m", "benchmarks.index_growth", *argv_],
              "started_at": started.isoformat(), "machine": machine_info(),
              "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "run_command": "news-ingest run --seeds <corpus> --output <one output> --enrich core -q"
                             + "".join(f" {a}" for a in args.beam_arg),
              "corpora": [], "rows": []}
    print(f"index growth {stamp}: {args.runs} runs of {args.records:,} records into one output; "
          f"{report['machine']['cpus']} CPUs, load {'/'.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

    with contextlib.ExitStack() as stack:
        if args.keep:
            work = args.keep
            work.mkdir(parents=True, exist_ok=True)
            for stale in [work / "out", work / "logs", *work.glob("corpus-*")]:
                shutil.rmtree(stale, ignore_errors=True)
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="news-index-growth-")))
        output = work / "out"
        roots = []
        for run in range(args.runs):
            spec, root = corpus_spec(run, args.records, args.entries_per_feed), work / f"corpus-{run}"
            began = time.perf_counter()
            description = write_corpus(spec, root)
            report["corpora"].append({"root": root.name, **description})
            roots.append(root)
            print(f"corpus {run}: seed {spec.seed}, prefix {spec.story_prefix!r}, {description['feeds']} feeds, "
                  f"{description['documents']} documents, {description['bytes'] / MB:.1f} MB, truth "
                  f"{description['truth']} ({time.perf_counter() - began:.1f} s to write)", flush=True)
        for number, root in enumerate(roots, start=1):
            row = run_once(number, root, args.records, output, work, env, args.beam_arg)
            report["rows"].append(row)
            counts = row.get("counts") or {}
            print(f"  run {number}: index {row['index_entries_before']:,} -> {row['index_entries_after']:,} entries, "
                  f"{row['seconds']:.1f} s, peak {row['peak_rss_mb']:.1f} MB, written {counts.get('written')}, "
                  f"duplicates {counts.get('duplicates')}, seen {row.get('seen')}, load "
                  f"{'/'.join(f'{x:.2f}' for x in row['load'])}"
                  + (f"  FAILED: {row['error']}" if row["error"] else ""), flush=True)

    report["growth"] = growth(report["rows"])
    report["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat()
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print_table(report["rows"], report["corpora"])
    if report["growth"]:
        g = report["growth"]
        print(f"run {g['to_run']} vs run {g['from_run']} ({g['index_entries']:,} index entries more): "
              f"time x{g['time_ratio']}, peak RSS x{g['peak_rss_ratio']}")
    print(f"results: {json_path}")
    failed = [row for row in report["rows"] if row["error"]]
    if failed:
        print(f"{len(failed)} run(s) failed: " + "; ".join(f"run {r['run']}: {r['error']}" for r in failed),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
