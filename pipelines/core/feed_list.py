"""The feed list: ``feeds.yaml`` or an OPML file -> :class:`FeedSource` entries.

YAML format::

    feeds:
      - feeds/world.rss                 # local path, relative to this file
      - url: https://example.com/rss    # or a mapping with url and optional name
        name: Example News

OPML (what feed readers export): every ``<outline>`` with an ``xmlUrl``, at any depth of
nesting (folders are outlines without one), named by its ``title`` (else its ``text``)::

    <opml version="2.0"><body>
      <outline text="World"><outline text="BBC" title="BBC World" xmlUrl="https://ex.com/rss"/></outline>
    </body></opml>

:func:`load_feed_list` reads OPML when the file ends in ``.opml`` or its content starts with
``<``; otherwise YAML. Parsed with the standard library's ElementTree: it fetches no external
entity and its expat (>= 2.4) bounds entity expansion, which is enough for a file the operator
chose (no new dependency for defusedxml).

Only http(s) URLs and local paths are accepted; other schemes (``file://``,
``ftp://`` ...) are refused, so a feed list can never make the pipeline read
something its author did not mean. Duplicates are dropped, the first one wins.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from urllib.parse import urlsplit

import yaml

OPML_EXTENSION = ".opml"


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
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in entry):  # NUL, newlines: no path or URL has them
        raise FeedListError(f"{where}: feed entry contains control characters")
    parts = urlsplit(entry)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise FeedListError(f"{where}: URL has no host: {entry!r}")
        return parts._replace(scheme=scheme).geturl()
    if scheme and len(scheme) > 1:  # one letter is a Windows drive, not a scheme
        raise FeedListError(f"{where}: scheme {scheme!r} is not allowed (use http(s) or a local path)")
    return os.path.normpath(os.path.join(base_dir, os.path.expanduser(entry)))


def _local_name(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _looks_like_xml(text: str | bytes) -> bool:
    if isinstance(text, bytes):
        if text.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 byte-order marks
            return True
        return text.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")
    return text.lstrip("\ufeff \t\r\n").startswith("<")


def parse_opml(data: str | bytes, base_dir: str, name: str = "feed list") -> list[FeedSource]:
    """Parse an OPML subscription list; relative ``xmlUrl`` paths resolve against ``base_dir``."""
    try:
        root = ElementTree.fromstring(data)
    except (ElementTree.ParseError, ValueError, LookupError) as exc:  # the last two: bad encodings
        raise FeedListError(f"{name} is not valid OPML: {' '.join(str(exc).split())}") from None
    if _local_name(root.tag) != "opml":
        raise FeedListError(f"{name}: root element is <{_local_name(root.tag)}>, expected <opml>")
    body = next((child for child in root if _local_name(child.tag) == "body"), None)
    if body is None:
        raise FeedListError(f"{name}: OPML without a <body>")
    parents = {child: parent for parent in body.iter() for child in parent}
    sources: dict[str, FeedSource] = {}
    index = 0
    for outline in body.iter():  # document order, any depth; no recursion on deep nesting
        if _local_name(outline.tag) != "outline":
            continue
        attributes = {key.lower(): value for key, value in outline.attrib.items()}
        if "xmlurl" not in attributes:
            continue  # a folder
        index += 1
        trail: list[str] = []
        node: ElementTree.Element | None = outline
        while node is not None and node is not body:
            trail.append(" ".join((node.get("title") or node.get("text") or "").split())[:60] or "?")
            node = parents.get(node)
        where = f"{name} outline {index} ({' > '.join(reversed(trail))})"
        label = " ".join((attributes.get("title") or attributes.get("text") or "").split()) or None
        source = FeedSource(_resolve(attributes["xmlurl"], base_dir, where), label)
        sources.setdefault(source.location, source)
    return list(sources.values())


def parse_feed_list(text: str, base_dir: str, name: str = "feed list") -> list[FeedSource]:
    """Parse a feed list (YAML, or OPML when ``text`` starts with ``<``); relative paths resolve
    against ``base_dir``. Duplicates are dropped."""
    if _looks_like_xml(text):
        return parse_opml(text, base_dir, name)
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
    """Read and parse the feed list at ``path``: OPML by extension or content, else YAML.

    Raises :class:`FeedListError`. OPML is parsed from bytes, so its XML declaration decides
    the encoding; YAML must be UTF-8.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise FeedListError(f"feed list not found: {path}") from None
    except OSError as exc:
        raise FeedListError(f"cannot read feed list {path}: {exc}") from None
    base_dir = os.path.dirname(os.path.abspath(path))
    if path.lower().endswith(OPML_EXTENSION) or _looks_like_xml(data):
        return parse_opml(data, base_dir, name=path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FeedListError(f"cannot read feed list {path}: {exc}") from None
    return parse_feed_list(text, base_dir, name=path)
