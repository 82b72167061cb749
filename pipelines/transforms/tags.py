"""Output tag names shared by the stages, and the element types that travel under them.

The types are what the DoFns declare (``with_output_types(main, tag=type)``), so Beam's
construction-time type check sees each output's own type, not a union of all of them.
"""

from typing import Any, Dict, List, Tuple

from pipelines.core.batches import RowBatch

ARTICLES = "articles"
ROWS = "rows"
REJECTS = "rejects"
DUPLICATES = "duplicates"
REPORTS = "reports"
VALID = "valid"
QUARANTINED = "quarantined"
KEYS = "keys"
LOCATIONS = "locations"
FILES = "files"

Row = Dict[str, Any]  # one row of a table (articles, duplicates), or a raw article from a reader
Cluster = Tuple[Row, List[Any]]  # a kept row and the (row, method, score) entries it absorbed
FileRecord = Dict[str, Any]  # one written file, as core.manifest.file_record makes it
Location = Tuple[str, str]  # (article_id, path of its file relative to the output root)
CheckedBatch = Tuple[RowBatch, Dict[str, Any]]  # a batch and its GX result
