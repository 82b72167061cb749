"""``news-ingest`` command line: argument parsing into a RunConfig, and exit codes.

Exit codes: :data:`EXIT_CODES` (``--help`` and the README's table are made from it).
Arguments this parser does not know are Beam pipeline options
(``--runner``, ``--direct_num_workers`` ...); unknown to Beam as well is a usage error.
Heavy modules (Beam, the pipeline) are imported inside :func:`main`, after the SIGINT/SIGTERM
handling is in place (``pipelines/signals.py``): a run stopped while it starts says so in one line.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import math
import os
import signal
import sys
import textwrap
from typing import Sequence

from pipelines.worker import is_worker_notice

_RELAY = "apache_beam.runners.portability.local_job_service"


class _DropNoise(logging.Filter):
    """Keeps the terminal readable: no warning about optional Google Cloud clients, no urllib3
    retry warnings, and no tracebacks that Beam logs for a failing DoFn (the error reaches us and is shown as one
    line; ``--verbose`` shows everything)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Beam's import warns on the root logger ("apitools not found"); the runner relays the routine
        # notices of multi-process workers (pipelines/worker.py).
        if record.name in ("root", _RELAY) and is_worker_notice(record.getMessage()):
            return False
        if record.name.startswith("urllib3") and record.levelno < logging.ERROR:
            return False  # "Retrying ...": the feed's own line says what finally failed
        return not (record.name.startswith("apache_beam") and record.levelno >= logging.ERROR)


# Before anything imports Beam, whose import logs through the root logger.
logging.getLogger().addFilter(_DropNoise())

import pipelines
from pipelines import signals
from pipelines.lock import LockBusy

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_QUARANTINED, EXIT_READ_NOTHING = 0, 1, 2, 3, 4
EXIT_LOCKED = 75  # EX_TEMPFAIL: another run holds the output's lock; try again later
EXIT_SIGINT, EXIT_SIGTERM = signals.exit_code(signal.SIGINT), signals.exit_code(signal.SIGTERM)
EXIT_CODES = {  # the one description: --help and the README's table (python -m pipelines.readme)
    EXIT_OK: "ok",
    EXIT_FAILURE: "failure: one line on stderr saying why; the manifest has status `failed` and nothing of the "
                  "run is published",
    EXIT_USAGE: "usage error: bad option or value, nothing to read (`--no-documents --no-feeds`, a feed list "
                "without feeds), missing seeds directory, an output that is not a directory, unknown runner, "
                "unreadable feed list or suite; nothing is written",
    EXIT_QUARANTINED: "something was quarantined: rows that failed an expectation, or a whole batch that failed "
                      "one on the batch as a whole (the rest is published; see Output contract, Validation)",
    EXIT_READ_NOTHING: "read nothing: every feed failed (or is dead) and no document was read; the manifest "
                       "(`feeds`) and `rejects/` say why for each feed",
    EXIT_LOCKED: "skipped (`EX_TEMPFAIL`): another run holds the output's lock; nothing was read or written",
    EXIT_SIGINT: "interrupted by SIGINT (Ctrl-C): one line on stderr, within seconds; a manifest with status "
                 "`interrupted` (nothing published, staged files removed), or the committed one if the "
                 "signal came after the commit",
    EXIT_SIGTERM: "interrupted by SIGTERM (systemd, Airflow, `kill`): as 130",
}
INTERRUPT_GRACE_S = 8.0  # a stopped run that has not ended by then exits all the same (the watchdog)
LOG = logging.getLogger("news_ingest")

