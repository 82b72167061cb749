"""``news-ingest compact``: merge the small files of closed partitions, invisibly to readers.

    record = compact("out", older_than=dt.timedelta(days=1))   # what the CLI calls
    files = live_files("out", "articles")                        # manifests + compactions

In: ``<output>/<table>/ingest_date=D/*.parquet`` for every partition whose day ended at least
``older_than`` ago (runs only write the partition of their own start date, so such a partition
is closed). Out: the same rows in fewer files (``part-<compact_id>-<n>.parquet``, sorted by id,
under the current schema), the seen-index entries that pointed at the old files rewritten, and a
record ``_runs/<compact_id>.json`` (``kind: compaction``: files removed and added, rows before and
after). Maintenance, not a pipeline: plain pyarrow, no Beam, local filesystems only.

How a partition is swapped, and why (the reader experiments are in tests/test_compact.py and the
README, "Compaction"): readers list a partition directory and open the files later (DuckDB at
query start, pyarrow when the dataset is made). Replacing files one by one shows a reader that
lists in between some rows twice or not at all. So the new files are written to a complete new
directory ``_compact/<id>/stage/<table>/ingest_date=D`` and exchanged with the live directory in
one step, Linux ``renameat2(RENAME_EXCHANGE)``: every listing sees the old directory or the new
one, never a mix. The old directory is kept under ``_compact/<id>/retired/`` for a grace period
(``--keep-retired``), so a listing in progress over it never sees files vanish. Symlinked
generation directories would be simpler but DuckDB's ``**`` glob does not follow directory
symlinks, and ``_``/``.``-prefixed "hidden" names are read by DuckDB's glob (pyarrow skips them).

Crash safety: ``_compact/<id>/plan.json`` is written once the new files are complete; from then
on the compaction rolls forward (:func:`recover_compactions`, run by the next compaction under
the lock): remaining exchanges, the index rewrite and the record (through ``pipelines.journal``).
Before the plan nothing is visible and the staged files are deleted. Between an exchange and the
index rewrite a pipeline run only loses near-duplicate checks against the moved articles (it logs
"seen-index points at a missing file"); :func:`rewrite_index` repairs any such entry.

A filesystem without ``RENAME_EXCHANGE`` (NFS, FUSE, ...) is refused before anything is staged: the
exchange is tried on two scratch directories under ``_compact/<id>/`` first. Should an exchange of a
plan fail all the same (``EXDEV``: a partition on another mount, an output moved to another
filesystem) while none of its partitions was swapped, the plan is abandoned (plan and staged files
deleted, an error logged): nothing of it was visible. A pipeline run never fails because a pending
compaction cannot be finished: it logs the error, lists it in its manifest's ``recovered``
(``compaction-failed:<id>: <reason>``, ``compaction-abandoned:<id>: <reason>``) and goes on (a
half-done compaction is consistent for readers; ``news-ingest compact`` retries it).

Test-only fault points (``NEWS_INGEST_FAULT``): ``compact-after-plan``, ``compact-mid-exchange``
(die like SIGKILL) and ``compact-exchange-einval`` (every exchange fails with ``EINVAL``, as on NFS).
"""

from __future__ import annotations

import ctypes
import datetime as dt
import errno
import json
import logging
import os
import re
import secrets
import shutil
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

import schemas
from pipelines import journal, storage
from pipelines.core.batches import ID_COLUMNS, PARQUET_COMPRESSION
from pipelines.core.seen_index import INDEX_DIR
from pipelines.lock import OutputLock, is_local

LOG = logging.getLogger("news_ingest")
TABLES = ("articles", "duplicates", "rejects")
COMPACT_DIR = "_compact"
RUNS_DIR = "_runs"
KIND = "compaction"
DEFAULT_OLDER_THAN = dt.timedelta(days=1)
DEFAULT_GRACE = dt.timedelta(hours=1)
DEFAULT_MAX_ROWS = 1_000_000
COMMITTED = ("ok", "quarantined")
_PARTITION_RE = re.compile(r"^ingest_date=(\d{4}-\d{2}-\d{2})$")
_AGE_RE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw]?)$")
_AGE_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


