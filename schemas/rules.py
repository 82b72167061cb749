"""Value rules of the table columns: regexes, value sets and ranges, written once.

The schema (``schemas/article.py``) says which columns a row has, their types and which may be
null; these rules say which values a column may hold. Both the row check before Great
Expectations (:func:`check_values`, run by ``CheckRows``) and the per-row part of the suites in
``expectations/`` (:meth:`Rule.expectation`) come from here, and ``tests/test_expectations.py``
fails when a suite and these rules disagree. Semantics are GX's: a null is not checked (nullability
is the schema's), a regex is searched for (``re.search``), bounds are inclusive, and a bound given
as a string is a suite parameter (``{"$PARAMETER": name}``) filled per run.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

# ISO 639-1 codes the language detector can return (a test checks it covers every one).
LANGUAGES = (
    "af", "am", "an", "ar", "as", "az", "ba", "be", "bg", "bn", "br", "bs", "ca", "cs", "cy", "da", "de", "dz",
    "el", "en", "eo", "es", "et", "eu", "fa", "fi", "fo", "fr", "fy", "ga", "gd", "gl", "gu", "ha", "he", "hi",
    "hr", "ht", "hu", "hy", "id", "ig", "is", "it", "ja", "jv", "ka", "kk", "km", "kn", "ko", "ku", "ky", "la",
    "lb", "lg", "ln", "lo", "lt", "lv", "mg", "mk", "ml", "mn", "mr", "ms", "mt", "my", "ne", "nl", "nn", "no",
    "oc", "om", "or", "pa", "pl", "ps", "pt", "qu", "ro", "ru", "rw", "sa", "se", "si", "sk", "sl", "sn", "so",
    "sq", "sr", "st", "sv", "sw", "ta", "te", "tg", "th", "tk", "tl", "tr", "tt", "ug", "uk", "ur", "uz", "vi",
    "vo", "wa", "xh", "yo", "zh", "zu",
)
SOURCE_TYPES = ("document", "feed")
DEDUP_METHODS = ("guid", "url", "content", "near")
STAGES = ("read_documents", "read_feeds", "normalize", "enrich", "validate")
HEX32 = "^[0-9a-f]{32}$"
WEB_URL = "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s/?#]+[^\\s]*$"

Bound = float | int | str | None  # a string names a suite parameter


@dataclass(frozen=True)
class Rule:
    """One column's value rule; ``kind`` is ``regex``, ``in_set``, ``between`` or ``min_length``."""

    column: str
    kind: str
    regex: str | None = None
    values: tuple[str, ...] = ()
    min_value: Bound = None
    max_value: Bound = None

    def expectation(self) -> dict[str, Any]:
        """The GX expectation this rule is, as a suite JSON lists it (``type`` and ``kwargs``)."""
        kwargs: dict[str, Any] = {"column": self.column}
        if self.kind == "regex":
            return {"type": "expect_column_values_to_match_regex", "kwargs": {**kwargs, "regex": self.regex}}
        if self.kind == "in_set":
            return {"type": "expect_column_values_to_be_in_set", "kwargs": {**kwargs, "value_set": list(self.values)}}
        for name in ("min_value", "max_value"):
            bound = getattr(self, name)
            if bound is not None:
                kwargs[name] = {"$PARAMETER": bound} if isinstance(bound, str) else bound
        kind = ("expect_column_values_to_be_between" if self.kind == "between"
                else "expect_column_value_lengths_to_be_between")
        return {"type": kind, "kwargs": kwargs}

    def problem(self, value: Any, parameters: Mapping[str, Any] | None = None) -> str | None:
        """Why a non-null ``value`` breaks this rule, or None when it does not."""
        if self.kind == "regex":
            return None if re.search(str(self.regex), str(value)) else f"{_short(value)} does not match {self.regex}"
        if self.kind == "in_set":
            return None if value in self.values else f"{_short(value)} is not one of the allowed values"
        measured = len(value) if self.kind == "min_length" else value
        low, high = self._bound(self.min_value, parameters), self._bound(self.max_value, parameters)
        if isinstance(measured, float) and math.isnan(measured):
            return "NaN is not a number in range"
        if (low is not None and measured < low) or (high is not None and measured > high):
            what = f"length {measured}" if self.kind == "min_length" else _short(value)
            return f"{what} is outside [{_short(low)}, {_short(high)}]"
        return None

    @staticmethod
    def _bound(bound: Bound, parameters: Mapping[str, Any] | None) -> Any:
        if not isinstance(bound, str):
            return bound
        if parameters is None or bound not in parameters:
            raise ValueError(f"this rule needs the suite parameter {bound!r}")
        return parameters[bound]


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _regex(column: str, regex: str) -> Rule:
    return Rule(column, "regex", regex=regex)


def _in_set(column: str, values: tuple[str, ...]) -> Rule:
    return Rule(column, "in_set", values=values)


def _between(column: str, min_value: Bound = None, max_value: Bound = None) -> Rule:
    return Rule(column, "between", min_value=min_value, max_value=max_value)


RULES: dict[str, tuple[Rule, ...]] = {
    "articles": (
        _regex("article_id", HEX32),
        _regex("content_hash", "^[0-9a-f]{64}$"),
        _regex("url", WEB_URL),
        _regex("canonical_url", WEB_URL),
        _in_set("source_type", SOURCE_TYPES),
        Rule("title", "min_length", min_value=1),
        _in_set("language", LANGUAGES),
        _between("language_confidence", 0, 1),
        _between("word_count", 0),
        _between("cluster_size", 1),
        _between("published_at", max_value="max_published_at"),
        _between("ingested_at", max_value="now"),
        _regex("dateline_country", "^[A-Z]{2}$"),
        _between("dateline_lat", -90, 90),
        _between("dateline_lon", -180, 180),
        _between("tone", -1, 1),
        _between("reading_time_s", 0),
        _between("hyphen_repairs", 0),
    ),
    "duplicates": (
        _regex("article_id", HEX32),
        _regex("canonical_id", HEX32),
        _in_set("method", DEDUP_METHODS),
        _between("similarity", 0, 1),
        _regex("url", WEB_URL),
        _in_set("source_type", SOURCE_TYPES),
    ),
    "rejects": (
        _regex("reason", "^[A-Z][A-Z0-9_]*$"),
        _in_set("stage", STAGES),
        _in_set("source_type", (*SOURCE_TYPES, "unknown")),
        _between("position", 0),
    ),
}


def check_values(row: Mapping[str, Any], table: str, parameters: Mapping[str, Any] | None = None) -> list[str]:
    """Values of ``row`` that break the rules of ``table`` (empty when none); ``parameters`` fill the
    bounds named by a suite parameter (``now``, ``max_published_at``). Types are
    :func:`schemas.check_row`'s: check them first."""
    problems = []
    for rule in RULES[table]:
        value = row.get(rule.column)
        if value is not None and (problem := rule.problem(value, parameters)):
            problems.append(f"{rule.column}: {problem}")
    return problems
