"""pipelines/journal.py: commit and recover, with real files, and real crashes in a subprocess.

The crashes use the test-only fault points (``NEWS_INGEST_FAULT``), which ``os._exit(137)``
the process as SIGKILL would, at a chosen step of the commit.
"""

from __future__ import annotations

import json
import os
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
    with pytest.raises(journal.JournalError, match=r"staged file\(s\) missing, e.g. .*/gone; nothing was published"):
        journal.commit(str(tmp_path), "run-1", renames, {}, str(tmp_path / "_runs" / "run-1.json"))
    # checked before the journal is written: nothing published, no journal to block later runs
    assert journal.pending(str(tmp_path)) == [] and visible(tmp_path) == []
    assert not (tmp_path / "_runs").exists()
    assert journal.recover(str(tmp_path)) == []


def test_recover_of_a_journal_whose_file_is_gone_says_what_to_do(tmp_path):
    renames = stage(tmp_path, "run-1", NAMES[:2])
    entry = {"commit_id": "run-1", "created_at": "2026-01-01T00:00:00+00:00", "renames": renames,
             "manifest_path": str(tmp_path / "_runs" / "run-1.json"), "manifest": {"run_id": "run-1"}}
    (tmp_path / "_journal").mkdir()
    (tmp_path / "_journal" / "run-1.json").write_text(json.dumps(entry))
    Path(renames[1][0]).unlink()  # a staged file lost (and its final name never written)
    with pytest.raises(journal.JournalError) as error:
        journal.recover(str(tmp_path))
    message = str(error.value)
    assert "\n" not in message
    assert f"{tmp_path}/_journal/run-1.json" in message and renames[1][0] in message
    assert f"move {tmp_path}/_journal/run-1.json to {tmp_path}/_journal/_failed/ to continue" in message
    assert "partly published" in message
    # doing what it says unblocks the output
    (tmp_path / "_journal" / "_failed").mkdir()
    (tmp_path / "_journal" / "run-1.json").rename(tmp_path / "_journal" / "_failed" / "run-1.json")
    assert journal.recover(str(tmp_path)) == []


@pytest.mark.parametrize("content", [b"", b'{"commit_id": "run-1", "renames": [["./_sta', b"\0" * 64])
def test_an_unparsable_journal_is_set_aside_and_the_others_complete(tmp_path, caplog, content):
    renames = stage(tmp_path, "run-2", NAMES)
    entry = {"commit_id": "run-2", "created_at": "2026-01-01T00:00:00+00:00", "renames": renames,
             "manifest_path": str(tmp_path / "_runs" / "run-2.json"), "manifest": {"run_id": "run-2"}}
    (tmp_path / "_journal").mkdir()
    (tmp_path / "_journal" / "run-1.json").write_bytes(content)  # its data never reached the disk
    (tmp_path / "_journal" / "run-2.json").write_text(json.dumps(entry))
    with caplog.at_level("ERROR", logger="news_ingest"):
        assert journal.recover(str(tmp_path)) == ["run-2"]
    assert (tmp_path / "_journal" / "_failed" / "run-1.json").read_bytes() == content
    assert not (tmp_path / "_journal" / "run-1.json").exists()
    assert any("run-1.json" in r.getMessage() and "_failed" in r.getMessage() for r in caplog.records)
    assert visible(tmp_path) == sorted(n for n in NAMES if not n.startswith("_"))
    assert journal.recover(str(tmp_path)) == []


def test_commit_never_replaces_the_published_manifest_of_another_attempt(tmp_path):
    manifest_path = tmp_path / "_runs" / "run-1.json"
    first = {"run_id": "run-1", "status": "ok", "published": True, "started_at": "2026-01-01T00:00:00+00:00"}
    journal.commit(str(tmp_path), "run-1", stage(tmp_path, "run-1", NAMES[:1]), first, str(manifest_path))
    journal.commit(str(tmp_path), "run-1", [], first, str(manifest_path))  # the same attempt again: a retry
    second = dict(first, started_at="2026-01-02T00:00:00+00:00")
    renames = stage(tmp_path, "run-1", ["articles/d=1/other.parquet"])
    with pytest.raises(journal.RunIdUsed, match="published manifest of an earlier run"):
        journal.commit(str(tmp_path), "run-1", renames, second, str(manifest_path))
    assert json.loads(manifest_path.read_text()) == first
    assert journal.pending(str(tmp_path)) == [] and visible(tmp_path) == [NAMES[0]]
    with pytest.raises(journal.RunIdUsed):
        journal.check_run_id_unused(str(tmp_path), "run-1")
    # a failed (unpublished) manifest may be replaced: nothing of that attempt was published
    manifest_path.write_text(json.dumps(dict(first, status="failed", published=False)))
    journal.check_run_id_unused(str(tmp_path), "run-1")
    journal.commit(str(tmp_path), "run-1", renames, second, str(manifest_path))
    assert json.loads(manifest_path.read_text()) == second


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


