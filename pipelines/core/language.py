"""Language identification with py3langid (offline, ISO 639-1 codes).

The language comes from the text, never from feed metadata. Texts too short
to judge and low-confidence guesses give None rather than a guess.
"""

from __future__ import annotations

import functools

from py3langid.langid import MODEL_FILE, LanguageIdentifier

MIN_LETTERS = 40
MIN_CONFIDENCE = 0.80
SAMPLE_CHARS = 600  # the first paragraphs decide (about 100 words); long texts cost no more


@functools.lru_cache(maxsize=1)
def identifier() -> LanguageIdentifier:
    """The model restricted to languages with an ISO 639-1 code, loaded once per process."""
    model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    model.set_languages(sorted({code for code in model.nb_classes if len(code) == 2}))
    return model


def supported_languages() -> list[str]:
    """The ISO 639-1 codes :func:`detect_language` can return."""
    return sorted(set(identifier().nb_classes))


def detect_language(text: str) -> tuple[str | None, float | None]:
    """``(code, probability)`` of the text's language, or ``(None, None)`` when unsure."""
    sample = text[:SAMPLE_CHARS]
    if sum(ch.isalpha() for ch in sample) < MIN_LETTERS:
        return None, None
    code, probability = identifier().classify(sample)
    probability = float(probability)
    if probability < MIN_CONFIDENCE:
        return None, None
    return code, round(probability, 4)
