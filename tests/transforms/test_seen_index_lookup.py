"""The seen-index lookup of a batch run (DropSeenClusters): this run's keys go to the index files as
side inputs, only matching entries enter the pipeline, and near matches are verified per file.

A real index file and a real article file on disk; Beam's TestPipeline.
"""

from __future__ import annotations

import datetime as dt

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.io import fileio
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from conftest import INGESTED_AT, RUN_ID, SEED_DOCUMENT, raw_article

from pipelines.core.batches import parquet_bytes
from pipelines.core.near_dedupe import NearConfig, pack_sketch, sketch
from pipelines.core.normalize import normalize_article
from pipelines.core.seen_index import INDEX_DIR, band_shard, cluster_keys, exact_entry_key, index_table
from pipelines.transforms import DeduplicateArticles, seen_index
from pipelines.transforms.seen_index import LookupIndexFn, VerifyEarlierFileFn, open_seen_index

NEAR = NearConfig()
BODY = SEED_DOCUMENT.read_text(encoding="utf-8").split("\n", 1)[1]
EARLIER_AT = INGESTED_AT - dt.timedelta(days=1)
ARTICLE_FILE = "articles/date=2020-03-08/part-r0.parquet"
OTHER = "Aid agencies in Kabul said the convoy reached the northern provinces before the snow closed the passes."


def row(**kw):
    return normalize_article(raw_article(**kw), RUN_ID, INGESTED_AT)


@pytest.fixture
def earlier(tmp_path):
    """An output whose earlier run wrote two articles (an index of 2 x 43 entries) plus 400 other entries."""
    guided = normalize_article(raw_article(guid="tag:wire,2020:1", url="https://wire.example/1", body=OTHER * 3),
                               "r0", EARLIER_AT)
    story = normalize_article(raw_article(guid="tag:wire,2020:2", url="https://wire.example/2", body=BODY),
                              "r0", EARLIER_AT)
    entries = [{"kind": kind, "key": key, "article_id": r["article_id"], "path": ARTICLE_FILE,
                "seen_at": EARLIER_AT, "run_id": "r0"}
               for r in (guided, story) for kind, key in cluster_keys((r, []), NEAR)]
    entries += [{"kind": "url", "key": f"https://elsewhere.example/{n}", "article_id": f"{n:032x}",
                 "path": ARTICLE_FILE, "seen_at": EARLIER_AT, "run_id": "r0"} for n in range(400)]
    (tmp_path / INDEX_DIR).mkdir()
    (tmp_path / INDEX_DIR / "part-r0-0123456789abcdef.parquet").write_bytes(parquet_bytes(index_table(entries, NEAR)))
    (tmp_path / ARTICLE_FILE).parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{"article_id": r["article_id"], "body": r["body"]} for r in (guided, story)]),
                   tmp_path / ARTICLE_FILE)
    return tmp_path, guided, story


def test_only_entries_with_this_runs_keys_enter_the_pipeline(earlier):
    output, guided, story = earlier
    wanted_exact = [exact_entry_key("guid", "tag:wire,2020:1"), exact_entry_key("url", "https://nowhere.example/")]
    story_bands = [key for kind, key in cluster_keys((story, []), NEAR) if kind == "band"][:3]
    since = INGESTED_AT - dt.timedelta(days=30)
    with TestPipeline() as p:
        files = p | fileio.MatchFiles(str(output / INDEX_DIR / "*.parquet")) | fileio.ReadMatches()
        exact = files | "Exact" >> beam.ParDo(LookupIndexFn(str(output), since, NEAR, "exact"),
                                             beam.pvalue.AsList(p | "WantedExact" >> beam.Create(wanted_exact)))
        bands = files | "Bands" >> beam.ParDo(LookupIndexFn(str(output), since, NEAR, "band"),
                                             beam.pvalue.AsList(p | "WantedBands" >> beam.Create(story_bands)))
        nothing = files | "Nothing" >> beam.ParDo(LookupIndexFn(str(output), since, NEAR, "band"),
                                                 beam.pvalue.AsList(p | "NoKeys" >> beam.Create([])))
        assert_that(exact, equal_to([(wanted_exact[0], ("guid", guided["article_id"]))]), label="exact")
        assert_that(bands, equal_to([(band_shard(key, 8), ("old", key, story["article_id"], ARTICLE_FILE))
                                     for key in story_bands]), label="bands")
        assert_that(nothing, equal_to([]), label="nothing")
    with pytest.raises(ValueError, match="exact"):
        LookupIndexFn(str(output), since, NEAR, "near")


