"""What a scheduler and the person on call see: the real CLI in a subprocess, its exit codes, its
stderr line by line, and a README that says what it does (issue 22).

Signals to running batch runs are in tests/test_signals.py.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SEEDS
from live_server import LiveServer

from pipelines import cli
from pipelines.core.feed_state import FeedSchedule
from pipelines.core.records import MAX_BODY_CHARS, MAX_TITLE_CHARS
from pipelines.transforms.read_documents import MAX_DOCUMENT_BYTES

CLI = Path(sys.executable).with_name("news-ingest")
FAST = ("--enrich", "core", "--no-seen-index")
RSS = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Up</title>'
       b"<item><title>The bridge reopens</title><link>https://up.example.org/1</link>"
       b"<description>The river bridge reopened on Monday after two months of repairs.</description></item>"
       b"</channel></rss>")


def news_ingest(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    command = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "pipelines"]
    return subprocess.run([*command, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def manifest_of(output: Path) -> dict:
    [path] = (output / "_runs").glob("*.json")
    return json.loads(path.read_text())


def readme() -> str:
    return (ROOT / "README.md").read_text()


@pytest.fixture
def refusing_port():
    """A TCP port that refuses connections: bound, never listening (no other process can take it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# --- every feed failed: exit 4; -q shows the summary and one line per failed feed ------------------------

@pytest.mark.slow
@pytest.mark.parametrize("with_document", [False, True], ids=["feeds-only", "a-document-too"])
def test_every_feed_failing_with_nothing_else_read_exits_4_and_q_shows_one_line_per_feed(
        tmp_path, refusing_port, with_document):
    """Two feeds fail (a refused connection, retried twice; a missing file): exit 4, the summary says
    "read nothing", stderr has exactly one line per feed and none of urllib3's "Retrying" warnings.
    With a document read as well the run is not empty: exit 0. The document is 3 MB: under the
    20 MB file cap, over the 2,000,000-character body cap, so it is read and rejected BODY_TOO_LONG
    (the README's reject table says so)."""
    seeds = tmp_path / "seeds"
    (seeds / "documents").mkdir(parents=True)
    if with_document:
        (seeds / "documents" / "big.txt").write_text("A very long report\n\n" + "word " * 600_000)
    url = f"http://127.0.0.1:{refusing_port}/feed.xml"
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - {url}\n  - missing.rss\n")
    output = tmp_path / "out"
    done = news_ingest("run", "-q", "--seeds", str(seeds), "--feed-list", str(feeds), "--output", str(output),
                       "--http-retries", "2", "--http-backoff", "0.01", *FAST)
    errors = done.stderr.splitlines()
    # one line per failed feed (and the rejected document): no "Retrying", no progress lines
    assert len(errors) == 2 + with_document, done.stderr
    assert sum(line.startswith(f"news-ingest: feed {url}: FEED_READ_ERROR") for line in errors) == 1, done.stderr
    assert sum("FEED_NOT_FOUND" in line and "missing.rss" in line for line in errors) == 1, done.stderr
    if with_document:
        assert sum(line.startswith("news-ingest: rejected document") and "BODY_TOO_LONG" in line
                   for line in errors) == 1, done.stderr
    assert "urllib3" not in done.stderr and "Retrying" not in done.stderr and "Traceback" not in done.stderr
    manifest = manifest_of(output)
    assert manifest["status"] == "ok" and manifest["feed_counts"]["failed"] == 2
    lines = done.stdout.splitlines()
    assert len(lines) == 4 and lines[-1].startswith("  output: "), done.stdout
    if with_document:
        assert done.returncode == cli.EXIT_OK, done.stderr
        assert lines[0] == f"news-ingest: run {manifest['run_id']} ok"
        assert manifest["counts"]["read"] == 3 and manifest["counts"]["rejected"] == 3
        import duckdb

        reasons = duckdb.sql(f"select reason from read_parquet('{output}/rejects/*/*.parquet') "
                             "where source_type = 'document'").fetchall()
        assert reasons == [("BODY_TOO_LONG",)]
    else:
        assert done.returncode == cli.EXIT_READ_NOTHING == 4, done.stderr
        assert lines[0] == (f"news-ingest: run {manifest['run_id']} read nothing: every feed failed (2) and no "
                            "document was read")
        assert manifest["counts"]["read"] == 2


# --- usage errors: one line, exit 2, nothing written -------------------------------------------------------

@pytest.mark.parametrize("feed_list, extra", [
    ("", ()),
    ("# only a comment\n", ()),
    ("feeds: []\n", ()),
    ("feeds:\n  - feeds/world.rss\n", ("--no-documents", "--no-feeds")),
    (None, ("--no-documents",)),  # no feed list at all
], ids=["empty", "comment-only", "feeds-empty-list", "no-documents-no-feeds", "no-documents-no-list"])
def test_nothing_to_read_is_a_usage_error(tmp_path, feed_list, extra):
    seeds = tmp_path / "seeds"
    (seeds / "documents").mkdir(parents=True)
    (seeds / "documents" / "a.txt").write_text("A headline\n\nA body.\n")
    if feed_list is not None:
        (seeds / "feeds.yaml").write_text(feed_list)
    output = tmp_path / "out"
    done = news_ingest("run", "--seeds", str(seeds), "--output", str(output), *extra, *FAST)
    assert done.returncode == cli.EXIT_USAGE, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("news-ingest: error: nothing to read"), line
    if feed_list is not None and not extra:
        assert "lists no feeds" in line and "--no-feeds" in line
    assert done.stdout == "" and not output.exists()


@pytest.mark.parametrize("args, message", [
    (("--batch-size", "0"), "argument --batch-size: must be at least 1, got 0"),
    (("--enrich", "bogus"), "argument --enrich: invalid choice: 'bogus'"),
    (("--http-timeout", "soon"), "argument --http-timeout: expected seconds, got 'soon'"),
    (("--no-such-option",), "unknown arguments"),
])
def test_a_bad_option_value_is_one_line_like_an_unknown_option(tmp_path, args, message):
    done = news_ingest("run", "--seeds", str(SEEDS), "--output", str(tmp_path / "out"), *args)
    assert done.returncode == cli.EXIT_USAGE
    [line] = done.stderr.splitlines()  # no 16-line usage block before it
    assert line.startswith("news-ingest: error: ") and message in line, line
    assert not (tmp_path / "out").exists()


def test_a_misspelt_runner_is_a_usage_error_and_nothing_is_written(tmp_path):
    output = tmp_path / "out"
    done = news_ingest("run", "--seeds", str(SEEDS), "--output", str(output), "--runner", "DirectRuner", *FAST)
    assert done.returncode == cli.EXIT_USAGE, done.stderr
    [line] = done.stderr.splitlines()
    assert "unknown runner 'DirectRuner'" in line and "did you mean DirectRunner?" in line
    assert not output.exists()  # no lock file, no failed manifest


def test_an_output_that_is_a_file_is_not_a_directory(tmp_path):
    afile = tmp_path / "notes.txt"
    afile.write_text("keep me\n")
    for output, expected in ((afile, f"--output {afile} is not a directory"),
                             (afile / "sub", f"--output {afile / 'sub'} is not a directory ({afile} is a file)")):
        done = news_ingest("run", "--seeds", str(SEEDS), "--output", str(output), *FAST)
        assert done.returncode == cli.EXIT_USAGE, done.stderr
        assert done.stderr.splitlines() == [f"news-ingest: error: {expected}"]
    compacted = news_ingest("compact", "--output", str(afile))
    assert compacted.returncode == cli.EXIT_USAGE
    assert compacted.stderr.splitlines() == [f"news-ingest: error: output directory is not a directory: {afile}"]
    assert afile.read_text() == "keep me\n"


def test_a_feed_list_without_a_seeds_folder_suggests_no_documents(tmp_path):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - https://example.org/rss\n")
    done = news_ingest("run", "--feed-list", str(feeds), "--seeds", str(tmp_path / "seeds"),
                       "--output", str(tmp_path / "out"))
    assert done.returncode == cli.EXIT_USAGE
    [line] = done.stderr.splitlines()
    assert line.startswith(f"news-ingest: error: seeds directory not found: {tmp_path / 'seeds'}")
    assert "--no-documents" in line and "--seeds DIR" in line


# --- feed schedule: a changed interval or backoff applies at once -------------------------------------------

@pytest.mark.slow
def test_a_changed_feed_interval_and_backoff_apply_at_once(tmp_path):
    """Run 1 with --feed-interval 3600: the healthy feed is next due in an hour, the failing one
    too (the larger of the interval and the minimum backoff). Run 2 right after with
    --feed-interval 0 --min-feed-backoff 0 fetches both again: the due times follow the new
    options, not what run 1 stored."""
    output = tmp_path / "out"
    with LiveServer() as server:
        server.route("/up", lambda h: h.reply(200, RSS, {"Content-Type": "application/rss+xml"}))
        server.route("/down", lambda h: h.reply(500, b"broken"))
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text(f"feeds:\n  - {server.url('/up')}\n  - {server.url('/down')}\n")
        common = ("run", "-q", "--no-documents", "--feed-list", str(feeds), "--output", str(output),
                  "--http-retries", "0", *FAST)
        first = news_ingest(*common, "--run-id", "first", "--feed-interval", "3600")
        assert first.returncode == cli.EXIT_OK, first.stderr
        hits = (len(server.hits("/up")), len(server.hits("/down")))
        assert hits == (1, 1)
        second = news_ingest(*common, "--run-id", "second", "--feed-interval", "0", "--min-feed-backoff", "0")
        assert second.returncode == cli.EXIT_OK, second.stderr
        assert (len(server.hits("/up")), len(server.hits("/down"))) == (2, 2), "a feed stayed 'not due'"
    first_manifest = json.loads((output / "_runs" / "first.json").read_text())
    reports = {r["feed"].rsplit("/", 1)[1]: r for r in first_manifest["feeds"]}
    started = dt.datetime.fromisoformat(first_manifest["started_at"])
    assert dt.datetime.fromisoformat(reports["up"]["next_due"]) == started + dt.timedelta(seconds=3600)
    assert dt.datetime.fromisoformat(reports["down"]["next_due"]) == started + dt.timedelta(seconds=3600)
    second_manifest = json.loads((output / "_runs" / "second.json").read_text())
    down = next(r for r in second_manifest["feeds"] if r["feed"].endswith("/down"))
    assert down["status"] == "error" and down["failures"] == 2
    assert dt.datetime.fromisoformat(down["next_due"]) == dt.datetime.fromisoformat(second_manifest["started_at"])


def test_the_minimum_backoff_is_documented_and_an_option():
    assert FeedSchedule.min_backoff == 900
    text = " ".join(readme().split())
    assert "`--min-feed-backoff S` | first wait after a failure when --feed-interval is shorter" in text
    assert "(900 s: with `--feed-interval 5` a failing feed is next tried 15 minutes" in text
    assert "a changed `--feed-interval` or backoff applies at once" in text


# --- compact says why it compacted nothing ------------------------------------------------------------------

@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, dict]:
    """The bundled seeds, run once into a fresh output (as `make run` does, enrichment core)."""
    output = tmp_path_factory.mktemp("seeds-run") / "out"
    done = news_ingest("run", "--seeds", str(SEEDS), "--output", str(output), "--enrich", "core")
    assert done.returncode == cli.EXIT_OK, done.stderr
    return output, done, manifest_of(output)


