"""Atomic file publication through Beam's FileSystems (local paths, gs://, s3://...).

A file is written completely under ``<output>/_staging/<run_id>/`` and then
renamed to its final name, so readers listing ``articles/`` never see a
partial file. A run's data files are renamed together by its commit
(``pipelines/journal.py``); :func:`publish_bytes` is for single files (manifests).
On a local filesystem the rename is atomic; on object stores it is a copy and a
delete, and readers should trust the files listed in committed run manifests.

Durability (local paths only; object stores make a finished upload durable themselves): every
file written here is fsynced before anything renames it, and after renames the directories
that gained a name (and those created for them) are fsynced, once per directory, so that a
commit survives a power cut or a kernel crash, not only a killed process.
"""

from __future__ import annotations

import errno
import json
import os
from typing import Any, Iterable

from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

STAGING_DIR = "_staging"


def join(base: str, *parts: str) -> str:
    return FileSystems.join(base, *parts)


def local_path(path: str) -> str | None:
    """The OS path of a local ``path`` (plain or ``file://``), None for object stores."""
    if path.startswith("file://"):
        return path[len("file://"):]
    return None if "://" in path else path


def fsync_file(path: str) -> None:
    """Flush a local file's data to the disk (nothing for object stores)."""
    local = local_path(path)
    if local is None:
        return
    fd = os.open(local, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dirs(paths: Iterable[str]) -> None:
    """Make the names in local directories ``paths`` durable (each directory once)."""
    for folder in sorted({p for p in (local_path(path) for path in paths) if p}):
        try:
            fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except FileNotFoundError:
            continue
        try:
            os.fsync(fd)
        except OSError as exc:  # some filesystems refuse fsync on a directory: their renames are what they are
            if exc.errno not in (errno.EINVAL, errno.EBADF):
                raise
        finally:
            os.close(fd)


def parent_of(path: str) -> str:
    return FileSystems.split(path)[0]


def _ensure_parent(path: str) -> None:
    parent = parent_of(path)
    if parent and not FileSystems.exists(parent):
        local = local_path(parent)
        created = []
        if local is not None:  # the directories about to be made: their names must be made durable too
            folder = local.rstrip("/")
            while folder and not os.path.exists(folder):
                created.append(folder)
                folder = os.path.dirname(folder)
        try:
            FileSystems.mkdirs(parent)
        except (OSError, BeamIOError):
            if not FileSystems.exists(parent):  # another worker may have made it first
                raise
        fsync_dirs(os.path.dirname(folder) for folder in created)


def write_bytes(data: bytes, path: str) -> None:
    """Write ``data`` to ``path`` (replacing it) and fsync it (local paths); for staged files
    nobody reads before they are renamed."""
    _ensure_parent(path)
    with FileSystems.create(path) as handle:
        handle.write(data)
    fsync_file(path)


def publish_bytes(data: bytes, final_path: str, staging_path: str) -> None:
    """Write ``data`` to ``staging_path`` and rename it to ``final_path`` (replacing it); durable
    once it returns (local paths: the file fsynced before the rename, its directory after)."""
    write_bytes(data, staging_path)
    publish_staged([staging_path], [final_path])


def publish_staged(staging_paths: list[str], final_paths: list[str], sync: bool = True) -> None:
    """Rename completely written staged files to their final names; with ``sync`` (local paths)
    fsync the directories that gained a name, once each. A caller renaming many files one call at
    a time passes ``sync=False`` and calls :func:`fsync_dirs` on the parents once at the end."""
    for final_path in final_paths:
        _ensure_parent(final_path)
    if staging_paths:
        FileSystems.rename(list(staging_paths), list(final_paths))
        if sync:
            fsync_dirs(parent_of(path) for path in final_paths)


def json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n").encode()


def read_json(path: str) -> Any:
    with FileSystems.open(path) as handle:
        return json.loads(handle.read().decode("utf-8"))


def remove_tree(path: str) -> None:
    """Delete a directory (or prefix) and what is under it, if it exists."""
    if FileSystems.exists(path):
        FileSystems.delete([path])
