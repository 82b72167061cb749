"""Where one pipeline run spends its time: per stage (Beam's own timers) and per function (a profiler).

    .venv/bin/python -m benchmarks.stage_profile --json prof.json [--profiler py-spy|pyinstrument|none] \\
        [--top 25] -- run --seeds DIR --output DIR --enrich core -q --no-seen-index

Runs ``news-ingest`` in this process (the arguments after ``--`` are the CLI's) and reads the
per-step execution time that Beam's state sampler records on the DirectRunner
(``ptransform_execution_time:total_msecs``: each step's own start/process/finish time, fused
downstream steps not counted twice, Beam's coders and receivers counted in the step they serve).
The CLI does not expose the ``PipelineResult``; it is picked up by wrapping
``pipelines.pipeline.run_metrics`` for the duration of the run (nothing changes on disk).

Profilers, for the function-level view:

``py-spy`` (default when installed) samples this process from outside at 100 Hz (wall clock,
idle included, main thread), so it barely slows the run down: this process re-runs itself
under ``py-spy record`` and reads the collapsed stacks it writes.
``pyinstrument`` samples in-process; its hook fires on every Python call, which inflates code
made of many small calls (per-character generator expressions) by up to 2-3x: fine for the
call tree (``--text``), misleading for shares.
``none``: Beam's step timers only.

JSON: ``wall_s`` (this process, imports included), ``import_s``, ``stages_ms`` (Beam step times
rolled up to read, normalize, deduplicate, enrich, check_rows, batch, validate, write, manifest),
``steps_ms`` (every step), ``untimed_s`` (wall minus the steps: imports, graph construction,
runner, driver), and from the profiler ``profile``: ``sampled_s``, ``stages_s`` (each sample
charged to the stage of the innermost of our functions that Beam called, else ``beam/driver``),
``top_self`` (functions by own time), ``top_packages`` (own time by package, ``pipelines/*`` by
module) and ``top_pipelines_inclusive`` (our functions, time including what they call).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from collections import defaultdict
from pathlib import Path

STARTED = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
PY_SPY_RATE = 100

EXECUTION_TIME = "ptransform_execution_time:total_msecs"
TABLES = ("Articles", "Duplicates", "Rejects")
STAGE_OF_STEP = (  # first label of a Beam step -> pipeline stage; first match wins
    (("ReadDocuments", "ReadFeeds", "MergeInputs"), "read"),
    (("Normalize",), "normalize"),
    (("ReadSeenIndex", "SeenIndex", "Deduplicate"), "deduplicate"),
    (("Enrich",), "enrich"),
    (("CheckRows", "CheckDuplicateRows", "MergeRejects", "RejectRows"), "check_rows"),
)
TABLE_STAGES = {"Batch": "batch", "Validate": "validate", "Write": "write", "Quarantine": "write"}
# Our module -> stage, for profiler samples (the innermost of our frames that Beam called).
STAGE_OF_MODULE = {
    "transforms/read_feeds": "read", "transforms/read_documents": "read", "core/feeds": "read",
    "core/documents": "read", "core/fetch": "read", "transforms/normalize": "normalize",
    "core/normalize": "normalize", "transforms/dedupe": "deduplicate", "core/dedupe": "deduplicate",
    "core/near_dedupe": "deduplicate", "transforms/seen_index": "deduplicate",
    "transforms/enrich": "enrich", "core/enrich": "enrich", "transforms/write_parquet": "write",
    "transforms/manifest": "manifest", "core/batches": "batch",
}
Frame = tuple[str, str, int]  # function, short file, line


def stage_of(step: str) -> str:
    parts = step.split("/")
    if parts[0] in TABLES and len(parts) > 1:
        return TABLE_STAGES.get(parts[1], "write")
    for labels, stage in STAGE_OF_STEP:
        if parts[0] in labels:
            return stage
    return "manifest"  # counting, file items, seen-index staging, WriteManifest, SaveFeedState


def step_times_ms(result) -> dict[str, int]:
    """Beam step label -> milliseconds of execution (DirectRunner / FnApiRunner)."""
    query = result.monitoring_metrics().query()
    times: dict[str, int] = defaultdict(int)
    for counter in query["counters"]:
        if EXECUTION_TIME in counter.key.metric.name:
            value = counter.committed if counter.committed is not None else counter.attempted
            if value:
                times[counter.key.step] += value
    return dict(sorted(times.items(), key=lambda item: -item[1]))


# --- profiles as weighted stacks -------------------------------------------------------------------

STDLIB = sysconfig.get_paths()["stdlib"] + "/"


def short_file(path: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    if path.startswith(str(ROOT) + "/"):
        return path[len(str(ROOT)) + 1:]
    if path.startswith(STDLIB):
        return "python/" + path[len(STDLIB):]
    return path


def package(file: str) -> str:
    """``pipelines/core/geo``, ``python/json``, ``apache_beam``: where own time is spent."""
    if file.startswith("pipelines/"):
        return file.removesuffix(".py")
    if file.startswith("python/"):
        return "python/" + file.split("/")[1].removesuffix(".py")
    if file.startswith("<"):
        return "python/importlib" if "importlib" in file else file
    return file.split("/", 1)[0].removesuffix(".py")


DRIVER_MODULES = ("cli", "pipeline", "config", "storage")


def sample_stage(stack: list[Frame]) -> str:
    """The stage of the innermost of our functions that Beam (or the driver) called.

    A sample in Beam's own code between two of our functions (bundle processing, coders,
    grouping) has no such function below the driver and is charged to ``beam/driver``.
    """
    for depth in range(len(stack) - 1, 0, -1):
        function, file, _ = stack[depth]
        if not file.startswith("pipelines/") or stack[depth - 1][1].startswith("pipelines/"):
            continue
        if function == "<module>":
            return "imports"
        module = file.removeprefix("pipelines/").removesuffix(".py")
        if module in DRIVER_MODULES and "<lambda>" not in function:
            return "beam/driver"
        if module == "runners" and function.endswith(("run_pipeline", "run_via_runner_api")):
            return "beam/driver"  # LocalRunner and its FnApiRunner: Beam runs below them
        if module == "transforms/validate":
            return ("check_rows" if function.startswith("CheckRowFn")
                    else "validate" if function.startswith("ValidateBatchFn") else "batch")
        return STAGE_OF_MODULE.get(module, f"other ({module})")
    return "beam/driver"


def pipelines_qualnames() -> dict[tuple[str, int], str]:
    """(short file, first line) -> qualified name of every function in ``pipelines``: py-spy
    names a method ``process``, this makes it ``NormalizeFn.process``."""
    import importlib
    import inspect
    import pkgutil

    import pipelines

    names = {}
    for info in pkgutil.walk_packages(pipelines.__path__, "pipelines."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            members = vars(value).values() if inspect.isclass(value) else [value]
            for member in members:
                member = getattr(member, "__func__", member)
                if inspect.isfunction(member) and member.__module__ == module.__name__:
                    code = member.__code__
                    names[(short_file(code.co_filename), code.co_firstlineno)] = member.__qualname__
    return names


def qualify(stacks: list[tuple[list[Frame], float]]) -> list[tuple[list[Frame], float]]:
    names = pipelines_qualnames()
    return [([(names.get((f[1], f[2]), f[0]), f[1], f[2]) for f in stack], seconds) for stack, seconds in stacks]


def tables(stacks: list[tuple[list[Frame], float]], top: int) -> dict:
    """Own time per function and package, inclusive time of our functions, time per stage."""
    own: dict[Frame, float] = defaultdict(float)
    packages: dict[str, float] = defaultdict(float)
    inclusive: dict[Frame, float] = defaultdict(float)
    stages: dict[str, float] = defaultdict(float)
    total = 0.0
    for stack, seconds in stacks:
        if not stack:
            continue
        total += seconds
        own[stack[-1]] += seconds
        packages[package(stack[-1][1])] += seconds
        for frame in set(stack):
            if frame[1].startswith("pipelines/"):
                inclusive[frame] += seconds
        stages[sample_stage(stack)] += seconds

    def rows(table: dict, column: str) -> list[dict]:
        ranked = sorted(table.items(), key=lambda item: -item[1])[:top]
        return [{"function": f, "file": p, "line": n, column: round(s, 3)} for (f, p, n), s in ranked]

    return {
        "sampled_s": round(total, 2),
        "stages_s": {k: round(v, 2) for k, v in sorted(stages.items(), key=lambda item: -item[1])},
        "top_self": rows(own, "self_s"),
        "top_packages": [{"package": p, "self_s": round(s, 3)}
                         for p, s in sorted(packages.items(), key=lambda item: -item[1])[:top]],
        "top_pipelines_inclusive": rows(inclusive, "total_s"),
    }


_FRAME_RE = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")


def collapsed_stacks(path: Path, rate: int = PY_SPY_RATE) -> list[tuple[list[Frame], float]]:
    """py-spy's raw output (``thread (id): name;frame;...;frame count``), main thread only."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    main_ids = {line.split(")", 1)[0] for line in lines if line.split(";", 1)[0].endswith(": MainThread")}
    stacks = []
    for line in lines:
        body, _, count = line.rpartition(" ")
        if not body or not count.isdigit() or body.split(")", 1)[0] not in main_ids:
            continue
        frames = []
        for text in body.split(";")[1:]:
            match = _FRAME_RE.match(text)
            if match:
                frames.append((match["function"], short_file(match["file"]), int(match["line"])))
            else:
                frames.append((text, "<native>", 0))
        stacks.append((frames, int(count) / rate))
    return stacks


