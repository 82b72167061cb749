"""core.language: offline language identification with py3langid."""

import pickle

import numpy as np
import pytest

from pipelines.core.language import (
    MIN_CONFIDENCE,
    MIN_LETTERS,
    SAMPLE_CHARS,
    detect_language,
    identifier,
    supported_languages,
)

ENGLISH = ("The Federal Reserve cut interest rates by half a percentage point on Tuesday in an emergency "
           "move to shield the world's largest economy from the impact of the outbreak.")
FRENCH = ("Les grands musées de la capitale ont rouvert leurs portes mardi après trois semaines de "
          "fermeture, a annoncé la mairie dans un communiqué publié dans la matinée.")
GERMAN = ("Die Bundesregierung hat am Dienstag beschlossen, die Maßnahmen bis zum Ende des Monats zu "
          "verlängern, teilte ein Sprecher in Berlin mit.")


@pytest.mark.parametrize("text,code", [(ENGLISH, "en"), (FRENCH, "fr"), (GERMAN, "de")])
def test_detects_language_of_a_paragraph(text, code):
    detected, confidence = detect_language(text)
    assert detected == code
    assert isinstance(confidence, float)
    assert MIN_CONFIDENCE <= confidence <= 1.0
    assert confidence == round(confidence, 4)


@pytest.mark.parametrize("text", ["", "Hello there", "12345 67890 " * 20, "!!! ??? ... " * 20, "a" * (MIN_LETTERS - 1)])
def test_too_little_text_is_unsure(text):
    assert detect_language(text) == (None, None)


def test_low_confidence_is_unsure():
    text = "xqzv " * 20
    assert sum(ch.isalpha() for ch in text) >= MIN_LETTERS
    _, probability = identifier().classify(text)
    assert probability < MIN_CONFIDENCE
    assert detect_language(text) == (None, None)


def test_only_the_first_sample_counts():
    padding = " " * SAMPLE_CHARS  # letters after the sample are never looked at
    assert detect_language(padding + ENGLISH) == (None, None)
    english_sample = (ENGLISH + " ") * (SAMPLE_CHARS // len(ENGLISH) + 1)
    assert detect_language(english_sample + FRENCH * 50)[0] == "en"
    assert detect_language(FRENCH * 50)[0] == "fr"


def test_supported_languages_are_iso_639_1_codes():
    codes = supported_languages()
    assert codes == sorted(codes) and len(codes) == len(set(codes))
    assert len(codes) > 50
    assert all(len(code) == 2 and code.isalpha() and code.islower() for code in codes)
    assert {"en", "fr", "de", "es", "ar", "zh"} <= set(codes)


def test_detected_codes_are_supported():
    supported = set(supported_languages())
    for text in (ENGLISH, FRENCH, GERMAN):
        assert detect_language(text)[0] in supported


def test_model_is_loaded_once():
    assert identifier() is identifier()


def _same_model(a: tuple, b: tuple) -> bool:
    return (len(a) == len(b) == 6 and all(np.array_equal(x, y) for x, y in zip(a[:2], b[:2]))
            and a[2:] == b[2:])


@pytest.mark.slow
def test_model_cache_round_trip_and_a_corrupt_foreign_or_unwritable_cache_is_survived(tmp_path, monkeypatch):
    from py3langid.langid import MODEL_DIR, MODEL_FILE
    from py3langid.modelio import load_model

    from pipelines.core import language

    unpacked = load_model(MODEL_DIR / MODEL_FILE)
    monkeypatch.setenv("NEWS_INGEST_CACHE", str(tmp_path / "cache"))
    assert _same_model(language._model(), unpacked)  # unpacked, and the cache written
    [cached] = (tmp_path / "cache").glob("langid-*.pickle")
    assert _same_model(pickle.loads(cached.read_bytes()), unpacked)
    assert _same_model(language._model(), unpacked)  # read back from the cache
    for damage in (b"\x80\x05 not a pickle", cached.read_bytes()[:1000], pickle.dumps(("a", "b"))):
        cached.write_bytes(damage)
        assert _same_model(language._model(), unpacked)  # unusable: unpacked again and rewritten
        assert _same_model(pickle.loads(cached.read_bytes()), unpacked)
    assert [path.name for path in (tmp_path / "cache").iterdir()] == [cached.name]  # no temporary files left
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("NEWS_INGEST_CACHE", str(tmp_path / "file" / "cache"))
    assert _same_model(language._model(), unpacked)  # the cache cannot be written: still the model
