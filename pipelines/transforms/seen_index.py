"""The seen-index in Beam: read it, drop what earlier runs wrote, and stage this run's entries.

ReadSeenIndex      in: the pipeline root; out: index entries (dicts, ``schemas.SEEN_SCHEMA``)
                   younger than the retention window (the streaming job loads them as side inputs).
open_seen_index    the index files of an output and the retention window, for DropSeenClusters.
DropSeenClusters   in: dedup clusters; out: ``articles`` (clusters never seen before) and
                   ``duplicates`` (duplicate rows of seen clusters, ``canonical_id`` = the
                   earlier run's article). The index is looked up with this run's keys (a side
                   input, matched in Arrow): only matching entries enter the pipeline. Near
                   matches are verified against the earlier article's text, read from its file
                   under ``articles/``.
StageIndexEntries  in: ``(article_id, keys)`` of kept clusters and ``(article_id, path)`` of
                   written articles; out: ``("index", staged_path, relative_final_path, rows)``. The
                   manifest step renames them into ``_index/`` (the run's commit).

    index = open_seen_index(p, "out", since)
    fresh = clusters | DropSeenClusters(index, "out", near)   # fresh.articles, fresh.duplicates
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import NamedTuple

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pipelines import storage
from pipelines.core.batches import parquet_bytes
from pipelines.core.dedupe import duplicate_rows
from pipelines.core.near_dedupe import NearConfig, Sketch, pack_sketch, sketch, unpack_sketch, verify
from pipelines.core.records import one_line, stable_hash
from pipelines.core.seen_index import (
    CORRUPT_DIR,
    INDEX_DIR,
    KeySet,
    band_shard,
    best_match,
    exact_entry_key,
    exact_keys,
    index_table,
    matching_entries,
    read_index_table,
    rebuild_index_rows,
    run_of_index_file,
    text_band_keys,
)
from pipelines.transforms.tags import ARTICLES, DUPLICATES

LOG = logging.getLogger("news_ingest")
INDEX_FILE_ROWS = 200_000


class SeenIndexError(RuntimeError):
    """An index file is unreadable and could not be rebuilt from the dataset."""


def repair_index_file(output: str, path: str, near: NearConfig | None) -> None:
    """Replace an unreadable index file by one rebuilt from the dataset; keep the bad one aside.

    Order matters for crashes: the rebuilt file is written first, the bad file copied to
    ``_index/_corrupt/``, then the rebuilt file renamed over the bad one (one atomic rename on
    a local filesystem). A crash anywhere leaves the bad file (repaired next time) or the good one.
    """
    folder, name = FileSystems.split(path)
    run_id = run_of_index_file(name)
    if run_id is None:
        raise SeenIndexError(f"seen-index file {path} is unreadable and its name names no run; "
                             f"move it out of {INDEX_DIR}/ to continue")
    near = near or NearConfig()  # a run without near dedup must not rebuild a file without band keys
    try:
        rows = rebuild_index_rows(output, run_id, near)
    except Exception as exc:  # noqa: BLE001 - the dataset itself may be damaged: say so, do not guess
        raise SeenIndexError(f"seen-index file {path} is unreadable and rebuilding it from run {run_id}'s "
                             f"files failed: {type(exc).__name__}: {exc}") from None
    corrupt = storage.join(folder, CORRUPT_DIR)
    rebuilt = storage.join(corrupt, name + ".rebuilt")
    storage.publish_bytes(parquet_bytes(index_table(rows, near)), rebuilt, rebuilt + ".tmp")
    FileSystems.copy([path], [storage.join(corrupt, f"{name}.{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}")])
    storage.publish_staged([rebuilt], [path])
    LOG.warning("seen-index file %s was unreadable: rebuilt %d entries of run %s from the dataset "
                "(the bad file is in %s/%s/)", name, len(rows), run_id, INDEX_DIR, CORRUPT_DIR)


def _open_index_table(readable: fileio.ReadableFile, output: str, since: dt.datetime,
                      near: NearConfig | None, repaired, warn_incompatible: bool = True) -> pa.Table:
    """One index file's entries since ``since`` as a table; an unreadable file is rebuilt first."""
    try:
        with readable.open() as handle:
            table, incompatible = read_index_table(handle, since, near)
    except OSError:
        raise  # the storage failed (transient or not): fail the run, never "repair" a good file
    except (ValueError, pa.ArrowException) as exc:  # the bytes are not a readable index file
        LOG.warning("seen-index file %s is unreadable (%s): rebuilding it", readable.metadata.path,
                    one_line(str(exc)))
        repair_index_file(output, readable.metadata.path, near)
        repaired.inc()
        with FileSystems.open(readable.metadata.path) as handle:
            table, incompatible = read_index_table(handle, since, near)
    if incompatible and warn_incompatible:
        LOG.warning("seen-index %s was written with other near-duplicate parameters: "
                    "its band keys are ignored", readable.metadata.path)
    return table


