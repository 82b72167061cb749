import datetime as dt
import io

import pyarrow.parquet as pq
from conftest import INGESTED_AT, RUN_ID, SEED_DOCUMENT, raw_article

import schemas
from pipelines.core.batches import parquet_bytes
from pipelines.core.near_dedupe import NearConfig
from pipelines.core.normalize import normalize_article
from pipelines.core.seen_index import best_match, cluster_keys, exact_keys, index_table, read_index_table

BODY = SEED_DOCUMENT.read_text(encoding="utf-8").split("\n", 1)[1]


def row(**kw):
    return normalize_article(raw_article(**kw), RUN_ID, INGESTED_AT)


def test_exact_keys_cover_the_kept_row_and_its_dropped_rows():
    kept = row(guid="tag:a,2020:1", url="https://a.example/1", body=BODY)
    dropped = row(guid="77", url="https://b.example/x?utm_source=y", feed_url="/b", body="short")
    keys = exact_keys((kept, [(dropped, "content", 1.0)]))
    assert ("guid", "tag:a,2020:1") in keys and ("guid", "/b\x1f77") in keys
    assert ("url", "https://a.example/1") in keys and ("url", "https://b.example/x") in keys
    assert ("content", kept["content_hash"]) in keys
    assert ("content", dropped["content_hash"]) not in keys  # too short to be a content key


def test_cluster_keys_add_band_keys_only_for_long_texts():
    long_keys = cluster_keys((row(body=BODY), []), NearConfig())
    assert sum(kind == "band" for kind, _ in long_keys) == NearConfig().bands
    assert not [k for k in cluster_keys((row(body="Too short."), []), NearConfig()) if k[0] == "band"]
    assert not [k for k in cluster_keys((row(body=BODY), []), None) if k[0] == "band"]


def test_best_match_prefers_exact_kinds_then_smallest_id():
    assert best_match([("near", "a"), ("content", "z"), ("url", "y"), ("url", "b")]) == ("url", "b")
    assert best_match([]) is None


def index_bytes(rows, near):
    return parquet_bytes(index_table(rows, near))


def entry(kind, seen_at, key="k"):
    return {"kind": kind, "key": key, "article_id": "a" * 32, "path": "articles/x.parquet", "seen_at": seen_at,
            "run_id": "r"}


def test_index_file_roundtrip_applies_retention_and_near_parameters():
    old = INGESTED_AT - dt.timedelta(days=40)
    data = index_bytes([entry("url", INGESTED_AT), entry("url", old, "old"), entry("band", INGESTED_AT, "0:ab")],
                       NearConfig())
    assert pq.read_schema(io.BytesIO(data)).equals(schemas.SEEN_SCHEMA, check_metadata=False)
    table, incompatible = read_index_table(io.BytesIO(data), INGESTED_AT - dt.timedelta(days=30), NearConfig())
    assert [(r["kind"], r["key"]) for r in table.to_pylist()] == [("url", "k"), ("band", "0:ab")] and not incompatible
    table, incompatible = read_index_table(io.BytesIO(data), old, NearConfig(bands=20))
    assert [r["kind"] for r in table.to_pylist()] == ["url", "url"] and incompatible  # band keys of other parameters are useless


def test_text_band_keys_are_remembered_per_text_and_parameters():
    from pipelines.core.near_dedupe import band_keys, sketch
    from pipelines.core.seen_index import text_band_keys

    config, other = NearConfig(), NearConfig(seed=2)
    expected = band_keys(sketch("a1", BODY, config).shingles, config)
    assert text_band_keys("a1", BODY, config) == expected
    assert text_band_keys("a1", BODY, config) == expected  # from the cache, unpacked
    assert text_band_keys("a1", BODY, other) == band_keys(sketch("a1", BODY, other).shingles, other)
    changed = BODY.replace("the", "a")
    assert text_band_keys("a1", changed, config) == band_keys(sketch("a1", changed, config).shingles, config)
    assert text_band_keys("a1", "Too short.", config) is None


def test_matching_entries_keep_only_the_rows_a_run_asks_for():
    """The seen-index lookup in Arrow: exact rows by ``kind\\x1fkey``, band rows by key; nothing else."""
    import pytest

    from pipelines.core.seen_index import KeySet, exact_entry_key, matching_entries, read_index_table

    rows = [entry("guid", INGESTED_AT, "tag:x"), entry("url", INGESTED_AT, "https://a.example/1"),
            entry("content", INGESTED_AT, "0:ab"),  # an exact key that looks like a band key
            entry("band", INGESTED_AT, "0:ab"), entry("band", INGESTED_AT, "1:cd"),
            *(entry("url", INGESTED_AT, f"https://other.example/{n}") for n in range(500))]
    table, incompatible = read_index_table(io.BytesIO(index_bytes(rows, NearConfig())),
                                           INGESTED_AT - dt.timedelta(days=30), NearConfig())
    assert table.num_rows == len(rows) and not incompatible
    wanted = KeySet({exact_entry_key("url", "https://a.example/1"), exact_entry_key("guid", "tag:x"),
                     exact_entry_key("guid", "never-seen"), "0:ab"})
    exact = matching_entries(table, "exact", wanted)
    assert sorted(zip(exact["kind"].to_pylist(), exact["key"].to_pylist())) == [
        ("guid", "tag:x"), ("url", "https://a.example/1")]  # "0:ab" alone is no exact key
    assert set(exact["match"].to_pylist()) == {exact_entry_key("guid", "tag:x"),
                                               exact_entry_key("url", "https://a.example/1")}
    bands = matching_entries(table, "band", KeySet({"0:ab", "9:ff", exact_entry_key("guid", "tag:x")}))
    assert list(zip(bands["kind"].to_pylist(), bands["key"].to_pylist())) == [("band", "0:ab")]
    assert matching_entries(table, "band", KeySet([])).num_rows == 0
    # both ways of matching (a set larger than the column, and a smaller one) give the same rows
    many = KeySet([*wanted.keys, *(f"url\x1fhttps://absent.example/{n}" for n in range(2000))])
    assert len(many) > table.num_rows
    assert matching_entries(table, "exact", many).to_pylist() == exact.to_pylist()
    few = KeySet(["0:ab"])
    assert len(few) < 2 and matching_entries(table, "band", few).to_pylist() == bands.to_pylist()
    with pytest.raises(ValueError, match="exact"):
        matching_entries(table, "near", wanted)
