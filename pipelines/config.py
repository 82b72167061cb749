"""The run configuration: what the CLI parsed, as one immutable object."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field

from pipelines.core.feed_state import FeedSchedule
from pipelines.core.fetch import FetchPolicy
from pipelines.core.near_dedupe import NearConfig

RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def new_run_id(started_at: dt.datetime) -> str:
    """``YYYYMMDDTHHMMSSZ-xxxxxx``: sorts by time, unique across concurrent starts."""
    return f"{started_at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class RunConfig:
    output: str
    documents_pattern: str | None
    feed_list: str | None
    expectations_dir: str
    run_id: str
    started_at: dt.datetime
    batch_size: int = 10_000
    shards: int = 2
    near: NearConfig | None = field(default_factory=NearConfig)  # None: exact dedup only
    seen_index: bool = True  # deduplicate against earlier runs' output
    retention: dt.timedelta = dt.timedelta(days=30)  # how far back the seen-index reaches
    fetch_policy: FetchPolicy = field(default_factory=FetchPolicy)
    feed_schedule: FeedSchedule = field(default_factory=FeedSchedule)
    state_dir: str | None = None  # per-feed state (validators, due times); None: fetch everything
    enrich: str = "full"  # enrichment profile: "core" or "full"
    beam_args: tuple[str, ...] = field(default_factory=tuple)
    # Streaming (``run --streaming``; pipelines/streaming.py). poll_interval None: a batch run.
    poll_interval: float | None = None  # seconds between polls of the feed list
    window: int = 300  # fixed window length, seconds: the unit of validation, files and commit
    max_duration: float | None = None  # stop after this many seconds (None: until a signal)
    dedup_ttl: float = 86400.0  # streaming dedup state forgets a key unseen this long (seconds)
    lock_wait: float = 0.0  # seconds to wait for the output's lock (0: give up at once)

    def __post_init__(self) -> None:
        if not RUN_ID_RE.match(self.run_id):
            raise ValueError(f"run id {self.run_id!r} must be 1-64 letters, digits, '.', '_' or '-'")
        if self.started_at.utcoffset() != dt.timedelta(0):
            raise ValueError("started_at must be UTC")
        if self.batch_size < 1 or self.shards < 1:
            raise ValueError("batch size and shards must be at least 1")
        if self.enrich not in ("core", "full"):
            raise ValueError(f"enrichment profile must be 'core' or 'full', got {self.enrich!r}")
        if not 0 <= self.lock_wait < float("inf"):
            raise ValueError("the lock wait must be a finite number of seconds >= 0")
        if self.poll_interval is not None and not 0 < self.poll_interval < float("inf"):
            raise ValueError("the poll interval must be a positive number of seconds")
        if self.window < 1 or (self.max_duration is not None and not 0 < self.max_duration < float("inf")):
            raise ValueError("the window must be at least 1 s and the maximum duration positive")
        if not 0 < self.dedup_ttl < float("inf"):
            raise ValueError("the dedup TTL must be a positive number of seconds")
        if self.retention <= dt.timedelta(0):
            raise ValueError("the seen-index retention must be positive")
