"""SIGINT and SIGTERM sent to a real batch run with Beam worker processes (``--direct_num_workers 2
--direct_running_mode multi_processing``): to the run alone (cron's ``kill``, Airflow) or to its whole
process group (Ctrl-C, systemd), while it stages files or inside a worker's commit. The run stops
with one line and 128 + the signal number, its workers end with it (none left behind, none dying
first with a traceback), and a commit under way in a worker completes first."""

from __future__ import annotations

import signal

import pytest
from conftest import files_under, wait_until
from signal_helpers import (
    DATA_FOLDERS,
    STOP_WITHIN_S,
    assert_stopped_cleanly,
    command,
    manifests,
    process_group,
    rows_of_run,
    start,
    stop,
)

TWO_WORKERS = ("--direct_num_workers", "2", "--direct_running_mode", "multi_processing")



@pytest.mark.slow
@pytest.mark.parametrize("signum, group", [(signal.SIGTERM, True), (signal.SIGINT, False)],
                         ids=["sigterm-to-the-group", "sigint-to-the-run"])
def test_a_multi_process_run_stopped_while_staging_ends_its_workers_with_it(stoppable_corpus, tmp_path, signum, group):
    output = tmp_path / "out"
    process = start(command(stoppable_corpus, output, "workers", *TWO_WORKERS))
    staging = output / "_staging" / "workers"
    assert wait_until(lambda: files_under(staging, "*.parquet"), process=process), f"nothing staged ({process.poll()})"
    assert len(process_group(process.pid)) >= 3, "the two worker processes were not running"
    took = stop(process, signum, group)
    [line] = assert_stopped_cleanly(process, signum, "workers", "multi-process run")
    assert took < STOP_WITHIN_S, f"took {took:.1f} s"
    manifest = manifests(output)["workers"]
    if manifest["status"] == "interrupted":
        assert "its staged files were removed" in line
        assert sum(rows_of_run(output, folder, "workers") for folder in DATA_FOLDERS) == 0
    else:  # the commit (in a worker) had begun: it completed before the workers ended
        assert manifest["status"] == "ok" and manifest["interrupted_after_commit"] == signal.Signals(signum).name
    assert files_under(staging) == [] and files_under(output / "_journal", "*.json") == []


@pytest.mark.slow
def test_a_stop_inside_a_workers_commit_lets_the_commit_complete(stoppable_corpus, tmp_path):
    """SIGTERM to the whole group while a worker is halfway through its commit's renames: the worker
    finishes the commit before it ends, the run reports it committed and exits 143."""
    output = tmp_path / "out"
    process = start(command(stoppable_corpus, output, "workers", *TWO_WORKERS), fault="journal-mid-rename:SIGTERM:group")
    process.wait(timeout=600)
    [line] = assert_stopped_cleanly(process, signal.SIGTERM, "workers", "stopped inside a worker's commit")
    assert "after its commit: its files are published" in line
    manifest = manifests(output)["workers"]
    assert manifest["status"] == "ok" and manifest["interrupted_after_commit"] == "SIGTERM"
    assert rows_of_run(output, "articles", "workers") == manifest["counts"]["written"] > 0
    assert files_under(output / "_staging") == [] and files_under(output / "_journal", "*.json") == []
