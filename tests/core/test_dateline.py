"""core.dateline: leading wire-style datelines."""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipelines.core.dateline import Dateline, parse_dateline

PROPERTY = settings(max_examples=200, deadline=None)


@pytest.mark.parametrize("text,location,credit,qualifier,rest", [
    ("KABUL (Agencies): Afghan officials met.", "KABUL", "Agencies", None, "Afghan officials met."),
    ("WASHINGTON (Reuters) - The Fed cut rates.", "WASHINGTON", "Reuters", None, "The Fed cut rates."),
    ("LONDON, March 3 (AP) — Shares fell.", "LONDON", "AP", "March 3", "Shares fell."),
    ("NEW DELHI, India — Rain fell.", "NEW DELHI", None, "India", "Rain fell."),
    ("PARIS (AFP) -- Museums reopened.", "PARIS", "AFP", None, "Museums reopened."),
    ("ROME (AP) – Italy extended restrictions.", "ROME", "AP", None, "Italy extended restrictions."),
    ("WASHINGTON — The vote failed.", "WASHINGTON", None, None, "The vote failed."),
    ("ST. LOUIS (AP) - A storm hit.", "ST. LOUIS", "AP", None, "A storm hit."),
    ("  TOKYO (Kyodo) - Markets rose.", "TOKYO", "Kyodo", None, "Markets rose."),
    ("NEW DELHI (PTI): Talks resume.\n\nSecond paragraph.", "NEW DELHI", "PTI", None,
     "Talks resume.\n\nSecond paragraph."),
])
def test_datelines_are_split_off(text, location, credit, qualifier, rest):
    dateline, remainder = parse_dateline(text)
    assert dateline == Dateline(location, credit, qualifier)
    assert remainder == rest


@pytest.mark.parametrize("text", [
    "US officials said on Monday that talks would resume.",
    "NATO: allies meet in Brussels.",
    "NATO - allies meet in Brussels.",  # a hyphen needs a credit to mark a dateline
    "NEW YORK - Stocks rose.",
    "COVID-19: cases rise again.",
    "UPDATE 2-Oil falls.",
    "Washington (Reuters) - lower-case place names are not datelines.",
    "A (B) - one letter is not a place.",
    "KABUL (Agencies):",  # nothing after the dateline
    "KABUL (Agencies):   \n  ",
    "NATO (Reuters) says: no.",
    "",
    "Plain text with no dateline at all.",
    "EXCLUSIVE — The company said it would cut jobs.",  # a rubric, not a place
    "BREAKING -- Markets fall.",
    "US, EU — trade deal reached.",  # two letters without a credit is not a place
])
def test_ordinary_openings_are_left_alone(text):
    dateline, rest = parse_dateline(text)
    assert dateline is None
    assert rest is text


def test_dateline_must_open_the_text():
    text = "Officials said.\n\nKABUL (Agencies): more."
    assert parse_dateline(text) == (None, text)


def test_only_the_first_dateline_is_taken():
    dateline, rest = parse_dateline("PARIS (AFP) - LONDON (AP) - Text.")
    assert dateline.location == "PARIS" and rest == "LONDON (AP) - Text."


@PROPERTY
@given(st.text())
@example("KABUL (Agencies): x")
@example("A (B) - c")
def test_parse_dateline_never_raises_and_rest_is_a_suffix(text):
    dateline, rest = parse_dateline(text)
    assert text.endswith(rest)
    if dateline is None:
        assert rest == text
    else:
        assert rest.strip() and len(rest) < len(text)
        assert dateline.location and dateline.location == dateline.location.upper()
        assert text.lstrip().startswith(dateline.location)


_PLACE = st.lists(st.from_regex(r"[A-Z]{2,10}", fullmatch=True), min_size=1, max_size=3).map(" ".join)
_CREDIT = st.sampled_from(["AP", "AFP", "Reuters", "Agencies", "PTI", "dpa"])
_SEP = st.sampled_from([":", "-", "--", "—", "–"])
_SENTENCE = st.from_regex(r"[A-Z][a-z]{1,10}( [a-z]{1,10}){0,6}\.", fullmatch=True)


@PROPERTY
@given(_PLACE, _CREDIT, _SEP, _SENTENCE)
def test_generated_credited_datelines(place, credit, sep, sentence):
    dateline, rest = parse_dateline(f"{place} ({credit}) {sep} {sentence}")
    assert dateline == Dateline(place, credit, None)
    assert rest == sentence


@PROPERTY
@given(_PLACE, _SENTENCE)
def test_hyphen_without_credit_is_not_a_dateline(place, sentence):
    text = f"{place} - {sentence}"
    assert parse_dateline(text) == (None, text)
