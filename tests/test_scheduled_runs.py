"""One writer at a time: real CLI runs overlapping on one output, as a scheduler would start them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import EVENT_TIMEOUT, ROOT, wait_until
from live_server import LiveServer

from benchmarks.corpus import CorpusSpec, write_corpus

CLI = Path(sys.executable).with_name("news-ingest")
EXIT_LOCKED = 75


def command(seeds: Path, output: Path, run_id: str, *extra: str) -> list[str]:
    return [str(CLI), "run", "--seeds", str(seeds), "--output", str(output), "--run-id", run_id,
            "--enrich", "core", "--no-feed-state", "-q", *extra]


GATED_FEED = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Gate</title>'
              b"<item><title>Gate story one</title><link>https://gate.example.org/1</link>"
              b"<description>The first story of the gated feed, about the river bridge.</description></item>"
              b"<item><title>Gate story two</title><link>https://gate.example.org/2</link>"
              b"<description>The second story of the gated feed, about the school budget.</description></item>"
              b"</channel></rss>")


def holds_open(pid: int, path: Path) -> bool:
    """Does process ``pid`` have ``path`` open (Linux: ``/proc/<pid>/fd``)?"""
    target = os.path.realpath(path)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:  # the process is gone
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                return True
        except OSError:  # closed meanwhile
            continue
    return False


@pytest.mark.slow
def test_a_second_run_exits_75_and_a_waiting_run_goes_after_the_first(tmp_path):
    """The first run is held in the middle of its pipeline (its feed answers only when the test
    says so), so the other two runs meet it running however slow the machine is."""
    seeds, output = tmp_path / "seeds", tmp_path / "out"
    write_corpus(CorpusSpec(records=150, entries_per_feed=40, seed=5), seeds)
    release = threading.Event()
    with LiveServer() as server:
        server.route("/gate", lambda h: (release.wait(4 * EVENT_TIMEOUT),
                                         h.reply(200, GATED_FEED, {"Content-Type": "application/rss+xml"})))
        feed_list = tmp_path / "feeds.yaml"
        feed_list.write_text(f"feeds:\n  - {server.url('/gate')}\n")
        fetch = ("--feed-list", str(feed_list), "--http-timeout", "600", "--http-deadline", "600",
                 "--http-retries", "0")
        started: list[subprocess.Popen] = []
        try:
            first = subprocess.Popen(command(seeds, output, "first", *fetch), cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
            started.append(first)
            # the first run holds the lock and waits for its feed
            assert wait_until(lambda: server.hits("/gate"), process=first), \
                f"the first run never fetched its feed ({first.poll()})"
            lock_file = output / "_lock"
            assert json.loads(lock_file.read_text())["owner"] == "first"

            waiting = subprocess.Popen(command(seeds, output, "waiting", "--wait-for-lock", "600", *fetch), cwd=ROOT,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            started.append(waiting)
            # the waiting run has the lock file open: it is in its wait for the lock
            assert wait_until(lambda: holds_open(waiting.pid, lock_file), process=waiting), \
                f"the waiting run never waited for the lock ({waiting.poll()})"
            skipped = subprocess.run(command(seeds, output, "skipped", *fetch), cwd=ROOT, capture_output=True,
                                     text=True, timeout=300)
            assert first.poll() is None and waiting.poll() is None
        except BaseException:
            for process in started:
                process.kill()
            raise
        finally:
            release.set()
        _, first_err = first.communicate(timeout=600)
        _, waiting_err = waiting.communicate(timeout=600)
    assert skipped.returncode == EXIT_LOCKED, skipped.stderr
    lines = skipped.stderr.strip().splitlines()
    assert len(lines) == 1, skipped.stderr
    assert lines[0].startswith("news-ingest: run skipped skipped: ") and "locked by run first" in lines[0]
    assert f"pid {first.pid}" in lines[0] and "--wait-for-lock" in lines[0]
    assert skipped.stdout == ""
    assert not (output / "_runs" / "skipped.json").exists() and not (output / "_staging" / "skipped").exists()

    assert first.returncode == 0, first_err
    assert waiting.returncode == 0, waiting_err
    assert len(server.hits("/gate")) == 2  # the first run and the waiting one; the skipped run fetched nothing
    runs = {p.stem: json.loads(p.read_text()) for p in (output / "_runs").glob("*.json")}
    assert set(runs) == {"first", "waiting"}
    assert runs["first"]["counts"]["written"] > 0
    assert {f["status"] for f in runs["first"]["feeds"] if f["feed"].endswith("/gate")} == {"ok"}
    # the waiting run started after the first committed: everything is a duplicate of it
    assert runs["waiting"]["counts"]["written"] == 0
    assert runs["waiting"]["counts"]["duplicates"] == \
        runs["first"]["counts"]["written"] + runs["first"]["counts"]["duplicates"]
    assert runs["waiting"]["started_at"] < runs["first"]["finished_at"] < runs["waiting"]["finished_at"]
    assert os.path.exists(output / "_lock") and (output / "_lock").read_text() == ""  # released, not removed


def test_wait_for_lock_is_parsed_into_the_config_and_checked(tmp_path):
    from pipelines.cli import EXIT_LOCKED as CLI_EXIT_LOCKED
    from pipelines.cli import UsageError, make_config, parse_args

    assert CLI_EXIT_LOCKED == EXIT_LOCKED
    args, beam_args = parse_args(["run", "--seeds", str(ROOT / "seeds"), "--output", str(tmp_path),
                                  "--wait-for-lock", "90"])
    assert make_config(args, beam_args)[0].lock_wait == 90
    args, beam_args = parse_args(["run", "--seeds", str(ROOT / "seeds"), "--output", str(tmp_path)])
    assert make_config(args, beam_args)[0].lock_wait == 0
    for bad in ("-1", "inf", "soon"):
        with pytest.raises(UsageError):
            parse_args(["run", "--wait-for-lock", bad])


def _snapshot(output: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``output`` (but the lock, whose owner line comes and goes) with size and mtime."""
    return {str(p.relative_to(output)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in output.rglob("*") if p.is_file() and p.name != "_lock"}


@pytest.mark.slow
def test_a_used_run_id_is_refused_and_a_failed_one_may_be_retried(tmp_path_factory, tmp_path):
    """Reusing --run-id of a run that published its files would overwrite its manifest and leave
    its files listed nowhere: refused (exit 2, one line, nothing written). A failed run's id may be
    used again (nothing of it was published)."""
    import shutil

    from test_readers import SEEDS, multi_run_output, run_cli

    output = tmp_path / "out"
    shutil.copytree(multi_run_output(tmp_path_factory), output)
    before = _snapshot(output)
    for used in ("r1",):
        refused = run_cli("run", "--seeds", str(SEEDS), "--output", str(output), "--run-id", used,
                          "--enrich", "core", "--no-feed-state", "-q")
        assert refused.returncode == 2, refused.stderr
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and refused.stdout == "", refused.stderr
        assert lines[0].startswith(f"news-ingest: error: run id '{used}' is already used") and "unique" in lines[0]
        assert _snapshot(output) == before  # nothing written, the earlier manifest untouched

    failed = {"run_id": "retry", "status": "failed", "published": False, "reconciled": False,
              "started_at": "2026-01-01T00:00:00+00:00", "files": [], "counts": None}
    (output / "_runs" / "retry.json").write_text(json.dumps(failed))
    retried = run_cli("run", "--seeds", str(SEEDS), "--output", str(output), "--run-id", "retry",
                      "--enrich", "core", "--no-feed-state", "-q")
    assert retried.returncode == 0, retried.stderr
    manifest = json.loads((output / "_runs" / "retry.json").read_text())
    assert manifest["status"] == "ok" and manifest["started_at"] != failed["started_at"]
    assert manifest["counts"]["written"] == 0  # the seeds were r1's: all duplicates


def test_only_this_attempts_manifest_counts_as_committed(tmp_path):
    """A run that fails reports "committed, failed afterwards" only for a manifest it wrote itself,
    never for an earlier run's manifest under the same id."""
    from pipelines.cli import make_config, parse_args
    from pipelines.pipeline import _committed_manifest

    args, beam_args = parse_args(["run", "--seeds", str(ROOT / "seeds"), "--output", str(tmp_path), "--run-id", "r"])
    config, _ = make_config(args, beam_args)
    path = tmp_path / "_runs" / "r.json"
    path.parent.mkdir()
    earlier = {"run_id": "r", "status": "ok", "published": True, "started_at": "2020-01-01T00:00:00+00:00"}
    path.write_text(json.dumps(earlier))
    assert _committed_manifest(str(path), config) is None
    mine = dict(earlier, started_at=config.started_at.isoformat())
    path.write_text(json.dumps(mine))
    assert _committed_manifest(str(path), config) == mine
    path.write_text(json.dumps(dict(mine, status="failed", published=False)))
    assert _committed_manifest(str(path), config) is None
