"""The news-ingest data contract: pyarrow schemas written once.

Everything else derives from here: the Parquet writers, the row-level checks
(:func:`check_row`), the Great Expectations suites (checked against these
schemas by a test) and the README's column table.
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

__all__ = [
    "ARTICLE_SCHEMA",
    "DUPLICATE_SCHEMA",
    "REJECT_SCHEMA",
    "SCHEMA_VERSION",
    "SEEN_SCHEMA",
    "TABLE_SCHEMAS",
    "check_row",
    "empty_row",
]
