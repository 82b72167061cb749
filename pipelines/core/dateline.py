"""Leading wire-style datelines: ``KABUL (Agencies):``, ``WASHINGTON (Reuters) -``,
``LONDON, March 3 (AP) —``, ``NEW DELHI, India —``, ``PARIS (AFP) --``.

No maintained library parses datelines, so this is a small set of rules. A
dateline is taken only at the very start of the body, with an all-capitals place
and either a parenthesised credit or a dash after it, so that ordinary opening
sentences ("US officials said ...") are not mistaken for one. Without a credit the
place needs three letters or more and must not be a rubric ("EXCLUSIVE —").
"""

from __future__ import annotations

import re
from typing import NamedTuple

_PLACE = r"(?P<place>[A-Z][A-Z.'’\-]*(?:\s+[A-Z][A-Z.'’\-]*){0,4})"
_QUALIFIER = r"(?:,\s*(?P<qualifier>[^()\n:—–]{1,40}?))?"
_CREDIT = r"(?:\s*\((?P<credit>[^()\n]{1,40})\))?"
_SEP = r"\s*(?P<sep>:|--|—|–|-)\s+"
_DATELINE_RE = re.compile(r"^\s*" + _PLACE + _QUALIFIER + _CREDIT + _SEP)
_DASHES = {"--", "—", "–"}
# Capitalised words that open a story in the dateline's place but are labels, not places.
_RUBRICS = {
    "ANALYSIS", "BREAKING", "COMMENT", "CORRECTION", "EDITORIAL", "EXCLUSIVE", "EXPLAINER",
    "FACTBOX", "FEATURE", "INTERVIEW", "LIVE", "OPINION", "REVIEW", "UPDATE", "UPDATED", "WATCH",
}


class Dateline(NamedTuple):
    location: str
    credit: str | None
    qualifier: str | None  # region, country or date between the place and the credit


def parse_dateline(text: str) -> tuple[Dateline | None, str]:
    """Split a leading dateline off ``text``.

    Returns ``(dateline, rest)``; ``(None, text)`` when there is none.
    """
    match = _DATELINE_RE.match(text)
    if not match:
        return None, text
    place = match["place"].strip()
    credit = match["credit"].strip() if match["credit"] else None
    qualifier = match["qualifier"].strip() if match["qualifier"] else None
    letters = sum(ch.isalpha() for ch in place)
    if letters < 2 or place.upper() in _RUBRICS:
        return None, text
    # Without a credit only a real dash after a real place name marks one ("NEW DELHI, India —").
    if credit is None and (match["sep"] not in _DASHES or letters < 3):
        return None, text
    rest = text[match.end():]
    if not rest.strip():
        return None, text
    return Dateline(place, credit, qualifier), rest