def write_collapsed(stacks: list[tuple[list[Frame], float]], path: Path, rate: int = PY_SPY_RATE) -> None:
    """The main thread's stacks, short file names, in the collapsed format flamegraph tools read
    (``flamegraph.pl``, speedscope, inferno); gzip-compressed when ``path`` ends in ``.gz``."""
    lines = "".join(";".join(f"{f} ({p}:{n})" for f, p, n in stack) + f" {round(seconds * rate)}\n"
                    for stack, seconds in stacks)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(lines.encode("utf-8")))
    else:
        path.write_text(lines, encoding="utf-8")


def pyinstrument_stacks(root) -> list[tuple[list[Frame], float]]:
    """pyinstrument's call tree as (stack, own seconds) pairs."""
    stacks = []
    pending = [(root, [])]
    while pending:
        frame, path = pending.pop()
        if frame.is_synthetic:  # "[self]" leaves: counted in their parent
            continue
        path = path + [(frame.function, short_file(frame.file_path or "<unknown>"), frame.line_no or 0)]
        own = frame.time - sum(child.time for child in frame.children if not child.is_synthetic)
        if own > 0:
            stacks.append((path, own))
        pending.extend((child, path) for child in frame.children)
    return stacks


# --- the run -----------------------------------------------------------------------------------------