DESCRIPTION = """\
Ingest news feeds (RSS/Atom) and plain-text documents with Apache Beam:
normalise, deduplicate, enrich, validate every batch with Great Expectations
and write a Parquet dataset.

Output layout (under --output):
  articles/ingest_date=YYYY-MM-DD/*.parquet     kept articles
  duplicates/ingest_date=YYYY-MM-DD/*.parquet   one row per dropped duplicate
  rejects/ingest_date=YYYY-MM-DD/*.parquet      records that could not go on, with stage and reason
  quarantine/<table>/ingest_date=.../*.parquet  rows that failed validation (failed_expectations)
  _validation/<run_id>/*.json                   Great Expectations result of every batch
  _runs/<run_id>.json                           run manifest: inputs, status, counts, files, feeds
  _runs/<run_id>/window-<start>.json            a streaming run's per-window manifests
  _index/, _state/                              seen-index (dedup across runs), per-feed state
  _journal/, _staging/, _lock                   the commit in progress, staged files, one writer at a time

Exit codes:
{exit_codes}
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
    def error(self, message: str):  # one line and exit 2, never a traceback or a usage block
        raise UsageError(f"{message} (see {self.prog} --help)")


def _exit_code_lines() -> str:
    return "\n".join(textwrap.fill(f"{code:>3}  {text.replace('`', '')}", 100, subsequent_indent=" " * 5)
                     for code, text in EXIT_CODES.items())


def build_parser() -> argparse.ArgumentParser:
    from pipelines.core.feed_state import FeedSchedule
    from pipelines.core.fetch import FetchPolicy
    from pipelines.core.near_dedupe import NearConfig

    parser = _Parser(prog="news-ingest", description=DESCRIPTION.format(exit_codes=_exit_code_lines()),
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"news-ingest {pipelines.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    run = commands.add_parser("run", help="run the pipeline once (batch), or with --streaming until stopped",
                              epilog=RUN_EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              description="Run the pipeline once over the seeds and the feed list.")
    run.add_argument("--seeds", default="seeds", metavar="DIR",
                     help="seed directory: documents in DIR/documents/ (also a gs:// or s3:// URL), feed list "
                          "DIR/feeds.yaml (default: ./seeds)")
    run.add_argument("--feed-list", metavar="FILE",
                     help="feed list: YAML, or OPML as any feed reader exports it (default: SEEDS/feeds.yaml "
                          "when it exists)")
    run.add_argument("--no-feeds", action="store_true", help="read documents only")
    run.add_argument("--no-documents", action="store_true", help="read feeds only")
    run.add_argument("--output", default="out", metavar="DIR",
                     help="output root: a local directory, or a gs:// or s3:// URL where Beam has that filesystem "
                          "(default: ./out)")
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
                       help="fetch a healthy feed at most this often, counted from its last fetch: a new value "
                            f"applies at once (default {FeedSchedule.interval:g})")
    fetch.add_argument("--min-feed-backoff", type=_seconds, default=FeedSchedule.min_backoff, metavar="S",
                       help="first wait after a failure when --feed-interval is shorter; it doubles with every "
                            f"further failure (default {FeedSchedule.min_backoff:g})")
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
    run.add_argument("-q", "--quiet", action="store_true",
                     help="the summary and one line per error only: no progress lines, no library warnings")
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


def _invocation(action: argparse.Action) -> str:
    """``--seeds DIR``, ``-q``, ``--quiet``, ``--enrich core|full``: how an option is written."""
    value = "" if action.nargs == 0 else " " + (action.metavar or "|".join(map(str, action.choices or ())))
    return _cell(", ".join(f"`{option}{value}`" for option in action.option_strings))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def options_markdown(command: str = "run") -> str:
    """The options of ``news-ingest COMMAND`` as Markdown tables, one per group of ``--help``
    (the README's option tables are this output: ``python -m pipelines.readme``)."""
    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    parts = []
    for group in commands.choices[command]._action_groups:
        actions = [a for a in group._group_actions if a.help not in (None, argparse.SUPPRESS)
                   and not isinstance(a, argparse._HelpAction)]
        if not actions:
            continue
        if group.title != "options":
            parts.append(f"*{group.title[0].upper()}{group.title[1:]}:*\n")
        parts.append("| option | meaning |\n|---|---|")
        parts += [f"| {_invocation(a)} | {_cell(str(a.help))} |" for a in actions]
        parts.append("")
    return "\n".join(parts)


def exit_codes_markdown() -> str:
    """:data:`EXIT_CODES` as the README's Markdown table."""
    rows = [f"| `{code}` | {text} |" for code, text in EXIT_CODES.items()]
    return "\n".join(["| code | meaning |", "|---|---|", *rows])


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
        what = "is not a directory" if os.path.exists(output) else "not found"
        print(f"news-ingest: error: output directory {what}: {output}", file=sys.stderr)
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
        print(f"news-ingest: compact: nothing to compact in {output}: {_why_nothing(record['skipped'], args)}")
        return EXIT_OK
    print(f"news-ingest: compact {record['run_id']} ok: {len(record['partitions'])} partitions, "
          f"{len(record['files_removed'])} files -> {len(record['files_added'])}, "
          f"{record['rows_before']} rows = {record['rows_after']}; "
          f"{len(record['index_files_rewritten'])} index files rewritten "
          f"(record: _runs/{record['run_id']}.json)")
    return EXIT_OK


def _why_nothing(skipped: dict[str, list[str]], args: argparse.Namespace) -> str:
    """Why compaction found no partition to merge, in one line."""
    def some(names: list[str]) -> str:
        return ", ".join(names[:2]) + (f" and {len(names) - 2} more" if len(names) > 2 else "")

    reasons = []
    if skipped["open"]:
        reasons.append(f"{some(skipped['open'])} still open (a partition closes --older-than "
                       f"{_age_text(args.older_than)} after its UTC day ends: runs write today's partition until "
                       "midnight UTC)")
    if skipped["one_file"]:
        reasons.append(f"{some(skipped['one_file'])} already one file")
    if skipped["unlisted"]:
        reasons.append(f"{some(skipped['unlisted'])} hold files no committed manifest lists (left alone)")
    return "; ".join(reasons) or "no partitions yet"


def _age_text(age: dt.timedelta) -> str:
    seconds = age.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}"


