"""``news-ingest`` command line: argument parsing into a RunConfig, and exit codes.

Exit codes: 0 ok, 1 failure, 2 usage error, 3 some batch quarantined,
75 (EX_TEMPFAIL) skipped: another run holds the output's lock.
Arguments this parser does not know are Beam pipeline options
(``--runner``, ``--direct_num_workers`` ...); unknown to Beam as well is a usage error.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import math
import os
import sys
from typing import Sequence

from pipelines.worker import is_worker_notice

_RELAY = "apache_beam.runners.portability.local_job_service"


class _DropNoise(logging.Filter):
    """Keeps the terminal readable: no warning about optional Google Cloud clients, and no
    tracebacks that Beam logs for a failing DoFn (the error reaches us and is shown as one
    line; ``--verbose`` shows everything)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Beam's import warns on the root logger ("apitools not found"); the runner relays the routine
        # notices of multi-process workers (pipelines/worker.py).
        if record.name in ("root", _RELAY) and is_worker_notice(record.getMessage()):
            return False
        return not (record.name.startswith("apache_beam") and record.levelno >= logging.ERROR)


# Before anything imports Beam, whose import logs through the root logger.
logging.getLogger().addFilter(_DropNoise())

import pipelines
from pipelines.config import RunConfig, new_run_id
from pipelines.core.feed_state import FeedSchedule
from pipelines.core.fetch import FetchPolicy
from pipelines.core.near_dedupe import NearConfig
from pipelines.lock import LockBusy
from pipelines.runners import dask_runner_args, is_dask, require_dask

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_QUARANTINED = 0, 1, 2, 3
EXIT_LOCKED = 75  # EX_TEMPFAIL: another run holds the output's lock; try again later
LOG = logging.getLogger("news_ingest")

DESCRIPTION = """\
Ingest news feeds (RSS/Atom) and plain-text documents with Apache Beam:
normalise, deduplicate, enrich, validate every batch with Great Expectations
and write a Parquet dataset.

Output layout (under --output):
  articles/ingest_date=YYYY-MM-DD/*.parquet     kept articles
  duplicates/ingest_date=YYYY-MM-DD/*.parquet   one row per dropped duplicate
  rejects/ingest_date=YYYY-MM-DD/*.parquet      records that could not go on, with stage and reason
  quarantine/<table>/ingest_date=.../*.parquet  batches that failed validation
  _validation/<run_id>/*.json                   Great Expectations result of every batch
  _runs/<run_id>.json                           run manifest: inputs, status, counts, files, feeds
  _runs/<run_id>/window-<start>.json            a streaming run's per-window manifests
  _index/, _state/                              seen-index (dedup across runs), per-feed state
  _journal/, _staging/, _lock                   the commit in progress, staged files, one writer at a time

Exit codes: 0 ok, 1 failure, 2 usage error, 3 some batch quarantined,
75 skipped because another run holds the output's lock (see --wait-for-lock).
"""

RUN_EPILOG = """\
Any other --option is passed to Apache Beam, e.g. --runner DirectRunner,
--direct_num_workers 2, --direct_running_mode multi_processing.
--runner dask runs on Dask: a local cluster with one worker per core, or the
scheduler at --dask_client_address ADDRESS (needs the 'dask' extra).
"""


class UsageError(Exception):
    """Bad command-line input; the message is shown as one line and the exit code is 2."""


