"""A per-user pickle cache for tables that are slow to build (the gazetteer, the language model).

Kept in ``$NEWS_INGEST_CACHE`` or ``~/.cache/news-ingest``; each file is named by a digest of
what it was built from, so a new library version or source never reads a stale file. A
missing, corrupt, foreign or unwritable cache only costs the caller the build.

    table = cached("gazetteer", digest, build, valid=lambda t: isinstance(t, Gazetteer))
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
from typing import Any, Callable

LOG = logging.getLogger("news_ingest")


def cache_dir() -> str:
    return os.environ.get("NEWS_INGEST_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "news-ingest")


def cached(name: str, digest: str, build: Callable[[], Any], valid: Callable[[Any], bool]) -> Any:
    """The object cached as ``<cache_dir>/<name>-<digest>.pickle`` when ``valid`` accepts it,
    else ``build()``, written there atomically (a temporary file renamed) for the next process."""
    path = os.path.join(cache_dir(), f"{name}-{digest}.pickle")
    try:
        with open(path, "rb") as handle:
            value = pickle.load(handle)
        if valid(value):
            return value
    except Exception:  # noqa: BLE001 - missing, truncated or foreign: build it again
        pass
    value = build()
    temporary = None
    try:  # a read-only home or a full disk only costs the next process the build
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=os.path.dirname(path), delete=False, suffix=".tmp") as handle:
            temporary = handle.name
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
    except Exception as exc:  # noqa: BLE001 - a cache that cannot be written only costs the next build
        LOG.debug("%s cache not written: %s", name, exc)
        if temporary and os.path.exists(temporary):
            os.unlink(temporary)
    return value
