"""SIGINT and SIGTERM: how a run stops when Ctrl-C, systemd, Airflow or cron's ``kill`` asks it to.

    with signals.handled(on_signal):                 # any driver: SIGINT/SIGTERM call on_signal(signum)
    with signals.interrupts(grace=8.0):              # the batch driver: Interrupted where it is safe
        with signals.interruptible(): p.run()        #   raised at once in here (main thread)
        signals.check()                              #   elsewhere at the next check point
    with signals.held(): journal commit              #   never inside a commit: when it ends

The streaming driver stops at the next window (a stop event, ``pipelines/streaming.py``); the batch
driver stops at once: the first signal raises :class:`Interrupted` in the main thread, but only
inside ``interruptible()`` blocks (the pipeline, the wait for the lock, parsing) and never inside a
``held()`` block (a journal commit, a feed state write: they complete first). Anywhere else
(recovery, the manifest, cleanup) the driver goes on to its next :func:`check`. Later signals are
ignored. A :class:`Watchdog` ends the process ``grace`` seconds after the first signal if the run
has not ended by then (exit code 128 + the signal number, as a shell reports a killed process).

    with signals.on_stop(hook): ...                  # the driver: hook(signum) at the first signal
    signals.exit_on_stop(); ...; signals.end_worker()  # a worker process: SIGTERM ends it, after a commit

A Beam worker process (``pipelines/worker.py``) leaves Ctrl-C to the driver and ends on SIGTERM, which
the driver sends it when it stops (``pipelines/runners.py``), or its own death does (Linux): at once,
or as soon as a commit under way in it has ended. Signal handlers are per process and run in the
main thread: outside it, and in processes that never enter :func:`interrupts` or
:func:`exit_on_stop` (the GX child, tests calling the stages), every function here does nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code(signum: int) -> int:
    """128 + the signal number: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signum


def name(signum: int) -> str:
    return signal.Signals(signum).name


