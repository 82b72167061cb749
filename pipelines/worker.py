"""The worker processes of multi-process local runs: Beam's Python SDK harness, logging like the CLI.

``--direct_num_workers N --direct_running_mode multi_processing`` makes the FnApiRunner start N
``python -m apache_beam.runners.worker.sdk_worker_main`` processes. Those log to the terminal on
their own: Beam's harness at INFO (channels opened and closed) and Great Expectations' start-up
at INFO (a few hundred lines per worker), plus warnings that say nothing to a user of this
pipeline (optional Google Cloud clients, the driver's own options a worker does not parse, no
staging directory: there is nothing to stage on one machine). :class:`pipelines.runners.LocalRunner`
starts this module instead (``python -m pipelines.worker``): the same harness (``main`` is
Beam's own), with warnings and errors only, without those known notices, in the CLI's format. The
harness also sends its records to the runner, which logs them again under
``apache_beam.runners.portability.local_job_service``; the CLI drops the same notices there
(:func:`is_worker_notice`). urllib3's retry warnings stay quiet as in the CLI (its feed report says
what finally failed). Ctrl-C sent to the whole process group is the driver's to handle; SIGTERM (from
the driver as it stops, from systemd, or from the kernel when the driver dies: Linux) ends a worker
at once with status 0, or as soon as a commit under way in it has ended (``pipelines/signals.py``):
never a traceback, never a worker left behind.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import sys

from pipelines import signals

# Messages (prefixes) that are expected in every local worker and ask nothing of the user.
WORKER_NOTICES = (
    "apitools not found",
    "Discarding unparseable args",
    "No semi_persistent_directory found",
)


def is_worker_notice(message: str) -> bool:
    """Whether ``message`` (also as the runner relays it: ``Worker: ... message: "..."``) is one of
    :data:`WORKER_NOTICES`."""
    return any(notice in message for notice in WORKER_NOTICES)


class _DropNotices(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not is_worker_notice(str(record.msg))


def configure_logging() -> None:
    """Warnings and errors to stderr, known notices dropped; before Beam is imported (it logs then)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.addFilter(_DropNotices())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s (worker): %(message)s"))
    logging.basicConfig(handlers=[handler], force=True)
    logging.getLogger("urllib3").setLevel(logging.ERROR)


def _end_with_the_driver() -> None:
    """SIGTERM when the driver dies (Linux ``prctl(PR_SET_PDEATHSIG)``; elsewhere nothing)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> None:
    signals.exit_on_stop()
    _end_with_the_driver()
    configure_logging()
    from apache_beam.runners.worker import sdk_worker_main

    try:
        sdk_worker_main.main(argv if argv is not None else sys.argv)
    finally:  # the harness returns when the driver closes it, bundles maybe still running: a commit ends first
        signals.end_worker()


if __name__ == "__main__":
    main()
