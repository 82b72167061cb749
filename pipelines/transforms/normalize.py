"""NormalizeArticles: raw articles -> article rows (see ``core.normalize``).

In:  raw article dicts. Out: ``articles`` (rows keyed like ``schemas.ARTICLE_SCHEMA``,
enrichment columns still None) and ``rejects`` (``Reject``).

    norm = raw | NormalizeArticles(run_id, ingested_at)   # norm.articles, norm.rejects
"""

from __future__ import annotations

import datetime as dt

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines.core import records as r
from pipelines.core.normalize import STAGE, normalize_article
from pipelines.core.records import Reject
from pipelines.transforms.tags import ARTICLES, REJECTS, Row


@beam.typehints.with_input_types(Row)
@beam.typehints.with_output_types(Row, rejects=Reject)
class NormalizeFn(beam.DoFn):
    def __init__(self, run_id: str, ingested_at: dt.datetime) -> None:
        self.run_id = run_id
        self.ingested_at = ingested_at
        self.hyphen_repairs = Metrics.counter(STAGE, "hyphen_repairs")

    def process(self, raw: dict):
        try:
            result = normalize_article(raw, self.run_id, self.ingested_at)
        except Exception as exc:  # noqa: BLE001 - one bad record must not stop the run; it goes to rejects
            result = r.stage_error(STAGE, raw, exc)
        if isinstance(result, r.Reject):
            yield beam.pvalue.TaggedOutput(REJECTS, result)
        else:
            self.hyphen_repairs.inc(result["hyphen_repairs"])
            yield result


class NormalizeArticles(beam.PTransform):
    def __init__(self, run_id: str, ingested_at: dt.datetime) -> None:
        super().__init__()
        if not run_id:
            raise ValueError("NormalizeArticles needs a run_id")
        if ingested_at.utcoffset() != dt.timedelta(0):
            raise ValueError("ingested_at must be an aware UTC datetime")
        self.run_id = run_id
        self.ingested_at = ingested_at

    def expand(self, raw):
        return raw | "NormalizeArticle" >> beam.ParDo(
            NormalizeFn(self.run_id, self.ingested_at)).with_outputs(REJECTS, main=ARTICLES)
