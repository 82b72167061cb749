"""The news-ingest data contract: pyarrow schemas written once.

Everything else derives from here: the Parquet writers, the row-level checks
(:func:`check_row` for columns and types, :func:`check_values` for the value rules in
``schemas/rules.py``), the Great Expectations suites (checked against these schemas and
rules by a test) and the README's column table.
"""

from schemas.article import (
    ARTICLE_SCHEMA,
    DUPLICATE_SCHEMA,
    REJECT_SCHEMA,
    SCHEMA_VERSION,
    SEEN_SCHEMA,
    TABLE_SCHEMAS,
    check_row,
    empty_row,
)
from schemas.rules import RULES, check_values

__all__ = [
    "ARTICLE_SCHEMA",
    "DUPLICATE_SCHEMA",
    "REJECT_SCHEMA",
    "RULES",
    "SCHEMA_VERSION",
    "SEEN_SCHEMA",
    "TABLE_SCHEMAS",
    "check_row",
    "check_values",
    "empty_row",
]
