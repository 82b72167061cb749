"""Atomic file publication through Beam's FileSystems (local paths, gs://, s3://...).

A file is written completely under ``<output>/_staging/<run_id>/`` and then
renamed to its final name, so readers listing ``articles/`` never see a
partial file. A run's data files are renamed together by its commit
(``pipelines/journal.py``); :func:`publish_bytes` is for single files (manifests).
On a local filesystem the rename is atomic; on object stores it is a copy and a
delete, and readers should trust the files listed in committed run manifests.
"""

from __future__ import annotations

import json
from typing import Any

from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

STAGING_DIR = "_staging"


def join(base: str, *parts: str) -> str:
    return FileSystems.join(base, *parts)


def _ensure_parent(path: str) -> None:
    parent = FileSystems.split(path)[0]
    if parent and not FileSystems.exists(parent):
        try:
            FileSystems.mkdirs(parent)
        except (IOError, BeamIOError):
            if not FileSystems.exists(parent):  # another worker may have made it first
                raise


def write_bytes(data: bytes, path: str) -> None:
    """Write ``data`` to ``path`` (replacing it); for staged files nobody reads before they are renamed."""
    _ensure_parent(path)
    with FileSystems.create(path) as handle:
        handle.write(data)


def publish_bytes(data: bytes, final_path: str, staging_path: str) -> None:
    """Write ``data`` to ``staging_path`` and rename it to ``final_path`` (replacing it)."""
    write_bytes(data, staging_path)
    publish_staged([staging_path], [final_path])


def publish_staged(staging_paths: list[str], final_paths: list[str]) -> None:
    """Rename completely written staged files to their final names."""
    for final_path in final_paths:
        _ensure_parent(final_path)
    if staging_paths:
        FileSystems.rename(list(staging_paths), list(final_paths))


def json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n").encode()


def read_json(path: str) -> Any:
    with FileSystems.open(path) as handle:
        return json.loads(handle.read().decode("utf-8"))


def remove_tree(path: str) -> None:
    """Delete a directory (or prefix) and what is under it, if it exists."""
    if FileSystems.exists(path):
        FileSystems.delete([path])