@pytest.mark.slow
def test_compact_older_than_0_says_todays_partition_is_still_open(seeds_run):
    output, _, manifest = seeds_run
    done = news_ingest("compact", "--output", str(output), "--older-than", "0")
    assert done.returncode == cli.EXIT_OK, done.stderr
    today = manifest["started_at"][:10]
    [line] = done.stdout.splitlines()
    assert line.startswith(f"news-ingest: compact: nothing to compact in {output}: articles/ingest_date={today}")
    assert "still open (a partition closes --older-than 0 after its UTC day ends" in line, line
    # a day later the same partitions are closed: compacted, or already one file
    later = (dt.datetime.fromisoformat(today) + dt.timedelta(days=1, hours=1)).isoformat()
    done = news_ingest("compact", "--output", str(output), "--older-than", "0", "--now", later)
    assert done.returncode == cli.EXIT_OK and "still open" not in done.stdout, done.stdout


# --- README and --help say the same as the parser and the code ------------------------------------------------

@pytest.mark.slow
def test_the_readme_summary_is_what_a_run_of_the_seeds_prints(seeds_run):
    output, done, manifest = seeds_run
    [block] = re.findall(r"ends with a summary like this.*?\n```\n(.*?)```", readme(), re.S)
    run_id = manifest["run_id"]
    printed = done.stdout.replace(run_id, "20261127T190803Z-886e09").replace(str(output), "/path/to/out")
    assert printed == block


