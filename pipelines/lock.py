"""One writer at a time per output: an advisory lock the kernel releases when the holder dies.

    with OutputLock(output, wait_s=0):      # raises LockBusy at once if another run holds it
        ...run or compact...

The lock is ``fcntl.flock`` on ``<output>/_lock``. A crashed or SIGKILLed holder cannot leave
it stale: the kernel drops the lock with the process's last file descriptor, and the file's
presence means nothing by itself. The file's content (pid, host, run id, since) is only a
hint for the message another run prints. Written by hand because the well-kept libraries
(``filelock``, ``fasteners``) add nothing over ``flock`` for one local file and do not cover
object stores either.

Object stores (``gs://``, ``s3://``) have no such lock: :class:`OutputLock` logs a warning
and does nothing there; a scheduler must keep one run at a time (Airflow ``max_active_runs=1``,
systemd timers never overlap a running service, ``flock(1)`` around cron lines).
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import logging
import os
import socket
import time

LOG = logging.getLogger("news_ingest")
LOCK_FILE = "_lock"


class LockBusy(RuntimeError):
    """Another process holds the output's lock (message says which, if it wrote its name)."""


def is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def _local(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


class OutputLock:
    """Exclusive lock on an output directory; wait up to ``wait_s`` seconds (0: do not wait)."""

    def __init__(self, output: str, wait_s: float = 0.0, owner: str = "", poll_s: float = 0.2) -> None:
        if wait_s < 0:
            raise ValueError("wait_s must be >= 0")
        self.output, self.wait_s, self.owner, self.poll_s = output, wait_s, owner, poll_s
        self._fd: int | None = None

    @property
    def path(self) -> str:
        return os.path.join(_local(self.output), LOCK_FILE)

    def _holder(self) -> str:
        try:
            with open(self.path, encoding="utf-8") as handle:
                info = json.loads(handle.read() or "{}")
            return (f"run {info.get('owner') or '?'} (pid {info.get('pid')} on {info.get('host')}, "
                    f"since {info.get('since')})")
        except (OSError, ValueError):
            return "another process"

    def acquire(self) -> OutputLock:
        if not is_local(self.output):
            LOG.warning("no lock on %s: object stores have none; keep one run at a time in the scheduler",
                        self.output)
            return self
        os.makedirs(_local(self.output), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    holder = self._holder()
                    os.close(fd)
                    waited = f" after waiting {self.wait_s:g} s" if self.wait_s else ""
                    raise LockBusy(f"{self.output} is locked by {holder}{waited}; "
                                   f"one writer at a time (use --wait-for-lock SECONDS to wait)") from None
                time.sleep(self.poll_s)
        info = {"owner": self.owner, "pid": os.getpid(), "host": socket.gethostname(),
                "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
