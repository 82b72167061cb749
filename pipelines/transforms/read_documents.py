"""ReadDocuments: plain-text documents matching a file pattern -> raw articles.

In:  the pipeline root. Out: ``articles`` (raw article dicts, see
``core.records.RAW_FIELDS``) and ``rejects`` (``Reject``: empty, binary,
undecodable, too large, bad front matter).

    docs = p | ReadDocuments("seeds/documents/*")   # docs.articles, docs.rejects

Hidden files (``.gitkeep``, ``.DS_Store``) are not documents and are skipped.
"""

from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

from pipelines.core import records as r
from pipelines.core.documents import STAGE, parse_document
from pipelines.transforms.tags import ARTICLES, REJECTS, Row

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
LOG = logging.getLogger("news_ingest")


@beam.typehints.with_input_types(fileio.ReadableFile)
@beam.typehints.with_output_types(Row, rejects=r.Reject)
class ParseDocumentFn(beam.DoFn):
    def process(self, readable: fileio.ReadableFile):
        path = readable.metadata.path
        if FileSystems.split(path)[1].startswith("."):
            return
        try:
            with readable.open() as handle:
                data = handle.read(MAX_DOCUMENT_BYTES + 1)
        except (OSError, BeamIOError) as exc:
            yield beam.pvalue.TaggedOutput(REJECTS, r.Reject(
                STAGE, r.DOCUMENT_READ_ERROR, f"cannot read: {exc}", "document", path))
            return
        if len(data) > MAX_DOCUMENT_BYTES:
            yield beam.pvalue.TaggedOutput(REJECTS, r.Reject(
                STAGE, r.DOCUMENT_TOO_LARGE, f"document is larger than {MAX_DOCUMENT_BYTES} bytes",
                "document", path, payload=data))
            return
        try:
            parsed = parse_document(path, data)
        except Exception as exc:  # noqa: BLE001 - one bad document must not stop the run; it goes to rejects
            parsed = r.stage_error(STAGE, {"source_type": "document", "source": path}, exc, payload=data)
        if isinstance(parsed, r.Reject):
            LOG.warning("rejected document %s: %s %s", path, parsed.reason, parsed.message)
            yield beam.pvalue.TaggedOutput(REJECTS, parsed)
        else:
            yield parsed


class ReadDocuments(beam.PTransform):
    def __init__(self, pattern: str) -> None:
        super().__init__()
        if not isinstance(pattern, str) or not pattern.strip():
            raise ValueError("ReadDocuments needs a non-empty file pattern")
        self.pattern = pattern

    def expand(self, pbegin):
        return (
            pbegin
            | "MatchDocuments" >> fileio.MatchFiles(
                self.pattern, empty_match_treatment=fileio.EmptyMatchTreatment.ALLOW)
            | "OpenDocuments" >> fileio.ReadMatches()
            | "ParseDocuments" >> beam.ParDo(ParseDocumentFn()).with_outputs(REJECTS, main=ARTICLES)
        )
