"""How fast a batch run stops on SIGINT/SIGTERM, and what it prints (docs/decisions/stopping-batch-runs.md).

    .venv/bin/python -m benchmarks.stop_latency --tries 12 [--seed 3]
    .venv/bin/python -m benchmarks.stop_latency --tries 6 -- --direct_num_workers 2 \\
        --direct_running_mode multi_processing

Each try runs ``news-ingest run -q`` over a generated 150-record corpus into a fresh output, waits for an
event (the run took its lock, or staged its first file), waits a random 0-0.25 s more, sends SIGINT or
SIGTERM (alternating) to the run or to its process group, and reports the seconds to its exit, its exit
code, its stderr and stdout line counts and its manifest's status.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.corpus import CorpusSpec, write_corpus

CLI = Path(sys.executable).with_name("news-ingest")


def _event(output: Path, run_id: str, moment: str) -> bool:
    if moment == "started":
        try:
            return json.loads((output / "_lock").read_text() or "{}").get("owner") == run_id
        except (OSError, ValueError):
            return False
    staging = output / "_staging" / run_id
    return staging.exists() and any(staging.rglob("*.parquet"))


def one_try(corpus: Path, output: Path, run_id: str, signum: int, group: bool, moment: str, delay: float,
            beam_args: list[str]) -> dict | None:
    process = subprocess.Popen(
        [str(CLI), "run", "-q", "--seeds", str(corpus), "--output", str(output), "--run-id", run_id,
         "--enrich", "core", "--batch-size", "15", "--no-feed-state", *beam_args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    while process.poll() is None and not _event(output, run_id, moment):
        time.sleep(0.01)
    time.sleep(delay)
    if process.poll() is not None:
        process.communicate()
        return None  # finished before the signal
    sent = time.monotonic()
    if group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    process.wait()
    took = time.monotonic() - sent
    out, err = process.communicate()
    manifest = output / "_runs" / f"{run_id}.json"
    return {"signal": signal.Signals(signum).name, "to": "group" if group else "run", "moment": moment,
            "exit": process.returncode, "seconds": round(took, 3), "stderr_lines": len(err.splitlines()),
            "stdout_lines": len(out.splitlines()),
            "status": json.loads(manifest.read_text())["status"] if manifest.exists() else None}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=12)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("beam_args", nargs="*", help="after --: Beam options for every run")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        corpus = Path(folder) / "corpus"
        write_corpus(CorpusSpec(records=150, entries_per_feed=40, seed=11), corpus)
        rows = []
        for index in range(args.tries):
            row = one_try(corpus, Path(folder) / f"out-{index}", f"try-{index}",
                          (signal.SIGINT, signal.SIGTERM)[index % 2], rng.random() < 0.5,
                          rng.choice(["started", "staging"]), rng.uniform(0, 0.25), args.beam_args)
            print(json.dumps(row), flush=True)
            if row:
                rows.append(row["seconds"])
    if rows:
        print(f"{len(rows)} stopped: median {statistics.median(rows):.2f} s, max {max(rows):.2f} s")


if __name__ == "__main__":
    main()
