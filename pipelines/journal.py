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

Durability: the journal is fsynced before it is renamed into place (so a journal that does not
parse can only be one whose data never reached the disk: no rename of it can have started; it is
moved to ``_journal/_failed/`` with an error and the rest goes on), and the directories of the
renamed files are fsynced before the manifest is written (``pipelines/storage.py``; local paths).

A manifest once published is never replaced by another commit: :func:`commit` refuses a
``manifest_path`` holding the published manifest of another attempt (same run id reused), and
:func:`check_run_id_unused` is what a run calls, under the lock after :func:`recover`, before
it writes anything.

Fault injection, for tests only: ``NEWS_INGEST_FAULT`` (comma-separated) makes the process
``os._exit(137)`` (as SIGKILL would) at a named point: ``journal-after-write`` (journal
written, nothing renamed), ``journal-mid-rename`` (after the first rename),
``journal-before-delete`` (renames and manifest done, journal still there). ``<point>:SIGINT``
or ``<point>:SIGTERM`` sends the process that signal there instead (a stop request inside the commit),
``<point>:SIGTERM:group`` its whole process group (as systemd and Ctrl-C do).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import signal

from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

from pipelines import signals, storage

LOG = logging.getLogger("news_ingest")
JOURNAL_DIR = "_journal"
FAULT_ENV = "NEWS_INGEST_FAULT"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class JournalError(RuntimeError):
    """A journal cannot be rolled forward (a file it lists is neither staged nor in place)."""


class RunIdUsed(ValueError):
    """The run id names a run that already published something: it must not be written again."""


FAILED_DIR = "_failed"
COMMITTED = ("ok", "quarantined")


def is_published(manifest: dict) -> bool:
    """Did the run of ``manifest`` publish files (status ok/quarantined, ``published`` not false)?"""
    return manifest.get("status") in COMMITTED and manifest.get("published") is not False


def _existing_manifest(path: str) -> dict | None:
    """The manifest at ``path``; None when there is none; ``{"status": "unreadable"}`` when it does
    not parse (counted as published: what it listed cannot be known)."""
    if not FileSystems.exists(path):
        return None
    try:
        manifest = storage.read_json(path)
    except (OSError, BeamIOError, ValueError):
        return {"status": "unreadable", "error": f"{path} is unreadable"}
    return manifest if isinstance(manifest, dict) else {"status": "unreadable"}


def _published(manifest: dict | None) -> bool:
    return manifest is not None and (manifest.get("status") == "unreadable" or is_published(manifest))


def published_manifest(path: str) -> dict | None:
    """The manifest at ``path`` when it says its files were published (or cannot be read), else None."""
    manifest = _existing_manifest(path)
    return manifest if _published(manifest) else None


def check_run_id_unused(output: str, run_id: str) -> None:
    """Raise :class:`RunIdUsed` when ``run_id`` names a run that published files under ``output``:
    ``_runs/<run_id>.json`` (status ok or quarantined and ``published`` not false, or unreadable) or a
    published streaming window ``_runs/<run_id>/window-*.json``. A run id whose manifests are all
    ``failed``/unpublished may be used again (a retry: nothing of it was published).

    Call it holding the output lock, after :func:`recover` (which may publish that very manifest)."""
    manifests = [storage.join(output, "_runs", f"{run_id}.json")]
    [windows] = FileSystems.match([storage.join(output, "_runs", run_id, "*.json")])
    manifests += sorted(meta.path for meta in windows.metadata_list)
    for path in manifests:
        manifest = _existing_manifest(path)
        if _published(manifest):
            what = "is unreadable" if manifest.get("status") == "unreadable" else \
                f"published its files (status {manifest.get('status')}, {_to_entry(output, path)[2:]})"
            raise RunIdUsed(f"run id {run_id!r} is already used: that run {what} in {output}; "
                            "run ids must be unique (omit --run-id for a fresh one)")


def _same_attempt(old: dict, new: dict) -> bool:
    """Is ``old`` a manifest of the same attempt as ``new`` (a retried bundle), not an earlier run?"""
    return all(old.get(key) == new.get(key) for key in ("run_id", "started_at", "window_start"))


