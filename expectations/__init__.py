"""Great Expectations suites, one JSON file per table (``articles.json`` ...).

Shipped as package data so Beam workers get them with ``--setup_file``.
The schema-derived expectations (column list, not-null columns) are checked
against ``schemas/`` by ``tests/test_expectations.py``.
"""

from pathlib import Path

SUITES_DIR = Path(__file__).resolve().parent
