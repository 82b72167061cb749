"""Frozen snapshots of every released schema version: ``articles-v<N>.json`` per table.

Readers of files written years ago rely on them: a later schema may only add nullable columns
at the end. ``tests/test_schema_evolution.py`` compares the current schemas with every snapshot
(:func:`problems`). To release a new version: bump ``SCHEMA_VERSION`` in ``schemas/article.py``,
then ``python -m schemas.history`` writes the snapshots of the current version (it refuses to
overwrite a released one).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa

HISTORY_DIR = Path(__file__).resolve().parent
_NAME_RE = re.compile(r"^(?P<table>[a-z_]+)-v(?P<version>\d+)\.json$")


def describe(schema: pa.Schema) -> list[dict]:
    """A schema as JSON-able column records: name, type (Arrow's spelling, nested types included), nullable."""
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def snapshot_path(table: str, version: str) -> Path:
    return HISTORY_DIR / f"{table}-v{version}.json"


def snapshots() -> dict[tuple[str, int], list[dict]]:
    """``{(table, version): columns}`` of every frozen snapshot."""
    found = {}
    for path in sorted(HISTORY_DIR.glob("*.json")):
        match = _NAME_RE.match(path.name)
        if match:
            found[(match["table"], int(match["version"]))] = json.loads(path.read_text())["columns"]
    return found


def problems(old: list[dict], new: pa.Schema) -> list[str]:
    """Why files written under ``old`` would break readers using ``new`` (empty when they would not):
    a column removed, renamed, retyped, reordered or made required; a new column not nullable or
    not at the end."""
    found = []
    current = describe(new)
    for position, column in enumerate(old):
        if position >= len(current):
            found.append(f"column {column['name']!r} removed")
            continue
        now = current[position]
        if (now["name"] != column["name"] and now["name"] not in {c["name"] for c in old}
                and column["name"] in {c["name"] for c in current}):
            found.append(f"new column {now['name']!r} inserted at position {position}, before "
                         f"{column['name']!r} (new columns go at the end)")
            continue
        if now["name"] != column["name"]:
            moved = [c["name"] for c in current].count(column["name"])
            found.append(f"column {column['name']!r} at position {position} is now {now['name']!r} "
                         f"({'reordered' if moved else 'renamed or removed'})")
            continue
        if now["type"] != column["type"]:
            found.append(f"column {column['name']!r} retyped: {column['type']} -> {now['type']}")
        if column["nullable"] and not now["nullable"]:
            found.append(f"column {column['name']!r} made required")
    for column in current[len(old):]:
        if column["name"] in {c["name"] for c in old}:
            continue  # reported as reordered above
        if not column["nullable"]:
            found.append(f"new column {column['name']!r} is required (new columns must be nullable)")
    return found


def freeze(version: str, tables: dict[str, pa.Schema]) -> list[Path]:
    """Write the snapshots of ``version``; never overwrites a released one."""
    written = []
    for table, schema in tables.items():
        path = snapshot_path(table, version)
        if path.exists():
            if json.loads(path.read_text())["columns"] != describe(schema):
                raise SystemExit(f"{path.name} is released and differs from the current schema: "
                                 f"bump SCHEMA_VERSION instead of changing a released version")
            continue
        path.write_text(json.dumps({"table": table, "schema_version": version, "columns": describe(schema)},
                                   indent=2) + "\n")
        written.append(path)
    return written


def current_tables() -> dict[str, pa.Schema]:
    from schemas import SEEN_SCHEMA, TABLE_SCHEMAS

    return {**TABLE_SCHEMAS, "seen_index": SEEN_SCHEMA}
