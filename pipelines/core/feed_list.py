"""The feed list: ``feeds.yaml`` -> :class:`FeedSource` entries.

Format::

    feeds:
      - feeds/world.rss                 # local path, relative to this file
      - url: https://example.com/rss    # or a mapping with url and optional name
        name: Example News

Only http(s) URLs and local paths are accepted; other schemes (``file://``,
``ftp://`` ...) are refused, so a feed list can never make the pipeline read
something its author did not mean.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import yaml


class FeedListError(ValueError):
    """The feed list cannot be used; the message says why in one line."""


@dataclass(frozen=True)
class FeedSource:
    location: str  # absolute local path or http(s) URL
    name: str | None = None

    @property
    def is_remote(self) -> bool:
        return self.location.lower().startswith(("http://", "https://"))


def _resolve(entry: str, base_dir: str, where: str) -> str:
    entry = entry.strip()
    if not entry:
        raise FeedListError(f"{where}: empty feed entry")
    parts = urlsplit(entry)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise FeedListError(f"{where}: URL has no host: {entry!r}")
        return parts._replace(scheme=scheme).geturl()
    if scheme and len(scheme) > 1:  # one letter is a Windows drive, not a scheme
        raise FeedListError(f"{where}: scheme {scheme!r} is not allowed (use http(s) or a local path)")
    return os.path.normpath(os.path.join(base_dir, os.path.expanduser(entry)))


def parse_feed_list(text: str, base_dir: str, name: str = "feed list") -> list[FeedSource]:
    """Parse feed-list YAML; relative paths resolve against ``base_dir``. Duplicates are dropped."""
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FeedListError(f"{name} is not valid YAML: {' '.join(str(exc).split())}") from None
    if loaded is None:
        return []
    if not isinstance(loaded, dict) or "feeds" not in loaded:
        raise FeedListError(f"{name} must be a mapping with a 'feeds:' list")
    entries = loaded["feeds"] or []
    if not isinstance(entries, list):
        raise FeedListError(f"{name}: 'feeds' must be a list")
    sources: dict[str, FeedSource] = {}
    for index, entry in enumerate(entries, start=1):
        where = f"{name} entry {index}"
        if isinstance(entry, str):
            source = FeedSource(_resolve(entry, base_dir, where))
        elif isinstance(entry, dict) and isinstance(entry.get("url"), str):
            extra = sorted(set(entry) - {"url", "name"})
            if extra:
                raise FeedListError(f"{where}: unknown keys {extra} (allowed: url, name)")
            label = entry.get("name")
            source = FeedSource(_resolve(entry["url"], base_dir, where),
                                str(label) if label is not None else None)
        else:
            raise FeedListError(f"{where}: expected a path, a URL or a mapping with 'url'")
        sources.setdefault(source.location, source)
    return list(sources.values())


def load_feed_list(path: str) -> list[FeedSource]:
    """Read and parse the feed list at ``path``. Raises :class:`FeedListError`."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise FeedListError(f"feed list not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FeedListError(f"cannot read feed list {path}: {exc}") from None
    return parse_feed_list(text, os.path.dirname(os.path.abspath(path)), name=path)
