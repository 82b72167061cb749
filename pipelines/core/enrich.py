"""Per-article enrichment in two profiles.

``core`` (:func:`enrich_core`, one row at a time, cheap): word count, language,
the dateline geocoded, reading time. ``full`` (:func:`enrich_full`, a batch at a
time, needs :func:`load_model` once per worker): core plus people, organisations,
places, countries, key phrases, tone and quotes.

In: article rows after Normalize (body cleaned and hyphenation repaired there, the
dateline already split off into ``dateline_location``/``dateline_credit``).
Out: copies of the rows with the enrichment columns set. A column a profile does
not compute, or cannot for the article's language, is None (not an empty list):
an empty list means "looked, found none".

    row = enrich_core(row)
    rows = enrich_full(rows, load_model())
"""

from __future__ import annotations

from typing import Any, Sequence

from pipelines.core import nlp
from pipelines.core.geo import geocode_dateline
from pipelines.core.language import detect_language
from pipelines.core.nlp import Models, load_model
from pipelines.core.text import word_count

__all__ = [
    "CORE_COLUMNS",
    "FULL_COLUMNS",
    "WORDS_PER_MINUTE",
    "enrich_article",
    "enrich_core",
    "enrich_full",
    "load_model",
    "reading_time_s",
]

# Silent reading of English non-fiction, adults: 238 words per minute (Brysbaert 2019,
# "How many words do we read per minute?", a meta-analysis of 190 studies).
WORDS_PER_MINUTE = 238
CORE_COLUMNS = ("word_count", "language", "language_confidence", "dateline_country",
                "dateline_lat", "dateline_lon", "reading_time_s")
FULL_COLUMNS = ("persons", "organizations", "locations", "countries", "keywords", "tone", "quotes")

Row = dict[str, Any]


def enrich_article(row: Row) -> Row:
    """A copy of ``row`` with ``word_count``, ``language`` and ``language_confidence`` set."""
    language, confidence = detect_language(f"{row['title']}\n\n{row['body']}")
    return {**row, "word_count": word_count(row["body"]), "language": language,
            "language_confidence": confidence}


def reading_time_s(words: int) -> int:
    """Seconds to read ``words`` words at ``WORDS_PER_MINUTE``."""
    return round(words * 60 / WORDS_PER_MINUTE)


def enrich_core(row: Row) -> Row:
    """``enrich_article`` plus ``dateline_country``/``_lat``/``_lon`` and ``reading_time_s``;
    the full-profile columns are None.

    The dateline qualifier ("India" in ``NEW DELHI, India —``) disambiguates the place when
    the row carries it as ``dateline_qualifier``; without it the place alone is geocoded.
    """
    row = enrich_article(row)
    country, lat, lon = geocode_dateline(row.get("dateline_location"), row.get("dateline_qualifier"))
    row.update(dateline_country=country, dateline_lat=lat, dateline_lon=lon,
               reading_time_s=reading_time_s(row["word_count"]))
    row.update(dict.fromkeys(FULL_COLUMNS))
    return row


def _dateline_place(row: Row) -> str | None:
    """The dateline place as a location name: 'KABUL' -> 'Kabul' (only when geocoded)."""
    location = row.get("dateline_location")
    if not location or row.get("dateline_country") is None:
        return None
    return " ".join(word.capitalize() if word.isupper() else word for word in location.split())


def enrich_full(rows: Sequence[Row], models: Models) -> list[Row]:
    """:func:`enrich_core` for every row, plus the full-profile columns for the English ones
    (one batched spaCy pass over them). Other languages keep None in the entity, tone and
    quote columns; keywords are set for every language YAKE has stopwords for."""
    enriched = [enrich_core(row) for row in rows]
    english = [i for i, row in enumerate(enriched) if row["language"] in nlp.MODEL_LANGUAGES]
    texts = [nlp.analysis_text(enriched[i]["title"], enriched[i]["body"]) for i in english]
    for i, analysis in zip(english, nlp.analyze(models, texts), strict=True):
        row = enriched[i]
        locations = list(analysis.locations)
        place = _dateline_place(row)
        if place and place.casefold() not in {name.casefold() for name in locations}:
            locations.insert(0, place)
        countries = set(analysis.countries)
        if row["dateline_country"]:
            countries.add(row["dateline_country"])
        row.update(
            persons=list(analysis.persons),
            organizations=list(analysis.organizations),
            locations=locations,
            countries=sorted(countries),
            keywords=list(analysis.keywords),
            tone=analysis.tone,
            quotes=[{"text": q.text, "speaker": q.speaker} for q in analysis.quotes],
        )
    for row in enriched:
        if row["language"] not in nlp.MODEL_LANGUAGES and row["language"] is not None:
            row["keywords"] = nlp.keywords(nlp.analysis_text(row["title"], row["body"]), row["language"])
    return enriched
