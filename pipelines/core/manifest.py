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

COUNT_OF_DESTINATION = {"articles": "written", "duplicates": "duplicates",
                        "rejects": "rejected", "quarantine": "quarantined"}


def file_record(destination: str, table: str, path: str, rows: int, batch_id: str,
                validation: str | None, success: bool, failed: list[str]) -> dict[str, Any]:
    """One written file, as listed in the manifest (paths relative to the output root)."""
    return {"destination": destination, "table": table, "path": path, "rows": rows,
            "batch_id": batch_id, "validation": validation, "validation_success": success,
            "failed_expectations": failed}


def build_manifest(header: dict[str, Any], read: int, files: list[dict[str, Any]],
                   feeds: list[dict[str, Any]], finished_at: str) -> dict[str, Any]:
    """Assemble the manifest; ``header`` carries run_id, inputs and options from the driver."""
    counts = {"read": read, **{name: 0 for name in COUNT_OF_DESTINATION.values()}}
    for record in files:
        counts[COUNT_OF_DESTINATION[record["destination"]]] += record["rows"]
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
        "reconciled": reconciled,
        "error": None if reconciled else f"counts do not reconcile: read {read}, accounted {accounted}",
        "files": sorted(files, key=lambda record: record["path"]),
        "feeds": sorted(feeds, key=lambda report: report["feed"]),
        "feed_counts": feed_counts(feeds),
    }