class CompactError(RuntimeError):
    """Compaction cannot go on (unsupported filesystem, files it cannot account for ...)."""


class CompactionAbandoned(CompactError):
    """A plan's first exchange failed: the plan and its staged files were deleted (nothing was visible)."""


def parse_age(text: str) -> dt.timedelta:
    """``"1d"``, ``"12h"``, ``"30m"``, ``"45s"``, ``"2w"`` or plain seconds -> a timedelta."""
    match = _AGE_RE.match(text.strip().lower())
    if not match:
        raise ValueError(f"expected an age such as 1d, 12h, 30m or 0, got {text!r}")
    return dt.timedelta(seconds=float(match.group(1)) * _AGE_UNITS[match.group(2)])


def new_compact_id(now: dt.datetime) -> str:
    return f"compact-{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def exchange(a: str, b: str) -> None:
    """Swap two directory entries atomically (Linux ``renameat2(RENAME_EXCHANGE)``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    function = getattr(libc, "renameat2", None)
    if function is None:
        raise CompactError("atomic directory exchange needs Linux with glibc >= 2.28 (renameat2)")
    simulated = _faulty("compact-exchange-einval")  # tests: a filesystem without RENAME_EXCHANGE
    if simulated or function(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        code = errno.EINVAL if simulated else ctypes.get_errno()
        if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise CompactError(f"the filesystem of {b} cannot exchange directories atomically "
                               f"(renameat2 RENAME_EXCHANGE: {os.strerror(code)})")
        raise OSError(code, os.strerror(code), a)


def _faulty(point: str) -> bool:
    return point in os.environ.get(journal.FAULT_ENV, "").split(",")


def _fault(point: str) -> None:
    """Test-only: die like SIGKILL at ``point`` (``NEWS_INGEST_FAULT``, as in pipelines.journal)."""
    if _faulty(point):
        os._exit(137)


def probe_exchange(folder: str) -> None:
    """Raise :class:`CompactError` unless directories under ``folder`` can be exchanged atomically
    (two scratch directories, removed again)."""
    a, b = os.path.join(folder, "probe-a"), os.path.join(folder, "probe-b")
    os.makedirs(a, exist_ok=True)
    os.makedirs(b, exist_ok=True)
    open(os.path.join(a, "marker"), "wb").close()
    try:
        exchange(a, b)
        if not os.path.exists(os.path.join(b, "marker")):
            raise CompactError(f"renameat2 RENAME_EXCHANGE returned success under {folder} but exchanged nothing")
    except OSError as exc:
        raise CompactError(f"the filesystem of {folder} cannot exchange directories atomically ({exc})") from None
    finally:
        shutil.rmtree(a, ignore_errors=True)
        shutil.rmtree(b, ignore_errors=True)


def _write_json(path: str, obj) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(obj, handle, indent=2, sort_keys=True, default=str)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(path + ".tmp", path)
    storage.fsync_dirs([os.path.dirname(path)])


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


def _read_json(path: str):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def records(output: str) -> list[dict]:
    """Every commit record under ``_runs/``, oldest first: batch manifests, compaction records and
    streaming window manifests (``_runs/<run_id>/window-*.json``: a streaming run commits per
    window, so its summary ``_runs/<run_id>.json``, which repeats the windows' files and is
    missing after a crash, is not one)."""
    folder = os.path.join(output, RUNS_DIR)
    found = []
    paths = []
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        path = os.path.join(folder, name)
        if name.endswith(".json"):
            paths.append((f"{RUNS_DIR}/{name}", path))
        elif os.path.isdir(path):
            paths += [(f"{RUNS_DIR}/{name}/{w}", os.path.join(path, w)) for w in sorted(os.listdir(path))
                      if w.startswith("window-") and w.endswith(".json")]
    for label, path in paths:
        try:
            record = _read_json(path)
        except (OSError, ValueError):
            LOG.warning("unreadable record %s skipped", label)
            continue
        if record.get("mode") == "streaming" and "window_start" not in record:
            continue  # a streaming run's summary
        found.append(record)
    return sorted(found, key=lambda r: (r.get("finished_at") or r.get("started_at") or "", r.get("run_id", "")))


def live_files(output: str, table: str | None = None) -> list[str]:
    """Relative paths of the committed data files: every file of runs with status ok or
    quarantined, minus what compactions removed, plus what they added (the reading list for
    object stores, where a directory listing is not to be trusted)."""
    files: set[str] = set()
    for record in records(output):
        if record.get("kind") == KIND:
            files -= set(record.get("files_removed", []))
            files |= {f["path"] for f in record.get("files_added", [])}
        elif record.get("status") in COMMITTED:
            files |= {f["path"] for f in record.get("files", [])}
    return sorted(f for f in files if table is None or f.startswith(table + "/"))


def partitions(output: str, table: str) -> dict[str, dt.datetime]:
    """``{ingest_date=D: the end of day D (UTC)}`` for the partition directories of ``table``."""
    folder = os.path.join(output, table)
    found = {}
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        match = _PARTITION_RE.match(name)
        if match and os.path.isdir(os.path.join(folder, name)):
            found[name] = dt.datetime.fromisoformat(match.group(1)).replace(tzinfo=dt.timezone.utc) \
                + dt.timedelta(days=1)
    return found


def closed_partitions(output: str, table: str, older_than: dt.timedelta, now: dt.datetime) -> list[str]:
    """``ingest_date=D`` directories of ``table`` whose day ended at or before ``now - older_than``."""
    return [name for name, day_end in partitions(output, table).items() if day_end <= now - older_than]


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` under ``schema``: columns in its order, missing nullable columns as nulls (older files)."""
    extra = set(table.column_names) - set(schema.names)
    if extra:
        raise CompactError(f"columns not in the current schema: {sorted(extra)}")
    columns = []
    for field in schema:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        elif field.nullable:
            columns.append(pa.nulls(table.num_rows, field.type))
        else:
            raise CompactError(f"required column {field.name!r} missing from an older file")
    return pa.Table.from_arrays(columns, schema=schema)


