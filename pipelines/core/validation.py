"""Great Expectations validation of whole batches (GX Core 1.x, ephemeral context).

Suites are JSON files in ``expectations/`` named after the table they check
(``articles.json`` ...). Expectations may use suite parameters
(``{"$PARAMETER": "max_published_at"}``, :func:`suite_parameters`) filled per run.
Creating a :class:`BatchValidator` imports GX (seconds): do it once per
worker, in ``DoFn.setup()``.

A failing batch is quarantined row by row where GX names the rows (:func:`validate_batch`):
expectations on values (sets, regexes, not-null, ranges, uniqueness) list the failing rows'
indices, so only those rows go to quarantine and the rest is validated again. A failed
expectation on the batch as a whole (column list, row count, distinct values) names no row:
then the whole batch is quarantined.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from pipelines.core.batches import RowBatch, tag_rows, take_rows

# The failing rows' indices in every result, without GX's copy of their values (the rows go to
# quarantine whole) or a pandas query string.
RESULT_FORMAT = {"result_format": "COMPLETE", "return_unexpected_index_query": False}


class SuiteError(ValueError):
    """A suite file is missing or is not a valid GX suite."""


def load_suite_json(suites_dir: str | os.PathLike, table: str) -> dict[str, Any]:
    path = Path(suites_dir) / f"{table}.json"
    try:
        suite = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteError(f"expectation suite not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise SuiteError(f"cannot read expectation suite {path}: {exc}") from None
    if not isinstance(suite, dict) or not isinstance(suite.get("expectations"), list):
        raise SuiteError(f"{path} is not a suite: expected an object with an 'expectations' list")
    return suite


def suite_parameters(now: dt.datetime) -> dict[str, Any]:
    """The suites' parameters at ``now``: ``now`` and ``max_published_at`` (Normalize's tolerance later)."""
    from pipelines.core.normalize import FUTURE_TOLERANCE  # here: the GX child process never needs it

    return {"now": now, "max_published_at": now + FUTURE_TOLERANCE}


def expectation_name(config: dict[str, Any]) -> str:
    """``type(column)`` of an expectation config, as manifests and quarantined rows name it."""
    return f"{config['type']}({config['kwargs'].get('column', '')})"


@dataclass(frozen=True)
class Outcome:
    success: bool
    result: dict[str, Any]  # GX's result as JSON-ready dict, plus a short summary

    @property
    def failed_expectations(self) -> list[str]:
        return self.result["summary"]["failed"]


def row_failures(result: dict[str, Any]) -> tuple[dict[int, list[str]], list[str]]:
    """``(failed expectation names per row index, names that blame no row)`` of a GX result.

    A failed expectation that lists ``unexpected_index_list`` blames those rows; one that does
    not (an aggregate, or one GX could not evaluate) blames the batch as a whole.
    """
    by_row: dict[int, list[str]] = {}
    whole: list[str] = []
    for item in result["results"]:
        if item["success"]:
            continue
        name = expectation_name(item["expectation_config"])
        indices = (item.get("result") or {}).get("unexpected_index_list")
        if not indices or not all(isinstance(index, int) for index in indices):
            whole.append(name)
            continue
        for index in indices:
            names = by_row.setdefault(index, [])
            if name not in names:
                names.append(name)
    return by_row, whole


class Validator(Protocol):
    def validate(self, table: pa.Table, parameters: dict[str, Any] | None = None) -> Outcome: ...


def validate_batch(validator: Validator, batch: RowBatch,
                   parameters: dict[str, Any]) -> list[tuple[bool, RowBatch, dict[str, Any]]]:
    """Validate ``batch``: ``[(valid, batch, result), ...]``, the batches to write and their GX results.

    Passing: the batch, valid. Failing on expectations that name rows: those rows, quarantined
    (``failed_expectations`` set per row, under this result), and the rest validated again (its
    own result: valid, or quarantined whole should it still fail). Failing on an expectation that
    names no row: the whole batch, quarantined. ``summary.batch_id`` says which batch a result is
    of (``split_from``: the batch the rest was split from).
    """
    outcome = validator.validate(batch.to_arrow(), parameters)
    outcome.result["summary"]["batch_id"] = batch.batch_id
    if outcome.success:
        return [(True, batch, outcome.result)]
    by_row, whole = row_failures(outcome.result)
    if whole or len(by_row) == len(batch.rows):
        return [(False, _quarantined_whole(batch, outcome, by_row, whole), outcome.result)]
    outcome.result["summary"]["quarantined_rows"] = len(by_row)
    quarantined = take_rows(batch, sorted(by_row), "quarantined", by_row)
    rest = take_rows(batch, [i for i in range(len(batch.rows)) if i not in by_row], "rest")
    second = validator.validate(rest.to_arrow(), parameters)
    second.result["summary"].update(batch_id=rest.batch_id, split_from=batch.batch_id)
    if second.success:
        return [(False, quarantined, outcome.result), (True, rest, second.result)]
    rest_quarantined = _quarantined_whole(rest, second, *row_failures(second.result))
    return [(False, quarantined, outcome.result), (False, rest_quarantined, second.result)]


def _quarantined_whole(batch: RowBatch, outcome: Outcome, by_row: dict[int, list[str]],
                       whole: list[str]) -> RowBatch:
    """``batch`` with every row tagged: the expectations that named it (``by_row``, from
    :func:`row_failures` of ``outcome``), and those that name no row (``whole``)."""
    names = [by_row.get(index, []) + whole or list(outcome.failed_expectations)
             for index in range(len(batch.rows))]
    return tag_rows(batch, names)


class BatchValidator:
    """Validates Arrow tables of one table kind against its suite."""

    def __init__(self, suites_dir: str | os.PathLike | None, table: str,
                 suite_json: dict[str, Any] | None = None) -> None:
        """``suite_json`` (as :func:`load_suite_json` returns it) wins over ``suites_dir``: a
        validator built on a remote worker must not open a path that exists only on the driver."""
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        if suite_json is None:
            if suites_dir is None:  # as Path(None) did, with a clearer message
                raise TypeError("BatchValidator needs suites_dir or suite_json")
            suite_json = load_suite_json(suites_dir, table)
        self._context = gx.get_context(mode="ephemeral")
        self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
        try:
            suite = gx.ExpectationSuite(**{**suite_json, "name": suite_json.get("name", table)})
        except Exception as exc:  # noqa: BLE001 - GX raises many types for a bad suite; report them as one
            raise SuiteError(f"invalid expectation suite for {table}: {exc}") from None
        self._suite = self._context.suites.add(suite)
        asset = self._context.data_sources.add_pandas(f"{table}_source").add_dataframe_asset(table)
        self._batch_definition = asset.add_batch_definition_whole_dataframe(f"{table}_batch")

    def validate(self, table: pa.Table, parameters: dict[str, Any] | None = None) -> Outcome:
        frame = table.to_pandas()  # a RangeIndex: GX's unexpected indices are row positions
        batch = self._batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(self._suite, result_format=RESULT_FORMAT,
                                expectation_parameters=parameters or {}).to_json_dict()
        for item in result["results"]:
            (item.get("result") or {}).pop("unexpected_list", None)
        failed = [expectation_name(item["expectation_config"]) for item in result["results"] if not item["success"]]
        result["summary"] = {"rows": table.num_rows, "failed": failed}
        return Outcome(bool(result["success"]), result)


# --- GX in a child process, started with the run ------------------------------------------------------

class ValidationService:
    """Great Expectations in a child process that imports it while the run does other work.

    Why: importing GX costs ~2.3 s of one core (more than reading 1,000 feed entries), and a
    run's first validation comes only after reading, deduplication and enrichment. A batch run
    on one machine starts this service before it builds its pipeline: the child (``spawn``, a
    fresh interpreter on the other core) imports GX and builds a :class:`BatchValidator` per
    table while the run reads its inputs; the run's ``ValidateBatchFn`` then sends each batch as
    Arrow IPC and gets the :class:`Outcome` back (one batch at a time: the order and the results
    are those of in-process validation). Workers in other processes (multi-process mode, Dask,
    remote runners) never see a service and validate in-process, as before.

    ``suites``: ``{table: suite JSON}``. A suite GX refuses raises :class:`SuiteError` on the
    first :meth:`validate`, with the message an in-process validator would give. A child that
    dies, cannot import GX, or answers nothing for ``timeout`` seconds (it is then killed) makes
    :meth:`validate` raise :class:`ServiceUnavailable`; callers then validate in-process.
    """

    def __init__(self, suites: dict[str, dict[str, Any]], timeout: float = 300.0) -> None:
        import multiprocessing
        import signal
        import threading

        self.suites = suites
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, suites), name="news-ingest-gx", daemon=True)
        # Ctrl-C reaches the whole process group; the run handles it. The child inherits SIGINT ignored, so
        # not even its start-up (before _serve) turns one into a traceback; here one waits, blocked, meanwhile.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN) if threading.current_thread() is \
            threading.main_thread() else None
        try:
            self._process.start()
        finally:
            if handler is not None:
                signal.signal(signal.SIGINT, handler)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        child.close()
        self._lock = threading.Lock()
        self._ready = None  # until the child says it is ready: "" (ok) or (kind, message)
        self.timeout = timeout

    def _receive(self, what: str):
        """The child's next message; ServiceUnavailable (the child killed) when none comes in time."""
        if not self._connection.poll(self.timeout):
            self._process.kill()
            raise ServiceUnavailable(f"the validation process sent no {what} in {self.timeout:.0f} s")
        return self._connection.recv()

    def validate(self, table_name: str, table: pa.Table, parameters: dict[str, Any] | None = None) -> Outcome:
        with self._lock:
            try:
                if self._ready is None:
                    self._ready = self._receive("ready message")
                if self._ready:
                    kind, message = self._ready
                    if kind == "suite":
                        raise SuiteError(message)
                    raise ServiceUnavailable(f"the validation process could not start GX: {message}")
                self._connection.send((table_name, _ipc_bytes(table), parameters or {}))
                ok, payload = self._receive("result")
            except (EOFError, OSError) as exc:
                raise ServiceUnavailable(f"the validation process ended: {type(exc).__name__}: {exc}") from None
        if not ok:
            raise RuntimeError(payload)
        return payload

    def close(self, now: bool = False) -> None:
        """Stop the child: after its current request, or with ``now`` (a stopped run) at once."""
        if now:  # SIGTERM: the child releases its semaphores and exits, mid-import or mid-batch
            self._process.terminate()
        elif self._lock.acquire(timeout=5):  # never in the middle of another thread's request
            try:
                self._connection.send(None)
            except (OSError, ValueError):
                pass
            finally:
                self._lock.release()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)
        self._connection.close()


