
import pytest
from conftest import SEED_DOCUMENT
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.core.near_dedupe import (
    NearConfig,
    band_keys,
    candidate_pairs,
    leader_clusters,
    numbers_in,
    shingle_hashes,
    similarity,
    sketch,
    verify,
)

CONFIG = NearConfig()
BODY = SEED_DOCUMENT.read_text(encoding="utf-8").split("\n", 1)[1].strip()
PARAGRAPHS = BODY.split("\n\n")


@pytest.mark.parametrize("kwargs", [
    {"bands": 7}, {"jaccard": 0}, {"containment": 1.5}, {"shingle_words": 0}, {"min_words": 2},
    {"max_bucket": 1}, {"lead_containment": -0.1},
])
def test_config_is_checked(kwargs):
    with pytest.raises(ValueError):
        NearConfig(**kwargs)


def test_fingerprint_names_what_band_keys_depend_on():
    assert NearConfig().fingerprint() != NearConfig(bands=20).fingerprint()
    assert NearConfig().fingerprint() == NearConfig(jaccard=0.9).fingerprint()  # verification only


def test_shingles_ignore_case_punctuation_and_broken_hyphenation():
    a = shingle_hashes("The discussion was focused on the release.", 3)
    b = shingle_hashes("the d-iscussion was f-ocused on THE release", 3)
    assert a == b and len(a) == 5


def test_short_texts_have_no_sketch():
    assert sketch("x", "Read more on our website.", CONFIG) is None
    assert sketch("x", " ".join(["word"] * 39), CONFIG) is None
    assert sketch("x", BODY, CONFIG) is not None


def test_band_keys_are_deterministic_and_one_per_band():
    shingles = shingle_hashes(BODY, CONFIG.shingle_words)
    keys = band_keys(shingles, CONFIG)
    assert len(keys) == CONFIG.bands and len(set(keys)) == CONFIG.bands
    assert keys == band_keys(sorted(shingles, reverse=True), CONFIG)
    assert keys[0].startswith("0:")


def test_numbers_keep_figures_and_skip_years():
    assert numbers_in("In 2020, 5,000 prisoners; 3.5% and 209 Corps. Copyright 1999.") == {"5000", "3.5", "209"}


def _sk(name, text):
    return sketch(name, text, CONFIG)


def test_trimmed_copy_edited_copy_and_boilerplate_are_the_same_story():
    base = _sk("base", BODY)
    trimmed = _sk("trimmed", "\n\n".join(PARAGRAPHS[:5]))
    edited = _sk("edited", BODY.replace("Sunday", "Sunday afternoon").replace("two hours", "about two hours")
                 .replace("said", "told reporters"))
    boiler = _sk("boiler", BODY + "\n\nCopyright 2020 Example Wire. All rights reserved. Sign up for our newsletter.")
    for copy in (trimmed, edited, boiler):
        score = verify(base, copy, CONFIG)
        assert score is not None and 0.6 <= score <= 1.0, copy.article_id


def test_reused_background_under_a_new_lead_is_not_the_same_story():
    old = _sk("old", "\n\n".join(PARAGRAPHS[4:9]))
    follow_up = _sk("follow", "Negotiators from both sides met again in Doha on Tuesday to agree which prisoners "
                    "would be freed first, and officials said a list had been exchanged by the evening.\n\n"
                    "The Red Cross said it was ready to help with the transfers once the lists were final.\n\n"
                    + "\n\n".join(PARAGRAPHS[6:8]))
    sim = similarity(old, follow_up)
    assert sim.jaccard < CONFIG.jaccard
    assert verify(old, follow_up, CONFIG) is None


def test_same_template_with_other_figures_is_not_the_same_story():
    template = ("Kestria's central bank raised its main interest rate to {a} percent on Thursday, its {n} increase "
                "this year, as inflation climbed to {b} percent in October. The governor said further moves would "
                "depend on wages and energy prices, and that the bank stood ready to act again if needed. "
                "Markets had expected the decision, and the currency was little changed after the announcement.")
    first = _sk("a", template.format(a="4.25", b="6.1", n="third"))
    second = _sk("b", template.format(a="4.5", b="6.4", n="fourth"))
    assert similarity(first, second).jaccard >= CONFIG.jaccard  # the text alone would merge them
    assert verify(first, second, CONFIG) is None


