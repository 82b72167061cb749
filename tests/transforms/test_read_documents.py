import shutil

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from conftest import SEED_DOCUMENT

from pipelines.transforms import ReadDocuments


def test_reads_good_documents_and_rejects_bad_ones(tmp_path):
    shutil.copy(SEED_DOCUMENT, tmp_path / "seed.txt")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "image.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "latin1.txt").write_bytes("Café crème\n\nUn texte en Latin-1.".encode("latin-1"))
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x01")

    with TestPipeline() as p:
        docs = p | ReadDocuments(str(tmp_path / "*"))
        assert_that(docs.articles | beam.Map(lambda raw: (raw["title"], raw["published_at"])),
                    equal_to([("Afghan officials and Taliban hold video conference", None)]),
                    label="Articles")
        assert_that(docs.rejects | beam.Map(lambda rej: (rej.source.rsplit("/", 1)[1], rej.stage, rej.reason)),
                    equal_to([("empty.txt", "read_documents", "EMPTY_DOCUMENT"),
                              ("image.bin", "read_documents", "BINARY_CONTENT"),
                              ("latin1.txt", "read_documents", "DECODE_ERROR")]),
                    label="Rejects")


def test_empty_directory_gives_nothing(tmp_path):
    with TestPipeline() as p:
        docs = p | ReadDocuments(str(tmp_path / "*"))
        assert_that(docs.articles, equal_to([]), label="Articles")
        assert_that(docs.rejects, equal_to([]), label="Rejects")


def test_pattern_is_checked_at_construction():
    with pytest.raises(ValueError):
        ReadDocuments("  ")