def _parquet_files(folder: str) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.endswith(".parquet") and os.path.isfile(os.path.join(folder, n)))


def _stage_partition(output: str, compact_id: str, table: str, partition: str, max_rows: int) -> dict:
    """Write the merged files of one partition to its stage directory; returns its plan entry."""
    live = os.path.join(output, table, partition)
    names = _parquet_files(live)
    schema = schemas.TABLE_SCHEMAS[table]
    parts = [conform(pq.read_table(os.path.join(live, name)), schema) for name in names]
    rows_before = sum(part.num_rows for part in parts)
    id_column = ID_COLUMNS[table]
    merged = pa.concat_tables(parts).sort_by([(id_column, "ascending"), ("run_id", "ascending")])
    stage = os.path.join(output, COMPACT_DIR, compact_id, "stage", table, partition)
    os.makedirs(stage)
    added = []
    for number, start in enumerate(range(0, max(merged.num_rows, 1), max_rows)):
        chunk = merged.slice(start, max_rows)
        name = f"part-{compact_id}-{number:04d}.parquet"
        pq.write_table(chunk, os.path.join(stage, name), compression=PARQUET_COMPRESSION)
        back = pq.read_table(os.path.join(stage, name), schema=schema)
        if not back.equals(chunk):  # the set of rows must not change; check what is on disk
            raise CompactError(f"{table}/{partition}/{name} does not read back as written")
        added.append({"path": f"{table}/{partition}/{name}", "rows": chunk.num_rows})
    for f in added:
        storage.fsync_file(os.path.join(output, COMPACT_DIR, compact_id, "stage", f["path"]))
    storage.fsync_dirs([stage])
    if sum(f["rows"] for f in added) != rows_before:
        raise CompactError(f"{table}/{partition}: {rows_before} rows read, {sum(f['rows'] for f in added)} written")
    return {"table": table, "partition": partition, "files_removed": [f"{table}/{partition}/{n}" for n in names],
            "files_added": added, "rows_before": rows_before, "rows_after": merged.num_rows}