class Interrupted(BaseException):
    """The run was asked to stop. A BaseException, so that no ``except Exception`` takes it for a failure.

    ``manifest``: what the run left in ``_runs/<run_id>.json`` (None: nothing was written);
    ``detail``: one line on what that means for the output."""

    def __init__(self, signum: int, detail: str = "", manifest: dict | None = None) -> None:
        super().__init__(f"interrupted by {name(signum)}")
        self.signum, self.detail, self.manifest = signum, detail, manifest


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def handled(on_signal: Callable[[int], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call ``on_signal(signum)`` (in the main thread) for the block; the previous
    handlers come back after it. Outside the main thread nothing is installed."""
    previous = {}
    if _in_main_thread():
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, lambda number, _frame: on_signal(number))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class Watchdog:
    """``arm(signum)`` (the first time) starts a countdown: unless :meth:`disarm` (or the end of the
    process) came first, ``overdue(signum)`` is called ``grace`` seconds later, in a daemon thread; it
    should end the process."""

    def __init__(self, grace: float, overdue: Callable[[int], None]) -> None:
        self.grace, self.overdue = grace, overdue
        self._armed, self._done = threading.Event(), threading.Event()

    def arm(self, signum: int) -> None:
        if not self._armed.is_set():
            self._armed.set()
            threading.Thread(target=self._count_down, args=(signum,), name="news-ingest-watchdog",
                             daemon=True).start()

    def disarm(self) -> None:
        self._done.set()

    def _count_down(self, signum: int) -> None:
        if not self._done.wait(self.grace):
            self.overdue(signum)


def exit_now(signum: int, line: str) -> None:
    """Write ``line`` (if any) to stderr and end the process at once with :func:`exit_code` (the watchdog's end)."""
    try:
        sys.stderr.flush()
        if line:
            os.write(2, (line.rstrip("\n") + "\n").encode("utf-8", "replace"))
    finally:
        os._exit(exit_code(signum))


# --- the batch driver's interruption ------------------------------------------------------------------

class _Interrupts:
    def __init__(self) -> None:
        self.signum: int | None = None
        self.raised = False  # the handler raises once; check() whenever asked
        self.interruptible = 0  # depth of interruptible() blocks (main thread)
        self.held = 0  # depth of held() blocks (any thread)
        self.lock = threading.RLock()  # re-entrant: the handler runs in the main thread, maybe while it holds it
        self.hooks: list[Callable[[int], None]] = []  # on_stop(): called at the first signal
        self.exit_code: int | None = None  # a worker process (exit_on_stop): a stop ends the process


_STATE: _Interrupts | None = None


def received() -> int | None:
    """The first stop signal received inside :func:`interrupts`, or None."""
    state = _STATE
    return state.signum if state is not None else None


def _raise_now(state: _Interrupts) -> bool:
    return (state.signum is not None and not state.raised and state.interruptible > 0 and state.held == 0
            and _in_main_thread())


@contextmanager
def interrupts(grace: float, overdue: Callable[[int], None]) -> Iterator[None]:
    """Handle SIGINT/SIGTERM for a batch run (module docstring); ``overdue(signum)`` ends the process
    when the run has not ended ``grace`` seconds after the first signal."""
    global _STATE
    state = _Interrupts()
    watchdog = Watchdog(grace, overdue)

    def on_signal(signum: int) -> None:
        with state.lock:
            first = state.signum is None
            if first:
                state.signum = signum
            if not _raise_now(state):
                signum = 0
            else:
                state.raised = True
        watchdog.arm(state.signum)  # type: ignore[arg-type]  # set above
        for hook in list(state.hooks) if first else ():
            hook(state.signum)  # type: ignore[arg-type]
        if signum:
            raise Interrupted(signum)

    def thread_failed(args) -> None:  # e.g. a runner thread whose worker ended as the run stops: no traceback
        if state.signum is None:
            previous_hook(args)
        else:
            logging.getLogger("news_ingest").debug("thread %s, after the stop request: %s",
                                                   getattr(args.thread, "name", "?"), args.exc_value)

    outer, _STATE = _STATE, state
    previous_hook, threading.excepthook = threading.excepthook, thread_failed
    try:
        with handled(on_signal):
            yield
    finally:
        _STATE = outer
        threading.excepthook = previous_hook


@contextmanager
def on_stop(hook: Callable[[int], None]) -> Iterator[None]:
    """Call ``hook(signum)`` at the first stop signal (from the handler, main thread) while the block
    runs, or at once if one came already; inside :func:`interrupts` only."""
    state = _STATE
    if state is None or state.exit_code is not None:
        yield
        return
    state.hooks.append(hook)
    try:
        if state.signum is not None:
            hook(state.signum)
        yield
    finally:
        state.hooks.remove(hook)


def exit_on_stop(code: int = 0) -> None:
    """For a worker process, for good: SIGINT is ignored (the driver has it too), SIGTERM ends the
    process with ``code`` at once, or when the :func:`held` block under way (a commit) has ended."""
    global _STATE
    state = _Interrupts()
    state.exit_code = code

    def on_term(signum: int, _frame) -> None:
        with state.lock:
            state.signum = signum
            if state.held == 0:
                os._exit(code)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, on_term)
    _STATE = state


def end_worker(timeout: float = 60.0) -> None:
    """A worker's harness has returned (the driver is done with it, or stopping): start no commit, and
    give one under way ``timeout`` seconds to end (its :func:`held` block then ends the process)."""
    state = _STATE
    if state is None or state.exit_code is None:
        return
    with state.lock:
        state.signum = state.signum or signal.SIGTERM
        busy = state.held > 0
    if busy:
        threading.Event().wait(timeout)


@contextmanager
def interruptible() -> Iterator[None]:
    """A block the first signal may cut short (main thread): it raises :class:`Interrupted` in it."""
    state = _STATE
    if state is None or not _in_main_thread():
        yield
        return
    state.interruptible += 1
    try:
        if _raise_now(state):  # a signal that came while nothing could be interrupted
            state.raised = True
            raise Interrupted(state.signum)  # type: ignore[arg-type]  # not None: _raise_now
        yield
    finally:
        state.interruptible -= 1


@contextmanager
def held() -> Iterator[None]:
    """A block no signal cuts short (a commit). One is not started after a stop request: that raises
    :class:`Interrupted` at once. A signal that comes during it is raised when it ends, in the main
    thread; ended in another thread, the main thread is signalled again."""
    state = _STATE
    if state is None:
        yield
        return
    with state.lock:
        if state.signum is not None:
            if state.exit_code is not None:
                os._exit(state.exit_code)
            state.raised = state.raised or _in_main_thread()
            raise Interrupted(state.signum)
        state.held += 1
    try:
        yield
    finally:
        with state.lock:
            state.held -= 1
            if state.exit_code is not None and state.signum is not None and state.held == 0:
                os._exit(state.exit_code)  # a worker's stop, after the commit
            due = state.signum is not None and not state.raised and state.held == 0
            now = due and _raise_now(state)
            if now:
                state.raised = True
        if now:
            raise Interrupted(state.signum)  # type: ignore[arg-type]  # not None: due
        if due and not _in_main_thread() and state.signum is not None:
            signal.pthread_kill(threading.main_thread().ident or 0, state.signum)


def check() -> None:
    """Raise :class:`Interrupted` when a stop signal has come (a check point of the driver)."""
    state = _STATE
    if state is not None and state.signum is not None and _in_main_thread():
        state.raised = True
        raise Interrupted(state.signum)
