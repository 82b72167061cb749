"""Direct quotations and who said them, in an English text with its entity mentions.

In: the text, its :class:`~pipelines.core.entities.Mention` s and the short -> full name map.
Out: :class:`Quote` s (text, speaker) in text order, precision before recall:

A quotation with a named speaker right after it (``," said Jawed Faisal``, ``," Khalilzad
tweeted``) or before it in the same sentence (``Mohib in a tweet on Sunday said "...``,
``According to Khalilzad, ... "...``, ``Mikati said talks were "going well."`` when the
sentence names no one else), or with ``he``/``she`` + a speech verb, resolved to the nearest
person named before it (same or previous paragraph, not inside a quote) when that person's
sentence names no one else. A quote right after an attributed one in the same paragraph
continues it. Anything else is left out rather than given a guessed or null speaker.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from pipelines.core.entities import _HONORIFICS, _SPEECH_VERBS, _TITLE_HEADS, _TITLE_MODIFIERS, _VERB_RE, Mention
from pipelines.core.nlp_text import _PARAGRAPH_RE, _SENTENCE_END_RE, _WORD_RE

MIN_QUOTE_WORDS = 3
MAX_ATTRIBUTION_GAP = 80  # characters between a speaker's name and the speech verb before a quote
_AFTER_VERB_RE = re.compile(rf"\s*,?\s*(?:{_SPEECH_VERBS})\s+")
_AFTER_PRONOUN_RE = re.compile(
    rf"\s*,?\s*(?:(?:he|she)\s+(?:{_SPEECH_VERBS})\b|(?:{_SPEECH_VERBS})\s+(?:he|she)\b)")
_BEFORE_VERB_RE = re.compile(rf"\b(?:{_SPEECH_VERBS})\s*[:,]?\s*$")
_ACCORDING_RE = re.compile(r"\b[Aa]ccording to\s+$")
_QUOTE_RE = re.compile(r"“([^“”\n]+)”|\"([^\"\n]+)\"")


class Quote(NamedTuple):
    text: str
    speaker: str


def _paragraph_bounds(text: str) -> list[tuple[int, int]]:
    return [(p.start(), p.end()) for p in _PARAGRAPH_RE.finditer(text)]


def _sentence_start(text: str, para_start: int, position: int) -> int:
    start = para_start
    for match in _SENTENCE_END_RE.finditer(text, para_start, position):
        start = match.end()
    return start


def _person_at(text: str, persons: list[Mention], position: int) -> Mention | None:
    """The person named at ``position``, perhaps after a title (``said Senator Mike Crapo``)."""
    first = next((m for m in persons if m.start >= position), None)
    if first is None or first.start - position > 40:
        return None
    between = [w.casefold().rstrip(".,") for w in text[position:first.start].split()]
    titles = _TITLE_HEADS | _TITLE_MODIFIERS | _HONORIFICS
    return first if all(w in titles for w in between) else None


def _resolve_pronoun(text: str, persons: list[Mention], quote_spans: list[tuple[int, int]],
                     paragraphs: list[tuple[int, int]], para_index: int, position: int) -> Mention | None:
    """The nearest person named before ``position`` (this or the previous paragraph, not inside
    a quote), when the sentence naming them names no one else."""
    window_start = paragraphs[max(0, para_index - 1)][0]
    before = [m for m in persons if window_start <= m.start < position
              and not any(s <= m.start < e for s, e in quote_spans)]
    if not before:
        return None
    nearest = before[-1]
    para_start = next(s for s, e in paragraphs if s <= nearest.start < e)
    sent_start = _sentence_start(text, para_start, nearest.start)
    sent_end_match = _SENTENCE_END_RE.search(text, nearest.end)
    sent_end = sent_end_match.start() if sent_end_match else len(text)
    same_sentence = {m.name for m in persons if sent_start <= m.start < sent_end}
    return nearest if len(same_sentence) == 1 else None


def extract_quotes(text: str, mentions: list[Mention], canonical: dict[str, str]) -> list[Quote]:
    """Direct quotations with an attributed speaker (see the module docstring for the rules)."""
    persons = sorted((m for m in mentions if m.label == "PERSON"), key=lambda m: m.start)
    paragraphs = _paragraph_bounds(text)
    found = [(m.start(), m.end(), m.group(1) or m.group(2)) for m in _QUOTE_RE.finditer(text)]
    quote_spans = [(s, e) for s, e, _ in found]
    quotes: list[Quote] = []
    previous: tuple[int, str] | None = None  # (end of the last attributed quote, its speaker)
    for start, end, inner in found:
        body = inner.strip().rstrip(",").strip()
        if len(_WORD_RE.findall(body)) < MIN_QUOTE_WORDS:
            continue
        para_index = next(i for i, (s, e) in enumerate(paragraphs) if s <= start < e)
        para_start, para_end = paragraphs[para_index]
        speaker: Mention | None = None
        after = text[end:para_end]
        if verb := _AFTER_VERB_RE.match(after):
            speaker = _person_at(text, persons, end + verb.end())
        if speaker is None:
            lead = len(after) - len(after.lstrip(" ,"))
            named = _person_at(text, persons, end + lead)
            if named and _VERB_RE.match(text[named.end:named.end + 40].lstrip()):
                speaker = named
        if speaker is None and _AFTER_PRONOUN_RE.match(after):
            speaker = _resolve_pronoun(text, persons, quote_spans, paragraphs, para_index, start)
        if speaker is None:
            sent_start = _sentence_start(text, para_start, start)
            lead_in = text[sent_start:start]
            in_sentence = [m for m in persons if sent_start <= m.start and m.end <= start
                           and not any(s <= m.start < e for s, e in quote_spans)]
            if in_sentence and (before := _BEFORE_VERB_RE.search(lead_in)):
                verb_at = sent_start + before.start()
                last = in_sentence[-1]
                if last.end <= verb_at and verb_at - last.end <= MAX_ATTRIBUTION_GAP:
                    speaker = last
            if speaker is None:
                for m in in_sentence:
                    if _ACCORDING_RE.search(text[sent_start:m.start]):
                        speaker = m
                        break
            if speaker is None and len({m.name for m in in_sentence}) == 1:
                # Reported speech ending in a quotation: "Mikati said ... talks were “going well.”"
                named = in_sentence[-1]
                verb = _VERB_RE.search(text, named.end, start)
                if (verb and not any(start > s >= named.end for s, _ in quote_spans)
                        and text[named.end:verb.start()].strip(" ,") == ""):
                    speaker = named
        name = canonical.get(speaker.name, speaker.name) if speaker else None
        if name is None and previous and para_start <= previous[0] <= start:
            between = text[previous[0]:start].strip()
            # Only the last quote's attribution in between: "“...,” Khalilzad tweeted. “We have ...”"
            if len(between) <= MAX_ATTRIBUTION_GAP and not re.search(r"[.!?“”\"]", between.rstrip(".!?")):
                name = previous[1]
        if name is None:
            continue
        quotes.append(Quote(body, name))
        previous = (end, name)
    return list(dict.fromkeys(quotes))
