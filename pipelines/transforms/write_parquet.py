"""WriteParquetBatches: validated batches -> staged Parquet files, made visible by the run's commit.

In:  ``(RowBatch, gx_result_dict)`` pairs. Out: ``files``, one manifest file record per
file written (``core.manifest.file_record``, with ``staged`` and ``staged_validation``: where
the files wait until the commit), and ``locations``, ``(article_id, path)`` of every row
written to ``articles/`` (for the seen-index; ``path`` is the final one).

Each batch becomes ``<destination>/<partition>/part-<run_id>-<batch_id>.parquet``
(``quarantine/<table>/<partition>/...`` for quarantined rows, ``failed_expectations`` set),
zstd, under the table's explicit schema; its GX result ``_validation/<run_id>/<table>-<batch_id>.json``.
Both are written only under ``<output>/_staging/<run_id>/`` (the same relative path);
WriteManifest renames them into place in the run's commit (``pipelines/journal.py``),
together with the seen-index, or not at all. File names come from the run id and a hash
of the batch's row ids (plus ``-w<window start>`` for batches of a fixed window, as in
streaming runs), never from feed or document content, so a retried bundle rewrites the
same staged files.

    written = valid | WriteParquetBatches("out", run_id, "articles")   # .files, .locations
"""

from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.transforms.window import IntervalWindow

from pipelines import storage
from pipelines.core.batches import parquet_bytes, quarantined_by
from pipelines.core.manifest import COUNT_OF_DESTINATION, file_record
from pipelines.transforms.tags import FILES, LOCATIONS, CheckedBatch, FileRecord, Location

LOG = logging.getLogger("news_ingest")


@beam.typehints.with_input_types(CheckedBatch)
@beam.typehints.with_output_types(FileRecord, locations=Location)
class WriteBatchFn(beam.DoFn):
    def __init__(self, output: str, run_id: str, destination: str) -> None:
        self.output, self.run_id, self.destination = output, run_id, destination

    def process(self, element, window=beam.DoFn.WindowParam):
        batch, result = element
        # In a windowed (streaming) run two windows can hold the same rows (a re-polled dead feed's
        # reject, a re-fetched entry's duplicate row): the window goes into the name, so one
        # window's commit never replaces another's file.
        name = f"{self.run_id}-{batch.batch_id}"
        if isinstance(window, IntervalWindow):
            name += f"-w{window.start.to_utc_datetime():%Y%m%dT%H%M%SZ}"
        folder = [self.destination] + ([batch.table] if self.destination == "quarantine" else [])
        relative = "/".join([*folder, batch.partition, f"part-{name}.parquet"])
        validation = f"_validation/{self.run_id}/{batch.table}-{name[len(self.run_id) + 1:]}.json"
        staged = storage.join(self.output, storage.STAGING_DIR, self.run_id, relative)
        staged_validation = storage.join(self.output, storage.STAGING_DIR, self.run_id, validation)

        storage.write_bytes(storage.json_bytes(result), staged_validation)
        storage.write_bytes(parquet_bytes(batch.to_arrow()), staged)
        LOG.info("wrote %s (%d rows; visible once the run commits)", relative, len(batch.rows))
        if self.destination == "articles":
            for row in batch.rows:
                yield beam.pvalue.TaggedOutput(LOCATIONS, (row["article_id"], relative))
        yield file_record(self.destination, batch.table, relative, len(batch.rows), batch.batch_id,
                          validation, bool(result.get("success")), result["summary"]["failed"],
                          staged=staged, staged_validation=staged_validation,
                          quarantined_by=quarantined_by(batch.rows) if self.destination == "quarantine" else None)


class WriteParquetBatches(beam.PTransform):
    def __init__(self, output: str, run_id: str, destination: str) -> None:
        super().__init__()
        if destination not in COUNT_OF_DESTINATION:
            raise ValueError(f"destination must be one of {sorted(COUNT_OF_DESTINATION)}")
        if not output or not run_id:
            raise ValueError("WriteParquetBatches needs an output path and a run_id")
        self.output, self.run_id, self.destination = output, run_id, destination

    def expand(self, batches):
        return batches | "WriteBatch" >> beam.ParDo(
            WriteBatchFn(self.output, self.run_id, self.destination)).with_outputs(LOCATIONS, main=FILES)
