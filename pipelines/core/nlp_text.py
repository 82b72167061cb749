"""Text limits and splitting shared by the analysis modules (entities, quotes, keywords, tone).

In: a text. Out: where to cut it at a length limit, and the paragraph, sentence-end and word
patterns the modules split it with (punctuation rules: spaCy's parser is not loaded).
"""

from __future__ import annotations

import re

MAX_CHARS = 30_000  # ~5,000 words; the rest of a longer text is not analysed

_PARAGRAPH_RE = re.compile(r"[^\n]+")
_SENTENCE_END_RE = re.compile(r"[.!?][”\"’)]*\s+(?=[“\"(]?[A-Z0-9])")
_WORD_RE = re.compile(r"\w+(?:[’'\-]\w+)*")


def _cut_point(text: str, limit: int) -> int:
    """Where to cut ``text`` to at most ``limit`` characters: a paragraph break, else a sentence
    end, else a space in the last half; never inside a word (a name cut short is a wrong name)."""
    for separator, keep in (("\n\n", 0), (". ", 1), (" ", 0)):
        cut = text.rfind(separator, limit // 2, limit)
        if cut >= 0:
            return cut + keep
    return limit
