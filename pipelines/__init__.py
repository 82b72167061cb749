"""news-ingest: Apache Beam pipeline from news feeds and documents to validated Parquet."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("news-ingest")  # pyproject.toml holds the one version
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
