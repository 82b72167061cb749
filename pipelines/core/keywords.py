"""Key phrases of a text by YAKE (bigrams at most), without phrases that cut a name in two,
day and month names, wire credits, or single words already inside a better phrase.

In: a text, its language and (optionally) its entity mentions. Out: up to ``KEYWORDS``
phrases, best first; None for a language YAKE has no stopwords for.

    phrases = keywords(text, "en", mentions)

YAKE's algorithm runs in :func:`_yake`, our port of the yake package's ``extract_keywords``:
the package keeps its graph in networkx and is slower on equal output (figures and the
command: benchmarks/README.md; choices: docs/decisions/keywords-yake.md).
"""

from __future__ import annotations

import functools
import math
import re
import string
from typing import Sequence

from pipelines.core import geo
from pipelines.core.entities import _WIRE_CREDITS, Mention, _distinct
from pipelines.core.nlp_text import _WORD_RE, _cut_point

KEYWORDS = 10
KEYWORD_MAX_CHARS = 10_000  # YAKE weighs early text most: ~1,700 words decide the phrases
KEYWORD_MAX_WORDS = 2  # 3 gives headline fragments ("Taliban hold video") more often than terms
# YAKE's stopword lists (ISO 639-1 -> YAKE's file code); not Chinese or Japanese, which it
# cannot split into words.
YAKE_LANGUAGES = {
    "ar": "ar", "bg": "bg", "br": "br", "cs": "cz", "da": "da", "de": "de", "el": "el", "en": "en",
    "es": "es", "et": "et", "fa": "fa", "fi": "fi", "fr": "fr", "hi": "hi", "hr": "hr", "hu": "hu",
    "hy": "hy", "id": "id", "it": "it", "lt": "lt", "lv": "lv", "nl": "nl", "no": "no", "pl": "pl",
    "pt": "pt", "ro": "ro", "ru": "ru", "sk": "sk", "sl": "sl", "sv": "sv", "tr": "tr", "uk": "uk",
}
# Day and month names: YAKE ranks them high in news ("Tuesday"), and they are never the topic.
_CALENDAR_WORDS = {
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january",
    "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december", "today", "yesterday", "tomorrow",
}


@functools.cache
def _keyword_extractor(yake_language: str):
    import yake

    return yake.KeywordExtractor(lan=yake_language, n=KEYWORD_MAX_WORDS, top=KEYWORDS * 2)


_YAKE_PUNCTUATION = frozenset(string.punctuation)  # YAKE's default ``exclude``
_YAKE_DELETE_PUNCTUATION = str.maketrans("", "", string.punctuation)
_YAKE_DISCARD = ("u", "d")  # YAKE's tags for tokens with digits ("d") or mixed/no letters ("u")


def _yake(extractor, text: str) -> list[tuple[str, float]]:
    """``extractor.extract_keywords(text)``: the same phrases and scores, faster.

    The same algorithm over plain lists and dicts instead of networkx graphs and an object per
    term, for the extractor's configuration (``n``, ``window_size``, ``top``, ``dedup_lim``,
    ``dedup_func``; no lemmatisation). It reuses YAKE's sentence splitter, tokenizer, tags and
    similarity, and the same floating-point operations in the same order, so the result is
    equal, not close. Like ``extract_keywords`` it returns [] when the text fails."""
    try:
        return _yake_unguarded(extractor, text)
    except Exception:  # noqa: BLE001 - extract_keywords also swallows any failure into []
        return []


