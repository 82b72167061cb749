"""core.cleaning: ftfy text repair, whitespace, and broken mid-word hyphenation."""

import re

import pytest
from conftest import SEED_DOCUMENT
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipelines.core.cleaning import clean_text, repair_hyphenation
from pipelines.core.documents import parse_document

PROPERTY = settings(max_examples=200, deadline=None)
# Text that looks like news: words, hyphens, quotes, mojibake pieces, odd spaces, RTL and emoji.
NEWSY = st.lists(
    st.sampled_from(list("abcdefghijklmnopqrstuvwxyzAEKTW -‐\n\t.,’“”\"'") +
                    ["â€™", "Ã©", "\u00ad", "\u200b", "\u200c", "\u00a0", "\r\n", "مرحبا", "שלום",
                     "👩‍👩‍👧", "ﬁ", "，", "the", "he", "t", "ocused", "f", "Khalilzad", "Khal", "ilzad"]),
    max_size=60,
).map("".join)


def seed_body() -> str:
    raw = parse_document(str(SEED_DOCUMENT), SEED_DOCUMENT.read_bytes())
    return clean_text(raw["body"])


# ---------------------------------------------------------------- clean_text


@pytest.mark.parametrize("text,expected", [
    ("The Mona Lisa doesnâ€™t have eyebrows.", "The Mona Lisa doesn’t have eyebrows."),
    ("â€œWe will not,â€\x9d said Helen.", "“We will not,” said Helen."),
    ("cafÃ©", "café"),
    ("CafÃƒÂ©", "Café"),  # two layers of mojibake
    ("ﬁnance", "finance"),  # ligature
    ("e\u0301te\u0301", "été"),  # NFC
])
def test_mojibake_and_odd_unicode_are_repaired(text, expected):
    assert clean_text(text) == expected


@pytest.mark.parametrize("text", [
    "“Curly quotes” and ‘single’ ones stay as published.",
    "中文，标点：保持全角。",  # full-width CJK punctuation is not narrowed
    "AT&amp;T stays: entities are the HTML extractor's job.",
    "مرحبا بالعالم",
    "שלום עולם",
    "می\u200cخواهم",  # Persian: the zero-width non-joiner is spelling
    "Family: 👩\u200d👩\u200d👧 ok",  # ZWJ emoji sequence
])
def test_text_that_is_right_is_left_alone(text):
    assert clean_text(text) == text


def test_whitespace_is_normalised_and_paragraphs_kept():
    text = "  First  line\r\nwrapped here.\u00a0Tab\there.\r\n\r\n\r\n\n  Second\u200b paragraph. \n\n\n"
    assert clean_text(text) == "First line wrapped here. Tab here.\n\nSecond paragraph."


def test_control_and_invisible_characters_go():
    assert clean_text("a\x00b\x07c\u00add\ufeffe\u200bf") == "abcdef"


@pytest.mark.parametrize("text", ["", "   ", "\n\n\n", "\u200b\u00ad"])
def test_empty_text_stays_empty(text):
    assert clean_text(text) == ""


@pytest.mark.slow
def test_a_two_megabyte_text_is_cleaned():
    text = ("Afghan officials held talks â€” again.  \n" * 50_000)[:2_000_000]
    cleaned = clean_text(text)
    assert "â€" not in cleaned and "—" in cleaned and "  " not in cleaned


@PROPERTY
@given(NEWSY)
@example("â€")
@example("Ã\n\nÃ")
def test_clean_text_never_raises_and_is_idempotent(text):
    cleaned = clean_text(text)
    assert clean_text(cleaned) == cleaned
    assert cleaned == cleaned.strip()
    assert "\r" not in cleaned and "\t" not in cleaned and "\n\n\n" not in cleaned
    assert not re.search(r"[^\S\n]{2}", cleaned)


@PROPERTY
@given(st.text(max_size=80))
def test_clean_text_takes_any_unicode(text):
    cleaned = clean_text(text)
    assert isinstance(cleaned, str)
    assert clean_text(cleaned) == cleaned