def test_candidate_pairs_skip_singletons_and_oversized_buckets():
    assert candidate_pairs(["b", "a", "c", "a"], CONFIG) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert candidate_pairs(["a"], CONFIG) == []
    assert candidate_pairs([str(i) for i in range(CONFIG.max_bucket + 1)], CONFIG) == []


def test_leader_clusters_do_not_chain():
    priorities = {"a": 0, "b": 1, "c": 2, "d": 3}
    edges = [("a", "b", 0.9), ("b", "c", 0.8), ("c", "d", 0.95)]
    assert leader_clusters(edges, priorities) == {"b": ("a", 0.9), "d": ("c", 0.95)}


@settings(max_examples=100, deadline=None)
@given(st.permutations([("a", "b", 0.9), ("a", "c", 0.7), ("b", "c", 0.8), ("d", "e", 0.99), ("c", "e", 0.75)]))
def test_leader_clusters_do_not_depend_on_edge_order(edges):
    priorities = {"a": (0,), "b": (1,), "c": (2,), "d": (3,), "e": (4,)}
    swapped = [(b, a, s) if i % 2 else (a, b, s) for i, (a, b, s) in enumerate(edges)]
    assert leader_clusters(swapped, priorities) == {"b": ("a", 0.9), "c": ("a", 0.7), "e": ("d", 0.99)}


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400), st.text(max_size=400))
def test_verify_never_raises_and_is_symmetric(left, right):
    a, b = sketch("a", left, CONFIG), sketch("b", right, CONFIG)
    if a is not None and b is not None:
        assert verify(a, b, CONFIG) == verify(b, a, CONFIG)


def test_a_packed_sketch_is_small_and_unpacks_to_the_same_sketch():
    import sys

    from pipelines.core.near_dedupe import pack_sketch, unpack_sketch

    found = sketch("a1", SEED_DOCUMENT.read_text(), NearConfig())
    packed = pack_sketch(found)
    assert unpack_sketch(packed) == found
    # what a grouping step holds in memory: the decoded objects (a set of Python ints vs bytes)
    in_memory = sys.getsizeof(found.shingles) + sum(sys.getsizeof(value) for value in found.shingles)
    assert sys.getsizeof(packed[1]) * 10 < in_memory


def test_minhash_permutations_come_from_the_cache_and_equal_datasketchs(tmp_path, monkeypatch):
    """Runs read the permutations from the user's cache instead of importing datasketch (~0.5 s);
    the cached arrays are datasketch's own, and an unusable cache file is drawn again."""
    import pickle

    import numpy as np
    from datasketch import MinHash

    from pipelines.core import near_dedupe

    monkeypatch.setenv("NEWS_INGEST_CACHE", str(tmp_path))
    near_dedupe._permutations.cache_clear()
    expected = MinHash(num_perm=64, seed=7, scheme="affine32").permutations
    a, b = near_dedupe._permutations(64, 7)
    assert np.array_equal(a, expected[0]) and np.array_equal(b, expected[1]) and a.dtype == np.uint32
    [cached] = tmp_path.glob("minhash-permutations-*.pickle")

    def no_drawing(*_):
        raise AssertionError("drawn again although the cache holds the permutations")

    monkeypatch.setattr(near_dedupe, "_draw_permutations", no_drawing)
    near_dedupe._permutations.cache_clear()
    a2, b2 = near_dedupe._permutations(64, 7)
    assert np.array_equal(a2, a) and np.array_equal(b2, b)
    monkeypatch.undo()
    monkeypatch.setenv("NEWS_INGEST_CACHE", str(tmp_path))
    for damage in (b"not a pickle", pickle.dumps((a[:10], b[:10])), pickle.dumps((a.astype(np.int64), b))):
        cached.write_bytes(damage)
        near_dedupe._permutations.cache_clear()
        a3, b3 = near_dedupe._permutations(64, 7)
        assert np.array_equal(a3, expected[0]) and np.array_equal(b3, expected[1]) and a3.dtype == np.uint32
    near_dedupe._permutations.cache_clear()
