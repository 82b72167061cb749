"""news-ingest: Apache Beam pipeline from news feeds and documents to validated Parquet."""

__version__ = "0.1.0"