def _fault(point: str) -> None:
    """Test-only: die like SIGKILL at ``point`` when NEWS_INGEST_FAULT names it (``point:SIGTERM``: send that)."""
    for fault in os.environ.get(FAULT_ENV, "").split(","):
        if fault == point:
            os._exit(137)
        if fault.startswith(point + ":SIG"):
            _, name, *group = fault.split(":")
            if group:
                os.killpg(os.getpgrp(), signal.Signals[name])
            else:
                os.kill(os.getpid(), signal.Signals[name])


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
        storage.publish_staged([staged], [final], sync=False)  # _roll_forward syncs each folder once
    elif not FileSystems.exists(final):
        raise JournalError(f"neither the staged file {staged} nor its final name {final} exists")


def _roll_forward(output: str, entry: dict, recovered: bool) -> None:
    parents = set()
    for index, (staged, final) in enumerate(entry["renames"]):
        final = _from_entry(output, final)
        _move(_from_entry(output, staged), final)
        parents.add(storage.parent_of(final))
        if index == 0:
            _fault("journal-mid-rename")
    storage.fsync_dirs(parents)  # every rename durable before the manifest says the commit is done
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
    Nothing is published (no journal written) when a staged file is missing (and its final
    name not there yet), raising :class:`JournalError`, or when ``manifest_path`` holds the
    published manifest of another attempt (a reused run id), raising :class:`RunIdUsed`.
    """
    if not _ID_RE.match(commit_id):
        raise ValueError(f"commit id {commit_id!r} must be letters, digits, '.', '_' or '-'")
    existing = _existing_manifest(manifest_path)
    if _published(existing) and not _same_attempt(existing, manifest):
        raise RunIdUsed(f"commit {commit_id}: {manifest_path} is the published manifest of an earlier run "
                        f"(started {existing.get('started_at')}); refusing to replace it (run ids must be unique)")
    missing = [staged for staged, final in renames if not FileSystems.exists(staged) and not FileSystems.exists(final)]
    if missing:
        raise JournalError(f"commit {commit_id}: {len(missing)} staged file(s) missing, e.g. {missing[0]}; "
                           "nothing was published")
    with signals.held():  # a stop request waits for the commit to end (none starts after one)
        # the staged names must survive a power cut once the journal lists them (files: fsynced when written)
        storage.fsync_dirs({storage.parent_of(staged) for staged, _ in renames})
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


def _set_aside(output: str, path: str, reason: str) -> None:
    """Move an unusable journal to ``_journal/_failed/`` (kept for a look, out of every later run's way)."""
    name = FileSystems.split(path)[1]
    target = storage.join(output, JOURNAL_DIR, FAILED_DIR, name)
    storage.publish_staged([path], [target])
    LOG.error("journal %s/%s %s: moved to %s/%s/ (a journal is fsynced before it is renamed into place, so "
              "none of its renames can have started); the run goes on", JOURNAL_DIR, name, reason,
              JOURNAL_DIR, FAILED_DIR)


def pending(output: str) -> list[dict]:
    """The journals under ``output`` not yet rolled forward, oldest first. One that does not
    parse (empty, cut short: its data never reached the disk) is set aside in ``_journal/_failed/``."""
    pattern = storage.join(output, JOURNAL_DIR, "*.json")
    [result] = FileSystems.match([pattern])
    entries = []
    for meta in sorted(result.metadata_list, key=lambda m: m.path):
        try:
            entry = storage.read_json(meta.path)
            if not isinstance(entry, dict) or not isinstance(entry.get("commit_id"), str) \
                    or not isinstance(entry.get("renames"), list) or "manifest_path" not in entry:
                raise ValueError("not a journal entry")
        except (UnicodeDecodeError, ValueError) as exc:
            _set_aside(output, meta.path, "is empty" if meta.size_in_bytes == 0 else f"does not parse ({exc})")
            continue
        entries.append(entry)
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
        try:
            with signals.held():
                _roll_forward(output, entry, recovered=True)
        except JournalError as exc:
            path = journal_path(output, entry["commit_id"])
            raise JournalError(
                f"cannot complete the interrupted commit {entry['commit_id']} ({path}): {exc}; move {path} to "
                f"{storage.join(output, JOURNAL_DIR, FAILED_DIR)}/ to continue (files of that commit may be "
                "partly published; its manifest was not written)") from None
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