def _number(convert, what: str, accept, rule: str):
    """An argparse type: ``convert`` the text, then ``accept`` the value or say ``rule``."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"{rule}, got {value}")
        return value

    return parse


_positive = _number(int, "a whole number", lambda v: v >= 1, "must be at least 1")
_count = _number(int, "a whole number", lambda v: v >= 0, "must not be negative")
_seconds = _number(float, "seconds", lambda v: 0 <= v < math.inf, "must be a finite number >= 0")
_fraction = _number(float, "a number", lambda v: 0 < v <= 1, "must be in (0, 1]")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit 2, never a traceback
        self.print_usage(sys.stderr)
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="news-ingest", description=DESCRIPTION,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"news-ingest {pipelines.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    run = commands.add_parser("run", help="run the pipeline once (batch), or with --streaming until stopped",
                              epilog=RUN_EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              description="Run the pipeline once over the seeds and the feed list.")
    run.add_argument("--seeds", default="seeds", metavar="DIR",
                     help="seed directory: documents in DIR/documents/, feed list DIR/feeds.yaml "
                          "(default: ./seeds)")
    run.add_argument("--feed-list", metavar="FILE",
                     help="feed list YAML (default: SEEDS/feeds.yaml when it exists)")
    run.add_argument("--no-feeds", action="store_true", help="read documents only")
    run.add_argument("--no-documents", action="store_true", help="read feeds only")
    run.add_argument("--output", default="out", metavar="DIR", help="output root (default: ./out)")
    run.add_argument("--expectations", metavar="DIR",
                     help="directory of Great Expectations suites (default: the bundled suites)")
    run.add_argument("--run-id", metavar="ID",
                     help="run id, unique per output: an id whose run published its files is refused with "
                     "exit 2; a failed run's id may be retried (default: UTC time plus a random suffix)")
    run.add_argument("--enrich", choices=("core", "full"), default="full",
                     help="core: cleaning, dateline and its place, language, counts; full (default): core plus "
                          "people, organisations, places, countries, key phrases, tone and quotes")
    run.add_argument("--batch-size", type=_positive, default=10_000, metavar="N",
                     help="most rows per validated batch and Parquet file (default: 10000)")
    run.add_argument("--shards", type=_positive, default=2, metavar="N",
                     help="parallel batches per partition (default: 2)")
    fetch = run.add_argument_group("feed fetching (politeness, retries, per-feed state)")
    fetch.add_argument("--state-dir", metavar="DIR",
                       help="per-feed state: validators, failures, next due time (default: OUTPUT/_state)")
    fetch.add_argument("--no-feed-state", action="store_true",
                       help="keep no state: fetch every feed in full every run")
    fetch.add_argument("--feed-interval", type=_seconds, default=FeedSchedule.interval, metavar="S",
                       help=f"fetch a healthy feed at most this often (default {FeedSchedule.interval:g})")
    fetch.add_argument("--max-feed-backoff", type=_seconds, default=FeedSchedule.max_backoff, metavar="S",
                       help=f"longest wait after consecutive failures (default {FeedSchedule.max_backoff:g})")
    fetch.add_argument("--http-timeout", type=_seconds, default=FetchPolicy.read_timeout, metavar="S",
                       help=f"read timeout per request (default {FetchPolicy.read_timeout:g})")
    fetch.add_argument("--http-deadline", type=_seconds, default=FetchPolicy.deadline, metavar="S",
                       help=f"total time for one request, body included (default {FetchPolicy.deadline:g})")
    fetch.add_argument("--http-retries", type=_count, default=FetchPolicy.retries, metavar="N",
                       help=f"retries on connection errors, 5xx, 429 (default {FetchPolicy.retries})")
    fetch.add_argument("--http-backoff", type=_seconds, default=FetchPolicy.backoff_factor, metavar="S",
                       help=f"first retry waits S, then doubling (default {FetchPolicy.backoff_factor:g})")
    fetch.add_argument("--host-interval", type=_seconds, default=FetchPolicy.host_interval, metavar="S",
                       help=f"least gap between two requests to one host (default {FetchPolicy.host_interval:g})")
    fetch.add_argument("--host-concurrency", type=_positive, default=FetchPolicy.host_concurrency, metavar="N",
                       help=f"requests to one host at a time (default {FetchPolicy.host_concurrency})")
    fetch.add_argument("--max-feed-bytes", type=_positive, default=FetchPolicy.max_bytes, metavar="N",
                       help=f"largest feed body (default {FetchPolicy.max_bytes})")
    fetch.add_argument("--user-agent", default=FetchPolicy.user_agent, metavar="TEXT",
                       help="User-Agent header (default: news-ingest/VERSION (+URL))")
    dedup = run.add_argument_group("deduplication (defaults and why: README, 'Deduplication')")
    dedup.add_argument("--no-near-duplicates", action="store_true",
                       help="exact keys only (guid, canonical URL, content hash)")
    dedup.add_argument("--near-jaccard", type=_fraction, default=NearConfig.jaccard, metavar="J",
                       help=f"shingle Jaccard that makes two texts one story (default {NearConfig.jaccard})")
    dedup.add_argument("--near-containment", type=_fraction, default=NearConfig.containment, metavar="C",
                       help="share of the smaller text's shingles found in the larger that makes a trimmed "
                            f"copy (default {NearConfig.containment})")
    dedup.add_argument("--near-bands", type=_positive, default=NearConfig.bands, metavar="B",
                       help=f"LSH bands over {NearConfig.num_perm} permutations; more bands, more candidates "
                            f"(default {NearConfig.bands}; must divide {NearConfig.num_perm})")
    dedup.add_argument("--near-min-words", type=_positive, default=NearConfig.min_words, metavar="N",
                       help=f"shorter texts never merge on text alone (default {NearConfig.min_words})")
    dedup.add_argument("--no-seen-index", action="store_true",
                       help="do not deduplicate against earlier runs (and do not extend the seen-index)")
    dedup.add_argument("--seen-retention-days", type=_positive, default=30, metavar="DAYS",
                       help="how far back the seen-index reaches (default 30)")
    run.add_argument("--wait-for-lock", type=_seconds, default=0.0, metavar="SECONDS",
                     help="one run at a time per output: wait this long for the run holding it, "
                          "then exit 75 (default 0: exit 75 at once)")
    stream = run.add_argument_group("streaming (README, 'Streaming'; DirectRunner only, not Dask)")
    stream.add_argument("--streaming", action="store_true",
                        help="poll the feed list until --max-duration or SIGINT/SIGTERM; write per window")
    stream.add_argument("--poll-interval", type=_seconds, metavar="S",
                        help="seconds between polls of the feed list (required with --streaming); each feed "
                             "is still fetched at most every --feed-interval")
    stream.add_argument("--window", type=_positive, default=300, metavar="S",
                        help="fixed window, whole seconds: validated, written and committed together (default 300)")
    stream.add_argument("--max-duration", type=_seconds, metavar="S",
                        help="stop after S seconds, committing the open window (default: until a signal)")
    stream.add_argument("--dedup-ttl", type=_seconds, default=86400.0, metavar="S",
                        help="dedup state forgets a key not seen for S seconds (default 86400)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress lines, summary only")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="library logs and full tracebacks, for debugging")
    _add_compact_parser(commands)
    return parser


def _add_compact_parser(commands) -> None:
    from pipelines.compact import DEFAULT_MAX_ROWS, TABLES

    sub = commands.add_parser(
        "compact", help="merge the small files of closed partitions (never beside a run)",
        description="Merge the Parquet files of each closed partition (ingest_date older than now minus "
                    "--older-than) into fewer, larger files: same rows, swapped atomically for readers, "
                    "seen-index kept valid, a record in _runs/compact-*.json (README, 'Compaction').")
    sub.add_argument("--output", default="out", metavar="DIR", help="output root (default: ./out; local only)")
    sub.add_argument("--older-than", type=_age, default="1d", metavar="AGE",
                     help="compact partitions whose day ended at least AGE ago: 1d, 12h, 30m, 0 (default 1d)")
    sub.add_argument("--table", action="append", choices=TABLES, metavar="TABLE",
                     help=f"table to compact, repeatable: {', '.join(TABLES)} (default: all)")
    sub.add_argument("--max-rows", type=_positive, default=DEFAULT_MAX_ROWS, metavar="N",
                     help=f"most rows per compacted file (default {DEFAULT_MAX_ROWS})")
    sub.add_argument("--keep-retired", type=_age, default="1h", metavar="AGE",
                     help="keep the replaced files this long for readers that listed them (default 1h)")
    sub.add_argument("--wait-for-lock", type=_seconds, default=0.0, metavar="SECONDS",
                     help="wait this long for a running pipeline to release the output (default 0)")
    sub.add_argument("--now", type=dt.datetime.fromisoformat, help=argparse.SUPPRESS)  # tests: pretend time
    sub.add_argument("-q", "--quiet", action="store_true", help="summary only")
    sub.add_argument("-v", "--verbose", action="store_true", help="full tracebacks")


def _age(text: str) -> dt.timedelta:
    from pipelines.compact import parse_age

    try:
        return parse_age(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def compact_main(args: argparse.Namespace) -> int:
    """``news-ingest compact``: one summary line; 75 when a run holds the output."""
    from pipelines.compact import TABLES, CompactError, compact

    output = os.path.abspath(args.output)
    if not os.path.isdir(output):
        print(f"news-ingest: error: output directory not found: {output}", file=sys.stderr)
        return EXIT_USAGE
    now = args.now.replace(tzinfo=args.now.tzinfo or dt.timezone.utc) if args.now else None
    try:
        record = compact(output, args.older_than, args.table or TABLES,
                         now=now, max_rows=args.max_rows, grace=args.keep_retired, wait_s=args.wait_for_lock)
    except LockBusy as exc:
        print(f"news-ingest: compact skipped: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_LOCKED
    except (CompactError, OSError, ValueError) as exc:
        if args.verbose:
            LOG.exception("compaction failed")
        print(f"news-ingest: compact failed: {type(exc).__name__}: {' '.join(str(exc).split())[:500]}",
              file=sys.stderr)
        return EXIT_FAILURE
    if not record["partitions"]:
        print(f"news-ingest: compact: nothing to compact in {output}")
        return EXIT_OK
    print(f"news-ingest: compact {record['run_id']} ok: {len(record['partitions'])} partitions, "
          f"{len(record['files_removed'])} files -> {len(record['files_added'])}, "
          f"{record['rows_before']} rows = {record['rows_after']}; "
          f"{len(record['index_files_rewritten'])} index files rewritten "
          f"(record: _runs/{record['run_id']}.json)")
    return EXIT_OK


def _is_remote(path: str) -> bool:
    return "://" in path


def _absolute(path: str) -> str:
    return path if _is_remote(path) else os.path.abspath(path)


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our arguments, and the rest checked to be Beam pipeline options."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        raise UsageError("a command is required: news-ingest run ...")
    if is_dask(rest):
        try:
            require_dask()  # declares Beam's --dask_* options
        except ImportError as exc:
            raise UsageError(str(exc)) from None
    if args.command == "compact":
        if rest:
            raise UsageError(f"unknown arguments: {' '.join(rest)}")
        return args, []
    unknown = unknown_beam_args(rest)
    if unknown:
        raise UsageError(f"unknown arguments (neither news-ingest nor Beam options): {' '.join(unknown)}")
    return args, rest


def unknown_beam_args(args: Sequence[str]) -> list[str]:
    """The arguments that no Beam PipelineOptions class declares."""
    from apache_beam.options.pipeline_options import PipelineOptions

    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    seen, pending = set(), [PipelineOptions]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                pending.append(sub)
                try:
                    sub._add_argparse_args(parser)
                except argparse.ArgumentError:
                    pass  # two option classes declaring one flag: the flag is known either way
    _, unknown = parser.parse_known_args(list(args))
    return unknown


def _check_streaming(args: argparse.Namespace, beam_args: Sequence[str]) -> None:
    if not args.streaming:
        streaming_only = (("--poll-interval", args.poll_interval), ("--max-duration", args.max_duration))
        given = [flag for flag, value in streaming_only if value is not None]
        if given:
            raise UsageError(f"{' and '.join(given)} only go with --streaming")
        return
    if is_dask(beam_args):
        raise UsageError("--streaming runs on the DirectRunner only: Dask is batch-only")
    if not args.poll_interval:
        raise UsageError("--streaming needs --poll-interval SECONDS (more than 0)")
    if args.no_feeds:
        raise UsageError("--streaming polls feeds: --no-feeds leaves nothing to poll")
    if not args.dedup_ttl:
        raise UsageError("--dedup-ttl must be more than 0")


def make_config(args: argparse.Namespace, beam_args: Sequence[str]):
    """RunConfig and feed sources from parsed arguments; UsageError when they cannot work."""
    from expectations import SUITES_DIR
    from pipelines.core.feed_list import FeedListError, load_feed_list
    from pipelines.core.validation import SuiteError, load_suite_json

    started = dt.datetime.now(dt.timezone.utc)
    _check_streaming(args, beam_args)
    seeds = args.seeds
    documents = None
    if not args.no_documents and _is_remote(seeds):  # gs://, s3://: matched by Beam's FileSystems
        documents = seeds.rstrip("/") + "/documents/*"
    elif not args.no_documents:
        if not os.path.isdir(seeds):
            raise UsageError(f"seeds directory not found: {seeds}")
        documents = os.path.join(os.path.abspath(seeds), "documents", "*")
    feed_list = args.feed_list
    if feed_list is None and not args.no_feeds and not _is_remote(seeds) \
            and os.path.isfile(os.path.join(seeds, "feeds.yaml")):
        feed_list = os.path.join(seeds, "feeds.yaml")
    try:
        feeds = load_feed_list(feed_list) if feed_list and not args.no_feeds else []
    except FeedListError as exc:
        raise UsageError(str(exc)) from None
    if args.streaming and not feeds:
        raise UsageError("--streaming needs a feed list with at least one feed (--feed-list FILE)")
    expectations_dir = os.path.abspath(args.expectations) if args.expectations else str(SUITES_DIR)
    try:
        for table in ("articles", "duplicates", "rejects"):
            load_suite_json(expectations_dir, table)
    except SuiteError as exc:
        raise UsageError(str(exc)) from None
    try:
        near = None if args.no_near_duplicates else NearConfig(
            jaccard=args.near_jaccard, containment=args.near_containment, bands=args.near_bands,
            min_words=args.near_min_words)
        fetch_policy = FetchPolicy(
            read_timeout=args.http_timeout, deadline=args.http_deadline, retries=args.http_retries,
            backoff_factor=args.http_backoff, host_interval=args.host_interval,
            host_concurrency=args.host_concurrency, max_bytes=args.max_feed_bytes, user_agent=args.user_agent)
        schedule = FeedSchedule(interval=args.feed_interval, max_backoff=args.max_feed_backoff)
        output = _absolute(args.output)
        state_dir = None if args.no_feed_state else _absolute(args.state_dir) if args.state_dir else \
            output.rstrip("/") + "/_state"
        config = RunConfig(
            output=output,
            documents_pattern=documents,
            feed_list=os.path.abspath(feed_list) if feed_list else None,
            expectations_dir=expectations_dir,
            run_id=args.run_id or new_run_id(started),
            started_at=started,
            batch_size=args.batch_size,
            shards=args.shards,
            near=near,
            seen_index=not args.no_seen_index,
            retention=dt.timedelta(days=args.seen_retention_days),
            fetch_policy=fetch_policy,
            feed_schedule=schedule,
            state_dir=state_dir,
            enrich=args.enrich,
            beam_args=tuple(beam_args),
            lock_wait=args.wait_for_lock,
            poll_interval=args.poll_interval if args.streaming else None,
            window=args.window,
            max_duration=args.max_duration or None,
            dedup_ttl=args.dedup_ttl,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return config, feeds


def _setup_logging(quiet: bool, verbose: bool) -> None:
    """Our progress lines at INFO; libraries only from WARNING (GX sets some of its loggers to INFO)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", force=True)
    for root_handler in logging.getLogger().handlers:
        if not verbose:
            root_handler.setLevel(logging.WARNING)
            root_handler.addFilter(_DropNoise())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("news-ingest: %(message)s"))
    LOG.handlers[:] = [handler]
    LOG.propagate = False
    LOG.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