def rewrite_index(output: str, staging: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Stage seen-index files whose ``path`` entries point at files no longer there, with the path
    of the file that now holds the article (found by article_id in the same partition).

    Returns ``(renames, rewritten)``: ``(staged, final)`` pairs for :func:`journal.commit` and
    the rewritten files (relative). Idempotent, so it also repairs an index left stale by a crash.
    """
    folder = os.path.join(output, INDEX_DIR)
    renames, rewritten = [], []
    locations: dict[str, dict[str, str]] = {}  # partition folder -> article_id -> file

    def locate(partition_folder: str) -> dict[str, str]:
        if partition_folder not in locations:
            found: dict[str, str] = {}
            full = os.path.join(output, partition_folder)
            for name in _parquet_files(full) if os.path.isdir(full) else []:
                ids = pq.read_table(os.path.join(full, name), columns=["article_id"]).column(0).to_pylist()
                found.update(dict.fromkeys(ids, f"{partition_folder}/{name}"))
            locations[partition_folder] = found
        return locations[partition_folder]

    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if not name.endswith(".parquet"):
            continue
        try:
            index = pq.read_table(os.path.join(folder, name))
            index.column("path"), index.column("article_id")
        except (OSError, ValueError, KeyError, pa.ArrowException) as exc:  # the pipeline's index repair handles it
            LOG.warning("seen-index %s/%s is unreadable, not rewritten (%s); the next pipeline run rebuilds it",
                        INDEX_DIR, name, _one_line(exc))
            continue
        missing = {p for p in index.column("path").unique().to_pylist() if not os.path.exists(os.path.join(output, p))}
        if not missing:
            continue
        paths = index.column("path").to_pylist()
        ids = index.column("article_id").to_pylist()
        fixed, lost = [], 0
        for path, article_id in zip(paths, ids):
            if path in missing:
                new = locate(path.rsplit("/", 1)[0]).get(article_id)
                lost += new is None
                fixed.append(new or path)
            else:
                fixed.append(path)
        if lost:
            LOG.warning("seen-index %s: %d entries point at articles no longer found", name, lost)
        position = index.schema.get_field_index("path")
        index = index.set_column(position, index.schema.field(position), pa.array(fixed, pa.string()))
        staged = os.path.join(staging, "index", name)
        os.makedirs(os.path.dirname(staged), exist_ok=True)
        pq.write_table(index, staged, compression=PARQUET_COMPRESSION)
        renames.append((staged, os.path.join(folder, name)))
        rewritten.append(f"{INDEX_DIR}/{name}")
    return renames, rewritten


def _swap(output: str, compact_id: str, entry: dict) -> None:
    """Exchange one staged partition with the live one and retire the old; idempotent."""
    table, partition = entry["table"], entry["partition"]
    base = os.path.join(output, COMPACT_DIR, compact_id)
    stage, retired = (os.path.join(base, kind, table, partition) for kind in ("stage", "retired"))
    live = os.path.join(output, table, partition)
    if os.path.isdir(retired):
        return
    first_new = entry["files_added"][0]["path"].rsplit("/", 1)[1]
    if not os.path.exists(os.path.join(live, first_new)):  # not exchanged yet
        exchange(stage, live)
        _fault("compact-mid-exchange")
    os.makedirs(os.path.dirname(retired), exist_ok=True)
    os.rename(stage, retired)  # now holds the old files, kept for readers that listed them


def _swapped(output: str, compact_id: str, entry: dict) -> bool:
    """Has this partition of the plan been exchanged already (its new files live, or retired)?"""
    table, partition = entry["table"], entry["partition"]
    if os.path.isdir(os.path.join(output, COMPACT_DIR, compact_id, "retired", table, partition)):
        return True
    first_new = entry["files_added"][0]["path"].rsplit("/", 1)[1]
    return os.path.exists(os.path.join(output, table, partition, first_new))


def _abandon(output: str, compact_id: str) -> None:
    """Drop a plan none of whose partitions was swapped: the plan first (a crash after it leaves a
    compaction that "died before its plan", cleaned up by the next one), then its staged files."""
    base = os.path.join(output, COMPACT_DIR, compact_id)
    os.remove(os.path.join(base, "plan.json"))
    storage.fsync_dirs([base])
    shutil.rmtree(os.path.join(output, "_staging", compact_id), ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)


def _finish(output: str, plan: dict, recovered: bool) -> dict:
    """Roll a written plan forward: the exchanges, the index, the record (one journal commit).

    An exchange that fails before any partition of the plan was swapped abandons the plan
    (:class:`CompactionAbandoned`); after one was, the plan stays for a later roll forward."""
    compact_id = plan["compact_id"]
    for entry in plan["partitions"]:
        try:
            _swap(output, compact_id, entry)
        except (CompactError, OSError) as exc:
            done = sum(_swapped(output, compact_id, e) for e in plan["partitions"])
            if not done:
                _abandon(output, compact_id)
                LOG.error("compaction %s abandoned: %s; nothing of it was visible, its plan and staged files "
                          "are deleted", compact_id, _one_line(exc))
                raise CompactionAbandoned(f"compaction {compact_id} abandoned (nothing of it was visible): "
                                          f"{_one_line(exc)}") from exc
            raise CompactError(f"compaction {compact_id} stopped with {done} of {len(plan['partitions'])} "
                               f"partitions swapped: {_one_line(exc)}") from exc
    staging = os.path.join(output, "_staging", compact_id)
    shutil.rmtree(staging, ignore_errors=True)
    renames, rewritten = rewrite_index(output, staging)
    record = {
        "kind": KIND, "run_id": compact_id, "status": "ok",
        "started_at": plan["started_at"], "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "older_than_s": plan["older_than_s"], "tables": plan["tables"],
        "partitions": [{k: e[k] for k in ("table", "partition", "rows_before", "rows_after")}
                       | {"files_before": len(e["files_removed"]), "files_after": len(e["files_added"])}
                       for e in plan["partitions"]],
        "files_removed": [p for e in plan["partitions"] for p in e["files_removed"]],
        "files_added": [f for e in plan["partitions"] for f in e["files_added"]],
        "rows_before": sum(e["rows_before"] for e in plan["partitions"]),
        "rows_after": sum(e["rows_after"] for e in plan["partitions"]),
        "index_files_rewritten": rewritten,
        "retired": f"{COMPACT_DIR}/{compact_id}/retired",
    }
    if recovered:
        record["recovered_at"] = dt.datetime.now(dt.timezone.utc).isoformat()
    journal.commit(output, compact_id, renames, record, os.path.join(output, RUNS_DIR, f"{compact_id}.json"))
    shutil.rmtree(staging, ignore_errors=True)
    os.remove(os.path.join(output, COMPACT_DIR, compact_id, "plan.json"))
    shutil.rmtree(os.path.join(output, COMPACT_DIR, compact_id, "stage"), ignore_errors=True)
    return record


def recover_compactions(output: str, failures: list[str] | None = None) -> list[str]:
    """Roll forward every compaction that wrote its plan; drop the staged files of those that did not.
    Call it holding the output lock. Returns the compaction ids completed.

    A plan whose first exchange fails is abandoned (logged; ``compaction-abandoned:<id>: <reason>``
    appended to ``failures``). With ``failures`` (pipeline runs), a compaction that cannot be
    finished is logged and appended as ``compaction-failed:<id>: <reason>`` instead of raising."""
    folder = os.path.join(output, COMPACT_DIR)
    recovered = []
    for compact_id in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        base = os.path.join(folder, compact_id)
        plan_path = os.path.join(base, "plan.json")
        if os.path.exists(plan_path):
            try:
                _finish(output, _read_json(plan_path), recovered=True)
            except CompactionAbandoned as exc:
                if failures is not None:
                    failures.append(f"compaction-abandoned:{compact_id}: {exc.__cause__ and _one_line(exc.__cause__)}")
                continue
            except Exception as exc:
                if failures is None:
                    raise
                LOG.error("could not finish the interrupted compaction %s: %s; going on (readers see every row "
                          "once; near-duplicate checks against its moved articles are skipped until "
                          "`news-ingest compact` completes it)", compact_id, _one_line(exc))
                failures.append(f"compaction-failed:{compact_id}: {_one_line(exc)}")
                continue
            LOG.warning("completed the interrupted compaction %s", compact_id)
            recovered.append(compact_id)
        elif not os.path.isdir(os.path.join(base, "retired")):  # died before its plan: nothing was visible
            shutil.rmtree(base, ignore_errors=True)
        elif os.path.isdir(os.path.join(base, "stage")):
            shutil.rmtree(os.path.join(base, "stage"))
    # the index may still point at moved files (a crash after an exchange, before the rewrite)
    staging = os.path.join(output, "_staging", "compact-repair")
    try:
        renames, rewritten = rewrite_index(output, staging)
        for staged, final in renames:
            storage.fsync_file(staged)
            os.replace(staged, final)
        storage.fsync_dirs({os.path.dirname(final) for _, final in renames})
    except Exception as exc:
        if failures is None:
            raise
        LOG.error("could not repair the seen-index after a compaction: %s; going on", _one_line(exc))
        failures.append(f"compaction-failed:index-repair: {_one_line(exc)}")
        rewritten = []
    shutil.rmtree(staging, ignore_errors=True)
    if rewritten:
        LOG.warning("repaired %d seen-index files that pointed at compacted files", len(rewritten))
    return recovered


def recover_pending_compactions(output: str, failures: list[str] | None = None) -> list[str]:
    """:func:`recover_compactions` when a compaction was interrupted (a plan or staged files left),
    else nothing (cheap: one listing). Pipeline runs call it under the lock, after ``journal.recover``.

    Never raises for a compaction it cannot finish: that is logged and appended to ``failures``
    (``compaction-failed:<id>: <reason>`` / ``compaction-abandoned:<id>: <reason>``) and the run goes on."""
    if "://" in output and not output.startswith("file://"):
        return []  # compaction refuses object stores, so there is nothing to finish there
    failures = failures if failures is not None else []
    folder = os.path.join(output, COMPACT_DIR)
    try:
        pending = [c for c in (sorted(os.listdir(folder)) if os.path.isdir(folder) else [])
                   if os.path.exists(os.path.join(folder, c, "plan.json"))
                   or os.path.isdir(os.path.join(folder, c, "stage"))]
        return recover_compactions(output, failures) if pending else []
    except Exception as exc:  # noqa: BLE001 - e.g. _compact/ unreadable: the run goes on all the same
        LOG.error("could not look at interrupted compactions: %s; going on", _one_line(exc))
        failures.append(f"compaction-failed:?: {_one_line(exc)}")
        return []


def purge_retired(output: str, now: dt.datetime, grace: dt.timedelta) -> list[str]:
    """Delete the old directories of compactions that finished more than ``grace`` before ``now``."""
    folder = os.path.join(output, COMPACT_DIR)
    purged = []
    for compact_id in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        record_path = os.path.join(output, RUNS_DIR, f"{compact_id}.json")
        if os.path.exists(os.path.join(folder, compact_id, "plan.json")) or not os.path.exists(record_path):
            continue
        finished = dt.datetime.fromisoformat(_read_json(record_path)["finished_at"])
        if finished <= now - grace:
            shutil.rmtree(os.path.join(folder, compact_id))
            purged.append(compact_id)
    return purged


def compact(output: str, older_than: dt.timedelta = DEFAULT_OLDER_THAN, tables: Iterable[str] = TABLES, *,
            now: dt.datetime | None = None, max_rows: int = DEFAULT_MAX_ROWS, grace: dt.timedelta = DEFAULT_GRACE,
            wait_s: float = 0.0, compact_id: str | None = None) -> dict:
    """Compact the closed partitions of ``tables`` under ``output``; returns the record
    (``partitions`` empty, nothing written, when there was nothing to do; then ``skipped`` lists the
    ``table/ingest_date=D`` partitions still ``open``, of ``one_file`` already, or with ``unlisted`` files).

    Raises ``LockBusy`` when a run holds the output, ``CompactError`` when it cannot go on.
    """
    tables = list(tables)
    unknown = set(tables) - set(TABLES)
    if unknown:
        raise ValueError(f"tables must be among {list(TABLES)}, got {sorted(unknown)}")
    if max_rows < 1 or older_than < dt.timedelta(0) or grace < dt.timedelta(0):
        raise ValueError("max_rows must be >= 1, older_than and grace >= 0")
    if not is_local(output):
        raise CompactError("compaction needs a local filesystem (atomic directory exchange); "
                           "on object stores readers take the files of the manifests")
    output = output[len("file://"):] if output.startswith("file://") else output
    now = now or dt.datetime.now(dt.timezone.utc)
    compact_id = compact_id or new_compact_id(now)
    with OutputLock(output, wait_s, owner=compact_id):
        journal.recover(output)
        recovered = recover_compactions(output)
        purged = purge_retired(output, dt.datetime.now(dt.timezone.utc), grace)  # real time: readers
        accounted = set(live_files(output))
        chosen = []
        skipped: dict[str, list[str]] = {"open": [], "one_file": [], "unlisted": []}  # why not the others
        for table in tables:
            closed = closed_partitions(output, table, older_than, now)
            skipped["open"] += [f"{table}/{name}" for name in partitions(output, table) if name not in closed]
            for partition in closed:
                names = _parquet_files(os.path.join(output, table, partition))
                if len(names) < 2:
                    skipped["one_file"].append(f"{table}/{partition}")
                    continue
                strangers = [n for n in names if f"{table}/{partition}/{n}" not in accounted]
                if strangers:  # an interrupted pre-journal run, or someone else's file: leave it alone
                    LOG.warning("%s/%s not compacted: %d files no committed manifest lists (%s)",
                                table, partition, len(strangers), ", ".join(strangers[:3]))
                    skipped["unlisted"].append(f"{table}/{partition}")
                    continue
                chosen.append((table, partition))
        result = {"kind": KIND, "run_id": compact_id, "partitions": [], "recovered": recovered, "purged": purged,
                  "skipped": skipped}
        if not chosen:
            return result
        try:  # refuse a filesystem without RENAME_EXCHANGE before staging anything or writing a plan
            probe_exchange(os.path.join(output, COMPACT_DIR, compact_id, "probe"))
            entries = [_stage_partition(output, compact_id, t, p, max_rows) for t, p in chosen]
        except BaseException:
            shutil.rmtree(os.path.join(output, COMPACT_DIR, compact_id), ignore_errors=True)
            raise
        plan = {"compact_id": compact_id, "started_at": now.isoformat(), "older_than_s": older_than.total_seconds(),
                "tables": tables, "partitions": entries}
        _write_json(os.path.join(output, COMPACT_DIR, compact_id, "plan.json"), plan)
        _fault("compact-after-plan")
        record = _finish(output, plan, recovered=False)
        return record | {"recovered": recovered, "purged": purged}
