"""The real CLI run in a subprocess, and its output read back (pyarrow, DuckDB) for the hostile tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from conftest import files_under

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).with_name("news-ingest")


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    command = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "pipelines"]
    return subprocess.run([*command, "run", "--enrich", "core", "--no-seen-index", "--no-feed-state", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def manifest_of(output: Path) -> dict:
    [path] = (output / "_runs").glob("*.json")
    return json.loads(path.read_text())


def rows_of(output: Path, folder: str, columns: str) -> list[tuple]:
    """``columns`` of every row of a table; a table without files (no folder: nothing of that kind
    was written) has no rows."""
    if not files_under(output / folder, "*.parquet"):
        return []
    return duckdb.sql(f"select {columns} from read_parquet('{output}/{folder}/**/*.parquet')").fetchall()


def rejects_of(output: Path) -> list[tuple]:
    """(stage, reason, source) of every reject row."""
    return sorted(rows_of(output, "rejects", "stage, reason, source"))


def everything_written(output: Path) -> str:
    """Every value of every Parquet row and every JSON/text file under ``output``, as one string."""
    parts = []
    for path in sorted(output.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            parts.append(repr(pq.read_table(path).to_pylist()))
        else:
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


