"""Validation: row-level schema checks, batching, and Great Expectations per batch.

CheckRows    in: article or duplicate rows; out: ``rows`` (rows that fit the table's
             schema and its value rules, ``schemas.rules``: the per-row part of the suites)
             and ``rejects`` (``Reject`` with reason SCHEMA_VIOLATION).
BatchRows    in: rows of one table; out: ``RowBatch``es, one per future Parquet file.
ValidateBatches
             in: ``RowBatch``es; out: ``valid`` and ``quarantined``, each
             ``(batch, gx_result_dict)``. Rows an expectation names are quarantined
             without the rest of their batch, which is validated again; a failed
             aggregate expectation quarantines the batch (``core.validation.validate_batch``).
             The suite is ``<suites_dir>/<table>.json``, read when the graph is built (a
             missing suite fails then) and shipped to workers with the DoFn, so remote
             workers never open the driver's path.

    batches = rows | BatchRows("articles") | ValidateBatches("articles", SUITES_DIR)
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import apache_beam as beam

import schemas
from pipelines.core import records as r
from pipelines.core.batches import RowBatch, make_batches, partition_of, shard_of
from pipelines.core.validation import load_suite_json, suite_parameters, validate_batch, validator_for
from pipelines.transforms.tags import QUARANTINED, REJECTS, ROWS, VALID, CheckedBatch, Row
from schemas.rules import SOURCE_TYPES, check_values

STAGE = "validate"
DEFAULT_BATCH_SIZE = 10_000
DEFAULT_SHARDS = 2
LOG = logging.getLogger("news_ingest")


@beam.typehints.with_input_types(Row)
@beam.typehints.with_output_types(Row, rejects=r.Reject)
class CheckRowFn(beam.DoFn):
    def __init__(self, table: str) -> None:
        self.table = table

    def start_bundle(self) -> None:
        # The bounds GX checks later are at least these: time only moves on.
        self.parameters = suite_parameters(dt.datetime.now(dt.timezone.utc))

    def process(self, row: dict):
        problems = schemas.check_row(row, schemas.TABLE_SCHEMAS[self.table])
        if not problems:
            problems = check_values(row, self.table, self.parameters)
        if problems:
            source_type = row.get("source_type")
            yield beam.pvalue.TaggedOutput(REJECTS, r.Reject(
                STAGE, r.SCHEMA_VIOLATION, "; ".join(problems),
                source_type if source_type in SOURCE_TYPES else "unknown",
                row.get("feed_url") or row.get("url") or "", guid=row.get("guid"),
                title=row.get("title") if isinstance(row.get("title"), str) else None,
                payload=r.json_payload(row)))
        else:
            yield row


class CheckRows(beam.PTransform):
    def __init__(self, table: str = "articles") -> None:
        super().__init__()
        if table not in schemas.TABLE_SCHEMAS or table == "rejects":
            raise ValueError(f"CheckRows checks articles or duplicates, not {table!r}")
        self.table = table

    def expand(self, rows):
        return rows | "CheckRow" >> beam.ParDo(CheckRowFn(self.table)).with_outputs(REJECTS, main=ROWS)


class BatchRows(beam.PTransform):
    def __init__(self, table: str, batch_size: int = DEFAULT_BATCH_SIZE, shards: int = DEFAULT_SHARDS) -> None:
        super().__init__()
        if table not in schemas.TABLE_SCHEMAS:
            raise ValueError(f"unknown table {table!r}; expected one of {sorted(schemas.TABLE_SCHEMAS)}")
        if batch_size < 1 or shards < 1:
            raise ValueError("batch_size and shards must be at least 1")
        self.table, self.batch_size, self.shards = table, batch_size, shards

    def expand(self, rows):
        table, batch_size, shards = self.table, self.batch_size, self.shards
        return (
            rows
            | "KeyByPartition" >> beam.Map(lambda row: ((partition_of(row), shard_of(row, table, shards)), row))
            | "GroupPartition" >> beam.GroupByKey()
            | "SplitBatches" >> beam.FlatMapTuple(
                lambda key, group: make_batches(table, key[0], group, batch_size))
        )


@beam.typehints.with_input_types(RowBatch)
@beam.typehints.with_output_types(Any, valid=CheckedBatch, quarantined=CheckedBatch)
class ValidateBatchFn(beam.DoFn):
    def __init__(self, table: str, suite_json: dict) -> None:
        self.table = table
        self.suite_json = suite_json

    def setup(self) -> None:
        self.validator = validator_for(self.table, self.suite_json)  # the run's GX process, if it has one

    def process(self, batch):
        parameters = suite_parameters(dt.datetime.now(dt.timezone.utc))
        # Rows were checked against the schema before batching, so to_arrow() raising here is a bug.
        for valid, part, result in validate_batch(self.validator, batch, parameters):
            if valid:
                yield beam.pvalue.TaggedOutput(VALID, (part, result))
            else:
                LOG.warning("%s batch %s failed validation: %d of %d rows quarantined (%s)", self.table,
                            batch.batch_id, len(part.rows), len(batch.rows), ", ".join(result["summary"]["failed"]))
                yield beam.pvalue.TaggedOutput(QUARANTINED, (part, result))


class ValidateBatches(beam.PTransform):
    def __init__(self, table: str, suites_dir: str) -> None:
        super().__init__()
        if table not in schemas.TABLE_SCHEMAS:
            raise ValueError(f"unknown table {table!r}")
        self.table, self.suites_dir = table, str(suites_dir)
        self.suite_json = load_suite_json(self.suites_dir, table)

    def expand(self, batches):
        return batches | "ValidateBatch" >> beam.ParDo(
            ValidateBatchFn(self.table, self.suite_json)).with_outputs(VALID, QUARANTINED)