class ReadIndexFileFn(beam.DoFn):
    def __init__(self, output: str, since: dt.datetime, near: NearConfig | None) -> None:
        self.output, self.since, self.near = output, since, near
        self.repaired = Metrics.counter("seen_index", "repaired_files")

    def process(self, readable: fileio.ReadableFile):
        yield from _open_index_table(readable, self.output, self.since, self.near, self.repaired).to_pylist()


class LookupIndexFn(beam.DoFn):
    """An index file and this run's keys (a side input) -> the file's entries with one of those keys.

    ``kind="exact"``: ``(exact_entry_key, (kind, article_id))`` per matching exact-key entry;
    ``kind="band"``: ``(shard, ("old", key, article_id, path))`` per matching band entry. The file
    is filtered in Arrow (``core.seen_index.matching_entries``): a lookup costs a vectorised scan of
    the index plus one element per match, where reading every entry into the pipeline cost one
    element per entry (43 per article: 350,000 for one day of 10,000 records, 10 s and 300 MB
    more for every such day the index held).
    """

    def __init__(self, output: str, since: dt.datetime, near: NearConfig | None, kind: str,
                 band_shards: int = 8) -> None:
        if kind not in ("exact", "band"):
            raise ValueError(f"kind must be 'exact' or 'band', got {kind!r}")
        self.output, self.since, self.near, self.kind, self.band_shards = output, since, near, kind, band_shards
        self.repaired = Metrics.counter("seen_index", "repaired_files")
        self._wanted = None  # (the side input object, its KeySet): built once per bundle

    def _key_set(self, wanted) -> KeySet:
        """The side input's keys; its elements are keys or lists of keys."""
        if self._wanted is None or self._wanted[0] is not wanted:
            keys: set[str] = set()
            for item in wanted:
                if isinstance(item, str):
                    keys.add(item)
                else:
                    keys.update(item)
            self._wanted = (wanted, KeySet(keys))
        return self._wanted[1]

    def process(self, readable: fileio.ReadableFile, wanted):
        keys = self._key_set(wanted)
        if not keys:  # nothing to look up: the file is not even opened (nor repaired: a run with keys does it)
            return
        table = _open_index_table(readable, self.output, self.since, self.near, self.repaired,
                                  warn_incompatible=self.kind == "band")
        found = matching_entries(table, self.kind, keys)
        if self.kind == "exact":
            for match, kind, article_id in zip(*(found[c].to_pylist() for c in ("match", "kind", "article_id"))):
                yield match, (kind, article_id)
        else:
            shards = self.band_shards
            for key, article_id, path in zip(*(found[c].to_pylist() for c in ("key", "article_id", "path"))):
                yield band_shard(key, shards), ("old", key, article_id, path)

    def finish_bundle(self):
        self._wanted = None  # the runner keeps idle DoFns for a while: do not hold this run's keys


class SeenIndex(NamedTuple):
    """The seen-index of an output as :class:`DropSeenClusters` reads it: the index files, and the
    oldest entry that still counts (``since``: the retention window)."""

    files: beam.PCollection  # fileio.ReadableFile of <output>/_index/*.parquet
    since: dt.datetime


def open_seen_index(pipeline: beam.Pipeline, output: str, since: dt.datetime, label: str = "SeenIndex") -> SeenIndex:
    """The index files of ``output`` (none yet is fine) for :class:`DropSeenClusters`."""
    if since.utcoffset() != dt.timedelta(0):
        raise ValueError("since must be an aware UTC datetime")
    pattern = storage.join(output, INDEX_DIR, "*.parquet")
    files = (
        pipeline
        | f"{label}/Match" >> fileio.MatchFiles(pattern, empty_match_treatment=fileio.EmptyMatchTreatment.ALLOW)
        | f"{label}/Open" >> fileio.ReadMatches()
    )
    return SeenIndex(files, since)


