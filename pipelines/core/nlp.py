"""Text analysis of English articles, batched: people, organisations, places, countries,
key phrases, tone and attributed quotes.

In: a :class:`Models` from :func:`load_model` (once per worker, in ``DoFn.setup()``) and a
list of texts. Out: one :class:`Analysis` per text, in order.

    models = load_model()
    analyses = analyze(models, [analysis_text(title, body) for title, body in articles])

One ``nlp.pipe`` per batch finds the named entities; the rest is plain Python per text:
entity fixes (``entities``), quotes (``quotes``), key phrases (``keywords``), tone (``tone``).
Countries: places (``geo.place_country``), demonyms (``Afghan``), countries that open an
organisation's name (``U.S. Federal Reserve``). Texts are capped at ``MAX_CHARS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from pipelines.core import geo
from pipelines.core.entities import Mention, _canonical_map, _distinct, _mentions, _org_countries
from pipelines.core.entities import _zipf as _zipf  # for benchmarks/cost_model.py
from pipelines.core.keywords import KEYWORDS, keywords
from pipelines.core.nlp_models import EXCLUDED_PIPES, MODEL_LANGUAGES, MODEL_PACKAGE, Models, load_model
from pipelines.core.nlp_text import MAX_CHARS, _cut_point
from pipelines.core.quotes import Quote, extract_quotes
from pipelines.core.tone import sentences, tone

__all__ = [
    "BATCH_SIZE", "EXCLUDED_PIPES", "KEYWORDS", "MAX_CHARS", "MODEL_LANGUAGES", "MODEL_PACKAGE",
    "Analysis", "Mention", "Models", "Quote", "analysis_text", "analyze", "extract_quotes", "keywords",
    "load_model", "sentences", "tone",
]

BATCH_SIZE = 32  # texts per nlp.pipe batch (docs/decisions/ner-only.md)


@dataclass(frozen=True)
class Analysis:
    persons: list[str] = field(default_factory=list)
    organizations: list[str] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)  # ISO 3166-1 alpha-2, sorted
    keywords: list[str] = field(default_factory=list)
    tone: float | None = None
    quotes: list[Quote] = field(default_factory=list)


def analysis_text(title: str, body: str) -> str:
    """The text that is analysed: headline (unless in Title Case, which misleads NER) and body,
    cut at ``MAX_CHARS`` between words (see :func:`_cut_point`)."""
    words = [w for w in (title or "").split() if len(w) > 3 and w[0].isalpha()]
    title_case = bool(words) and sum(w[0].isupper() for w in words) / len(words) >= 0.6 and len(words) > 2
    text = body or ""
    if title and not title_case:
        end = "" if title.rstrip()[-1:] in ".!?" else "."
        text = f"{title.rstrip()}{end}\n\n{text}" if text else title
    if len(text) > MAX_CHARS:
        text = text[:_cut_point(text, MAX_CHARS)]
    return text


def _analysis(doc, models: Models) -> Analysis:
    text = doc.text
    mentions = _mentions(doc)
    persons = [m.name for m in mentions if m.label == "PERSON"]
    orgs = [m.name for m in mentions if m.label == "ORG"]
    person_map = _canonical_map(persons)
    org_map = _canonical_map(orgs)
    places = [m.name for m in mentions if m.label in {"GPE", "LOC"}]
    named = {geo.place_country(name) for name in places}
    named |= {geo.demonym_country(m.name) for m in mentions if m.label == "NORP"}
    countries = {country for country in named if country is not None} | _org_countries(orgs)
    return Analysis(
        persons=_distinct(person_map.get(n, n) for n in persons),
        organizations=_distinct(org_map.get(n, n) for n in orgs),
        locations=_distinct(places),
        countries=sorted(countries),
        keywords=keywords(text, "en", mentions) or [],
        tone=tone(text, models.sentiment),
        quotes=extract_quotes(text, mentions, person_map),
    )


def analyze(models: Models, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> list[Analysis]:
    """One :class:`Analysis` per English text, in order (texts from :func:`analysis_text`)."""
    capped = (t if len(t) <= MAX_CHARS else t[:_cut_point(t, MAX_CHARS)] for t in texts)
    docs = models.nlp.pipe(capped, batch_size=batch_size, n_process=1)
    return [_analysis(doc, models) for doc in docs]