def summary(manifest: dict) -> str:
    counts = manifest.get("counts") or {}
    lines = [f"news-ingest: run {manifest['run_id']} {manifest['status']}"]
    if counts:
        lines.append("  read {read} = written {written} + duplicates {duplicates} + rejected {rejected}"
                     " + quarantined {quarantined}".format(**counts))
    feed_counts = manifest.get("feed_counts")
    if feed_counts and feed_counts["feeds"]:
        c = feed_counts
        lines.append(f"  feeds: {c['fetched'] - c['bozo']} ok, {c['bozo']} malformed but read, {c['failed']} failed; "
                     f"{c['not_modified']} not modified, {c['not_due']} not due, {c['dead']} dead; "
                     f"{c['new_entries']} new entries")
    if manifest.get("error"):
        lines.append(f"  error: {manifest['error']}")
    lines.append(f"  output: {manifest['output']}  (manifest: _runs/{manifest['run_id']}.json)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in argv or "--verbose" in argv
    _setup_logging("-q" in argv or "--quiet" in argv, verbose)
    try:
        args, beam_args = parse_args(argv)
        if args.command == "compact":
            return compact_main(args)
        config, feeds = make_config(args, beam_args)
    except UsageError as exc:
        print(f"news-ingest: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from pipelines.journal import RunIdUsed
    from pipelines.pipeline import run

    LOG.info("run %s: documents %s, %d feeds -> %s", config.run_id, config.documents_pattern or "(none)",
             len(feeds), config.output)
    cleanup = lambda: None  # noqa: E731
    try:
        beam_args, cleanup = dask_runner_args(config.beam_args)  # --runner dask: our runner, a cluster
        config = dataclasses.replace(config, beam_args=tuple(beam_args))
        if config.poll_interval is not None:
            from pipelines.streaming import run_streaming

            manifest = run_streaming(config, feeds)
        else:
            manifest = run(config, feeds)
    except LockBusy as exc:  # a scheduled run that found the previous one still going: nothing written
        print(f"news-ingest: run {config.run_id} skipped: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_LOCKED
    except RunIdUsed as exc:  # a usage error: that run published its files; nothing of this one written
        print(f"news-ingest: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # the manifest records it; the user gets one line, not a traceback
        if verbose:
            LOG.exception("run failed")
        print(f"news-ingest: run {config.run_id} failed: {type(exc).__name__}: "
              f"{' '.join(str(exc).split())[:500]}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        cleanup()
    print(summary(manifest))
    return {"ok": EXIT_OK, "quarantined": EXIT_QUARANTINED}.get(manifest["status"], EXIT_FAILURE)


if __name__ == "__main__":
    sys.exit(main())