def _check_directory(option: str, path: str) -> None:
    """UsageError when a local ``path``, or the nearest part of it that exists, is not a directory."""
    if _is_remote(path):
        return
    existing = os.path.abspath(path)
    while not os.path.lexists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        where = "" if existing == os.path.abspath(path) else f" ({existing} is a file)"
        raise UsageError(f"{option} {path} is not a directory{where}")


def _is_remote(path: str) -> bool:
    return "://" in path


def _absolute(path: str) -> str:
    return path if _is_remote(path) else os.path.abspath(path)


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our arguments, and the rest checked to be Beam pipeline options (``--runner`` one that exists)."""
    from pipelines.runners import is_dask, require_dask, runner_of, runner_problem

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
    runner = runner_of(rest)
    problem = runner_problem(runner) if runner is not None else None
    if problem:
        raise UsageError(problem)
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
    from pipelines.runners import is_dask

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
    from pipelines.config import RunConfig, new_run_id
    from pipelines.core.feed_list import FeedListError, load_feed_list
    from pipelines.core.feed_state import FeedSchedule
    from pipelines.core.fetch import FetchPolicy
    from pipelines.core.near_dedupe import NearConfig
    from pipelines.core.validation import SuiteError, load_suite_json

    started = dt.datetime.now(dt.timezone.utc)
    _check_streaming(args, beam_args)
    if args.no_documents and args.no_feeds:
        raise UsageError("nothing to read: --no-documents and --no-feeds together leave no input")
    _check_directory("--output", args.output)
    if args.state_dir:
        _check_directory("--state-dir", args.state_dir)
    seeds = args.seeds
    documents = None
    if not args.no_documents and _is_remote(seeds):  # gs://, s3://: matched by Beam's FileSystems
        documents = seeds.rstrip("/") + "/documents/*"
    elif not args.no_documents:
        if os.path.exists(seeds) and not os.path.isdir(seeds):
            raise UsageError(f"--seeds {seeds} is not a directory")
        if not os.path.isdir(seeds):
            raise UsageError(f"seeds directory not found: {seeds} (documents are read from SEEDS/documents/: "
                             "give --seeds DIR, or --no-documents to read only the feed list)")
        documents = os.path.join(os.path.abspath(seeds), "documents", "*")
    feed_list = args.feed_list
    if feed_list is None and not args.no_feeds and not _is_remote(seeds) \
            and os.path.isfile(os.path.join(seeds, "feeds.yaml")):
        feed_list = os.path.join(seeds, "feeds.yaml")
    try:
        feeds = load_feed_list(feed_list) if feed_list and not args.no_feeds else []
    except FeedListError as exc:
        raise UsageError(str(exc)) from None
    if feed_list and not args.no_feeds and not feeds:
        raise UsageError(f"nothing to read in the feed list {feed_list}: it lists no feeds (empty, comments only or "
                         "'feeds: []'); to read documents only, use --no-feeds")
    if documents is None and not feeds and not args.streaming:
        raise UsageError("nothing to read: --no-documents, and no feed list (SEEDS/feeds.yaml not found; "
                         "give --feed-list FILE)")
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
        schedule = FeedSchedule(interval=args.feed_interval, min_backoff=args.min_feed_backoff,
                                max_backoff=args.max_feed_backoff)
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
    from pipelines.core.manifest import STATUS_OK, read_nothing

    counts = manifest.get("counts") or {}
    feed_counts = manifest.get("feed_counts")
    headline = f"news-ingest: run {manifest['run_id']} {manifest['status']}"
    if manifest["status"] == STATUS_OK and read_nothing(manifest):
        headline = (f"news-ingest: run {manifest['run_id']} read nothing: every feed failed "
                    f"({feed_counts['feeds']}) and no document was read")
    lines = [headline]
    if counts:
        lines.append("  read {read} = written {written} + duplicates {duplicates} + rejected {rejected}"
                     " + quarantined {quarantined}".format(**counts))
    if manifest.get("quarantined_by"):  # rows per failed expectation; a row may count for several
        by = manifest["quarantined_by"]
        lines.append("  quarantined by: " + ", ".join(f"{name} {rows}" for name, rows in by.items()))
    if feed_counts and feed_counts["feeds"]:
        c = feed_counts
        lines.append(f"  feeds: {c['fetched'] - c['bozo']} ok, {c['bozo']} malformed but read, {c['failed']} failed; "
                     f"{c['not_modified']} not modified, {c['not_due']} not due, {c['dead']} dead; "
                     f"{c['new_entries']} new entries")
    if manifest.get("error"):
        lines.append(f"  error: {manifest['error']}")
    lines.append(f"  output: {manifest['output']}  (manifest: _runs/{manifest['run_id']}.json)")
    return "\n".join(lines)


def exit_code_of(manifest: dict) -> int:
    """The exit code a finished run's manifest calls for (:data:`EXIT_CODES`)."""
    from pipelines.core.manifest import STATUS_OK, STATUS_QUARANTINED, read_nothing

    if manifest["status"] == STATUS_OK and read_nothing(manifest):
        return EXIT_READ_NOTHING
    return {STATUS_OK: EXIT_OK, STATUS_QUARANTINED: EXIT_QUARANTINED}.get(manifest["status"], EXIT_FAILURE)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in argv or "--verbose" in argv
    _setup_logging("-q" in argv or "--quiet" in argv, verbose)
    run: dict = {"id": None, "said": False}  # for the interrupted line: the run id, once known

    def overdue(signum: int) -> None:  # the watchdog: the run did not stop in time
        what = f"run {run['id']} interrupted" if run["id"] else "interrupted"
        line = "" if run["said"] else (
            f"news-ingest: {what} by {signals.name(signum)}: it did not stop within {INTERRUPT_GRACE_S:g} s, "
            "exiting now (the next run completes or removes what it left)")
        signals.exit_now(signum, line)

    with signals.interrupts(INTERRUPT_GRACE_S, overdue):
        try:
            return _main(argv, verbose, run)
        except signals.Interrupted as exc:
            what = f"run {run['id']}" if run["id"] else "run"
            detail = exc.detail or "before it started: nothing was read or written"
            print(f"news-ingest: {what} interrupted by {signals.name(exc.signum)} {detail}", file=sys.stderr,
                  flush=True)
            run["said"] = True
            return signals.exit_code(exc.signum)


def _main(argv: list[str], verbose: bool, run_info: dict) -> int:
    try:
        with signals.interruptible():  # nothing is written before the run holds the output's lock
            args, beam_args = parse_args(argv)
        if args.command == "compact":  # crash-safe, but never cut short: a stop request waits for its end
            return compact_main(args)
        with signals.interruptible():
            config, feeds = make_config(args, beam_args)
            run_info["id"] = config.run_id
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
            from pipelines.journal import RunIdUsed
            from pipelines.pipeline import run
            from pipelines.runners import dask_runner_args
    except UsageError as exc:
        print(f"news-ingest: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    LOG.info("run %s: documents %s, %d feeds -> %s", config.run_id, config.documents_pattern or "(none)",
             len(feeds), config.output)
    cleanup = lambda: None  # noqa: E731
    try:
        beam_args, cleanup = dask_runner_args(config.beam_args)  # --runner dask: our runner, a cluster
        config = dataclasses.replace(config, beam_args=tuple(beam_args))
        signals.check()
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
    return exit_code_of(manifest)


if __name__ == "__main__":
    sys.exit(main())