class ReadSeenIndex(beam.PTransform):
    def __init__(self, output: str, since: dt.datetime, near: NearConfig | None) -> None:
        super().__init__()
        if since.utcoffset() != dt.timedelta(0):
            raise ValueError("since must be an aware UTC datetime")
        self.pattern = storage.join(output, INDEX_DIR, "*.parquet")
        self.output, self.since, self.near = output, since, near

    def expand(self, pbegin):
        return (
            pbegin
            | "MatchIndex" >> fileio.MatchFiles(self.pattern, empty_match_treatment=fileio.EmptyMatchTreatment.ALLOW)
            | "OpenIndex" >> fileio.ReadMatches()
            | "ReadIndexFile" >> beam.ParDo(ReadIndexFileFn(self.output, self.since, self.near))
        )


def _cluster_id(cluster) -> str:
    return cluster[0]["article_id"]


class VerifyEarlierFileFn(beam.DoFn):
    """One earlier article file with its candidates -> ``(cluster_id, ("near", old_id, score))`` per
    verified pair.

    In: ``(path, [("pair", cluster_id, old_id) | ("sketch", cluster_id, packed sketch), ...])``:
    the candidate pairs whose earlier article is in the file, and the packed sketch of every new
    cluster among them (once per file, not once per pair). The file's bodies of the wanted
    earlier articles are read and sketched once each; each pair is verified here, so no sketch
    travels per pair (an unpacked sketch is ~35 KB: per pair, 5 runs of 10,000 records with
    overlapping stories held 300 MB more per run in the join).
    """

    def __init__(self, output: str, near: NearConfig) -> None:
        self.output, self.near = output, near

    def process(self, element):
        path, entries = element
        pairs, packed = [], {}
        for kind, cluster_id, value in entries:
            if kind == "pair":
                pairs.append((cluster_id, value))
            else:
                packed[cluster_id] = value
        wanted = {old_id for _, old_id in pairs}
        full_path = storage.join(self.output, path)
        if not FileSystems.exists(full_path):
            LOG.warning("seen-index points at a missing file %s: its near matches are skipped", path)
            return
        try:
            with FileSystems.open(full_path) as handle:
                table = pq.read_table(handle, columns=["article_id", "body"])
        except (OSError, ValueError, pa.ArrowException) as exc:
            LOG.error("article file %s is unreadable (%s): near matches against it are skipped; "
                      "restore it from a backup", path, one_line(str(exc)))
            return
        old = {row["article_id"]: sketch(row["article_id"], row["body"], self.near)
               for row in table.to_pylist() if row["article_id"] in wanted}
        new: dict[str, Sketch] = {}
        for cluster_id, old_id in sorted(pairs):
            if cluster_id not in packed or old.get(old_id) is None:
                continue
            if cluster_id not in new:
                new[cluster_id] = unpack_sketch(packed[cluster_id])
            score = verify(new[cluster_id], old[old_id], self.near)
            if score is not None:
                yield cluster_id, ("near", old_id, score)


def _route_new_sketch(element):
    """(cluster_id, {"sketch": [packed], "path": [paths]}) -> (path, ("sketch", cluster_id, packed)) per path."""
    cluster_id, joined = element
    for packed in joined["sketch"]:
        for path in sorted(set(joined["path"])):
            yield path, ("sketch", cluster_id, packed)


def split_seen(element):
    _, joined = element
    for cluster in joined["cluster"]:
        match = best_match((kind, old_id) for kind, old_id, _ in joined["match"])
        if match is None:
            yield cluster
            continue
        kind, old_id = match
        score = max(s for k, o, s in joined["match"] if (k, o) == match)
        kept, dropped = cluster
        for row in duplicate_rows(({"article_id": old_id}, [(kept, kind, score), *dropped])):
            yield beam.pvalue.TaggedOutput(DUPLICATES, row)


