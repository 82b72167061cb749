"""WriteParquetBatches: validated batches -> Parquet files published atomically.

In:  ``(RowBatch, gx_result_dict)`` pairs. Out: ``files``, one manifest file record per
file written (``core.manifest.file_record``), and ``locations``, ``(article_id, path)``
of every row written to ``articles/`` (for the seen-index).

Each batch becomes ``<output>/<destination>/<partition>/part-<run_id>-<batch_id>.parquet``
(``quarantine/<table>/<partition>/...`` for quarantined batches), zstd, under the
table's explicit schema; its GX result goes to
``<output>/_validation/<run_id>/<table>-<batch_id>.json``. Both are written under
``_staging/`` first and renamed into place. File names come from the run id and
a hash of the batch's row ids, never from feed or document content.

    written = valid | WriteParquetBatches("out", run_id, "articles")   # .files, .locations
"""

from __future__ import annotations

import logging

import apache_beam as beam

from pipelines import storage
from pipelines.core.batches import parquet_bytes
from pipelines.core.manifest import COUNT_OF_DESTINATION, file_record
from pipelines.transforms.tags import FILES, LOCATIONS

LOG = logging.getLogger("news_ingest")


class WriteBatchFn(beam.DoFn):
    def __init__(self, output: str, run_id: str, destination: str) -> None:
        self.output, self.run_id, self.destination = output, run_id, destination

    def process(self, element):
        batch, result = element
        staging = storage.join(self.output, storage.STAGING_DIR, self.run_id)
        folder = [self.destination] + ([batch.table] if self.destination == "quarantine" else [])
        relative = "/".join([*folder, batch.partition, f"part-{self.run_id}-{batch.batch_id}.parquet"])
        validation = f"_validation/{self.run_id}/{batch.table}-{batch.batch_id}.json"

        storage.publish_bytes(storage.json_bytes(result), storage.join(self.output, validation),
                              storage.join(staging, f"{batch.table}-{batch.batch_id}.json"))
        storage.publish_bytes(parquet_bytes(batch.to_arrow()), storage.join(self.output, relative),
                              storage.join(staging, f"{self.destination}-{batch.batch_id}.parquet"))
        LOG.info("wrote %s (%d rows)", relative, len(batch.rows))
        if self.destination == "articles":
            for row in batch.rows:
                yield beam.pvalue.TaggedOutput(LOCATIONS, (row["article_id"], relative))
        yield file_record(self.destination, batch.table, relative, len(batch.rows), batch.batch_id,
                          validation, bool(result.get("success")), result["summary"]["failed"])


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
