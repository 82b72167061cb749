"""Body text repair: mojibake and odd Unicode (ftfy), whitespace, broken mid-word hyphenation.

In: plain text (after HTML extraction). Out: the same text, repaired.

    body = clean_text(body)
    body, repairs = repair_hyphenation(body)   # repairs feeds a Beam counter

``clean_text`` is ftfy with the settings a news archive wants (curly quotes and
full-width CJK punctuation are kept as published; HTML entities are left to the
HTML extractor) followed by the same paragraph rules as ``text.normalize_text``,
except that the zero-width joiner and non-joiner survive: they are spelling in
Persian, Hindi and emoji sequences, not noise.

``repair_hyphenation`` joins ``f-ocused`` or ``Khal-ilzad`` and keeps ``follow-on``
or ``US-Taliban``. No maintained library does this (hyphenation libraries split
words, they do not judge a hyphen already in the text), so it is a small rule over
two kinds of evidence:

* in the document: the joined word appears elsewhere in the same text
  (``Khalilzad`` ... ``Khal-ilzad``), which also covers names no word list has;
* word frequency (wordfreq): the joined word is common (``JOINED_MIN_ZIPF``) and
  clearly more common than the two halves read as a compound
  (``JOINED_MARGIN_ZIPF``): ``the`` (7.7) vs ``t he`` (5.4) joins, ``setup`` (4.1)
  vs ``set up`` (5.5) stays ``set-up``.

A hyphen before a capital (``intra-Afghan``, ``US-Taliban``, ``mid-March``) is never
a broken word, nor is a chain of hyphens (``mother-in-law``) or a part with digits.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import ftfy
import wordfreq

from pipelines.core.text import ASCII_CONTROL_RE, CONTROL, INVISIBLE, drop_categories, paragraphs

_FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,  # html_to_text has unescaped markup already; a literal "&amp;" in prose stays
    uncurl_quotes=False,  # “ ” are what the publisher wrote, and the quote finder needs them
    fix_character_width=False,  # would turn Chinese "，" into ","
    normalization="NFC",
    explain=False,
)
_CLEAN_PASSES = 4

# ftfy.fix_text fixes a text line by line ("\n" ends a segment), each line on its own, and with
# this configuration a line of printable ASCII and tabs comes through every fix unchanged (no
# mojibake, control characters, line separators, escapes, ligatures or surrogates to fix, and NFC
# leaves it as it is). So only the other lines are handed to ftfy; a line longer than ftfy's
# segment limit is split by ftfy itself at the same places as in the whole text.
_FTFY_LINE_RE = re.compile(r"(?m)^[\t\x20-\x7e]*+[^\t\n\x20-\x7e][^\n]*+\n?")

# A pair: a word, a hyphen (ASCII or U+2010) with optional spaces after it (a line break that
# was joined into the paragraph), and a word; neither side part of a longer hyphen chain.
_HYPHEN = r"\-\u2010"
_PAIR_RE = re.compile(
    rf"(?<![\w{_HYPHEN}])([^\W\d_]+)[{_HYPHEN}]([^\S\n]*)([^\W\d_]+)(?![\w{_HYPHEN}])"
)
# _PAIR_RE is tried at every position of the text. :func:`_pairs` starts from the hyphens instead
# (a fast scan for two characters): the hyphen, after a letter, and the right word; then the left
# word, read backwards from the hyphen in the reversed text. A pair is fixed by its hyphen, so
# the two find the same pairs (tests/core/test_fast_equivalence.py).
_HYPHEN_RIGHT_RE = re.compile(rf"[{_HYPHEN}](?<=[^\W\d_][{_HYPHEN}])([^\S\n]*+)([^\W\d_]++)(?![\w{_HYPHEN}])")
_LEFT_REVERSED_RE = re.compile(rf"[^\W\d_]++(?![\w{_HYPHEN}])")
_WORD_RE = re.compile(r"[^\W\d_]+")
JOINED_MIN_ZIPF = 3.0  # ~1 per million words: a word wordfreq knows well
JOINED_MARGIN_ZIPF = 0.5  # the joined word must beat the compound reading by this (log10 units)
_NEEDS_TOKENIZER = {"zh", "ja", "ko"}
_MAX_PASSES = 3  # a join can make a joined word appear "elsewhere" for another pair


def _fix_line(match: re.Match) -> str:
    return ftfy.fix_text(match.group(), _FTFY_CONFIG)


def _fix_text(text: str) -> str:
    """``ftfy.fix_text(text, _FTFY_CONFIG)``, with the printable-ASCII lines passed over."""
    return _FTFY_LINE_RE.sub(_fix_line, text)


def _clean_once(text: str) -> str:
    # Unassigned, private-use, surrogate and format characters go before ftfy, which must see the
    # characters that end up side by side; C0/C1 controls stay for it (C1 controls are mojibake).
    text = drop_categories(text, INVISIBLE)
    text = _fix_text(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = drop_categories(text, CONTROL, "\n\t")
    text = unicodedata.normalize("NFC", text)  # after the deletions, which can join a letter and its mark
    return paragraphs(text)


def clean_text(text: str) -> str:
    """Repaired plain text: mojibake fixed, NFC, no control characters, single spaces,
    paragraphs separated by one blank line (single newlines inside a paragraph become spaces).

    Idempotent: repeated until nothing changes (ftfy fixes one layer of stacked mojibake per
    pass, and a deletion can put two characters side by side that read as mojibake).
    """
    if text.isascii():
        # No mojibake, no Unicode oddities: only control characters and white space to fix,
        # and one pass is final (deleting ASCII controls cannot create anything ftfy would fix).
        text = ASCII_CONTROL_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
        return paragraphs(text)
    for _ in range(_CLEAN_PASSES):
        cleaned = _clean_once(text)
        if cleaned == text:
            break
        text = cleaned
    return text


@functools.lru_cache(maxsize=65536)
def _zipf(word: str, language: str) -> float:
    return wordfreq.zipf_frequency(word, language)


@functools.cache
def _has_wordlist(language: str) -> bool:
    # Chinese, Japanese and Korean lists need tokenizers (jieba, MeCab) we do not install.
    return language in wordfreq.available_languages() and language not in _NEEDS_TOKENIZER


class _Words:
    """The case-folded words of a text, for ``in``; built only when a join is asked about.

    A word the text spells whole is a substring of the case-folded text (case folding maps each
    character on its own), so most questions are answered by one substring search.
    """

    __slots__ = ("_folded", "_text", "_words")

    def __init__(self, text: str) -> None:
        self._text = text
        self._folded: str | None = None
        self._words: set[str] | None = None

    def __contains__(self, word: str) -> bool:
        if self._folded is None:
            self._folded = self._text.casefold()
        if word not in self._folded:
            return False
        if self._words is None:
            self._words = {found.casefold() for found in set(_WORD_RE.findall(self._text))}
        return word in self._words


def _is_broken(left: str, right: str, spaced: bool, words: _Words, language: str) -> bool:
    if right[0].isupper():
        return False  # intra-Afghan, US-Taliban, mid-March: a compound, never a split word
    joined = (left + right).casefold()
    if joined in words:
        return True  # the document spells the word whole elsewhere
    if not _has_wordlist(language):
        return False
    joined_zipf = _zipf(joined, language)
    if joined_zipf < JOINED_MIN_ZIPF:
        return False
    if spaced:  # "interna- tional": a hyphen left dangling at a line end; a common word is enough
        return True
    compound_zipf = _zipf(f"{left.casefold()} {right.casefold()}", language)
    return joined_zipf >= compound_zipf + JOINED_MARGIN_ZIPF


def _pairs(text: str) -> list[tuple[int, int, str, str, str]]:
    """``(start, end, *groups)`` of every match of ``_PAIR_RE.finditer(text)``, in order."""
    pairs = []
    reversed_text = None
    for match in _HYPHEN_RIGHT_RE.finditer(text):
        if reversed_text is None:
            reversed_text = text[::-1]
        hyphen = match.start()
        left = _LEFT_REVERSED_RE.match(reversed_text, len(text) - hyphen)
        if left:
            start = hyphen - (left.end() - left.start())
            pairs.append((start, match.end(), text[start:hyphen], match.group(1), match.group(2)))
    return pairs


def _repair_pass(text: str, language: str) -> tuple[str, int]:
    pairs = _pairs(text)
    if not pairs:
        return text, 0
    words = _Words(text)
    decisions: dict[tuple[str, str, bool], bool] = {}
    pieces: list[str] = []
    repairs = 0
    last = 0
    for start, end, left, space, right in pairs:
        key = (left, right, bool(space))
        if key not in decisions:
            decisions[key] = _is_broken(left, right, bool(space), words, language)
        if decisions[key]:
            pieces.append(text[last:start])
            pieces.append(left + right)
            last = end
            repairs += 1
    pieces.append(text[last:])
    return "".join(pieces), repairs


def repair_hyphenation(text: str, language: str = "en") -> tuple[str, int]:
    """``(text with broken mid-word hyphens joined, number of joins)``.

    ``language`` picks the wordfreq list (ISO 639-1); for a language wordfreq does not
    know only in-document evidence is used. Runs to a fixed point, so it is idempotent.
    """
    total = 0
    for _ in range(_MAX_PASSES):
        text, repairs = _repair_pass(text, language)
        total += repairs
        if not repairs:
            break
    return text, total
