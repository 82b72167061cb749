"""EnrichArticles: kept article rows -> rows with word count and language.

In:  article rows after deduplication (enrichment is the expensive stage; it
never runs on duplicates). Out: ``articles`` and ``rejects`` (a row the
enrichment code failed on, kept whole as the payload).

    enriched = kept | EnrichArticles()   # enriched.articles, enriched.rejects
"""

from __future__ import annotations

import apache_beam as beam

from pipelines.core.enrich import enrich_article
from pipelines.core.records import stage_error
from pipelines.core.language import identifier
from pipelines.transforms.tags import ARTICLES, REJECTS

STAGE = "enrich"


class EnrichFn(beam.DoFn):
    def setup(self) -> None:
        identifier()  # load the language model once per worker, not on the first record

    def process(self, row: dict):
        try:
            yield enrich_article(row)
        except Exception as exc:  # one bad record must not stop the run; it goes to rejects
            yield beam.pvalue.TaggedOutput(REJECTS, stage_error(STAGE, row, exc))


class EnrichArticles(beam.PTransform):
    def expand(self, rows):
        return rows | "EnrichArticle" >> beam.ParDo(EnrichFn()).with_outputs(REJECTS, main=ARTICLES)
