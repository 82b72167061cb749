"""EnrichArticles: kept article rows -> rows with the enrichment columns, in two profiles.

In:  article rows after deduplication (enrichment is the expensive stage; it never runs on
duplicates). Out: ``articles`` and ``rejects`` (a row the enrichment code failed on, kept
whole as the payload).

``core``: word count, language, dateline geocoded, reading time, one row at a time.
``full`` (default): core plus people, organisations, places, countries, key phrases,
tone and quotes. The models (spaCy, VADER, gazetteer) load once per worker in
``setup()``; rows go through them in batches (``BatchElements``, one ``nlp.pipe`` per
batch). A batch that fails is retried row by row, so only the bad row is rejected.

    enriched = kept | EnrichArticles("full")   # enriched.articles, enriched.rejects
"""

from __future__ import annotations

from typing import List

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines.core.enrich import enrich_core, enrich_full, load_model
from pipelines.core.language import identifier
from pipelines.core.records import Reject, stage_error
from pipelines.transforms.tags import ARTICLES, REJECTS, Row

STAGE = "enrich"
PROFILES = ("core", "full")


@beam.typehints.with_input_types(Row)
@beam.typehints.with_output_types(Row, rejects=Reject)
class EnrichCoreFn(beam.DoFn):
    def setup(self) -> None:
        identifier()  # load the language model once per worker, not on the first record

    def process(self, row: dict):
        try:
            yield enrich_core(row)
        except Exception as exc:  # noqa: BLE001 - one bad record must not stop the run; it goes to rejects
            yield beam.pvalue.TaggedOutput(REJECTS, stage_error(STAGE, row, exc))


@beam.typehints.with_input_types(List[Row])
@beam.typehints.with_output_types(Row, rejects=Reject)
class EnrichFullFn(beam.DoFn):
    def __init__(self) -> None:
        self.rows_enriched = Metrics.counter(STAGE, "rows")
        self.batch_retries = Metrics.counter(STAGE, "batch_retries")

    def setup(self) -> None:
        identifier()
        self.models = load_model()

    def process(self, batch: list):
        try:
            enriched = enrich_full(batch, self.models)
        except Exception:  # noqa: BLE001 - find the row that fails; the others are enriched one by one
            self.batch_retries.inc()
            enriched = None
        if enriched is not None:
            self.rows_enriched.inc(len(enriched))
            yield from enriched
            return
        for row in batch:
            try:
                [one] = enrich_full([row], self.models)
            except Exception as exc:  # noqa: BLE001 - one bad record must not stop the run; it goes to rejects
                yield beam.pvalue.TaggedOutput(REJECTS, stage_error(STAGE, row, exc))
            else:
                self.rows_enriched.inc()
                yield one


class EnrichArticles(beam.PTransform):
    def __init__(self, profile: str = "full", batch_size: int = 32) -> None:
        super().__init__()
        if profile not in PROFILES:
            raise ValueError(f"enrichment profile must be one of {PROFILES}, got {profile!r}")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.profile, self.batch_size = profile, batch_size

    def expand(self, rows):
        if self.profile == "core":
            return rows | "EnrichCore" >> beam.ParDo(EnrichCoreFn()).with_outputs(REJECTS, main=ARTICLES)
        return (
            rows
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.batch_size)
            | "EnrichFull" >> beam.ParDo(EnrichFullFn()).with_outputs(REJECTS, main=ARTICLES)
        )
