"""DeduplicateArticles: exact passes (guid, canonical URL, content hash), then near-duplicates.

In:  article rows. Out: ``articles`` (one kept row per story, ``cluster_size`` set)
and ``duplicates`` (rows for ``duplicates/``, each with the kept row's id as
``canonical_id``, its ``method`` and ``similarity``). Rules in ``core.dedupe`` and
``core.near_dedupe``.

    dedup = rows | DeduplicateArticles()   # dedup.articles, dedup.duplicates

Shape: one GroupByKey per exact method (rows without a key skip it). Near-duplicates:
key each sketch by its LSH band keys, group, turn each bucket into candidate pairs,
verify each pair on the exact shingle sets (two joins bring both sketches together),
then cluster the verified pairs around leaders. Never all-pairs: work grows with the
number of articles plus the candidates LSH proposes. The leader clustering runs on one
worker over the verified pairs only (article ids and scores: small next to the texts).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence, Tuple

import apache_beam as beam

from pipelines.core.dedupe import (
    METHODS, absorb, dedup_key, duplicate_rows, kept_row, merge_group, priority,
)
from pipelines.core.near_dedupe import NearConfig, band_keys, candidate_pairs, leader_clusters, sketch, verify
from pipelines.core.seen_index import cluster_keys
from pipelines.transforms.seen_index import DropSeenClusters
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


class MergeBy(beam.PTransform):
    def __init__(self, method: str) -> None:
        super().__init__()
        self.method = method

    def expand(self, clusters):
        keyed = clusters | "Key" >> beam.ParDo(KeyClusterFn(self.method)).with_outputs(_UNKEYED, main="keyed")
        merged = (
            keyed.keyed
            | "Group" >> beam.GroupByKey()
            | "Merge" >> beam.FlatMapTuple(lambda _, group, m=self.method: merge_group(group, m))
        )
        return (merged, keyed[_UNKEYED]) | "Rejoin" >> beam.Flatten()


class SketchFn(beam.DoFn):
    """Cluster -> (article_id, (Sketch, priority)) for kept rows long enough to compare."""

    def __init__(self, config: NearConfig) -> None:
        self.config = config

    def process(self, cluster):
        row = cluster[0]
        found = sketch(row["article_id"], row["body"], self.config)
        if found is not None:
            yield row["article_id"], (found, priority(row))


def _pair_with_left(element):
    _, joined = element
    for sketched in joined["sketch"]:
        for right in joined["pair"]:
            yield right, sketched


def _verify_pair(element, config: NearConfig):
    _, joined = element
    for right_sketch, right_priority in joined["sketch"]:
        for left_sketch, left_priority in joined["pair"]:
            score = verify(left_sketch, right_sketch, config)
            if score is not None:
                yield (left_sketch.article_id, right_sketch.article_id, score,
                       {left_sketch.article_id: left_priority, right_sketch.article_id: right_priority})


def _assign(edges):
    priorities: dict = {}
    for *_, known in edges:
        priorities.update(known)
    return sorted(leader_clusters([edge[:3] for edge in edges], priorities).items())


def _route(element):
    article_id, joined = element
    for cluster in joined["cluster"]:
        assignment = joined["assign"]
        if assignment:
            leader, score = assignment[0]
            yield leader, ("member", cluster, score)
        else:
            yield article_id, ("self", cluster, None)


def _absorb_members(_, entries):
    entries = list(entries)
    [leader] = [cluster for role, cluster, _ in entries if role == "self"]
    members = sorted(((cluster, "near", score) for role, cluster, score in entries if role == "member"),
                     key=lambda member: priority(member[0][0]))
    return absorb(leader, members)


class MergeNearDuplicates(beam.PTransform):
    """Clusters -> clusters, near-duplicate clusters merged under their leader (method "near")."""

    def __init__(self, config: NearConfig) -> None:
        super().__init__()
        self.config = config

    def expand(self, clusters):
        config = self.config
        by_id = clusters | "KeyById" >> beam.Map(lambda cluster: (cluster[0]["article_id"], cluster))
        sketches = clusters | "Sketch" >> beam.ParDo(SketchFn(config))
        pairs = (
            sketches
            | "BandKeys" >> beam.FlatMap(
                lambda item: [(key, item[0]) for key in band_keys(item[1][0].shingles, config)])
            | "GroupBands" >> beam.GroupByKey()
            | "CandidatePairs" >> beam.FlatMapTuple(lambda _, ids: candidate_pairs(ids, config))
            | "DistinctPairs" >> beam.Distinct()
        )
        with_left = (
            {"pair": pairs, "sketch": sketches}
            | "JoinLeft" >> beam.CoGroupByKey()
            | "PairWithLeft" >> beam.FlatMap(_pair_with_left)
        )
        assignments = (
            {"pair": with_left, "sketch": sketches}
            | "JoinRight" >> beam.CoGroupByKey()
            | "Verify" >> beam.FlatMap(_verify_pair, config)
            | "CollectEdges" >> beam.combiners.ToList()
            | "LeaderClusters" >> beam.FlatMap(_assign)
        )
        return (
            {"cluster": by_id, "assign": assignments}
            | "JoinAssignments" >> beam.CoGroupByKey()
            | "RouteToLeader" >> beam.FlatMap(_route)
            | "GroupByLeader" >> beam.GroupByKey()
            | "Absorb" >> beam.MapTuple(_absorb_members)
        )


class DedupOutputs(NamedTuple):
    articles: beam.PCollection
    duplicates: beam.PCollection
    keys: beam.PCollection  # empty unless deduplicating against earlier runs


class DeduplicateArticles(beam.PTransform):
    """Within the run, then (when ``earlier`` is given) against the seen-index of earlier runs.

    ``earlier`` is the PCollection of ``ReadSeenIndex``; ``output`` the output root whose
    ``articles/`` the index points into. With ``earlier``, the output ``keys`` holds
    ``(article_id, [(kind, key), ...])`` of every kept article, for ``StageIndexEntries``.
    """

    def __init__(self, methods: Sequence[str] = METHODS, near: NearConfig | None = NearConfig(),
                 earlier=None, output: str | None = None) -> None:
        super().__init__()
        unknown = [m for m in methods if m not in METHODS]
        if unknown or not methods:
            raise ValueError(f"dedup methods must be a non-empty subset of {METHODS}, got {list(methods)}")
        if near is not None and not isinstance(near, NearConfig):
            raise ValueError("near must be a NearConfig or None (no near-duplicate pass)")
        if earlier is not None and not output:
            raise ValueError("deduplicating against earlier runs needs the output root")
        self.methods = list(methods)
        self.near = near
        self.earlier, self.output = earlier, output

    def expand(self, rows):
        clusters = rows | "StartClusters" >> beam.Map(lambda row: (row, []))
        for method in self.methods:
            clusters = clusters | f"MergeBy{method.capitalize()}" >> MergeBy(method)
        if self.near is not None:
            clusters = clusters | "MergeNear" >> MergeNearDuplicates(self.near)
        earlier_duplicates = []
        if self.earlier is not None:
            fresh = clusters | "DropSeen" >> DropSeenClusters(self.earlier, self.output, self.near)
            clusters = fresh[ARTICLES]
            earlier_duplicates.append(fresh[DUPLICATES])
        emitted = clusters | "EmitClusters" >> beam.ParDo(EmitClusterFn()).with_outputs(DUPLICATES, main=ARTICLES)
        duplicates = [emitted[DUPLICATES], *earlier_duplicates] | "AllDuplicates" >> beam.Flatten()
        if self.earlier is not None:
            near = self.near
            keys = clusters | "IndexKeys" >> beam.Map(
                lambda cluster: (cluster[0]["article_id"], cluster_keys(cluster, near)))
        else:
            keys = rows.pipeline | "NoIndexKeys" >> beam.Create([])
        return DedupOutputs(emitted[ARTICLES], duplicates, keys)
