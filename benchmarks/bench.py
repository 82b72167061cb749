"""Benchmark harness: the pipeline side by side with its baselines, and how it scales.

    .venv/bin/python -m benchmarks.bench                  # what `make bench` runs (see --help for sizes)
    .venv/bin/python -m benchmarks.bench --records 10000 --repeat 3 --scaling 1000 10000 100000

One invocation generates one corpus (``benchmarks/corpus.py``: RSS 2.0 and Atom feeds of
``--entries-per-feed`` entries, plain-text documents, exact copies under tracking-parameter
links and under one guid in two feeds, near copies) and measures, every run in a fresh process:

``compare``  the configurations in turn, ``--repeat`` rounds, the order rotated each round;
             medians are reported. ``floor`` and ``naive`` are ``benchmarks/baselines.py``;
             ``core`` and ``full`` are the real CLI, each run into a fresh output directory:
             ``news-ingest run --seeds C --output O --enrich core|full -q --no-seen-index``.
``startup``  each configuration on a one-record corpus (median of ``--startup-repeat``): the
             fixed cost of a run. ``steady`` throughput is records / (seconds - startup).
``stages``   one more run per pipeline profile under ``benchmarks/stage_profile.py``: Beam's
             own per-step timers, rolled up per stage, and pyinstrument's hottest functions.
``scaling``  ``--scaling-configs`` (floor and core) at each of ``--scaling`` sizes.

Per run: wall seconds from start until the process is reaped; ``peak_rss_mb``, the
``ru_maxrss`` that ``os.wait4`` reports for the process (the largest single process of its
tree; the DirectRunner's default in-memory mode is one process); ``tree_rss_mb``, the sum of
RSS over the process and all its descendants sampled every 50 ms with psutil (what counts
once a runner forks workers); the 1/5/15-minute load average when it started (the machine
may be shared: read every number next to its load).

Results: ``<results>/bench-<UTC time>.json`` and ``.png`` (throughput per configuration,
scaling curve, peak memory), copied to ``latest.json`` and ``latest.png``. Benchmarks are
not tests: nothing here judges time, except that ``targets`` in the JSON reports whether the
issue's targets were met. The exit code is 1 only when a run failed (non-zero exit, or a
pipeline run that did not read every record).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.corpus import CorpusSpec, serve_corpus, write_corpus  # noqa: E402

BIN = Path(sys.executable).parent
CONFIGS = ("floor", "naive", "core", "full")
PIPELINE_CONFIGS = ("core", "full")
RESULTS = ROOT / "benchmarks" / "results"
SAMPLE_INTERVAL_S = 0.05
MB = 1024 * 1024
TARGETS = {  # the targets; judged here, never asserted
    "core_vs_floor_10k": 0.5,  # core throughput (start-up included) >= 0.5x the floor on 10,000 entries
    "full_vs_floor": 0.1,  # full throughput >= 0.1x the floor
    "time_for_10x_entries": 12.0,  # 10x more entries cost at most 12x the time
}


# --- one measured process -------------------------------------------------------------------------

def _tree_rss(process: psutil.Process) -> int:
    total = 0
    try:
        members = [process] + process.children(recursive=True)
    except psutil.Error:
        return 0
    for member in members:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


def child_env() -> dict[str, str]:
    """The environment of every measured process: this checkout first, no GX analytics."""
    return {**os.environ, "GX_ANALYTICS_ENABLED": "false", "PYTHONPATH": str(ROOT)}


def measure(command: list[str], log_dir: Path, name: str, env: dict[str, str]) -> dict:
    """Run ``command`` once; wall time, exit code, peak RSS (wait4 and sampled tree), load."""
    log_dir.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = log_dir / f"{name}.out", log_dir / f"{name}.err"
    load = [round(x, 2) for x in os.getloadavg()]
    peak_tree = 0
    done = threading.Event()
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=ROOT, env=env)

        def sample() -> None:
            nonlocal peak_tree
            try:
                process = psutil.Process(proc.pid)
            except psutil.Error:
                return
            while not done.is_set():
                peak_tree = max(peak_tree, _tree_rss(process))
                done.wait(SAMPLE_INTERVAL_S)

        sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)  # reaps it: Popen must not wait again
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout = stdout_path.read_text(errors="replace")
    stderr = stderr_path.read_text(errors="replace")
    return {
        "seconds": round(seconds, 3),
        "exit_code": proc.returncode,
        "peak_rss_mb": round(usage.ru_maxrss * 1024 / MB, 1),  # Linux: ru_maxrss is in KiB
        "tree_rss_mb": round(peak_tree / MB, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "load": load,
        "stdout_tail": stdout[-600:],
        "stderr_tail": stderr[-600:] if proc.returncode else "",
    }


# --- the four configurations ------------------------------------------------------------------------

class Corpus:
    """A written corpus (and, with ``--serve``, the feed list pointing at the local server)."""

    def __init__(self, root: Path, description: dict, feed_list: Path | None = None) -> None:
        self.root, self.description, self.feed_list = root, description, feed_list

    @property
    def records(self) -> int:
        return self.description["spec"]["records"]


def command(config: str, corpus: Corpus, output: Path, beam_args: list[str]) -> list[str]:
    feed_list = ["--feed-list", str(corpus.feed_list)] if corpus.feed_list else []
    if config in ("floor", "naive"):
        cmd = [str(BIN / "python"), "-m", "benchmarks.baselines", config, "--seeds", str(corpus.root), *feed_list]
        return cmd + (["--output", str(output)] if config == "naive" else [])
    cmd = [str(BIN / "news-ingest"), "run", "--seeds", str(corpus.root), "--output", str(output),
           "--enrich", config, "-q", "--no-seen-index", *feed_list]
    if corpus.feed_list:  # every feed on one host (127.0.0.1): no politeness pause between them
        cmd += ["--host-interval", "0"]
    return cmd + beam_args


def _manifest(output: Path) -> dict | None:
    manifests = sorted((output / "_runs").glob("*.json")) if (output / "_runs").is_dir() else []
    return json.loads(manifests[-1].read_text()) if manifests else None


def run_config(config: str, corpus: Corpus, work: Path, label: str, beam_args: list[str],
               env: dict[str, str]) -> dict:
    """One measured run; the output directory is fresh and removed afterwards."""
    output = work / "out" / label
    shutil.rmtree(output, ignore_errors=True)
    result = {"config": config, "records": corpus.records, "label": label}
    result.update(measure(command(config, corpus, output, beam_args), work / "logs", label, env))
    problem = None
    if result["exit_code"] != 0:
        problem = f"exit code {result['exit_code']}"
    if config in PIPELINE_CONFIGS:
        manifest = _manifest(output)
        if manifest is None:
            problem = problem or "no run manifest"
        else:
            result["counts"] = manifest["counts"]
            result["metrics"] = manifest.get("metrics", {})
            if manifest["counts"] and manifest["counts"]["read"] != corpus.records:
                problem = problem or f"read {manifest['counts']['read']} of {corpus.records} records"
    else:
        with contextlib.suppress(ValueError, IndexError):
            result["counts"] = json.loads(result["stdout_tail"].strip().splitlines()[-1])
        if result.get("counts", {}).get("read") != corpus.records:
            problem = problem or f"read {result.get('counts', {}).get('read')} of {corpus.records} records"
    result["error"] = problem
    shutil.rmtree(output, ignore_errors=True)
    load = "/".join(f"{x:.2f}" for x in result["load"])
    print(f"  {label:<28} {result['seconds']:9.2f} s  {corpus.records / result['seconds']:9.1f} rec/s  "
          f"peak {result['peak_rss_mb']:7.1f} MB  load {load}" + (f"  FAILED: {problem}" if problem else ""),
          flush=True)
    return result


def rounds(configs: list[str], corpus: Corpus, repeat: int, work: Path, tag: str, beam_args: list[str],
           env: dict[str, str]) -> list[dict]:
    """``repeat`` rounds over ``configs``, the order rotated each round (alternating runs)."""
    runs = []
    for round_ in range(repeat):
        shift = round_ % len(configs)
        for config in configs[shift:] + configs[:shift]:
            runs.append(run_config(config, corpus, work, f"{tag}-{corpus.records}-{config}-{round_}",
                                   beam_args, env))
    return runs


# --- summaries ----------------------------------------------------------------------------------------

def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def summarize(runs: list[dict], configs: list[str], startup: dict[str, dict]) -> dict:
    """Per configuration: median seconds, articles/s with and without start-up, memory, ratios."""
    summary = {}
    for config in configs:
        ok = [r for r in runs if r["config"] == config and not r["error"]]
        if not ok:
            continue
        records = ok[0]["records"]
        seconds = _median([r["seconds"] for r in ok])
        start = startup.get(config, {}).get("seconds")
        steady = seconds - start if start is not None and seconds > start else None
        summary[config] = {
            "records": records,
            "runs": len(ok),
            "seconds": seconds,
            "seconds_all": [r["seconds"] for r in ok],
            "articles_per_s": round(records / seconds, 1),
            "startup_s": start,
            "steady_articles_per_s": round(records / steady, 1) if steady else None,
            "peak_rss_mb": _median([r["peak_rss_mb"] for r in ok]),
            "tree_rss_mb": _median([r["tree_rss_mb"] for r in ok]),
            "cpu_s": _median([r["cpu_s"] for r in ok]),
            "load": [r["load"] for r in ok],
            "counts": ok[0].get("counts"),
        }
    for base in ("floor", "naive"):
        if base in summary:
            for row in summary.values():
                row[f"x_{base}"] = round(row["articles_per_s"] / summary[base]["articles_per_s"], 4)
                if row["steady_articles_per_s"] and summary[base]["steady_articles_per_s"]:
                    row[f"steady_x_{base}"] = round(
                        row["steady_articles_per_s"] / summary[base]["steady_articles_per_s"], 4)
    return summary


def scaling_summary(points: dict[str, list[dict]], startup: dict[str, dict]) -> dict:
    """Per configuration: each consecutive pair of sizes, its time and memory ratios."""
    out = {}
    for config, rows in points.items():
        pairs = []
        start = startup.get(config, {})
        for small, large in itertools.pairwise(rows):
            pair = {"from": small["records"], "to": large["records"],
                    "records_ratio": round(large["records"] / small["records"], 2),
                    "time_ratio": round(large["seconds"] / small["seconds"], 2),
                    "peak_rss_ratio": round(large["peak_rss_mb"] / small["peak_rss_mb"], 3)}
            if start.get("seconds") is not None and small["seconds"] > start["seconds"]:
                pair["time_ratio_excluding_startup"] = round(
                    (large["seconds"] - start["seconds"]) / (small["seconds"] - start["seconds"]), 2)
            if start.get("peak_rss_mb") and small["peak_rss_mb"] > start["peak_rss_mb"]:
                pair["peak_rss_growth_ratio_over_startup"] = round(
                    (large["peak_rss_mb"] - start["peak_rss_mb"]) / (small["peak_rss_mb"] - start["peak_rss_mb"]), 2)
            pairs.append(pair)
        out[config] = {"points": rows, "pairs": pairs}
    return out


def targets(compare: dict, scaling: dict) -> list[dict]:
    """The issue's targets, each with the numbers it was judged on (or why it could not be)."""
    by_size: dict[int, dict[str, dict]] = {}
    for config, row in compare.items():
        by_size.setdefault(row["records"], {})[config] = row
    for config, data in scaling.items():
        for row in data["points"]:
            by_size.setdefault(row["records"], {}).setdefault(config, row)
    verdicts = []

    at_10k = by_size.get(10_000, {})
    if "core" in at_10k and "floor" in at_10k:
        ratio = at_10k["core"]["articles_per_s"] / at_10k["floor"]["articles_per_s"]
        verdicts.append({"target": "core >= 0.5x floor throughput on 10,000 entries, start-up included",
                         "value": round(ratio, 4), "met": ratio >= TARGETS["core_vs_floor_10k"],
                         "core_s": at_10k["core"]["seconds"], "floor_s": at_10k["floor"]["seconds"]})
    else:
        verdicts.append({"target": "core >= 0.5x floor throughput on 10,000 entries, start-up included",
                         "value": None, "met": None, "why": "core and floor were not both run on 10,000 records"})

    if "full" in compare and "floor" in compare:
        ratio = compare["full"]["x_floor"]
        verdicts.append({"target": "full >= 0.1x floor throughput", "records": compare["full"]["records"],
                         "value": ratio, "met": ratio >= TARGETS["full_vs_floor"],
                         "steady_value": compare["full"].get("steady_x_floor")})
    else:
        verdicts.append({"target": "full >= 0.1x floor throughput", "value": None, "met": None,
                         "why": "full and floor were not both in the comparison"})

    tenfold = [p for p in scaling.get("core", {}).get("pairs", []) if abs(p["records_ratio"] - 10) < 0.5]
    if tenfold:
        worst = max(p["time_ratio"] for p in tenfold)
        marginal = max((p["time_ratio_excluding_startup"] for p in tenfold if "time_ratio_excluding_startup" in p),
                       default=None)
        verdicts.append({"target": "10x more entries cost at most 12x the time (core)", "value": worst,
                         "met": worst <= TARGETS["time_for_10x_entries"], "pairs": tenfold,
                         "value_excluding_startup": marginal,
                         "met_excluding_startup": None if marginal is None else
                         marginal <= TARGETS["time_for_10x_entries"]})
    else:
        verdicts.append({"target": "10x more entries cost at most 12x the time (core)", "value": None,
                         "met": None, "why": "no two core scaling sizes 10x apart"})

    pairs = scaling.get("core", {}).get("pairs", [])
    if pairs:
        sublinear = all(p["peak_rss_ratio"] < p["records_ratio"] for p in pairs)
        verdicts.append({"target": "peak memory grows sub-linearly with corpus size (core, batch mode)",
                         "value": [p["peak_rss_ratio"] for p in pairs], "met": sublinear,
                         "growth_over_startup": [p.get("peak_rss_growth_ratio_over_startup") for p in pairs],
                         "records_ratios": [p["records_ratio"] for p in pairs]})
    else:
        verdicts.append({"target": "peak memory grows sub-linearly with corpus size (core, batch mode)",
                         "value": None, "met": None, "why": "fewer than two core scaling sizes"})
    return verdicts


