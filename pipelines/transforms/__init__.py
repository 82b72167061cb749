"""One composite PTransform per stage. Import the stages from here:

    from pipelines.transforms import ReadFeeds, NormalizeArticles, DeduplicateArticles
"""

from pipelines.transforms.dedupe import DeduplicateArticles
from pipelines.transforms.enrich import EnrichArticles
from pipelines.transforms.manifest import WriteManifest
from pipelines.transforms.normalize import NormalizeArticles
from pipelines.transforms.read_documents import ReadDocuments
from pipelines.transforms.read_feeds import ReadFeeds, SaveFeedState
from pipelines.transforms.validate import BatchRows, CheckRows, ValidateBatches
from pipelines.transforms.write_parquet import WriteParquetBatches

__all__ = [
    "BatchRows", "CheckRows", "DeduplicateArticles", "EnrichArticles", "NormalizeArticles",
    "ReadDocuments", "ReadFeeds", "SaveFeedState", "ValidateBatches", "WriteManifest", "WriteParquetBatches",
]