class ServiceUnavailable(RuntimeError):
    """The validation child process is gone."""


def _ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _exit_now() -> None:
    """The child's end. At once: tearing down an interpreter with GX loaded takes ~0.5 s of the run's
    wall time, and this process has nothing to save. multiprocessing's own exit finalizers still run
    (they release the semaphores GX's imports create; private API, checked on Python 3.11:
    tests/test_validation_service.py fails with a leaked-semaphore warning without it)."""
    import multiprocessing.util
    import sys

    multiprocessing.util._run_finalizers()  # type: ignore[attr-defined]  # private, not in typeshed
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _serve(connection, suites: dict[str, dict[str, Any]]) -> None:
    """The child: build the validators (importing GX), say so, then validate until told to stop."""
    import logging
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's to handle; it closes us
    signal.signal(signal.SIGTERM, lambda *_: _exit_now())  # the run stops us, or systemd stops us all
    handler = logging.StreamHandler()  # GX logs at INFO on its own loggers: only warnings reach the terminal
    handler.setLevel(logging.WARNING)
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    try:
        validators = {table: BatchValidator(None, table, suite_json=suite) for table, suite in suites.items()}
    except Exception as exc:  # noqa: BLE001 - reported to the run, which raises it
        reply = ("suite", str(exc)) if isinstance(exc, SuiteError) else ("error", f"{type(exc).__name__}: {exc}")
        connection.send(reply)
        return
    try:
        connection.send("")
    except OSError:  # the run is gone already (BrokenPipeError)
        return
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        if request is None:
            _exit_now()
        table_name, data, parameters = request
        try:
            table = pa.ipc.open_stream(data).read_all()
            connection.send((True, validators[table_name].validate(table, parameters)))
        except Exception as exc:  # noqa: BLE001 - the run raises it where in-process validation would
            connection.send((False, f"{type(exc).__name__}: {exc}"))


