"""Commit journal: a run's (or a window's) files become visible together, or not at all.

    journal.commit(output, run_id, [(staged, final), ...], manifest, manifest_path)
    recovered = journal.recover(output)      # at start-up, holding the output lock

Writers put every file under ``<output>/_staging/<id>/`` first; nothing under ``articles/``,
``duplicates/``, ``rejects/``, ``quarantine/``, ``_validation/`` or ``_index/`` is written in
place. :func:`commit` then

1. writes ``<output>/_journal/<commit_id>.json`` atomically (to ``<commit_id>.json.tmp``,
   then renamed) listing every rename and the manifest: from here on the commit *has
   happened*, whatever dies next;
2. renames each staged file to its final name (idempotent: a rename whose staged file is
   gone and whose final file exists is done already);
3. writes the manifest (staged, then renamed) and deletes the journal.

:func:`recover` rolls every journal it finds forward the same way (steps 2 and 3; a
manifest written by recovery carries ``recovered_at``), then deletes what no journal
needs: ``_journal/*.tmp`` leftovers and every ``_staging/<id>/`` (runs that never
committed). So a writer killed at any moment leaves either nothing visible (before step
1: the next run redoes the work) or a commit the next run completes (after step 1):
never a partial file under a data folder, never the data without its seen-index entries.
Call :func:`recover` only while holding the output's lock (``pipelines/lock.py``), before
anything else writes: a live writer's staging folder looks exactly like a dead one's.

Everything goes through Beam's ``FileSystems`` (``pipelines/storage.py``), so ``gs://``
and ``s3://`` work as far as they can: there a rename is a copy and a delete, not atomic,
and a listing may show a file before its commit finished, so readers of an object store
must take the files listed by committed manifests (``_runs/*.json``, status ``ok`` or
``quarantined``), not a listing of ``articles/``. On a local filesystem a rename is
atomic and a listing never shows a partial file.

Paths under the output are kept in the journal relative to it (``./articles/...``), so an
output moved or mounted elsewhere after a crash still recovers; give any other path in
full. Commit ids are generic (a run id, or ``<run_id>-w<window_start>`` for a streaming window);
letters, digits, ``.``, ``_`` and ``-``.

Fault injection, for tests only: ``NEWS_INGEST_FAULT`` (comma-separated) makes the process
``os._exit(137)`` (as SIGKILL would) at a named point: ``journal-after-write`` (journal
written, nothing renamed), ``journal-mid-rename`` (after the first rename),
``journal-before-delete`` (renames and manifest done, journal still there).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re

from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

from pipelines import storage

LOG = logging.getLogger("news_ingest")
JOURNAL_DIR = "_journal"
FAULT_ENV = "NEWS_INGEST_FAULT"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class JournalError(RuntimeError):
    """A journal cannot be rolled forward (a file it lists is neither staged nor in place)."""


def _fault(point: str) -> None:
    """Test-only: die like SIGKILL at ``point`` when NEWS_INGEST_FAULT names it."""
    if point in os.environ.get(FAULT_ENV, "").split(","):
        os._exit(137)


def journal_path(output: str, commit_id: str) -> str:
    return storage.join(output, JOURNAL_DIR, f"{commit_id}.json")


def _to_entry(output: str, path: str) -> str:
    """Paths under ``output`` are kept relative to it, so a moved output still recovers."""
    prefix = output.rstrip("/") + "/"
    return "./" + path[len(prefix):] if path.startswith(prefix) else path


def _from_entry(output: str, path: str) -> str:
    return storage.join(output, path[2:]) if path.startswith("./") else path


def _move(staged: str, final: str) -> None:
    """Rename ``staged`` to ``final``; done already when only ``final`` exists."""
    if FileSystems.exists(staged):
        storage.publish_staged([staged], [final])
    elif not FileSystems.exists(final):
        raise JournalError(f"neither the staged file {staged} nor its final name {final} exists")


def _roll_forward(output: str, entry: dict, recovered: bool) -> None:
    for index, (staged, final) in enumerate(entry["renames"]):
        _move(_from_entry(output, staged), _from_entry(output, final))
        if index == 0:
            _fault("journal-mid-rename")
    manifest = dict(entry["manifest"])
    if recovered:
        manifest["recovered_at"] = dt.datetime.now(dt.timezone.utc).isoformat()
    storage.publish_bytes(storage.json_bytes(manifest), _from_entry(output, entry["manifest_path"]),
                          storage.join(output, JOURNAL_DIR, f"{entry['commit_id']}.manifest.tmp"))
    _fault("journal-before-delete")
    FileSystems.delete([journal_path(output, entry["commit_id"])])


def commit(output: str, commit_id: str, renames: list[tuple[str, str]], manifest: dict,
           manifest_path: str) -> None:
    """Make ``renames`` (staged path -> final path) and then ``manifest`` visible, as one commit.

    Idempotent: committing the same id again (a retried bundle) finds the renames done.
    """
    if not _ID_RE.match(commit_id):
        raise ValueError(f"commit id {commit_id!r} must be letters, digits, '.', '_' or '-'")
    entry = {
        "commit_id": commit_id,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "renames": [[_to_entry(output, staged), _to_entry(output, final)] for staged, final in renames],
        "manifest_path": _to_entry(output, manifest_path),
        "manifest": manifest,
    }
    path = journal_path(output, commit_id)
    storage.publish_bytes(storage.json_bytes(entry), path, path + ".tmp")
    _fault("journal-after-write")
    _roll_forward(output, entry, recovered=False)


def pending(output: str) -> list[dict]:
    """The journals under ``output`` not yet rolled forward, oldest first."""
    pattern = storage.join(output, JOURNAL_DIR, "*.json")
    [result] = FileSystems.match([pattern])
    entries = [storage.read_json(meta.path) for meta in sorted(result.metadata_list, key=lambda m: m.path)]
    return sorted(entries, key=lambda e: (e.get("created_at", ""), e["commit_id"]))


def _staging_ids(output: str) -> dict[str, list[str]]:
    """``{id: [files]}`` under ``<output>/_staging/``."""
    staging = storage.join(output, storage.STAGING_DIR)
    if not FileSystems.exists(staging) and "://" not in output:
        return {}
    [result] = FileSystems.match([storage.join(staging, "**")])
    prefix = staging.rstrip("/") + "/"
    ids: dict[str, list[str]] = {}
    for meta in result.metadata_list:
        relative = meta.path[len(prefix):] if meta.path.startswith(prefix) else meta.path
        ids.setdefault(relative.split("/", 1)[0], []).append(meta.path)
    if "://" not in output:  # empty local folders hold no file but are staging ids all the same
        for name in os.listdir(staging):
            ids.setdefault(name, [])
    return ids


def remove_staging(output: str, staging_id: str) -> bool:
    """Delete ``<output>/_staging/<staging_id>/`` unless a pending journal still needs a file in it."""
    folder = storage.join(output, storage.STAGING_DIR, staging_id)
    needed = folder.rstrip("/") + "/"
    if any(_from_entry(output, staged).startswith(needed)
           for entry in pending(output) for staged, _ in entry["renames"]):
        LOG.warning("kept %s: a journal still needs it (the next run completes that commit)", folder)
        return False
    files = _staging_ids(output).get(staging_id, [])
    if files and "://" in output:
        FileSystems.delete(files)
    storage.remove_tree(folder)
    return True


def recover(output: str) -> list[str]:
    """Roll forward every pending journal, then remove staging nothing needs; returns the commit ids."""
    recovered = []
    for entry in pending(output):
        _roll_forward(output, entry, recovered=True)
        LOG.warning("recovered commit %s of an interrupted run (%d files)", entry["commit_id"],
                    len(entry["renames"]))
        recovered.append(entry["commit_id"])
    [leftovers] = FileSystems.match([storage.join(output, JOURNAL_DIR, "*.tmp")])
    if leftovers.metadata_list:
        FileSystems.delete([meta.path for meta in leftovers.metadata_list])
    for staging_id in sorted(_staging_ids(output)):
        try:
            if remove_staging(output, staging_id):
                LOG.info("removed the uncommitted files of %s", staging_id)
        except (OSError, BeamIOError) as exc:
            LOG.warning("could not remove staged files of %s: %s", staging_id, exc)
    return recovered
