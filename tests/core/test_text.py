"""core.text: HTML to text, whitespace normalisation, word counts and the content hash."""

import re
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipelines.core.text import (
    KEPT_FORMAT,
    content_fingerprint,
    content_hash,
    html_to_text,
    normalize_line,
    normalize_text,
    word_count,
)

PROPERTY = settings(max_examples=200, deadline=None)

# Arbitrary text, weighted towards what normalize_text rewrites: combining marks next to
# characters it deletes (control, format), line breaks and odd spaces.
_TEXT = st.text(st.one_of(
    st.characters(),
    st.sampled_from(["\n", "\r", "\t", " ", "\u00a0", "\u2028", "e", "\u0301", "\u0327", "\x07", "\u200b",
                     "\u00ad", "\u1100", "\u1161"])))


# --- html_to_text ----------------------------------------------------------------------------------

@pytest.mark.parametrize("markup,expected", [
    ("<p>One</p><p>Two</p>", "One\n\nTwo"),
    ("<div><p>One</p>\n<p>Two</p></div>", "One\n\nTwo"),
    ("<p>Hello<br>world</p>", "Hello\n\nworld"),
    ("<ul><li>a</li><li>b</li></ul>", "a\n\nb"),
    ("<p>Fish &amp; <i>chips</i></p>", "Fish & chips"),
    ("<p>a</p><script>var x = '<p>no</p>';</script><p>b</p>", "a\n\nb"),
    ("<style>p { color: red }</style>Hi", "Hi"),
    ("<head><title>Page</title></head><body>Body</body>", "Body"),
    ("<p>caf&eacute; &#8212; &#x41;</p>", "café — A"),
    ("<p>unclosed <b>bold", "unclosed bold"),
    ("<p>  lots   of \n  space </p>", "lots of space"),
    ("", ""),
])
def test_html_to_text(markup, expected):
    assert html_to_text(markup) == expected


@pytest.mark.parametrize("text,expected", [
    ("Fish &amp; chips", "Fish & chips"),  # no tag: only entities are decoded
    ("1 < 2 and 3 > 2", "1 < 2 and 3 > 2"),
    ("a<b", "a<b"),
    ("AT&T <b>wins</b>", "AT&T wins"),
])
def test_html_to_text_keeps_text_that_only_looks_like_markup(text, expected):
    assert html_to_text(text) == expected


def test_html_to_text_skip_tags_nest():
    markup = "<noscript><style>s</style>n</noscript>visible<template><p>t</p></template>"
    assert html_to_text(markup) == "visible"


# --- normalize_text / normalize_line --------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("  Hello   world  ", "Hello world"),
    ("line one\nline two", "line one line two"),  # hard-wrapped paragraph
    ("para one\n\n\n\npara two", "para one\n\npara two"),
    ("para one\r\n\r\npara two\rnext", "para one\n\npara two next"),
    ("a\n   \n\t\nb", "a\n\nb"),
    ("tab\there", "tab here"),
    ("bell\x07 and\x00 nul", "bell and nul"),
    ("soft\u00adhyphen", "softhyphen"),
    ("e\u0301clair", "\u00e9clair"),  # NFC
    ("no\u00a0break", "no break"),
    ("\n\n  \n", ""),
    ("", ""),
])
def test_normalize_text(text, expected):
    assert normalize_text(text) == expected


def test_normalize_line_joins_paragraphs():
    assert normalize_line("  Kabul \n\n  talks\nresume ") == "Kabul talks resume"
    assert "\n" not in normalize_line("a\n\nb\n\n\nc")


@PROPERTY
@given(st.text())
def test_normalize_text_output_shape(text):
    out = normalize_text(text)
    assert "\r" not in out and "\t" not in out
    assert "\n\n\n" not in out
    assert out == out.strip()
    # control and format characters go, except those that are spelling (ZWJ, ZWNJ, emoji tags)
    assert not [ch for ch in out if ch != "\n" and ch not in KEPT_FORMAT and unicodedata.category(ch).startswith("C")]
    for paragraph in out.split("\n\n") if out else []:
        assert paragraph and "\n" not in paragraph and "  " not in paragraph


@PROPERTY
@given(_TEXT)
@example("e\x07\u0301")
@example("e\u200b\u0301")
def test_normalize_text_is_idempotent_and_nfc(text):
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert unicodedata.is_normalized("NFC", once)


@PROPERTY
@given(_TEXT)
def test_normalize_line_is_one_idempotent_line(text):
    once = normalize_line(text)
    assert "\n" not in once
    assert normalize_line(once) == once


@pytest.mark.parametrize("text,expected", [("e\x07\u0301", "\u00e9"), ("e\u200b\u0301clair", "\u00e9clair")])
def test_deleted_characters_do_not_block_composition(text, expected):
    # NFC must come after the deletions, or the letter and its mark stay apart
    assert normalize_text(text) == expected


@PROPERTY
@given(st.one_of(_TEXT, st.lists(st.sampled_from(["<p>", "</p>", "<br>", "<script>", "</script>", "&amp;", "&#x301;",
                                                  "<b", ">", "text", "\u0301", "\x07"])).map("".join)))
def test_html_to_text_never_raises_and_returns_normalised_text(markup):
    out = html_to_text(markup)
    assert isinstance(out, str)
    assert normalize_text(out) == out


@PROPERTY
@given(st.lists(st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn"),
                                      blacklist_characters="<>&"), min_size=1), min_size=1, max_size=4))
def test_html_paragraphs_become_text_paragraphs(paragraphs):
    markup = "".join(f"<p>{p}</p>" for p in paragraphs)
    expected = "\n\n".join(n for n in (normalize_text(p) for p in paragraphs) if n)
    assert html_to_text(markup) == expected


# --- word_count ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("", 0),
    ("  ... !!! -- ", 0),
    ("one two  three", 3),
    ("don't stop-me now", 3),
    ("l’eau naïve café", 3),
    ("3.14 is pi", 4),
    ("Über 2 Köln-Bonn", 3),
    ("東京 is a city", 4),
])
def test_word_count(text, expected):
    assert word_count(text) == expected


@PROPERTY
@given(st.lists(st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True), max_size=20))
def test_word_count_of_space_joined_words(words):
    assert word_count(" ".join(words)) == len(words)


# --- content fingerprint and hash -------------------------------------------------------------------

def test_fingerprint_drops_case_punctuation_and_whitespace():
    assert content_fingerprint("Don't  STOP,\n\nme!") == "don't stop me"


def test_hash_survives_copy_paste_changes():
    a = "The Federal Reserve cut rates, on Tuesday."
    b = "the  federal reserve CUT rates\n\non tuesday"
    assert content_hash(a) == content_hash(b)


def test_hash_uses_nfkc():
    assert content_hash("ＡＢＣ ﬁne") == content_hash("abc fine")


def test_hash_differs_for_different_words():
    assert content_hash("rates cut") != content_hash("rates rise")
    assert content_hash("rates cut") != content_hash("cut rates")


def test_hash_is_sha256_hex():
    digest = content_hash("anything")
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest != content_hash("")


@PROPERTY
@given(st.lists(st.from_regex(r"[a-z]{1,8}", fullmatch=True), min_size=1, max_size=10),
       st.lists(st.sampled_from([" ", "  ", "\n", "\n\n", ", ", ". ", " - "]), min_size=9, max_size=9))
def test_hash_equal_for_any_separators(words, separators):
    spaced = " ".join(words)
    punctuated = words[0] + "".join(sep + word.upper() for sep, word in zip(separators, words[1:]))
    assert content_hash(spaced) == content_hash(punctuated)
