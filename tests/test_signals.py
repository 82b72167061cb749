"""SIGINT and SIGTERM sent to real batch runs (the CLI in a subprocess of its own session), at random
points: while it starts, while it stages files, inside its commit (a test-only fault point makes the
run signal itself there: ``NEWS_INGEST_FAULT=journal-mid-rename:SIGTERM``), inside the commit a
later run completes, and while it waits for the lock. Each stops with one line and 128 + the signal
number, leaves the manifest it owes and no process behind; the next run recovers and reconciles.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import duckdb
import pytest
from conftest import EVENT_TIMEOUT, ROOT, files_under, wait_until
from signal_helpers import (
    COMMIT_POINTS,
    DATA_FOLDERS,
    STOP_WITHIN_S,
    assert_stopped_cleanly,
    command,
    holds_open,
    lock_owner,
    manifests,
    process_group,
    rows_of_run,
    start,
    stop,
)

from pipelines.lock import OutputLock


@pytest.mark.slow
def test_runs_stopped_at_random_points_stop_cleanly_and_the_next_run_recovers(stoppable_corpus, tmp_path, random_seed):
    rng = random.Random(random_seed)
    output = tmp_path / "out"

    # A run dies inside its commit (SIGKILL-like fault point): the journal is pending. The next run
    # is stopped inside that recovery: the recovery completes, then the run stops before its own
    # pipeline, with a manifest that says so.
    crashed = subprocess.run(command(stoppable_corpus, output, "crashed"), cwd=ROOT, capture_output=True, text=True,
                             timeout=600, env={**os.environ, "NEWS_INGEST_FAULT": "journal-mid-rename"})
    assert crashed.returncode == 137, crashed.stderr
    assert files_under(output / "_journal", "*.json")
    process = start(command(stoppable_corpus, output, "stopped-in-recovery"), fault="journal-mid-rename:SIGTERM")
    process.wait(timeout=600)
    lines = assert_stopped_cleanly(process, signal.SIGTERM, "stopped-in-recovery", "stopped in recovery")
    assert len(lines) == 2 and lines[0].startswith("news-ingest: recovered commit crashed of an interrupted run ("), \
        lines
    runs = manifests(output)
    assert runs["crashed"]["status"] == "ok" and runs["crashed"]["recovered_at"]
    assert runs["stopped-in-recovery"]["status"] == "interrupted"
    assert runs["stopped-in-recovery"]["recovered"] == ["crashed"]

    # Each kind of moment once, in random order, with a random signal, target, delay or commit point:
    # just after the run took the lock, just after it staged a file, inside its commit.
    moments = ["started", "staging", "commit"]
    rng.shuffle(moments)
    timings = []
    for attempt, moment in enumerate(moments):
        run_id = f"stopped-{attempt}-{moment}"
        signum = rng.choice([signal.SIGINT, signal.SIGTERM])
        group = rng.random() < 0.5
        point = rng.choice(COMMIT_POINTS)
        jitter = rng.uniform(0.0, 0.25)
        note = (f"random seed {random_seed}: {run_id}, {signal.Signals(signum).name} to the "
                f"{'group' if group else 'process'}, " + (f"at {point}" if moment == "commit" else f"{jitter:.2f} s "
                                                          f"after the event"))
        if moment == "commit":  # the run signals itself inside its commit
            process = start(command(stoppable_corpus, output, run_id),
                            fault=f"{point}:{signal.Signals(signum).name}")
            process.wait(timeout=600)
        else:
            process = start(command(stoppable_corpus, output, run_id))
            staging = output / "_staging" / run_id

            def event(run_id=run_id, staging=staging, moment=moment):
                return lock_owner(output) == run_id if moment == "started" else files_under(staging, "*.parquet")

            assert wait_until(event, process=process), f"{note}: the event never came ({process.poll()})"
            time.sleep(jitter)  # the random moment itself, after the event: not a wait for something
            if process.poll() is not None:  # finished in the jitter: nothing to interrupt (rare)
                assert process.returncode == 0, f"{note}: {process.communicate()[1]}"
                continue
            children = process_group(process.pid)
            timings.append(stop(process, signum, group))
            assert timings[-1] < STOP_WITHIN_S, f"{note}: took {timings[-1]:.1f} s"
            if moment == "staging":  # GX validates in its child process by then
                assert len(children) >= 2, f"{note}: no GX child running beside the run: {children}"
        lines = assert_stopped_cleanly(process, signum, run_id, note)
        assert len(lines) == 1, f"{note}: {lines}"
        manifest = manifests(output)[run_id]
        name = signal.Signals(signum).name
        if moment == "commit" or manifest["status"] != "interrupted":  # the commit had begun: it completes
            assert manifest["status"] == "ok" and manifest["interrupted_after_commit"] == name, note
            assert "after its commit: its files are published" in lines[0], note
        else:
            assert manifest["published"] is False and manifest["interrupted_by"] == name, note
            assert "before its commit: nothing was published, its staged files were removed" in lines[0], note
            assert sum(rows_of_run(output, folder, run_id) for folder in DATA_FOLDERS) == 0, note
        assert files_under(output / "_staging" / run_id) == [], f"{note}: staged files left"
        assert files_under(output / "_journal", "*.json") == [], f"{note}: a journal left"

    final = subprocess.run(command(stoppable_corpus, output, "final"), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr
    runs = manifests(output)
    assert runs["final"]["counts"]["read"] == 150
    assert files_under(output / "_journal", "*.json") == [] and files_under(output / "_staging") == []
    committed = {run_id: m for run_id, m in runs.items() if m["status"] in ("ok", "quarantined")}
    listed = set()
    for run_id, manifest in committed.items():  # every committed run's rows are on disk and reconcile
        counts = manifest["counts"]
        assert manifest["reconciled"] and counts["read"] == (
            counts["written"] + counts["duplicates"] + counts["rejected"] + counts["quarantined"]), run_id
        assert rows_of_run(output, "articles", run_id) == counts["written"], run_id
        assert rows_of_run(output, "duplicates", run_id) == counts["duplicates"], run_id
        listed |= {f["path"] for f in manifest["files"]}
    for run_id in set(runs) - set(committed):
        assert runs[run_id]["status"] == "interrupted" and runs[run_id]["files"] == [], run_id
    visible = {str(p.relative_to(output)) for folder in DATA_FOLDERS for p in files_under(output / folder, "*.parquet")}
    assert visible == listed, "a visible file no committed manifest lists"
    ids = [row[0] for row in duckdb.sql(f"select article_id from read_parquet('{output}/articles/*/*.parquet')")
           .fetchall()]
    assert ids and len(ids) == len(set(ids)), "an article written twice"
    dangling = duckdb.sql(f"select count(*) from read_parquet('{output}/duplicates/*/*.parquet') "
                          f"where canonical_id not in (select article_id from "
                          f"read_parquet('{output}/articles/*/*.parquet'))").fetchall()[0][0]
    assert dangling == 0, "a duplicate points at no article"
    print(f"stop times: {', '.join(f'{t:.2f} s' for t in timings)}")


def test_a_run_waiting_for_the_lock_stops_without_reading_or_writing(tmp_path):
    output = tmp_path / "out"
    seeds = ROOT / "seeds"
    with OutputLock(str(output), owner="holder"):
        process = start(command(seeds, output, "waiting", "--wait-for-lock", "600"))
        assert wait_until(lambda: holds_open(process.pid, output / "_lock"), process=process), \
            f"the run never waited for the lock ({process.poll()})"
        stop(process, signal.SIGINT, group=False)
        lines = assert_stopped_cleanly(process, signal.SIGINT, "waiting", "waiting for the lock")
    assert lines == ["news-ingest: run waiting interrupted by SIGINT before it started: nothing was read or written"]
    assert not (output / "_runs").exists() and not (output / "_staging" / "waiting").exists()


# --- the mechanism (pipelines/signals.py), in this process --------------------------------------------------

needs_main_thread = pytest.mark.skipif(
    __import__("threading").current_thread() is not __import__("threading").main_thread(),
    reason="signal handlers are installed in the main thread only")


@needs_main_thread
def test_a_stop_request_raises_where_the_run_may_be_cut_and_never_inside_a_held_block():
    from pipelines import signals

    overdue = []
    with signals.interrupts(grace=600, overdue=overdue.append):
        os.kill(os.getpid(), signal.SIGTERM)  # outside interruptible(): noted, not raised
        assert signals.received() == signal.SIGTERM
        with pytest.raises(signals.Interrupted) as raised:
            signals.check()  # ... until a check point
        assert raised.value.signum == signal.SIGTERM
    assert signals.received() is None and overdue == []  # the watchdog (600 s) never fired

    with signals.interrupts(grace=600, overdue=overdue.append):
        done = []
        with pytest.raises(signals.Interrupted), signals.interruptible():
            with signals.held():  # a commit: the signal waits for its end
                os.kill(os.getpid(), signal.SIGINT)
                done.append(sum(range(1000)))  # the handler has run by now: it did not raise
            done.append("after")  # raised as the held block ended, not here
        assert done == [sum(range(1000))]
        with pytest.raises(signals.Interrupted), signals.held():  # none starts after a stop request
            done.append("never")
        assert "never" not in done
    interrupted = pytest.raises(signals.Interrupted)
    with interrupted, signals.interrupts(grace=600, overdue=overdue.append), signals.interruptible():
        os.kill(os.getpid(), signal.SIGINT)
        sum(range(1000))
        pytest.fail("not interrupted")


def test_the_watchdog_fires_after_the_grace_unless_disarmed():
    import threading

    from pipelines import signals

    fired = threading.Event()
    signals.Watchdog(0.05, lambda signum: fired.set()).arm(signal.SIGTERM)
    assert fired.wait(EVENT_TIMEOUT)
    quiet = threading.Event()
    watchdog = signals.Watchdog(0.05, lambda signum: quiet.set())
    watchdog.disarm()
    watchdog.arm(signal.SIGTERM)
    assert not quiet.wait(0.5)  # disarmed: 10 times its grace passes without it