FSYNC_COMMIT = textwrap.dedent("""
    import sys
    from pipelines import journal, storage
    output = sys.argv[1]
    renames = []
    for name in sys.argv[2:]:
        storage.write_bytes(b"content of " + name.encode(), output + "/_staging/run-1/" + name)
        renames.append((output + "/_staging/run-1/" + name, output + "/" + name))
    journal.commit(output, "run-1", renames, {"run_id": "run-1", "status": "ok"}, output + "/_runs/run-1.json")
""")


def test_a_local_commit_is_durable_fsync_before_each_rename_and_of_the_folders_after(tmp_path):
    """The system calls of a real commit (strace): a file is fsynced before it is renamed into place,
    the journal before its rename, and every folder that gained a name after its renames, before the
    manifest says the commit is done (README: killed at any moment, reboot included)."""
    import re
    import shutil

    if not shutil.which("strace"):
        pytest.skip("strace not installed")
    output, trace = tmp_path / "out", tmp_path / "trace"
    result = subprocess.run(["strace", "-f", "-y", "-qq", "-o", str(trace),
                             "-e", "trace=fsync,rename,renameat,renameat2", sys.executable, "-c", FSYNC_COMMIT, str(output), *NAMES], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0 and "ptrace" in result.stderr:
        pytest.skip(f"strace cannot trace here: {result.stderr.strip()[:200]}")
    assert result.returncode == 0, result.stderr
    calls = []  # ("fsync", path) / ("rename", source, target), in order
    for line in trace.read_text().splitlines():
        if match := re.search(r"fsync\(\d+<([^>]*)>\)\s+= 0", line):
            calls.append(("fsync", match.group(1)))
        elif match := re.search(r"rename(?:at2?)?\((?:[^,]*, )?\"([^\"]+)\", (?:[^,]*, )?\"([^\"]+)\"", line):
            calls.append(("rename", match.group(1), match.group(2)))
    out = str(output)

    def index(call: tuple) -> int:
        assert call in calls, (call, calls)
        return calls.index(call)

    journal_done = index(("rename", f"{out}/_journal/run-1.json.tmp", f"{out}/_journal/run-1.json"))
    assert index(("fsync", f"{out}/_journal/run-1.json.tmp")) < journal_done < index(("fsync", f"{out}/_journal"))
    manifest_done = index(("rename", f"{out}/_journal/run-1.manifest.tmp", f"{out}/_runs/run-1.json"))
    assert index(("fsync", f"{out}/_journal/run-1.manifest.tmp")) < manifest_done < index(("fsync", f"{out}/_runs"))
    for name in NAMES:
        staged, final = f"{out}/_staging/run-1/{name}", f"{out}/{name}"
        renamed = index(("rename", staged, final))
        assert index(("fsync", staged)) < journal_done < renamed  # written, durable, then listed and renamed
        folder_synced = [i for i, call in enumerate(calls) if call == ("fsync", os.path.dirname(final)) and i > renamed]
        assert folder_synced and folder_synced[0] < manifest_done, name
    final_folders = [os.path.dirname(f"{out}/{name}") for name in NAMES]
    for folder in set(final_folders):  # once per folder, not once per file
        assert calls[journal_done:manifest_done].count(("fsync", folder)) == 1, folder


def test_a_streaming_run_id_with_a_committed_window_is_used(tmp_path):
    windows = tmp_path / "_runs" / "s1"
    windows.mkdir(parents=True)
    (windows / "window-1.json").write_text(json.dumps({"run_id": "s1", "status": "failed", "published": False}))
    journal.check_run_id_unused(str(tmp_path), "s1")  # nothing published yet
    (windows / "window-2.json").write_text(json.dumps({"run_id": "s1", "status": "quarantined", "published": True}))
    with pytest.raises(journal.RunIdUsed, match=r"'s1' is already used.*_runs/s1/window-2.json"):
        journal.check_run_id_unused(str(tmp_path), "s1")
    (tmp_path / "_runs" / "s2.json").write_text("{cut sho")
    with pytest.raises(journal.RunIdUsed, match="unreadable"):
        journal.check_run_id_unused(str(tmp_path), "s2")
    journal.check_run_id_unused(str(tmp_path), "never-used")
