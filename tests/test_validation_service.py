"""The GX child process of a batch run: same outcomes as in-process GX, used by real runs, never leaked."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal

import pyarrow as pa
import pytest
from conftest import SEEDS, article_row

import schemas
from expectations import SUITES_DIR
from pipelines import cli
from pipelines.core import validation
from pipelines.core.validation import BatchValidator, SuiteError, ValidationService, load_suite_json

SUITES = {table: load_suite_json(SUITES_DIR, table) for table in ("articles", "duplicates", "rejects")}


def parameters():
    now = dt.datetime.now(dt.timezone.utc)
    return {"now": now, "max_published_at": now + dt.timedelta(days=1)}


def batches():
    good = [article_row(guid="a"), article_row(guid="b")]
    return [good, good + [dict(good[0])], [dict(good[0], url="ftp://example.com/x", word_count=-1)]]


@pytest.fixture(scope="module")
def service():
    started = ValidationService(SUITES)
    yield started
    started.close()


@pytest.mark.slow
def test_the_service_gives_the_in_process_outcomes(service):
    local = BatchValidator(None, "articles", suite_json=SUITES["articles"])
    for rows in batches():
        table = pa.Table.from_pylist(rows, schema=schemas.ARTICLE_SCHEMA)
        params = parameters()
        remote, here = service.validate("articles", table, params), local.validate(table, params)
        assert (remote.success, remote.failed_expectations) == (here.success, here.failed_expectations)
        assert remote.result["statistics"] == here.result["statistics"]
    assert [service.validate("articles", pa.Table.from_pylist(rows, schema=schemas.ARTICLE_SCHEMA),
                             parameters()).success for rows in batches()] == [True, False, False]


@pytest.mark.slow
def test_a_suite_gx_refuses_is_the_same_clear_error(tmp_path):
    broken = {**SUITES, "articles": {"name": "articles", "expectations": [{"type": "expect_nonsense"}]}}
    service = ValidationService(broken)
    try:
        with pytest.raises(SuiteError, match="invalid expectation suite"):
            service.validate("articles", pa.Table.from_pylist([article_row()], schema=schemas.ARTICLE_SCHEMA))
    finally:
        service.close()


@pytest.mark.slow
def test_a_dead_service_falls_back_to_in_process_validation(caplog):
    service = validation.start_service(SUITES)
    try:
        validator = validation.validator_for("articles", SUITES["articles"])
        table = pa.Table.from_pylist(batches()[1], schema=schemas.ARTICLE_SCHEMA)
        assert not validator.validate(table, parameters()).success  # through the child
        os.kill(service._process.pid, signal.SIGKILL)
        service._process.join(5)
        outcome = validator.validate(table, parameters())  # the child is gone: validated here, same answer
        assert not outcome.success and "expect_column_values_to_be_unique(article_id)" in outcome.failed_expectations
        assert "validating in this process" in caplog.text
    finally:
        validation.stop_service()
    assert validation._SERVICE is None


@pytest.mark.slow
def test_a_batch_run_validates_through_the_service_and_stops_it(tmp_path, monkeypatch):
    seen = []
    original = ValidationService.validate

    def counting(self, table_name, *args, **kwargs):
        seen.append((table_name, self._process.pid))
        return original(self, table_name, *args, **kwargs)
    monkeypatch.setattr(ValidationService, "validate", counting)
    code = cli.main(["run", "-q", "--seeds", str(SEEDS), "--output", str(tmp_path / "out"), "--enrich", "core"])
    assert code == cli.EXIT_OK
    [manifest] = (tmp_path / "out" / "_runs").glob("*.json")
    files = json.loads(manifest.read_text())["files"]
    assert {t for t, _ in seen} == {f["table"] for f in files if f["rows"]} and len(seen) >= 2
    assert {pid for _, pid in seen} != {os.getpid()} and len({pid for _, pid in seen}) == 1
    assert validation._SERVICE is None  # stopped with the run
    [pid] = {pid for _, pid in seen}
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the child exited


def test_a_service_that_does_not_answer_in_time_is_killed_and_reported():
    service = ValidationService(SUITES, timeout=0.01)  # GX takes seconds to import: no ready message in time
    try:
        with pytest.raises(validation.ServiceUnavailable, match="no ready message"):
            service.validate("articles", pa.Table.from_pylist([article_row()], schema=schemas.ARTICLE_SCHEMA))
        service._process.join(5)
        assert not service._process.is_alive()
    finally:
        service.close()


@pytest.mark.slow
def test_a_closed_service_exits_cleanly_and_leaves_nothing_behind(tmp_path):
    """The child exits at once when told to (``os._exit`` after multiprocessing's finalizers):
    exit code 0, and the parent's interpreter ends without a leaked-semaphore warning."""
    script = tmp_path / "close.py"
    script.write_text(
        "import datetime as dt, pyarrow as pa, schemas\n"
        "from conftest import article_row\n"
        "from expectations import SUITES_DIR\n"
        "from pipelines.core.validation import ValidationService, load_suite_json\n"
        "if __name__ == '__main__':  # the child is spawned: it re-imports this file\n"
        "    suites = {t: load_suite_json(SUITES_DIR, t) for t in ('articles', 'duplicates', 'rejects')}\n"
        "    service = ValidationService(suites)\n"
        "    table = pa.Table.from_pylist([article_row()], schema=schemas.ARTICLE_SCHEMA)\n"
        "    now = dt.datetime.now(dt.timezone.utc)\n"
        "    assert service.validate('articles', table, {'now': now, 'max_published_at': now}).success\n"
        "    service.close()\n"
        "    print('exitcode', service._process.exitcode)\n"
    )
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "tests")])}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "exitcode 0" in done.stdout
    assert "leaked" not in done.stderr and "Traceback" not in done.stderr, done.stderr
