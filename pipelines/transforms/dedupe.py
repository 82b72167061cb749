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

import zlib
from typing import Any, NamedTuple, Sequence, Tuple

import apache_beam as beam

from pipelines.core.dedupe import (
    METHODS,
    absorb,
    dedup_key,
    duplicate_rows,
    kept_row,
    merge_group,
    priority,
)
from pipelines.core.near_dedupe import (
    NearConfig,
    Sketch,
    candidate_pairs,
    leader_clusters,
    pack_sketch,
    sketch,
    unpack_sketch,
    verify,
)
from pipelines.core.seen_index import band_shard, cluster_keys, text_band_keys
from pipelines.transforms.seen_index import DropSeenClusters
from pipelines.transforms.tags import ARTICLES, DUPLICATES, Cluster, Row

_UNKEYED = "unkeyed"


@beam.typehints.with_input_types(Cluster)
@beam.typehints.with_output_types(Tuple[str, Cluster], unkeyed=Cluster)
class KeyClusterFn(beam.DoFn):
    def __init__(self, method: str) -> None:
        self.method = method

    def process(self, cluster):
        key = dedup_key(cluster[0], self.method)
        if key is None:
            yield beam.pvalue.TaggedOutput(_UNKEYED, cluster)
        else:
            yield key, cluster


@beam.typehints.with_input_types(Cluster)
@beam.typehints.with_output_types(Row, duplicates=Row)
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
        if len(ids) > 1:  # most of the buckets hold one article (368,000 of them at 10,000 articles)
            pairs.update(candidate_pairs(ids, config))
    return sorted(pairs)


def _part(article_id: str, parts: int) -> int:
    return zlib.crc32(article_id.encode("utf-8")) % parts


def _cell(left: int, right: int) -> tuple[int, int]:
    return (left, right) if left <= right else (right, left)


def _partner_parts(pair, parts: int):
    """(a, b) -> each end with the partition of its partner: where its sketch must go."""
    left, right = pair
    return [(left, _part(right, parts)), (right, _part(left, parts))]


def _route_sketch(element, parts: int):
    """(id, {"sketch", "need"}) -> the packed sketch to each cell holding one of its pairs."""
    article_id, joined = element
    needs = sorted(set(joined["need"]))
    for packed in joined["sketch"]:
        own = _part(article_id, parts)
        for partner in needs:
            yield _cell(own, partner), ("sketch", article_id, packed)


def _route_pair(pair, parts: int):
    return _cell(_part(pair[0], parts), _part(pair[1], parts)), ("pair", pair[0], pair[1])


_UNPACKED_PER_CELL = 2_000  # ~35 KB each as Python sets: at most ~70 MB per cell


def _verify_cell(element, config: NearConfig):
    """One cell's sketches and pairs -> verified edges; each sketch unpacked once per cell."""
    _, entries = element
    packed, pairs = {}, []
    for kind, *rest in entries:
        if kind == "sketch":
            article_id, (found, rank) = rest
            packed[article_id] = (found, rank)
        else:
            pairs.append(tuple(rest))
    unpacked: dict[str, Sketch] = {}  # bounded: a cell can hold tens of thousands of sketches

    def get(article_id: str) -> Sketch:
        found = unpacked.get(article_id)
        if found is None:
            if len(unpacked) >= _UNPACKED_PER_CELL:
                unpacked.pop(next(iter(unpacked)))  # the oldest: pairs come sorted by their left id
            found = unpacked[article_id] = unpack_sketch(packed[article_id][0])
        return found

    for left, right in sorted(pairs):
        score = verify(get(left), get(right), config)
        if score is not None:
            yield left, right, score, {left: packed[left][1], right: packed[right][1]}


def _assign(edges):
    """All verified edges -> ``({member: (leader, score)}, leaders)``: one small element."""
    priorities: dict = {}
    for *_, known in edges:
        priorities.update(known)
    members = leader_clusters([edge[:3] for edge in edges], priorities)
    return members, frozenset(leader for leader, _ in members.values())


_ROUTED = "routed"


@beam.typehints.with_input_types(Cluster, Any)
@beam.typehints.with_output_types(Cluster, routed=Tuple[str, Tuple[str, Cluster, Any]])
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
    not one per band: 40 bands made 400,000 elements of 10,000 articles). Pairs are verified
    in cells: ids fall into ``verify_parts`` partitions, the pair (a, b) is checked in the cell
    of a's and b's partitions, and each sketch travels packed (2 KB, not a 35 KB frozenset)
    once to each cell it has a pair in, never once per pair (grouping holds its input decoded
    in memory: a copy per pair took 7 GB at 40,000 articles and 23 GB, killed, at 100,000).
    Only the clusters a near match involves are grouped under their leader; the rest pass
    through without a shuffle (the assignments are a side input: they grow with the
    near-duplicates, not the corpus).
    """

    def __init__(self, config: NearConfig, band_shards: int = 8, verify_parts: int = 4) -> None:
        super().__init__()
        if band_shards < 1 or verify_parts < 1:
            raise ValueError("band_shards and verify_parts must be at least 1")
        self.config, self.band_shards, self.verify_parts = config, band_shards, verify_parts

    def expand(self, clusters):
        config, shards, parts = self.config, self.band_shards, self.verify_parts
        sketches = clusters | "Sketch" >> beam.ParDo(SketchFn(config))
        pairs = (
            sketches
            | "ShardBands" >> beam.FlatMap(_shard_bands, shards)
            | "GroupBandShards" >> beam.GroupByKey()
            | "CandidatePairs" >> beam.FlatMap(_shard_pairs, config)
            | "DistinctPairs" >> beam.Distinct()
        )
        packed = sketches | "Pack" >> beam.Map(lambda item: (item[0], (pack_sketch(item[1][0]), item[1][1])))
        needs = pairs | "PartnerParts" >> beam.FlatMap(_partner_parts, parts) | "DistinctNeeds" >> beam.Distinct()
        routed_sketches = (
            {"sketch": packed, "need": needs}
            | "JoinNeeds" >> beam.CoGroupByKey()
            | "RouteSketches" >> beam.FlatMap(_route_sketch, parts)
        )
        assignments = (
            (routed_sketches, pairs | "RoutePairs" >> beam.Map(_route_pair, parts))
            | "MergeCells" >> beam.Flatten()
            | "GroupCells" >> beam.GroupByKey()
            | "VerifyCells" >> beam.FlatMap(_verify_cell, config)
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

    ``earlier`` is the ``SeenIndex`` of ``open_seen_index``; ``output`` the output root whose
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