# ---------------------------------------------------------------- repair_hyphenation


def test_the_seed_document_is_repaired():
    repaired, count = repair_hyphenation(seed_body())
    assert count == 6
    for word in ("According to Khalilzad,", "was focused on", "The discussion was", "about the prisoners",
                 "for which the", "teams have been"):
        assert word in repaired
    for broken in ("Khal-ilzad", "f-ocused", "d-iscussion", "t-he", "w-hich", "ha-ve"):
        assert broken not in repaired
    for compound in ("follow-on", "intra-Afghan", "US-Taliban"):
        assert compound in repaired


@pytest.mark.parametrize("word", [
    "follow-on", "intra-Afghan", "US-Taliban", "mid-March", "set-up", "re-sign", "co-operate",
    "non-profit", "well-being", "long-term", "check-in", "T-shirt", "x-ray", "e-book", "build-up",
    "so-called", "year-old", "mother-in-law", "COVID-19", "Jean-Marc", "a-b-c",
])
def test_real_compounds_stay(word):
    text = f"They spoke of the {word} yesterday."
    assert repair_hyphenation(text) == (text, 0)


@pytest.mark.parametrize("broken,whole", [
    ("gov-ernment", "government"), ("be-cause", "because"), ("peo-ple", "people"),
    ("interna-tional", "international"), ("a-bout", "about"), ("pre-sident", "president"),
    ("Wash-ington", "Washington"), ("T-he", "The"),
])
def test_broken_words_join_on_word_frequency(broken, whole):
    assert repair_hyphenation(f"One {broken} two.") == (f"One {whole} two.", 1)


def test_a_rare_name_joins_only_with_evidence_in_the_document():
    assert repair_hyphenation("Envoy Khal-ilzad spoke.") == ("Envoy Khal-ilzad spoke.", 0)
    assert repair_hyphenation("Envoy Khal-ilzad spoke. Khalilzad left.") == (
        "Envoy Khalilzad spoke. Khalilzad left.", 1)


def test_a_hyphen_left_at_a_line_end_joins():
    assert repair_hyphenation("the interna- tional talks") == ("the international talks", 1)
    assert repair_hyphenation("pre- and post-war years") == ("pre- and post-war years", 0)


def test_paragraphs_are_never_joined():
    text = "the interna-\n\ntional talks"
    assert repair_hyphenation(text) == (text, 0)


def test_languages_without_a_word_list_use_document_evidence_only():
    assert repair_hyphenation("la gou-vernement", language="xx") == ("la gou-vernement", 0)
    assert repair_hyphenation("gou-vernement et gouvernement", language="xx") == (
        "gouvernement et gouvernement", 1)
    for language in ("zh", "ja", "ko"):  # their word lists need tokenizers we do not install
        assert repair_hyphenation("the t-he", language=language) == ("the the", 1)


@pytest.mark.parametrize("text", ["", " ", "-", "--", "a-", "-b", "مرحبا-بالعالم", "👍-👍", "\u2010"])
def test_odd_input_is_returned_unchanged(text):
    assert repair_hyphenation(text) == (text, 0)


def _without_hyphens_and_spaces(text: str) -> str:
    return re.sub(r"[\s\-\u2010]", "", text)


@PROPERTY
@given(NEWSY)
@example("t-he ab-cd abcd ab-c-d")
@example("Khal-ilzad Khal-ilzad Khalilzad")
def test_repair_hyphenation_never_raises_only_removes_hyphens_and_is_idempotent(text):
    repaired, count = repair_hyphenation(text)
    assert count >= 0
    assert (count == 0) == (repaired == text)
    assert _without_hyphens_and_spaces(repaired) == _without_hyphens_and_spaces(text)
    assert len(text) - len(repaired) >= count
    assert repair_hyphenation(repaired) == (repaired, 0)