def _new_band_shards(cluster, near: NearConfig, shards: int):
    """A cluster's band keys as ``(shard, ("new", id, keys of the shard))``: one element per shard."""
    cid = _cluster_id(cluster)
    by_shard: dict[int, list[str]] = {}
    for key in text_band_keys(cid, cluster[0]["body"], near) or ():
        by_shard.setdefault(band_shard(key, shards), []).append(key)
    for shard, keys in by_shard.items():
        yield shard, ("new", cid, keys)


def _shard_candidates(element):
    """One shard's new and index band keys -> ``(path, (cluster_id, old_id))`` per shared key."""
    _, entries = element
    old: dict[str, list[tuple[str, str]]] = {}
    new = []
    for entry in entries:
        if entry[0] == "old":
            old.setdefault(entry[1], []).append((entry[2], entry[3]))
        else:
            new.append(entry)
    for _, cid, keys in new:
        for key in keys:
            for old_id, path in old.get(key, ()):
                yield path, (cid, old_id)


def _candidate_sketch(cluster, near: NearConfig, wanted):
    cid = _cluster_id(cluster)
    if cid in wanted:
        found = sketch(cid, cluster[0]["body"], near)
        if found is not None:
            yield cid, pack_sketch(found)


class DropSeenClusters(beam.PTransform):
    """Exact keys first: a cluster an earlier run's exact key matches is a duplicate without
    looking for near matches (an exact match is reported first anyway), so a scheduled run
    that re-reads what it saw last time skips the near-duplicate work for all of it. Then
    band keys of the rest travel grouped by shard (one element per cluster and shard, not one
    per band), and only clusters with a band candidate are sketched for verification.

    Returns ``{ARTICLES: clusters never seen, DUPLICATES: duplicate rows of seen ones}``."""

    def __init__(self, index: SeenIndex, output: str, near: NearConfig | None, band_shards: int = 8) -> None:
        super().__init__()
        if not isinstance(index, SeenIndex):
            raise TypeError("index must be the SeenIndex of open_seen_index(pipeline, output, since)")
        self.index, self.output, self.near, self.band_shards = index, output, near, band_shards

    def expand(self, clusters):
        near, files, since = self.near, self.index.files, self.index.since
        new_keys = clusters | "ExactKeys" >> beam.FlatMap(
            lambda c: [(exact_entry_key(kind, key), _cluster_id(c)) for kind, key in exact_keys(c)])
        old_keys = files | "LookupExact" >> beam.ParDo(
            LookupIndexFn(self.output, since, near, "exact"),
            beam.pvalue.AsList(new_keys | "WantedExactKeys" >> beam.Keys()))
        exact_matches = (
            {"new": new_keys, "old": old_keys}
            | "JoinExact" >> beam.CoGroupByKey()
            | "ExactMatches" >> beam.FlatMap(lambda e: [(cid, (kind, old_id, 1.0))
                                                       for cid in e[1]["new"] for kind, old_id in e[1]["old"]])
        )
        exact = (
            {"cluster": clusters | "KeyById" >> beam.Map(lambda c: (_cluster_id(c), c)), "match": exact_matches}
            | "JoinMatches" >> beam.CoGroupByKey()
            | "SplitSeen" >> beam.FlatMap(split_seen).with_outputs(DUPLICATES, main=ARTICLES)
        )
        if near is None:
            return {ARTICLES: exact[ARTICLES], DUPLICATES: exact[DUPLICATES]}
        unseen = exact[ARTICLES]
        shards = self.band_shards
        new_bands = unseen | "NewBands" >> beam.FlatMap(_new_band_shards, near, shards)
        # The band lookup's side input derives from the exact lookup's output, which read the same
        # files: the runner finishes LookupExact (and any repair of an unreadable file) first, and
        # materialises ``files`` between the two (no fused cycle). Only the band keys of clusters
        # no exact key matched are looked up, one list per cluster and shard.
        old_bands = files | "LookupBands" >> beam.ParDo(
            LookupIndexFn(self.output, since, near, "band", shards),
            beam.pvalue.AsList(new_bands | "WantedBandKeys" >> beam.Map(lambda entry: entry[1][2])))
        candidates = (
            (new_bands, old_bands)
            | "MergeBands" >> beam.Flatten()
            | "GroupBandShards" >> beam.GroupByKey()
            | "Candidates" >> beam.FlatMap(_shard_candidates)
            | "DistinctCandidates" >> beam.Distinct()
        )
        wanted = (
            candidates
            | "CandidateIds" >> beam.Map(lambda candidate: candidate[1][0])
            | "DistinctIds" >> beam.Distinct()
            | "AsKeys" >> beam.Map(lambda cid: (cid, None))
        )
        new_sketches = unseen | "Sketch" >> beam.FlatMap(_candidate_sketch, near, beam.pvalue.AsDict(wanted))
        routed_sketches = (
            {"sketch": new_sketches,
             "path": candidates | "CandidateFiles" >> beam.MapTuple(lambda path, pair: (pair[0], path))}
            | "JoinSketchFiles" >> beam.CoGroupByKey()
            | "RouteSketches" >> beam.FlatMap(_route_new_sketch)
        )
        near_matches = (
            (candidates | "CandidatePairs" >> beam.MapTuple(lambda path, pair: (path, ("pair", *pair))),
             routed_sketches)
            | "MergeByFile" >> beam.Flatten()
            | "GroupByFile" >> beam.GroupByKey()
            | "VerifyEarlier" >> beam.ParDo(VerifyEarlierFileFn(self.output, near))
        )
        split = (
            {"cluster": unseen | "KeyUnseenById" >> beam.Map(lambda c: (_cluster_id(c), c)), "match": near_matches}
            | "JoinNearMatches" >> beam.CoGroupByKey()
            | "SplitNearSeen" >> beam.FlatMap(split_seen).with_outputs(DUPLICATES, main=ARTICLES)
        )
        duplicates = (exact[DUPLICATES], split[DUPLICATES]) | "AllSeenDuplicates" >> beam.Flatten()
        return {ARTICLES: split[ARTICLES], DUPLICATES: duplicates}


