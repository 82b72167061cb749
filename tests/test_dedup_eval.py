"""Deduplication quality on the hand-made evaluation set (tests/fixtures/dedup_eval/).

The issue's goal is precision >= 0.98 and recall >= 0.95 over pairs; this runs the real
DeduplicateArticles transform on DirectRunner, as benchmarks/eval_dedup.py does.
"""

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT))
from benchmarks.eval_dedup import CORPUS, load, predicted_clusters, score
from pipelines.core.near_dedupe import NearConfig


def test_precision_and_recall_meet_the_goal(tmp_path):
    items = load(CORPUS)
    result = score(items, predicted_clusters(items, NearConfig(), tmp_path))
    assert result["true_pairs"] >= 150
    assert result["precision"] >= 0.98, result["errors"][:10]
    assert result["recall"] >= 0.95, result["errors"][:10]


def test_exact_keys_alone_miss_the_syndicated_copies(tmp_path):
    # the evaluation set is hard enough that exact keys cannot pass it
    items = load(CORPUS)
    result = score(items, predicted_clusters(items, None, tmp_path))
    assert result["precision"] >= 0.98 and result["recall"] < 0.5