_SERVICE: ValidationService | None = None


def start_service(suites: dict[str, dict[str, Any]]) -> ValidationService:
    """Start the process-wide service (see :class:`ValidationService`); stop it with :func:`stop_service`."""
    global _SERVICE
    stop_service()
    _SERVICE = ValidationService(suites)
    return _SERVICE


def stop_service(now: bool = False) -> None:
    """Stop the service, if any; ``now``: without waiting for a batch in progress (a stopped run)."""
    global _SERVICE
    service, _SERVICE = _SERVICE, None
    if service is not None:
        service.close(now)


class _ServiceValidator:
    """A :class:`BatchValidator` that asks the service; in-process from the first failure of the service on."""

    def __init__(self, service: ValidationService, table: str, suite_json: dict[str, Any]) -> None:
        self.service, self.table, self.suite_json = service, table, suite_json
        self.local: BatchValidator | None = None

    def validate(self, table: pa.Table, parameters: dict[str, Any] | None = None) -> Outcome:
        if self.local is None:
            try:
                return self.service.validate(self.table, table, parameters)
            except ServiceUnavailable as exc:
                import logging
                logging.getLogger("news_ingest").warning("%s; validating in this process", exc)
                self.local = BatchValidator(None, self.table, suite_json=self.suite_json)
        return self.local.validate(table, parameters)


def validator_for(table: str, suite_json: dict[str, Any]):
    """The service's validator for ``table`` when this process runs one for the same suite,
    else a new in-process :class:`BatchValidator`."""
    service = _SERVICE
    if service is not None and service.suites.get(table) == suite_json:
        return _ServiceValidator(service, table, suite_json)
    return BatchValidator(None, table, suite_json=suite_json)