class WriteIndexPartFn(beam.DoFn):
    def __init__(self, output: str, run_id: str, seen_at: dt.datetime, near: NearConfig | None) -> None:
        self.output, self.run_id, self.seen_at, self.near = output, run_id, seen_at, near

    def process(self, element):
        _, articles = element
        entries = sorted((kind, key, article_id, path) for article_id, path, keys in articles for kind, key in keys)
        for start in range(0, len(entries), INDEX_FILE_ROWS):
            chunk = entries[start:start + INDEX_FILE_ROWS]
            name = f"part-{self.run_id}-{stable_hash(*(kind + key for kind, key, _, _ in chunk), length=16)}.parquet"
            staged = storage.join(self.output, storage.STAGING_DIR, self.run_id, "index-" + name)
            kinds, keys, ids, paths = (list(column) for column in zip(*chunk))
            table = index_table({"kind": kinds, "key": keys, "article_id": ids, "path": paths,
                                 "seen_at": [self.seen_at] * len(chunk), "run_id": [self.run_id] * len(chunk)},
                                self.near)
            with FileSystems.create(staged) as handle:
                handle.write(parquet_bytes(table))
            yield "index", staged, f"{INDEX_DIR}/{name}", len(chunk)


def _article_entries(element):
    """(article_id, {"keys", "path"}) -> (article_id, path, keys): one element per article, not per key."""
    article_id, joined = element
    for path in joined["path"]:
        for keys in joined["keys"]:
            yield article_id, path, keys


class StageIndexEntries(beam.PTransform):
    """Index rows for the articles this run wrote, staged as Parquet until the run commits."""

    def __init__(self, output: str, run_id: str, seen_at: dt.datetime, near: NearConfig | None,
                 shards: int = 2) -> None:
        super().__init__()
        self.output, self.run_id, self.seen_at, self.near, self.shards = output, run_id, seen_at, near, shards

    def expand(self, inputs):
        keys, paths = inputs
        shards = self.shards
        return (
            {"keys": keys, "path": paths}
            | "JoinKeysToFiles" >> beam.CoGroupByKey()
            | "ArticleEntries" >> beam.FlatMap(_article_entries)
            | "KeyByShard" >> beam.Map(lambda entry: (int(entry[0][:8], 16) % shards, entry))
            | "GroupShard" >> beam.GroupByKey()
            | "WriteIndexPart" >> beam.ParDo(WriteIndexPartFn(self.output, self.run_id, self.seen_at, self.near))
        )
