"""pipelines/journal.py: commit and recover, with real files, and real crashes in a subprocess.

The crashes use the test-only fault points (``NEWS_INGEST_FAULT``), which ``os._exit(137)``
the process as SIGKILL would, at a chosen step of the commit.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipelines import journal

ROOT = Path(__file__).resolve().parents[1]


def stage(output: Path, commit_id: str, names: list[str]) -> list[tuple[str, str]]:
    """Staged files under _staging/<commit_id>/ and their final names."""
    renames = []
    for name in names:
        staged = output / "_staging" / commit_id / name
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_text(f"content of {name}")
        renames.append((str(staged), str(output / name)))
    return renames


def visible(output: Path) -> list[str]:
    return sorted(str(p.relative_to(output)) for p in output.rglob("*")
                  if p.is_file() and not str(p.relative_to(output)).startswith("_"))


NAMES = ["articles/d=1/a.parquet", "articles/d=1/b.parquet", "duplicates/d=1/c.parquet", "_index/i.parquet"]


def test_commit_renames_everything_then_writes_the_manifest_and_drops_the_journal(tmp_path):
    renames = stage(tmp_path, "run-1", NAMES)
    manifest_path = tmp_path / "_runs" / "run-1.json"
    journal.commit(str(tmp_path), "run-1", renames, {"run_id": "run-1", "status": "ok"}, str(manifest_path))
    assert visible(tmp_path) == sorted(n for n in NAMES if not n.startswith("_"))
    assert (tmp_path / "_index" / "i.parquet").read_text() == "content of _index/i.parquet"
    assert json.loads(manifest_path.read_text()) == {"run_id": "run-1", "status": "ok"}
    assert list((tmp_path / "_journal").iterdir()) == []
    assert journal.pending(str(tmp_path)) == []
    # committing again (a retried bundle) finds every rename done
    journal.commit(str(tmp_path), "run-1", renames, {"run_id": "run-1", "status": "ok"}, str(manifest_path))
    assert visible(tmp_path) == sorted(n for n in NAMES if not n.startswith("_"))


def test_commit_refuses_a_file_that_is_neither_staged_nor_in_place(tmp_path):
    renames = stage(tmp_path, "run-1", NAMES[:1]) + [(str(tmp_path / "_staging/run-1/gone"), str(tmp_path / "x"))]
    with pytest.raises(journal.JournalError, match="neither the staged file"):
        journal.commit(str(tmp_path), "run-1", renames, {}, str(tmp_path / "_runs" / "run-1.json"))
    assert journal.pending(str(tmp_path))  # the journal stays: the failure is visible, not hidden


def test_commit_ids_are_checked(tmp_path):
    with pytest.raises(ValueError):
        journal.commit(str(tmp_path), "../escape", [], {}, str(tmp_path / "m.json"))


def test_recover_removes_staging_of_runs_that_never_committed(tmp_path):
    stage(tmp_path, "dead-run", NAMES)
    (tmp_path / "_staging" / "empty-run").mkdir()
    (tmp_path / "_journal").mkdir()
    (tmp_path / "_journal" / "dead-run.json.tmp").write_text('{"half": ')  # killed while writing its journal
    assert journal.recover(str(tmp_path)) == []
    assert visible(tmp_path) == []
    assert list((tmp_path / "_staging").iterdir()) == []
    assert list((tmp_path / "_journal").iterdir()) == []
    assert not (tmp_path / "_runs").exists()


def test_remove_staging_keeps_what_a_pending_journal_needs(tmp_path):
    renames = stage(tmp_path, "run-1", NAMES)
    entry = {"commit_id": "run-1", "created_at": "2026-01-01T00:00:00+00:00", "renames": renames,
             "manifest_path": str(tmp_path / "_runs" / "run-1.json"), "manifest": {"run_id": "run-1"}}
    (tmp_path / "_journal").mkdir()
    (tmp_path / "_journal" / "run-1.json").write_text(json.dumps(entry))
    assert journal.remove_staging(str(tmp_path), "run-1") is False
    assert (tmp_path / "_staging" / "run-1" / NAMES[0]).exists()
    assert journal.recover(str(tmp_path)) == ["run-1"]
    assert visible(tmp_path) == sorted(n for n in NAMES if not n.startswith("_"))
    manifest = json.loads((tmp_path / "_runs" / "run-1.json").read_text())
    assert manifest["run_id"] == "run-1" and manifest["recovered_at"]
    assert not (tmp_path / "_staging" / "run-1").exists()


CRASHING_COMMIT = textwrap.dedent("""
    import sys
    from pipelines import journal
    output, renames = sys.argv[1], [tuple(pair.split("=>")) for pair in sys.argv[2:]]
    journal.commit(output, "run-1", renames, {"run_id": "run-1", "status": "ok"}, output + "/_runs/run-1.json")
    print("commit returned")
""")


@pytest.mark.parametrize("fault, visible_after_crash", [
    ("journal-after-write", 0),      # journal written, nothing renamed
    ("journal-mid-rename", 1),       # one file renamed, the others still staged
    ("journal-before-delete", 3),    # all renamed and the manifest written, journal still there
])
def test_a_commit_killed_at_any_step_is_completed_by_recover(tmp_path, fault, visible_after_crash):
    renames = stage(tmp_path, "run-1", NAMES)
    result = subprocess.run([sys.executable, "-c", CRASHING_COMMIT, str(tmp_path), *("=>".join(r) for r in renames)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={"NEWS_INGEST_FAULT": fault, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 137, result.stderr
    assert "commit returned" not in result.stdout
    assert len(visible(tmp_path)) == visible_after_crash
    assert [e["commit_id"] for e in journal.pending(str(tmp_path))] == ["run-1"]

    assert journal.recover(str(tmp_path)) == ["run-1"]
    assert visible(tmp_path) == sorted(n for n in NAMES if not n.startswith("_"))
    for name in NAMES:
        assert (tmp_path / name).read_text() == f"content of {name}"
    assert json.loads((tmp_path / "_runs" / "run-1.json").read_text())["status"] == "ok"
    assert journal.pending(str(tmp_path)) == []
    assert not (tmp_path / "_staging" / "run-1").exists()
    assert journal.recover(str(tmp_path)) == []  # nothing left to do


def test_an_output_moved_after_a_crash_still_recovers(tmp_path):
    output = tmp_path / "out"
    renames = stage(output, "run-1", NAMES)
    result = subprocess.run([sys.executable, "-c", CRASHING_COMMIT, str(output), *("=>".join(r) for r in renames)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={"NEWS_INGEST_FAULT": "journal-mid-rename", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 137, result.stderr
    moved = tmp_path / "moved"
    output.rename(moved)
    assert journal.recover(str(moved)) == ["run-1"]
    assert visible(moved) == sorted(n for n in NAMES if not n.startswith("_"))
    assert json.loads((moved / "_runs" / "run-1.json").read_text())["status"] == "ok"
