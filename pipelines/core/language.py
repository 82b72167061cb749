"""Language identification with py3langid (offline, ISO 639-1 codes).

The language comes from the text, never from feed metadata. Texts too short
to judge and low-confidence guesses give None rather than a guess.

py3langid unpacks its model (LZMA, about 0.6 s) every time a process loads it, so the
unpacked model is also kept as a pickle in the user's cache (``$NEWS_INGEST_CACHE`` or
``~/.cache/news-ingest``, about 70 MB, named by a hash of the model file), like the
gazetteer of ``core.geo``; a missing, corrupt or unwritable cache only costs the unpacking.
The classifier is py3langid's own, with its feature table held as C-ordered float32 (the
float16 table is converted to float32 for every text anyway): the same scores, bit for bit.
"""

from __future__ import annotations

import array
import functools
import hashlib
import logging
import re

import numpy as np
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
from py3langid.modelio import load_model

from pipelines.core.cache import cached

MIN_LETTERS = 40
MIN_CONFIDENCE = 0.80
SAMPLE_CHARS = 600  # the first paragraphs decide (about 100 words); long texts cost no more

_CACHE_FORMAT = "1"
# Not a letter for sure: \W, digits, "_". What is left holds every letter (str.isalpha), and
# at most a few numerals (\w but not isalpha: "½", "²").
_NOT_LETTER_RE = re.compile(r"[\W\d_]+")


def _cache_digest() -> str:
    from importlib.metadata import version

    digest = hashlib.sha256(f"{_CACHE_FORMAT}|{version('py3langid')}|".encode())
    with open(MODEL_DIR / MODEL_FILE, "rb") as model:
        digest.update(model.read())
    return digest.hexdigest()[:16]


def _is_model(model: object) -> bool:
    """Whether ``model`` has the shape of what ``py3langid.modelio.load_model`` returns."""
    if not (isinstance(model, tuple) and len(model) == 6):
        return False
    ptc, pc, classes, nextmove, row, output = model
    return (isinstance(ptc, np.ndarray) and isinstance(pc, np.ndarray) and isinstance(classes, list)
            and isinstance(nextmove, array.array) and isinstance(row, array.array) and isinstance(output, list)
            and ptc.ndim == 2 and ptc.shape[1] == len(pc) == len(classes) and len(row) == len(output) > 0
            and len(nextmove) % 256 == 0)


def _model() -> tuple:
    """py3langid's model as ``load_model`` returns it: from the user's cache, else unpacked and cached."""
    try:
        digest = _cache_digest()
    except OSError as exc:  # the model file itself unreadable: py3langid will say so below
        logging.getLogger("news_ingest").debug("language model cache not used: %s", exc)
        return load_model(MODEL_DIR / MODEL_FILE)
    return cached("langid", digest, lambda: load_model(MODEL_DIR / MODEL_FILE), _is_model)


@functools.lru_cache(maxsize=1)
def identifier() -> LanguageIdentifier:
    """The model restricted to languages with an ISO 639-1 code, loaded once per process."""
    ptc, pc, classes, nextmove, row, output = _model()
    # as LanguageIdentifier.from_model_file builds it
    model = LanguageIdentifier(np.asarray(ptc), np.asarray(pc), classes, nextmove, output,
                               norm_probs=True, tk_row=row)
    model.set_languages(sorted({code for code in model.nb_classes if len(code) == 2}))
    # Scoring multiplies float32 counts by the rows of the text's features: with a float16 table
    # numpy converts those rows to float32 for every text, gathering them from a column-ordered
    # copy. Converted once here (exactly: float16 -> float32 is lossless), the product is the same.
    model.nb_ptc = np.ascontiguousarray(model.nb_ptc, dtype=np.float32)
    return model


def supported_languages() -> list[str]:
    """The ISO 639-1 codes :func:`detect_language` can return."""
    return sorted(set(identifier().nb_classes))


def _letters(text: str) -> int:
    """``sum(ch.isalpha() for ch in text)``, in C for text whose candidates are all letters."""
    if not isinstance(text, str):
        return sum(ch.isalpha() for ch in text)
    candidates = _NOT_LETTER_RE.sub("", text)
    return len(candidates) if candidates.isalpha() else sum(ch.isalpha() for ch in candidates)


def detect_language(text: str) -> tuple[str | None, float | None]:
    """``(code, probability)`` of the text's language, or ``(None, None)`` when unsure."""
    sample = text[:SAMPLE_CHARS]
    if _letters(sample) < MIN_LETTERS:
        return None, None
    code, probability = identifier().classify(sample)
    probability = float(probability)
    if probability < MIN_CONFIDENCE:
        return None, None
    return code, round(probability, 4)