def _yake_unguarded(extractor, text: str) -> list[tuple[str, float]]:
    import numpy as np
    from yake.data.utils import get_tag, pre_filter, tokenize_sentences

    if not text:
        return []
    config = extractor.config
    n, window, top, dedup_lim = config["n"], config["window_size"], config["top"], config["dedup_lim"]
    stopwords, exclude = extractor.stopword_set, _YAKE_PUNCTUATION
    sentences = tokenize_sentences(pre_filter(text.replace("\n", " ")))
    # A term (YAKE's SingleWord): [tf, tf uppercase, tf capitalised, {sentence: count}, stopword,
    # {right neighbour: count}, {left neighbour: count}, score]; terms are keyed by lower case
    # without a final "s".
    term_ids: dict[str, int] = {}
    terms: list[list] = []
    # A candidate (ComposedWord), by its lower-case text: [text as first seen, {tag strings},
    # term ids, starts or ends with a stopword, tf].
    cands: dict[str, list] = {}
    for sent_id, sentence in enumerate(sentences):
        block: list[tuple[str, str, int]] = []  # (tag, word, term id) since the last punctuation
        for pos_sent, word in enumerate(sentence):
            if all(ch in exclude for ch in word):
                block = []
                continue
            tag = get_tag(word, pos_sent, exclude)
            unique = word.lower()
            plain_stopword = unique in stopwords
            if unique.endswith("s") and len(unique) > 3:
                unique = unique[:-1]
            tid = term_ids.get(unique)
            if tid is None:
                tid = term_ids[unique] = len(terms)
                stopword = (plain_stopword or unique in stopwords
                            or len(unique.translate(_YAKE_DELETE_PUNCTUATION)) < 3)
                terms.append([0.0, 0.0, 0.0, {}, stopword, {}, {}, 0.0])
            term = terms[tid]
            term[3][sent_id] = term[3].get(sent_id, 0) + 1
            term[0] += 1.0
            if tag == "a":
                term[1] += 1.0
            elif tag == "n":
                term[2] += 1.0
            if tag not in _YAKE_DISCARD:
                for left_tag, _, left in block[max(0, len(block) - window):]:
                    if left_tag not in _YAKE_DISCARD:
                        right_of = terms[left][5]
                        right_of[tid] = right_of.get(tid, 0.0) + 1.0
                        term[6][left] = term[6].get(left, 0.0) + 1.0
            # Candidates: the word alone, then with each of the n - 1 words before it.
            ids: tuple[int, ...] = (tid,)
            kw, tags = word, tag
            edge_stopword = term[4]
            for back in range(n):
                if back:
                    if back > len(block):
                        break
                    left_tag, left_word, left = block[-back]
                    kw, tags, ids = f"{left_word} {kw}", left_tag + tags, (left, *ids)
                    edge_stopword = terms[left][4] or term[4]
                unique_kw = kw.lower()
                cand = cands.get(unique_kw)
                if cand is None:
                    cands[unique_kw] = [kw, {tags}, ids, edge_stopword, 1.0]
                else:
                    cand[1].add(tags)
                    cand[4] += 1.0
            block.append((tag, word, tid))
    valid_tfs = np.array([t[0] for t in terms if not t[4]])
    if valid_tfs.size:  # term scores (SingleWord.update_h); without valid terms all stay 0.0
        avg_tf, std_tf = valid_tfs.mean(), valid_tfs.std()
        max_tf = max(t[0] for t in terms)
        for t in terms:
            tf, right_of, left_of, occurs = t[0], t[5], t[6], t[3]
            wdr, wir = len(right_of), sum(right_of.values())
            pwr = 0 if wir == 0 else wdr / wir
            wdl, wil = len(left_of), sum(left_of.values())
            pwl = 0 if wil == 0 else wdl / wil
            wrel = (0.5 + (pwl * (tf / max_tf))) + (0.5 + (pwr * (tf / max_tf)))
            wfreq = tf / (avg_tf + std_tf)
            wspread = len(occurs) / len(sentences)
            wcase = max(t[1], t[2]) / (1.0 + math.log(tf))
            sents = list(occurs)  # ascending: the median is numpy's
            mid = len(sents) // 2
            median = sents[mid] if len(sents) % 2 else (sents[mid - 1] + sents[mid]) / 2
            wpos = math.log(math.log(3.0 + median))
            t[7] = (wpos * wrel) / (wcase + (wfreq / wrel) + (wspread / wrel))
    scored = []  # candidate scores (ComposedWord.update_h, stopwords weighted "bi")
    for unique_kw, (kw, tag_set, ids, edge_stopword, tf) in cands.items():
        if edge_stopword or not any("u" not in tags and "d" not in tags for tags in tag_set):
            continue
        sum_h, prod_h = 0.0, 1.0
        for i, tid in enumerate(ids):
            t = terms[tid]
            if not t[4]:
                sum_h += t[7]
                prod_h *= t[7]
                continue
            prob_t1 = prob_t2 = 0.0
            if i > 0 and tid in terms[ids[i - 1]][5]:
                prob_t1 = terms[ids[i - 1]][5][tid] / terms[ids[i - 1]][0]
            if i < len(ids) - 1 and ids[i + 1] in t[5]:
                prob_t2 = t[5][ids[i + 1]] / terms[ids[i + 1]][0]
            prob = prob_t1 * prob_t2
            prod_h *= 1 + (1 - prob)
            sum_h -= 1 - prob
        scored.append((prod_h / ((sum_h + 1) * tf), unique_kw, kw))
    scored.sort(key=lambda c: c[0])  # stable: ties stay in first-seen order, as in YAKE
    if dedup_lim >= 1.0:
        return [(unique_kw, h) for h, unique_kw, _ in scored][:top]
    kept: list[tuple[float, str, str]] = []
    similarity = extractor.dedup_function
    for h, unique_kw, kw in scored:
        if not any(similarity(unique_kw, other) > dedup_lim for _, other, _ in kept):
            kept.append((h, unique_kw, kw))
            if len(kept) == top:
                break
    return [(kw, h) for h, _, kw in kept]


