"""core.batches: deterministic row batches, Arrow tables and Parquet bytes."""

import datetime as dt
import io
import itertools

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schemas
from pipelines.core.batches import (
    ID_COLUMNS,
    PARQUET_COMPRESSION,
    RowBatch,
    make_batches,
    parquet_bytes,
    partition_of,
    quarantined_by,
    shard_of,
    tag_rows,
    take_rows,
)
from pipelines.core.records import Reject, stable_hash

PROPERTY = settings(max_examples=100, deadline=None)
UTC = dt.timezone.utc
INGESTED_AT = dt.datetime(2026, 11, 27, 23, 59, 59, tzinfo=UTC)
PARTITION = "ingest_date=2026-11-27"


def article(n: int, **fields):
    row = schemas.empty_row()
    row.update(article_id=stable_hash(str(n)), url=f"https://ex.com/{n}", canonical_url=f"https://ex.com/{n}",
               source_type="feed", source_name="Ex", feed_url="https://ex.com/rss", guid=f"g{n}",
               title=f"Title {n}", body=f"Body {n}.", authors=["Ann"], categories=["World"],
               published_at=dt.datetime(2020, 3, 9, tzinfo=UTC), ingested_at=INGESTED_AT, language="en",
               language_confidence=0.99, word_count=2, content_hash="c" * 64, cluster_size=1, run_id="run")
    row.update(fields)
    return row


def reject_row(n: int):
    return Reject("normalize", "BAD_URL", f"bad {n}", "feed", f"src{n}", payload=str(n).encode()).to_row(
        "run", INGESTED_AT)


ROWS = [article(n) for n in range(7)]


# --- partitions and shards -----------------------------------------------------------------------------

def test_partition_is_the_utc_ingest_date():
    assert partition_of(ROWS[0]) == PARTITION


def test_shard_is_stable_and_in_range():
    for row in ROWS:
        shard = shard_of(row, "articles", 4)
        assert 0 <= shard < 4
        assert shard == int(row["article_id"][:8], 16) % 4
        assert shard_of(dict(row, title="changed"), "articles", 4) == shard
    assert len({shard_of(row, "articles", 4) for row in [article(n) for n in range(64)]}) == 4


def test_shard_uses_the_tables_id_column():
    rej = reject_row(1)
    assert shard_of(rej, "rejects", 7) == int(rej["reject_id"][:8], 16) % 7
    assert ID_COLUMNS == {"articles": "article_id", "duplicates": "article_id", "rejects": "reject_id"}


# --- make_batches -------------------------------------------------------------------------------------

def test_batch_size_is_respected():
    batches = make_batches("articles", PARTITION, ROWS, batch_size=3)
    assert [len(b.rows) for b in batches] == [3, 3, 1]
    assert all(b.table == "articles" and b.partition == PARTITION for b in batches)
    ids = [row["article_id"] for b in batches for row in b.rows]
    assert ids == sorted(row["article_id"] for row in ROWS)


def test_batches_are_deterministic_under_input_order():
    expected = make_batches("articles", PARTITION, ROWS, 3)
    for permutation in itertools.islice(itertools.permutations(ROWS), 0, 5040, 97):
        assert make_batches("articles", PARTITION, permutation, 3) == expected


@PROPERTY
@given(st.permutations(ROWS), st.integers(min_value=1, max_value=8))
def test_batches_deterministic_property(rows, size):
    assert make_batches("articles", PARTITION, rows, size) == make_batches("articles", PARTITION, ROWS, size)


def test_equal_ids_are_ordered_by_content():
    a, b = article(1, title="A"), article(1, title="B")
    assert make_batches("articles", PARTITION, [a, b], 5) == make_batches("articles", PARTITION, [b, a], 5)


def test_batch_ids_differ_across_chunks_tables_and_partitions():
    batches = make_batches("articles", PARTITION, ROWS, 2)
    assert len({b.batch_id for b in batches}) == len(batches) == 4
    assert all(len(b.batch_id) == 16 for b in batches)
    other_partition = make_batches("articles", "ingest_date=2026-11-28", ROWS, 2)
    assert {b.batch_id for b in batches}.isdisjoint(b.batch_id for b in other_partition)
    duplicates = make_batches("duplicates", PARTITION, ROWS, 2)
    assert {b.batch_id for b in batches}.isdisjoint(b.batch_id for b in duplicates)


def test_batch_id_follows_the_rows():
    [one] = make_batches("articles", PARTITION, ROWS[:3], 10)
    [other] = make_batches("articles", PARTITION, ROWS[1:4], 10)
    assert one.batch_id != other.batch_id


def test_every_schema_table_can_be_batched():
    for table in schemas.TABLE_SCHEMAS:
        rows = [reject_row(1)] if table == "rejects" else [article(1)]
        assert shard_of(rows[0], table, 2) in (0, 1)
        assert len(make_batches(table, PARTITION, rows, 10)) == 1


def test_no_rows_no_batches():
    assert make_batches("articles", PARTITION, [], 10) == []


# --- Arrow and Parquet ---------------------------------------------------------------------------------

def test_to_arrow_uses_the_table_schema():
    [batch] = make_batches("articles", PARTITION, ROWS, 10)
    table = batch.to_arrow()
    assert table.schema.equals(schemas.ARTICLE_SCHEMA, check_metadata=True)
    assert table.num_rows == len(ROWS)
    assert table.column("article_id").to_pylist() == [r["article_id"] for r in batch.rows]
    assert table.column("authors").to_pylist()[0] == ["Ann"]