def test_the_readme_option_and_exit_code_tables_are_the_parsers():
    text = readme()
    assert cli.options_markdown("run") in text, "README option tables differ: python -m pipelines.readme"
    assert cli.exit_codes_markdown() in text, "README exit codes differ: python -m pipelines.readme"
    assert "`--wait-for-lock SECONDS`" in text


def test_help_lists_every_exit_code_and_the_feed_list_formats():
    top = news_ingest("--help")
    assert top.returncode == 0
    for code, text in cli.EXIT_CODES.items():
        first_words = " ".join(text.replace("`", "").split()[:6])
        assert re.search(rf"^\s*{code}  {re.escape(first_words)}", top.stdout, re.M), (code, top.stdout)
    run = news_ingest("run", "--help")
    assert "YAML, or OPML" in " ".join(run.stdout.split())
    assert "--min-feed-backoff" in run.stdout and "--wait-for-lock" in run.stdout


def test_the_readme_reject_limits_are_the_codes():
    """DOCUMENT_TOO_LARGE is the file cap, BODY_TOO_LONG the text cap: the README gives both numbers."""
    rows = {line.split("|")[2].strip(): line for line in readme().splitlines() if line.startswith("| read_")}
    large = rows["`DOCUMENT_TOO_LARGE`, `DOCUMENT_READ_ERROR`"]
    assert f"a file over {MAX_DOCUMENT_BYTES // 2 ** 20} MB (not read at all)" in large and "BODY_TOO_LONG" in large
    long = rows["`TITLE_TOO_LONG`, `BODY_TOO_LONG`"]
    assert f"title over {MAX_TITLE_CHARS:,} or body over {MAX_BODY_CHARS:,} characters" in long
    assert "a 3 MB document is `BODY_TOO_LONG`" in long
    assert MAX_BODY_CHARS < 3 * 2 ** 20 < MAX_DOCUMENT_BYTES

