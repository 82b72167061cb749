"""core.nlp's speed-ups change no output: the YAKE port and the NER's BLAS."""

import random

import pytest
from eval_enrichment import ROOT, prepare_row, shared_models

from benchmarks.corpus import NewsText
from pipelines.core import keywords, nlp, nlp_models

SEED = "seeds/documents/000_fc173cf85abe3055.txt"


@pytest.fixture(scope="module")
def models():
    return shared_models()


@pytest.fixture(scope="module")
def texts() -> list[str]:
    row, _ = prepare_row(SEED)
    article = "\n\n".join(NewsText(random.Random(3)).paragraphs())  # a benchmark corpus story
    return [nlp.analysis_text(row["title"], row["body"]), article]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_yake_port_gives_yakes_phrases_and_scores(texts, n):
    import yake

    german = (ROOT / "tests/fixtures/enrichment/berlin_de.txt").read_text(encoding="utf-8")
    cases = [("en", text) for text in texts] + [("de", german)] + [("en", text) for text in (
        "", "…", "the of and", "U.S. 12,000 x2 A-B's 'quoted' words s. Mr. Ab cd-ef 3.5% of AB-12 in U.N.",
        "Climate negotiators met in Bonn. The climate negotiators discussed carbon markets and carbon prices.",
    )]
    for language, text in cases:
        extractor = yake.KeywordExtractor(lan=language, n=n, top=nlp.KEYWORDS * 2)
        assert keywords._yake(extractor, text) == extractor.extract_keywords(text), (language, text[:60])


def test_keywords_use_the_port(texts, monkeypatch):
    expected = nlp.keywords(texts[0], "en")
    extractor = keywords._keyword_extractor("en")
    monkeypatch.setattr(keywords, "_yake", lambda ex, text: ex.extract_keywords(text))
    assert nlp.keywords(texts[0], "en") == expected
    assert extractor is keywords._keyword_extractor("en")


def test_ner_on_numpy_blas_finds_the_same_entities_as_on_blis(models, texts):
    import spacy
    from thinc.api import NumpyOps, use_ops

    with use_ops("numpy", use_blis=True):
        reference = spacy.load(nlp.MODEL_PACKAGE, exclude=nlp.EXCLUDED_PIPES)
    assert reference.get_pipe("ner").model.ops.use_blis
    if nlp_models._single_threaded_numpy_blas():  # numpy with OpenBLAS: the NER does not use blis
        ops = models.nlp.get_pipe("ner").model.ops
        assert isinstance(ops, NumpyOps) and not ops.use_blis
    for ours, theirs in zip(models.nlp.pipe(texts), reference.pipe(texts), strict=True):
        assert ours.ents and [(e.start_char, e.end_char, e.label_) for e in ours.ents] == [
            (e.start_char, e.end_char, e.label_) for e in theirs.ents]