def run_cli(cli_args: list[str]) -> tuple[int, dict[str, int], float]:
    """``news-ingest`` in this process; exit code, Beam step times and the import time."""
    imported = time.perf_counter()
    import pipelines.pipeline as pipeline_module
    from pipelines import cli

    import_s = time.perf_counter() - imported
    captured = {}
    run_metrics = pipeline_module.run_metrics

    def capture(result):
        captured["result"] = result
        return run_metrics(result)

    pipeline_module.run_metrics = capture
    try:
        exit_code = cli.main(cli_args)
    finally:
        pipeline_module.run_metrics = run_metrics
    steps = step_times_ms(captured["result"]) if "result" in captured else {}
    return exit_code, steps, import_s


def under_py_spy(args, cli_args: list[str]) -> int:
    """Run this module again (``--profiler none``) under ``py-spy record``; add its tables."""
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    raw = args.json.with_suffix(".py-spy.txt")
    command = [py_spy, "record", "--rate", str(PY_SPY_RATE), "--format", "raw", "--function", "--full-filenames",
               "--threads", "--idle", "--output", str(raw), "--",
               sys.executable, "-m", "benchmarks.stage_profile", "--json", str(args.json), "--profiler", "none",
               "--top", str(args.top), "--", *cli_args]
    exit_code = subprocess.run(command, cwd=ROOT, stdout=sys.stdout, stderr=subprocess.DEVNULL).returncode
    if not args.json.exists():
        return exit_code or 1
    report = json.loads(args.json.read_text())
    if raw.exists():
        report["profile"] = {"profiler": f"py-spy record --rate {PY_SPY_RATE} --idle (main thread)",
                             **tables(qualify(collapsed_stacks(raw)), args.top)}
        if args.text:
            write_collapsed(collapsed_stacks(raw), args.text)
        raw.unlink()
    args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return exit_code


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ours, cli_args = (argv[: argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--profiler", choices=("py-spy", "pyinstrument", "none"),
                        default="py-spy" if shutil.which("py-spy", path=str(Path(sys.executable).parent)) else "none")
    parser.add_argument("--text", type=Path,
                        help="pyinstrument: its call tree as text; py-spy: the main thread's collapsed stacks "
                             "(flamegraph input; gzip when the name ends in .gz)")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(ours)
    if not cli_args:
        parser.error("give the news-ingest arguments after --")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    if args.profiler == "py-spy":
        return under_py_spy(args, cli_args)

    profiler = None
    if args.profiler == "pyinstrument":
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        profiler.start()
    try:
        exit_code, steps, import_s = run_cli(cli_args)
    finally:
        if profiler is not None:
            profiler.stop()
    wall_s = time.perf_counter() - STARTED
    stages: dict[str, int] = defaultdict(int)
    for step, ms in steps.items():
        stages[stage_of(step)] += ms
    report = {
        "exit_code": exit_code,
        "cli_args": cli_args,
        "pid": os.getpid(),
        "wall_s": round(wall_s, 2),
        "import_s": round(import_s, 2),
        "stages_ms": dict(sorted(stages.items(), key=lambda item: -item[1])),
        "steps_ms": steps,
        "untimed_s": round(wall_s - sum(steps.values()) / 1000, 2),
        "method": "Beam ptransform_execution_time (state sampler) per step",
    }
    if profiler is not None:
        report["profile"] = {"profiler": "pyinstrument 1 ms (in-process)",
                             **tables(pyinstrument_stacks(profiler.last_session.root_frame()), args.top)}
        if args.text:
            args.text.write_text(profiler.output_text(unicode=True, show_all=False), encoding="utf-8")
    args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
