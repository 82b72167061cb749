"""Text helpers: HTML to text, whitespace, word counts and the content hash.

HTML is parsed with the standard library's ``html.parser`` (tolerant of broken
markup, no extra dependency); it keeps block structure as paragraphs, which is
all the skeleton needs before full-text extraction arrives.
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
import unicodedata
from html.parser import HTMLParser

_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "section", "article", "header", "footer", "table", "tr",
    "figure", "figcaption",
}
_SKIP_TAGS = {"script", "style", "noscript", "template", "head"}
# Possessive (``++``, ``*+``): nothing follows, so backtracking could never find another match;
# it only cost time. On ASCII text the ASCII-only compile finds the same words (\w is [A-Za-z0-9_]
# there either way) without Unicode lookups.
_WORD_RE = re.compile(r"\w++(?:[’'\-]\w++)*+", re.UNICODE)
_ASCII_WORD_RE = re.compile(_WORD_RE.pattern, re.ASCII)
_BLANKS_RE = re.compile(r"\n\s*\n+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment, one paragraph per block element."""
    if "<" not in markup:
        return normalize_text(html.unescape(markup))
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return normalize_text("".join(parser.parts))


# Format characters (category Cf) that carry spelling: ZWNJ, ZWJ, and emoji tag characters.
KEPT_FORMAT = {"\u200c", "\u200d"} | {chr(c) for c in range(0xE0020, 0xE0080)}


_NOT_PLAIN_ASCII_RE = re.compile(r"[^\x09\x0a\x0d\x20-\x7e]+")
_TABLE_LIMIT = 1 << 16  # code points remembered per table; past that, looked up every time


class _CategoryTable(dict):
    """A ``str.translate`` table: code point -> itself (kept) or None (dropped), filled on first sight."""

    def __init__(self, categories: tuple[str, ...], keep: str) -> None:
        super().__init__()
        self.categories = frozenset(categories)
        self.keep = keep

    def __missing__(self, code: int) -> int | None:
        ch = chr(code)
        kept = ch in self.keep or ch in KEPT_FORMAT or unicodedata.category(ch) not in self.categories
        value = code if kept else None
        if len(self) < _TABLE_LIMIT:
            self[code] = value
        return value


@functools.lru_cache(maxsize=64)
def _category_table(categories: tuple[str, ...], keep: str) -> _CategoryTable:
    return _CategoryTable(categories, keep)


def drop_categories(text: str, categories: tuple[str, ...], keep: str = "") -> str:
    """``text`` without the characters of the Unicode ``categories`` (but ``keep`` and KEPT_FORMAT).

    Only runs of characters outside printable ASCII are looked up (plain text costs one regex
    scan), each run with one ``str.translate`` over a table that remembers every code point's
    verdict.
    """
    table = _category_table(tuple(categories), keep)
    return _NOT_PLAIN_ASCII_RE.sub(lambda match: match.group().translate(table), text)


INVISIBLE = ("Cn", "Co", "Cs", "Cf")
CONTROL = ("Cc", "Cf", "Cn", "Co", "Cs")
ASCII_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def paragraphs(text: str) -> str:
    """Single spaces inside paragraphs (single newlines too), one blank line between them."""
    # str.split() and the regex \s agree on what white space is (Py_UNICODE_ISSPACE), so splitting a
    # paragraph on it and joining with one space is "newlines to spaces, runs to one space, strip".
    return "\n\n".join(filter(None, map(" ".join, map(str.split, _BLANKS_RE.split(text)))))


def normalize_text(text: str) -> str:
    """NFC, no control characters, single spaces, paragraphs separated by one blank line.

    Single newlines inside a paragraph become spaces (hard-wrapped text). ZWJ and ZWNJ
    stay: they are spelling (Persian, emoji sequences), not noise.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii():
        return paragraphs(ASCII_CONTROL_RE.sub("", text))
    text = drop_categories(text, CONTROL, "\n\t")
    text = unicodedata.normalize("NFC", text)  # after the deletions, which can join a letter and its mark
    return paragraphs(text)


def normalize_line(text: str) -> str:
    """A single line of text: ``normalize_text`` with paragraphs joined by spaces."""
    return normalize_text(text).replace("\n\n", " ")


def _words(text: str) -> list[str]:
    return (_ASCII_WORD_RE if isinstance(text, str) and text.isascii() else _WORD_RE).findall(text)


def word_count(text: str) -> int:
    """Number of words: runs of letters/digits, with inner apostrophes and hyphens."""
    return len(_words(text))


def content_fingerprint(text: str) -> str:
    """Text reduced to what survives copy/paste: case-folded words, no punctuation.

    Hyphens inside words are dropped, so an OCR-style break ("gov-ernment") and the
    whole word give the same fingerprint, and a compound ("follow-on") is one word
    the same way in every copy.
    """
    words = _words(unicodedata.normalize("NFKC", text).casefold())
    return " ".join(words).replace("-", "")  # words hold no spaces: the same as per word


def fingerprint_words(text: str) -> list[str]:
    """The words of :func:`content_fingerprint` (its ``split()``, without building the string)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    words = _words(folded)
    if "-" in folded and words:  # words hold no white space, and none is only hyphens
        words = " ".join(words).replace("-", "").split(" ")
    return words


def content_hash(text: str) -> str:
    """sha256 (hex) of :func:`content_fingerprint`."""
    return hashlib.sha256(content_fingerprint(text).encode("utf-8")).hexdigest()