def test_a_run_drops_what_the_index_holds_exactly_or_near_and_keeps_the_rest(earlier):
    output, guided, story = earlier
    words = BODY.split()
    edited = " ".join(words[:-12])  # the earlier story, trimmed at the end: a near copy
    inputs = [
        row(guid="tag:wire,2020:1", url="https://mirror.example/a", body="A short repost.", feed_url="/m"),
        row(guid="g-near", url="https://mirror.example/b", body=edited, feed_url="/m"),
        row(guid="g-new", url="https://mirror.example/c", body=OTHER, feed_url="/m"),
    ]
    ids = {r["guid"]: r["article_id"] for r in inputs}
    with TestPipeline() as p:
        index = open_seen_index(p, str(output), INGESTED_AT - dt.timedelta(days=30))
        out = p | beam.Create(inputs) | DeduplicateArticles(near=NEAR, earlier=index, output=str(output))
        assert_that(out.articles | beam.Map(lambda r: r["article_id"]), equal_to([ids["g-new"]]), label="kept")
        assert_that(out.duplicates | beam.Map(lambda r: (r["article_id"], r["canonical_id"], r["method"])),
                    equal_to([(ids["tag:wire,2020:1"], guided["article_id"], "guid"),
                              (ids["g-near"], story["article_id"], "near")]), label="dropped")


def test_near_candidates_are_verified_once_per_file_with_each_sketch_once(earlier, monkeypatch):
    output, guided, story = earlier
    unpacked = []

    def counting_unpack(packed):
        unpacked.append(packed)
        return seen_index_unpack(packed)

    seen_index_unpack = seen_index.unpack_sketch
    monkeypatch.setattr(seen_index, "unpack_sketch", counting_unpack)
    fn = VerifyEarlierFileFn(str(output), NEAR)
    same = pack_sketch(sketch("new-1", BODY, NEAR))
    unrelated = pack_sketch(sketch("new-2", OTHER * 3 + " " + BODY[:200], NEAR))
    found = list(fn.process((ARTICLE_FILE, [
        ("pair", "new-1", story["article_id"]), ("pair", "new-1", guided["article_id"]),
        ("pair", "new-2", story["article_id"]), ("pair", "new-3", story["article_id"]),  # new-3: no sketch sent
        ("sketch", "new-1", same), ("sketch", "new-2", unrelated),
    ])))
    assert [(cid, kind, old) for cid, (kind, old, _) in found] == [("new-1", "near", story["article_id"])]
    assert found[0][1][2] == pytest.approx(1.0)
    assert sorted(unpacked, key=id) == sorted([same, unrelated], key=id)  # each new sketch once, pairs or not
    assert list(fn.process(("articles/missing.parquet", [("pair", "new-1", story["article_id"]),
                                                        ("sketch", "new-1", same)]))) == []


def test_a_new_sketch_goes_to_every_file_its_candidates_are_in():
    packed = pack_sketch(sketch("new-1", BODY, NEAR))
    routed = list(seen_index._route_new_sketch(
        ("new-1", {"sketch": [packed], "path": ["articles/b.parquet", "articles/a.parquet", "articles/b.parquet"]})))
    assert routed == [("articles/a.parquet", ("sketch", "new-1", packed)),
                      ("articles/b.parquet", ("sketch", "new-1", packed))]
    assert list(seen_index._route_new_sketch(("short", {"sketch": [], "path": ["articles/a.parquet"]}))) == []
