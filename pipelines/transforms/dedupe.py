"""DeduplicateArticles: exact passes (guid, canonical URL, content hash), then near-duplicates.

In:  article rows. Out: ``articles`` (one kept row per story, ``cluster_size`` set)
and ``duplicates`` (rows for ``duplicates/``, each with the kept row's id as
``canonical_id``, its ``method`` and ``similarity``). Rules in ``core.dedupe`` and
``core.near_dedupe``.

    dedup = rows | DeduplicateArticles()   # dedup.articles, dedup.duplicates

Shape: one GroupByKey per exact method (rows without a key skip it). Near-duplicates:
sketch each kept row once (shingles and LSH band keys), group the band keys by shard and
turn each band bucket into candidate pairs, join the sketches of the candidates to their
pairs and verify each pair on the exact shingle sets, then cluster the verified pairs
around leaders; only the clusters a near match involves are shuffled to their leader.
Never all-pairs: work grows with the number of articles plus the candidates LSH proposes.
The leader clustering runs on one worker over the verified pairs only (article ids and
scores: small next to the texts).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence, Tuple

import apache_beam as beam

from pipelines.core.dedupe import (
    METHODS, absorb, dedup_key, duplicate_rows, kept_row, merge_group, priority,
)
from pipelines.core.near_dedupe import NearConfig, candidate_pairs, leader_clusters, sketch, verify
from pipelines.core.seen_index import band_shard, cluster_keys, text_band_keys
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
    """Cluster -> (article_id, (Sketch, priority, band keys)) for kept rows long enough to compare."""

    def __init__(self, config: NearConfig) -> None:
        self.config = config

    def process(self, cluster):
        row = cluster[0]
        found = sketch(row["article_id"], row["body"], self.config)
        if found is not None:
            keys = text_band_keys(row["article_id"], row["body"], self.config, found)
            yield row["article_id"], (found, priority(row), keys)


def _shard_bands(item, shards: int):
    """(id, (sketch, priority, keys)) -> (shard, (id, keys of the shard)): one element per shard, not per band."""
    article_id, (_, _, keys) = item
    by_shard: dict[int, list[str]] = {}
    for key in keys:
        by_shard.setdefault(band_shard(key, shards), []).append(key)
    for shard, shard_keys in by_shard.items():
        yield shard, (article_id, shard_keys)


def _shard_pairs(element, config: NearConfig):
    """One shard's (id, keys) -> the candidate pairs of its band buckets, each pair once per shard."""
    _, members = element
    buckets: dict[str, list[str]] = {}
    for article_id, keys in members:
        for key in keys:
            buckets.setdefault(key, []).append(article_id)
    pairs = set()
    for ids in buckets.values():
        pairs.update(candidate_pairs(ids, config))
    return sorted(pairs)


def _keep_candidates(item, candidates):
    return item[0] in candidates


def _pair_ends(pair):
    left, right = pair
    return [(left, pair), (right, pair)]


def _sketch_per_pair(element):
    _, joined = element
    for found in joined["sketch"]:
        for pair in joined["pair"]:
            yield pair, found


def _verify_pair(element, config: NearConfig):
    _, found = element
    found = list(found)
    if len(found) != 2:
        return
    (left_sketch, left_priority, _), (right_sketch, right_priority, _) = sorted(found, key=lambda s: s[0].article_id)
    score = verify(left_sketch, right_sketch, config)
    if score is not None:
        yield (left_sketch.article_id, right_sketch.article_id, score,
               {left_sketch.article_id: left_priority, right_sketch.article_id: right_priority})


def _assign(edges):
    """All verified edges -> ``({member: (leader, score)}, leaders)``: one small element."""
    priorities: dict = {}
    for *_, known in edges:
        priorities.update(known)
    members = leader_clusters([edge[:3] for edge in edges], priorities)
    return members, frozenset(leader for leader, _ in members.values())


_ROUTED = "routed"


class RouteToLeaderFn(beam.DoFn):
    """Cluster -> itself when no near match involves it (most do not: no shuffle for them), else
    ``(leader, (role, cluster, score))`` on the ``routed`` output for GroupByLeader."""

    def process(self, cluster, assignments):
        members, leaders = assignments
        article_id = cluster[0]["article_id"]
        assigned = members.get(article_id)
        if assigned is not None:
            leader, score = assigned
            yield beam.pvalue.TaggedOutput(_ROUTED, (leader, ("member", cluster, score)))
        elif article_id in leaders:
            yield beam.pvalue.TaggedOutput(_ROUTED, (article_id, ("self", cluster, None)))
        else:
            yield cluster


def _absorb_members(_, entries):
    entries = list(entries)
    [leader] = [cluster for role, cluster, _ in entries if role == "self"]
    members = sorted(((cluster, "near", score) for role, cluster, score in entries if role == "member"),
                     key=lambda member: priority(member[0][0]))
    return absorb(leader, members)


class MergeNearDuplicates(beam.PTransform):
    """Clusters -> clusters, near-duplicate clusters merged under their leader (method "near").

    Shuffles stay small: band keys travel grouped by shard (one element per article and shard,
    not one per band: 40 bands made 400,000 elements of 10,000 articles), only the sketches of
    articles in a candidate pair are joined, and only the clusters a near match involves are
    grouped under their leader; the rest pass through without a shuffle. The candidate ids
    and the assignments are side inputs: they grow with the near-duplicates, not the corpus.
    """

    def __init__(self, config: NearConfig, band_shards: int = 8) -> None:
        super().__init__()
        if band_shards < 1:
            raise ValueError("band_shards must be at least 1")
        self.config, self.band_shards = config, band_shards

    def expand(self, clusters):
        config, shards = self.config, self.band_shards
        sketches = clusters | "Sketch" >> beam.ParDo(SketchFn(config))
        pairs = (
            sketches
            | "ShardBands" >> beam.FlatMap(_shard_bands, shards)
            | "GroupBandShards" >> beam.GroupByKey()
            | "CandidatePairs" >> beam.FlatMap(_shard_pairs, config)
            | "DistinctPairs" >> beam.Distinct()
        )
        candidate_ids = pairs | "PairEnds" >> beam.FlatMap(lambda pair: pair) | "DistinctIds" >> beam.Distinct()
        candidate_sketches = sketches | "CandidateSketches" >> beam.Filter(
            _keep_candidates, beam.pvalue.AsDict(candidate_ids | "AsKeys" >> beam.Map(lambda i: (i, None))))
        assignments = (
            {"pair": pairs | "KeyByEnds" >> beam.FlatMap(_pair_ends), "sketch": candidate_sketches}
            | "JoinSketches" >> beam.CoGroupByKey()
            | "SketchPerPair" >> beam.FlatMap(_sketch_per_pair)
            | "GroupPairs" >> beam.GroupByKey()
            | "Verify" >> beam.FlatMap(_verify_pair, config)
            | "CollectEdges" >> beam.combiners.ToList()
            | "LeaderClusters" >> beam.Map(_assign)
        )
        routed = clusters | "RouteToLeader" >> beam.ParDo(
            RouteToLeaderFn(), beam.pvalue.AsSingleton(assignments)).with_outputs(_ROUTED, main="alone")
        merged = (
            routed[_ROUTED]
            | "GroupByLeader" >> beam.GroupByKey()
            | "Absorb" >> beam.MapTuple(_absorb_members)
        )
        return (routed.alone, merged) | "Rejoin" >> beam.Flatten()


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
