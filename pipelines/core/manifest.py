"""The run manifest: what a run read, wrote and why, with counts that reconcile.

Counts come from the files actually written (``rows`` per file), and ``read``
from the readers, so ``read == written + duplicates + rejected + quarantined``
is a real check: when it fails the run's status is ``failed``.
"""

from __future__ import annotations

from typing import Any

from pipelines.core.feeds import feed_counts

STATUS_OK = "ok"
STATUS_QUARANTINED = "quarantined"
STATUS_FAILED = "failed"
STATUS_INTERRUPTED = "interrupted"  # SIGINT/SIGTERM before the commit: nothing published

COUNT_OF_DESTINATION = {"articles": "written", "duplicates": "duplicates",
                        "rejects": "rejected", "quarantine": "quarantined"}


# Where a file waits for its commit (full paths); carried by file records, never written to a manifest.
STAGED_FIELDS = ("staged", "staged_validation")


def file_record(destination: str, table: str, path: str, rows: int, batch_id: str,
                validation: str | None, success: bool, failed: list[str],
                staged: str | None = None, staged_validation: str | None = None,
                quarantined_by: dict[str, int] | None = None) -> dict[str, Any]:
    """One written file, as listed in the manifest (paths relative to the output root).

    ``staged``/``staged_validation``: the full paths the data and validation files are
    staged at until the commit renames them to ``path``/``validation`` (None: in place).
    ``quarantined_by``: for a quarantine file, how many of its rows each expectation sent there.
    """
    return {"destination": destination, "table": table, "path": path, "rows": rows,
            "batch_id": batch_id, "validation": validation, "validation_success": success,
            "failed_expectations": failed, "quarantined_by": quarantined_by or {},
            "staged": staged, "staged_validation": staged_validation}


def commit_renames(output_join, files: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """``(staged, final)`` for every staged data and validation file; ``output_join(relative)``
    makes a final path."""
    renames = []
    for record in sorted(files, key=lambda r: r["path"]):
        if record.get("staged_validation"):
            renames.append((record["staged_validation"], output_join(record["validation"])))
        if record.get("staged"):
            renames.append((record["staged"], output_join(record["path"])))
    return renames


def build_manifest(header: dict[str, Any], read: int, files: list[dict[str, Any]],
                   feeds: list[dict[str, Any]], finished_at: str) -> dict[str, Any]:
    """Assemble the manifest; ``header`` carries run_id, inputs and options from the driver."""
    counts = {"read": read, **{name: 0 for name in COUNT_OF_DESTINATION.values()}}
    quarantined_by: dict[str, int] = {}
    for record in files:
        counts[COUNT_OF_DESTINATION[record["destination"]]] += record["rows"]
        for name, rows in (record.get("quarantined_by") or {}).items():
            quarantined_by[name] = quarantined_by.get(name, 0) + rows
    accounted = sum(counts[name] for name in COUNT_OF_DESTINATION.values())
    reconciled = accounted == read
    if not reconciled:
        status = STATUS_FAILED
    elif counts["quarantined"]:
        status = STATUS_QUARANTINED
    else:
        status = STATUS_OK
    return {
        **header,
        "status": status,
        "finished_at": finished_at,
        "counts": counts,
        "quarantined_by": dict(sorted(quarantined_by.items())),  # rows per expectation (a row may count twice)
        "reconciled": reconciled,
        "error": None if reconciled else f"counts do not reconcile: read {read}, accounted {accounted}",
        "files": sorted(({k: v for k, v in record.items() if k not in STAGED_FIELDS} for record in files),
                        key=lambda record: record["path"]),
        "feeds": sorted(feeds, key=lambda report: report["feed"]),
        "feed_counts": feed_counts(feeds),
    }


def read_nothing(manifest: dict[str, Any]) -> bool:
    """Did the run read nothing because every feed failed (or is dead) and no document was read?

    A failed feed is one reject row and a dead one none, so every row read then came from a feed
    failure unless ``read`` is larger than the failures."""
    feeds, counts = manifest.get("feed_counts"), manifest.get("counts")
    if not feeds or not feeds.get("feeds") or not counts:
        return False
    return feeds["failed"] + feeds["dead"] == feeds["feeds"] and counts["read"] == feeds["failed"]