def _cuts_a_name(phrase: str, text: str, mentions: Sequence[Mention]) -> bool:
    """True when the phrase's first occurrence cuts a multi-word name: it reaches across the
    name's edge ("Governor Mark" of "Mark Carney") or holds only part of it ("Bharat Raj",
    "York Times"), unless all it leaves out is a leading country ("Federal Reserve" of
    "U.S. Federal Reserve")."""
    match = re.search(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", text, re.IGNORECASE)
    if not match:
        return False
    start, end = match.span()
    for m in mentions:
        if " " not in m.name or not (m.start < end and start < m.end) or (start <= m.start and m.end <= end):
            continue
        left_out = text[m.start:start].strip()
        if not (m.start <= start and end == m.end and m.label != "PERSON"
                and (geo.country_code(left_out) or geo.demonym_country(left_out))):
            return True
    return False


def keywords(text: str, language: str | None, mentions: Sequence[Mention] = ()) -> list[str] | None:
    """Up to ``KEYWORDS`` key phrases by YAKE, best first; None for a language YAKE cannot do.
    With entity ``mentions``, phrases that cut a name in two are left out."""
    if language not in YAKE_LANGUAGES:
        return None
    if len(text) > KEYWORD_MAX_CHARS:
        text = text[:_cut_point(text, KEYWORD_MAX_CHARS)]
    if not _WORD_RE.search(text):
        return []
    phrases = []
    for phrase, _score in _yake(_keyword_extractor(YAKE_LANGUAGES[language]), text):
        phrase = " ".join(phrase.split())
        if (any(ch.isalpha() for ch in phrase) and phrase.casefold() not in _WIRE_CREDITS
                and phrase.casefold() not in _CALENDAR_WORDS
                and not _cuts_a_name(phrase, text, mentions)):
            phrases.append(phrase)
    phrases = _distinct(phrases)
    # A single word already inside a better-ranked phrase adds nothing ("video" after "video conference").
    kept: list[str] = []
    for phrase in phrases:
        words = phrase.casefold().split()
        if len(words) == 1 and any(words[0] in k.casefold().split() for k in kept):
            continue
        kept.append(phrase)
    return kept[:KEYWORDS]
