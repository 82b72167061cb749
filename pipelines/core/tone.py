"""Tone of a text: VADER's compound score averaged over its sentences.

In: a text and VADER's analyzer (:class:`~pipelines.core.nlp_models.Models` ``.sentiment``).
Out: a score in [-1, 1], or None for a text without sentences. Sentences, not the whole text:
a whole article scored at once saturates at -1 or 1.
"""

from __future__ import annotations

from pipelines.core.nlp_text import _PARAGRAPH_RE, _SENTENCE_END_RE, MAX_CHARS, _cut_point


def sentences(text: str) -> list[str]:
    """Sentences by punctuation (enough for tone; not a parser)."""
    result = []
    for para in _PARAGRAPH_RE.finditer(text):
        start = para.start()
        for match in _SENTENCE_END_RE.finditer(text, para.start(), para.end()):
            result.append(text[start:match.end()].strip())
            start = match.end()
        result.append(text[start:para.end()].strip())
    return [s for s in result if any(ch.isalpha() for ch in s)]


def tone(text: str, analyzer) -> float | None:
    """Mean VADER compound score of the sentences, in [-1, 1]; None when there are none."""
    if len(text) > MAX_CHARS:
        text = text[:_cut_point(text, MAX_CHARS)]
    scores = [analyzer.polarity_scores(s)["compound"] for s in sentences(text)]
    return round(sum(scores) / len(scores), 4) + 0.0 if scores else None  # + 0.0: no "-0.0"
