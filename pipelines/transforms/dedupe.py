"""DeduplicateArticles: exact deduplication by guid, canonical URL, then content hash.

In:  article rows. Out: ``articles`` (one kept row per story, ``cluster_size`` set)
and ``duplicates`` (rows for ``duplicates/``, each with the kept row's id as
``canonical_id``). Rules in ``core.dedupe``.

    dedup = rows | DeduplicateArticles()   # dedup.articles, dedup.duplicates

One GroupByKey per method; rows without a key for a method skip its grouping.
"""

from __future__ import annotations

from typing import Any, Sequence, Tuple

import apache_beam as beam

from pipelines.core.dedupe import METHODS, dedup_key, duplicate_rows, kept_row, merge_clusters
from pipelines.transforms.tags import ARTICLES, DUPLICATES

_UNKEYED = "unkeyed"


@beam.typehints.with_output_types(Tuple[str, Any])
class KeyClusterFn(beam.DoFn):
    def __init__(self, method: str) -> None:
        self.method = method

    def process(self, cluster):
        key = dedup_key(cluster[0], self.method)
        if key is None:
            yield beam.pvalue.TaggedOutput(_UNKEYED, cluster)
        else:
            yield key, cluster


class EmitClusterFn(beam.DoFn):
    def process(self, cluster):
        yield kept_row(cluster)
        for row in duplicate_rows(cluster):
            yield beam.pvalue.TaggedOutput(DUPLICATES, row)


class _MergeBy(beam.PTransform):
    def __init__(self, method: str) -> None:
        super().__init__()
        self.method = method

    def expand(self, clusters):
        keyed = clusters | "Key" >> beam.ParDo(KeyClusterFn(self.method)).with_outputs(_UNKEYED, main="keyed")
        merged = (
            keyed.keyed
            | "Group" >> beam.GroupByKey()
            | "Merge" >> beam.MapTuple(lambda _, group, m=self.method: merge_clusters(group, m))
        )
        return (merged, keyed[_UNKEYED]) | "Rejoin" >> beam.Flatten()


class DeduplicateArticles(beam.PTransform):
    def __init__(self, methods: Sequence[str] = METHODS) -> None:
        super().__init__()
        unknown = [m for m in methods if m not in METHODS]
        if unknown or not methods:
            raise ValueError(f"dedup methods must be a non-empty subset of {METHODS}, got {list(methods)}")
        self.methods = list(methods)

    def expand(self, rows):
        clusters = rows | "StartClusters" >> beam.Map(lambda row: (row, []))
        for method in self.methods:
            clusters = clusters | f"MergeBy{method.capitalize()}" >> _MergeBy(method)
        return clusters | "EmitClusters" >> beam.ParDo(EmitClusterFn()).with_outputs(
            DUPLICATES, main=ARTICLES)