def test_to_arrow_for_rejects():
    [batch] = make_batches("rejects", PARTITION, [reject_row(n) for n in range(3)], 10)
    table = batch.to_arrow()
    assert table.schema.equals(schemas.REJECT_SCHEMA, check_metadata=True)
    assert table.column("reject_id").to_pylist() == sorted(reject_row(n)["reject_id"] for n in range(3))


def test_to_arrow_raises_on_a_wrong_type():
    batch = RowBatch("articles", PARTITION, "b", (article(1, word_count="many"),))
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        batch.to_arrow()


@pytest.mark.parametrize("change,fragment", [({"title": None}, "title"), ({"run_id": None}, "run_id")])
def test_to_arrow_raises_on_null_in_required_column(change, fragment):
    batch = RowBatch("articles", PARTITION, "b", (article(1), article(2, **change)))
    with pytest.raises(ValueError, match=fragment):
        batch.to_arrow()


def test_to_arrow_raises_on_missing_required_column():
    row = article(1)
    del row["content_hash"]
    with pytest.raises(ValueError, match="content_hash"):
        RowBatch("articles", PARTITION, "b", (row,)).to_arrow()


def test_to_arrow_raises_on_unknown_column():
    batch = RowBatch("articles", PARTITION, "b", (article(1, extra="lost"),))
    with pytest.raises(ValueError, match="extra"):
        batch.to_arrow()


def test_to_arrow_accepts_nulls_in_nullable_columns():
    table = RowBatch("articles", PARTITION, "b", (article(1, url=None, published_at=None),)).to_arrow()
    assert table.column("url").null_count == 1 and table.column("published_at").null_count == 1


def test_parquet_bytes_round_trip():
    [batch] = make_batches("articles", PARTITION, ROWS, 10)
    data = parquet_bytes(batch.to_arrow())
    assert data[:4] == b"PAR1" and data[-4:] == b"PAR1"
    table = pq.read_table(io.BytesIO(data))
    assert table.schema.metadata[b"news_ingest.schema_version"] == schemas.SCHEMA_VERSION.encode()
    assert table.schema.metadata[b"news_ingest.table"] == b"articles"
    assert table.schema.equals(schemas.ARTICLE_SCHEMA)
    assert table.to_pylist() == list(batch.rows)
    metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    assert metadata.row_group(0).column(0).compression.lower() == PARQUET_COMPRESSION


def test_parquet_bytes_readable_by_duckdb(tmp_path):
    rows = [reject_row(n) for n in range(3)]
    [batch] = make_batches("rejects", PARTITION, rows, 10)
    path = tmp_path / "rejects.parquet"
    path.write_bytes(parquet_bytes(batch.to_arrow()))
    con = duckdb.connect()
    try:
        count, reasons = con.execute(
            "select count(*), list(distinct reason) from read_parquet(?)", [str(path)]).fetchone()
        payloads = sorted(r[0] for r in con.execute("select payload from read_parquet(?)", [str(path)]).fetchall())
    finally:
        con.close()
    assert count == 3 and reasons == ["BAD_URL"]
    assert payloads == [b"0", b"1", b"2"]


def test_parquet_bytes_refuses_null_in_required_column():
    table = pa.Table.from_pylist([article(1, title=None)], schema=schemas.ARTICLE_SCHEMA)
    with pytest.raises(pa.ArrowInvalid, match="title"):
        parquet_bytes(table)


def test_parquet_bytes_is_deterministic():
    [batch] = make_batches("articles", PARTITION, ROWS, 10)
    assert parquet_bytes(batch.to_arrow()) == parquet_bytes(batch.to_arrow())


def test_batch_size_below_one_is_a_clear_error():
    with pytest.raises(ValueError, match="batch_size"):
        make_batches("articles", "ingest_date=2026-01-01", [], 0)


# --- parts of a batch (row-level quarantine) -----------------------------------------------------------

def test_take_rows_makes_a_batch_of_its_own_and_tags_its_rows():
    [batch] = make_batches("articles", PARTITION, ROWS, batch_size=10)
    failed = {1: ["expect_a(x)"], 4: ["expect_a(x)", "expect_b(y)"]}
    quarantined = take_rows(batch, [1, 4], "quarantined", failed)
    rest = take_rows(batch, [0, 2, 3, 5, 6], "rest")
    assert quarantined.rows == tuple({**batch.rows[i], "failed_expectations": failed[i]} for i in (1, 4))
    assert rest.rows == tuple(batch.rows[i] for i in (0, 2, 3, 5, 6))
    assert len({batch.batch_id, quarantined.batch_id, rest.batch_id}) == 3
    assert take_rows(batch, [1, 4], "quarantined", failed) == quarantined  # deterministic
    assert quarantined_by(quarantined.rows) == {"expect_a(x)": 2, "expect_b(y)": 1}
    table = quarantined.to_arrow()  # quarantined rows fit their table's schema
    assert table.column("failed_expectations").to_pylist() == [["expect_a(x)"], ["expect_a(x)", "expect_b(y)"]]


def test_tag_rows_keeps_the_batch_id():
    [batch] = make_batches("rejects", PARTITION, [reject_row(n) for n in range(3)], batch_size=10)
    tagged = tag_rows(batch, [["expect_c()"]] * 3)
    assert tagged.batch_id == batch.batch_id and quarantined_by(tagged.rows) == {"expect_c()": 3}
    assert all(row["failed_expectations"] is None for row in batch.rows)  # the original is untouched
    with pytest.raises(ValueError):
        tag_rows(batch, [["expect_c()"]])
