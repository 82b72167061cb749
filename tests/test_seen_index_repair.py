"""A corrupt seen-index file is detected, reported and rebuilt from the dataset, never trusted.

Real CLI runs on the bundled seeds; the index file is damaged on disk between runs.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from conftest import SEEDS
from test_end_to_end import run_cli

pytestmark = pytest.mark.slow  # a real CLI run per test, and one to start from

ARGS = ("--seeds", str(SEEDS), "--enrich", "core", "--no-feed-state", "-q")


def index_entries(output):
    rows = set()
    for path in (output / "_index").glob("*.parquet"):
        for row in pq.read_table(path).to_pylist():
            rows.add((row["kind"], row["key"], row["article_id"], row["path"], row["run_id"]))
    return rows


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("repair") / "out"
    result = run_cli(*ARGS, "--output", str(output), "--run-id", "first")
    assert result.returncode == 0, result.stderr
    return output


def copy_tree(src, dst):
    import shutil
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_corrupt_index_file_is_rebuilt_and_the_next_run_still_deduplicates(first_run, tmp_path, damage):
    output = copy_tree(first_run, tmp_path / "out")
    before = index_entries(output)
    files = sorted((output / "_index").glob("*.parquet"))
    assert files and before
    for victim in files:  # every file, so what must come back does not depend on which file held what
        data = victim.read_bytes()
        victim.write_bytes({"truncated": data[: len(data) // 2], "empty": b""}[damage])

    result = run_cli(*ARGS, "--output", str(output), "--run-id", "second")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((output / "_runs" / "second.json").read_text())
    # nothing doubled: every record of the second run is a duplicate of the first run's articles
    assert manifest["counts"]["written"] == 0 and manifest["counts"]["duplicates"] == 18
    assert manifest["metrics"].get("seen_index/repaired_files") == len(files)
    # the bad files are kept aside, the index files are readable again and hold what they held
    for victim in files:
        kept_aside = list((output / "_index" / "_corrupt").glob(victim.name + ".*"))
        assert [p for p in kept_aside if not p.name.endswith((".rebuilt", ".tmp"))]
    rebuilt = index_entries(output) - {e for e in index_entries(output) if e[4] == "second"}
    missing = before - rebuilt
    # only keys of dropped copies that duplicates/ cannot give back may be missing: their content
    # hash, and the identity key of a copy without guid and link (it needs the publication date);
    # such a copy matches the kept article's content or band keys anyway (the run above wrote 0)
    assert all(kind == "content" or (kind == "guid" and key.startswith("identity\x1f"))
               for kind, key, *_ in missing), missing
    # every key of a kept article comes back, with the path of its file
    assert {e for e in before if e[0] in ("url", "band")} <= rebuilt
    assert {e for e in before if e[0] == "guid" and not e[1].startswith("identity\x1f")} <= rebuilt


def test_corrupt_index_that_cannot_be_rebuilt_fails_with_one_line(first_run, tmp_path):
    output = copy_tree(first_run, tmp_path / "out")
    for path in (output / "_index").glob("*.parquet"):
        path.write_bytes(b"broken")
    for path in (output / "articles").rglob("*.parquet"):
        path.write_bytes(b"also broken")
    result = run_cli(*ARGS, "--output", str(output), "--run-id", "second")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]  # after the warning that a rebuild was tried
    assert "seen-index file" in last and "rebuilding it from run first's files failed" in last
    assert "articles/" in last and "unreadable too" in last
    assert "Traceback" not in result.stderr
    assert not list((output / "articles").rglob("part-second-*.parquet"))