# --- chart ---------------------------------------------------------------------------------------------

def chart(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    compare, scaling = report["compare"], report["scaling"]
    columns = 3 if scaling else 1
    fig, axes = plt.subplots(1, columns, figsize=(6.2 * columns, 4.6), squeeze=False)
    axes = axes[0]
    ax = axes[0]
    names = [c for c in CONFIGS if c in compare]
    totals = [compare[c]["articles_per_s"] for c in names]
    steady = [compare[c]["steady_articles_per_s"] or 0 for c in names]
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], totals, width=0.4, label="start-up included", color="#3b6ea5")
    ax.bar([x + 0.2 for x in xs], steady, width=0.4, label="start-up excluded", color="#9dbbdc")
    for x, config in zip(xs, names, strict=True):
        row = compare[config]
        note = f"{row['articles_per_s']:.0f}/s"
        if "x_floor" in row and config != "floor":
            note += f"\n{row['x_floor']:.3g}x floor"
        ax.annotate(note, (x - 0.2, row["articles_per_s"]), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(xs), names)
    ax.set_yscale("log")
    ax.set_ylabel("articles per second (median)")
    records = next(iter(compare.values()))["records"] if compare else 0
    loads = [load[0] for row in compare.values() for load in row["load"]]
    ax.set_title(f"Throughput on {records:,} records"
                 + (f" (load {min(loads):.1f}-{max(loads):.1f})" if loads else ""), fontsize=10)
    ax.legend(fontsize=8)
    if scaling:
        ax, mem = axes[1], axes[2]
        for config, data in scaling.items():
            xs_ = [p["records"] for p in data["points"]]
            ax.plot(xs_, [p["seconds"] for p in data["points"]], marker="o", label=config)
            mem.plot(xs_, [p["peak_rss_mb"] for p in data["points"]], marker="o", label=config)
            first = data["points"][0]
            ax.plot(xs_, [first["seconds"] * x / first["records"] for x in xs_], ls=":", color="grey",
                    lw=0.8)
        sizes = sorted({p["records"] for data in scaling.values() for p in data["points"]})
        thousands = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:,.0f}")
        for axis in (ax, mem):
            axis.set_xscale("log")
            axis.set_xticks(sizes)
            axis.xaxis.set_major_formatter(thousands)
            axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_yscale("log")
        ax.set_xlabel("records (feed entries + documents)")
        ax.set_ylabel("wall seconds (median, start-up included)")
        ax.set_title("Scaling (dotted: linear from the first point)", fontsize=10)
        ax.legend(fontsize=8)
        mem.set_ylim(bottom=0)
        mem.set_xlabel("records")
        mem.set_ylabel("peak RSS, MB (ru_maxrss)")
        mem.set_title("Peak memory", fontsize=10)
        mem.legend(fontsize=8)
    machine = report["machine"]
    fig.suptitle(f"news-ingest {machine['news_ingest']} @ {machine['git_commit'][:8]}"
                 f"{' (dirty)' if machine['git_dirty'] else ''}, {machine['cpus']} CPUs, "
                 f"{report['started_at'][:16]}Z", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- driver ----------------------------------------------------------------------------------------------

def machine_info() -> dict:
    def version(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    return {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 1024 ** 3, 1),
            "python": platform.python_version(), "platform": platform.platform(),
            "news_ingest": version("news-ingest"), "apache_beam": version("apache-beam"),
            "feedparser": version("feedparser"), "pandas": version("pandas"), "pyarrow": version("pyarrow"),
            "spacy": version("spacy"), "git_commit": git("rev-parse", "HEAD") or "unknown",
            "git_dirty": bool(git("status", "--porcelain"))}


@contextlib.contextmanager
def make_corpus(spec: CorpusSpec, work: Path, serve: bool):
    root = work / f"corpus-{spec.records}"
    shutil.rmtree(root, ignore_errors=True)
    started = time.perf_counter()
    description = write_corpus(spec, root)
    print(f"corpus {spec.records:,} records: {description['feeds']} feeds, {description['documents']} documents, "
          f"{description['bytes'] / MB:.1f} MB, truth {description['truth']} "
          f"({time.perf_counter() - started:.1f} s to write)", flush=True)
    try:
        if serve:
            with serve_corpus(root) as feed_list:
                yield Corpus(root, description, feed_list)
        else:
            yield Corpus(root, description)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def stage_profile(config: str, corpus: Corpus, work: Path, results: Path, stamp: str, profiler: str,
                  beam_args: list[str], env: dict[str, str]) -> dict:
    output = work / "out" / f"profile-{config}"
    shutil.rmtree(output, ignore_errors=True)
    json_path = results / f"profile-{stamp}-{config}-{corpus.records}.json"
    text_path = results / f"profile-{stamp}-{config}-{corpus.records}" \
        f"{'.collapsed.gz' if profiler == 'py-spy' else '.txt'}"
    cli = command(config, corpus, output, beam_args)[1:]  # without the news-ingest executable
    cmd = [str(BIN / "python"), "-m", "benchmarks.stage_profile", "--json", str(json_path),
           "--text", str(text_path), "--profiler", profiler, "--"] + cli
    measured = measure(cmd, work / "logs", f"profile-{config}", env)
    shutil.rmtree(output, ignore_errors=True)
    if measured["exit_code"] != 0 or not json_path.exists():
        print(f"  stage profile {config}: FAILED (exit {measured['exit_code']})", flush=True)
        return {"error": f"exit code {measured['exit_code']}", "stderr_tail": measured["stderr_tail"]}
    profile = json.loads(json_path.read_text())
    stages = ", ".join(f"{k} {v / 1000:.1f}s" for k, v in profile["stages_ms"].items())
    print(f"  stage profile {config} ({corpus.records:,} records, {profile['wall_s']:.1f} s, profiler {profiler}, "
          f"load {'/'.join(map(str, measured['load']))}): Beam step times: {stages}; outside steps "
          f"{profile['untimed_s']:.1f}s", flush=True)
    if "profile" in profile:
        sampled = ", ".join(f"{k} {v:.1f}s" for k, v in profile["profile"]["stages_s"].items())
        print(f"    sampled by stage: {sampled}", flush=True)
    return {"records": corpus.records, "load": measured["load"], "json": json_path.name,
            "text": text_path.name if text_path.exists() else None,
            **{k: profile[k] for k in ("wall_s", "import_s", "stages_ms", "untimed_s", "method", "profile")
               if k in profile}}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1000,
                        help="records (feed entries + documents) in the comparison corpus (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the comparison (default 3)")
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    parser.add_argument("--startup-repeat", type=int, default=1,
                        help="runs per configuration on a one-record corpus; 0 skips start-up (default 1)")
    parser.add_argument("--stage-profiles", nargs="*", choices=PIPELINE_CONFIGS, default=["core"],
                        help="pipeline profiles to run once more under the stage profiler (default: core)")
    parser.add_argument("--profiler", choices=("py-spy", "pyinstrument", "none"),
                        default="py-spy" if shutil.which("py-spy", path=str(BIN)) else "none",
                        help="function-level profiler of the stage-profile runs (default: py-spy when "
                             "installed; see benchmarks/stage_profile.py)")
    parser.add_argument("--scaling", type=int, nargs="*", default=[1000, 10000],
                        help="sizes of the scaling curve (default 1000 10000; add 100000 for the long point)")
    parser.add_argument("--scaling-configs", nargs="+", choices=CONFIGS, default=["floor", "core"])
    parser.add_argument("--scaling-repeat", type=int, default=1)
    parser.add_argument("--entries-per-feed", type=int, default=CorpusSpec.entries_per_feed)
    parser.add_argument("--seed", type=int, default=CorpusSpec.seed)
    parser.add_argument("--serve", action="store_true",
                        help="serve the feeds from a local HTTP server on 127.0.0.1 instead of reading files")
    parser.add_argument("--beam-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for the pipeline runs, e.g. --beam-arg=--direct_num_workers=2")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"default {RESULTS.relative_to(ROOT)}")
    parser.add_argument("--workdir", type=Path, help="scratch space (default: a temporary directory)")
    args = parser.parse_args(argv)
    if args.records < 1 or args.repeat < 1 or args.scaling_repeat < 1 or args.startup_repeat < 0:
        parser.error("sizes and repeats must be positive")
    if any(size < 1 for size in args.scaling):
        parser.error("scaling sizes must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.timezone.utc)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    args.results.mkdir(parents=True, exist_ok=True)
    env = child_env()
    configs = [c for c in CONFIGS if c in args.configs]

    def spec(records: int) -> CorpusSpec:
        return CorpusSpec(records=records, entries_per_feed=args.entries_per_feed, seed=args.seed)

    with contextlib.ExitStack() as stack:
        work = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="news-bench-")))
        report = {"harness": "benchmarks/bench.py", "command": [sys.executable, "-m", "benchmarks.bench",
                                                                *(sys.argv[1:] if argv is None else argv)],
                  "started_at": started.isoformat(), "machine": machine_info(),
                  "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                  "runs": []}
        print(f"news-ingest benchmark {stamp}: {report['machine']['cpus']} CPUs, "
              f"load {'/'.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

        startup_runs, startup = [], {}
        if args.startup_repeat:
            with make_corpus(spec(1), work, args.serve) as corpus:
                startup_runs = rounds(configs + [c for c in args.scaling_configs if c not in configs], corpus,
                                      args.startup_repeat, work, "startup", args.beam_arg, env)
            for config in {r["config"] for r in startup_runs}:
                ok = [r for r in startup_runs if r["config"] == config and not r["error"]]
                if ok:
                    startup[config] = {"seconds": _median([r["seconds"] for r in ok]),
                                       "peak_rss_mb": _median([r["peak_rss_mb"] for r in ok]),
                                       "load": [r["load"] for r in ok]}
        report["startup"] = dict(sorted(startup.items()))

        with make_corpus(spec(args.records), work, args.serve) as corpus:
            report["corpus"] = corpus.description
            compare_runs = rounds(configs, corpus, args.repeat, work, "compare", args.beam_arg, env)
            report["stages"] = {config: stage_profile(config, corpus, work, args.results, stamp, args.profiler,
                                                      args.beam_arg, env)
                                for config in args.stage_profiles}
        report["compare"] = summarize(compare_runs, configs, startup)

        scaling_runs, points = [], {}
        for size in sorted(set(args.scaling)):
            # The comparison's own runs are the point at its size, for the configurations it has.
            reused = [r for r in compare_runs if r["records"] == size and r["config"] in args.scaling_configs]
            missing = [c for c in args.scaling_configs if c not in {r["config"] for r in reused}]
            runs = list(reused)
            if missing:
                with make_corpus(spec(size), work, args.serve) as corpus:
                    measured = rounds(missing, corpus, args.scaling_repeat, work, "scaling", args.beam_arg, env)
                scaling_runs += measured
                runs += measured
            for config, row in summarize(runs, list(args.scaling_configs), startup).items():
                points.setdefault(config, []).append(row)
        report["scaling"] = scaling_summary(points, startup) if len(args.scaling) else {}

    report["targets"] = targets(report["compare"], report["scaling"])
    report["runs"] = startup_runs + compare_runs + scaling_runs
    report["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat()
    failed = [r for r in report["runs"] if r["error"]]
    json_path, png_path = args.results / f"bench-{stamp}.json", args.results / f"bench-{stamp}.png"
    json_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    chart(report, png_path)
    shutil.copyfile(json_path, args.results / "latest.json")
    shutil.copyfile(png_path, args.results / "latest.png")
    print_summary(report)
    print(f"results: {json_path} and {png_path} (also latest.json, latest.png)")
    if failed:
        print(f"{len(failed)} run(s) failed: " + "; ".join(f"{r['label']}: {r['error']}" for r in failed),
              file=sys.stderr)
        return 1
    return 0


def print_summary(report: dict) -> None:
    print("\nconfig   records   median s  articles/s  x floor  x naive  start-up s  steady/s  peak MB")
    for config, row in report["compare"].items():
        print(f"{config:<7} {row['records']:>8,} {row['seconds']:>10.2f} {row['articles_per_s']:>11.1f} "
              f"{row.get('x_floor', float('nan')):>8.3f} {row.get('x_naive', float('nan')):>8.3f} "
              f"{row['startup_s'] if row['startup_s'] is not None else float('nan'):>11.2f} "
              f"{row['steady_articles_per_s'] or float('nan'):>9.1f} {row['peak_rss_mb']:>8.1f}")
    for config, data in report["scaling"].items():
        for pair in data["pairs"]:
            print(f"scaling {config}: {pair['from']:,} -> {pair['to']:,} records: time x{pair['time_ratio']}"
                  f" (excluding start-up x{pair.get('time_ratio_excluding_startup')}), "
                  f"peak RSS x{pair['peak_rss_ratio']}")
    for verdict in report["targets"]:
        state = {True: "MET", False: "NOT MET", None: "NOT MEASURED"}[verdict["met"]]
        print(f"target: {verdict['target']}: {state} (value {verdict['value']})")


if __name__ == "__main__":
    sys.exit(main())
