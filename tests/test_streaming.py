"""``run --streaming`` for real: the CLI polls a local HTTP feed that gains entries, windows
commit one after another, a second run writes nothing, SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from conftest import ROOT, files_under, wait_until
from live_server import LiveServer

from pipelines.compact import live_files

CLI = Path(sys.executable).with_name("news-ingest")


LONG = ("Negotiators from both delegations met again on Tuesday in the old conference hall near the river, "
        "where they discussed water rights, grazing land, the border crossings and the release of prisoners held "
        "since the winter. Officials said the mood was calm and that a joint statement could follow by the end of "
        "the week if the remaining questions about the northern villages and the customs posts are settled.")


def long_item(n: int, link: str, body: str) -> str:
    return (f"<item><title>Talks resume, part {n}</title><link>{link}</link><guid>{link}</guid>"
            f"<description>{body}</description></item>")


def rss(*items: int, extra: str = "") -> bytes:
    entries = extra + "".join(
        f"<item><title>Story number {n}</title><link>https://news.example.org/story/{n}</link>"
        f"<guid>https://news.example.org/story/{n}</guid><pubDate>Tue, 0{n % 9 + 1} Mar 2020 10:00:00 GMT</pubDate>"
        f"<description>Report {n}: officials in city {n} said the talks about topic {n} went on late into the "
        f"night and would resume after a break of {n} days.</description></item>"
        for n in items)
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Live</title>'
            f"<link>https://news.example.org/</link>{entries}</channel></rss>").encode()


def start_cli(tmp_path: Path, url: str, run_id: str, *extra: str) -> subprocess.Popen:
    """The streaming CLI; its stderr goes to ``<run_id>.stderr`` (a file: a pipe nobody reads while
    the test waits could fill up and stall the run)."""
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - {url}\n")
    command = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "pipelines"]
    with open(tmp_path / f"{run_id}.stderr", "w") as stderr:
        return subprocess.Popen(
            [*command, "run", "--streaming", "--feed-list", str(feeds), "--no-documents", "--output",
             str(tmp_path / "out"), "--run-id", run_id, "--enrich", "core", "--feed-interval", "0",
             "--http-retries", "0", "--poll-interval", "1", *extra],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)


def stderr_of(tmp_path: Path, run_id: str) -> str:
    return (tmp_path / f"{run_id}.stderr").read_text()


def window_manifests(output: Path, run_id: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((output / "_runs" / run_id).glob("window-*.json"))]


def assert_window_reconciles(output: Path, manifest: dict) -> None:
    c = manifest["counts"]
    assert manifest["reconciled"] and c["read"] == c["written"] + c["duplicates"] + c["rejected"] + c["quarantined"]
    for record in manifest["files"]:
        assert (output / record["path"]).exists() and (output / record["validation"]).exists()


def written_so_far(output: Path, run_id: str) -> int:
    return sum(m["counts"]["written"] for m in window_manifests(output, run_id))


@pytest.mark.slow
def test_streaming_run_writes_new_entries_in_a_later_window_and_a_second_run_writes_nothing(tmp_path):
    output = tmp_path / "out"
    original = long_item(1, "https://news.example.org/talks", LONG)
    feed = {"body": rss(1, 2, 3, extra=original)}
    with LiveServer() as server:
        server.route("/feed", lambda h: h.reply(200, feed["body"], {"Content-Type": "application/rss+xml"}))
        # no --max-duration: the run goes on until the later window is committed, then SIGTERM
        # (however slow the machine); the second run below is the one --max-duration ends
        process = start_cli(tmp_path, server.url("/feed"), "live-1", "--window", "2")
        try:
            assert wait_until(lambda: window_manifests(output, "live-1"), process=process), \
                f"no window committed: {stderr_of(tmp_path, 'live-1')}"
            # the feed gains two entries between polls, and a copy-edited copy of the long story
            copy = long_item(2, "https://mirror.example.net/talks-copy",
                             LONG.replace("on Tuesday", "on Tuesday morning").replace("calm", "calm and friendly"))
            feed["body"] = rss(1, 2, 3, 4, 5, extra=original + copy)
            assert wait_until(lambda: written_so_far(output, "live-1") >= 6, process=process), \
                f"the new entries were never committed: {window_manifests(output, 'live-1')}"
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=300)
        finally:
            process.kill()
        assert process.returncode == 0, stderr_of(tmp_path, "live-1")

        windows = window_manifests(output, "live-1")
        assert len(windows) >= 2
        for manifest in windows:
            assert_window_reconciles(output, manifest)
        assert windows[0]["counts"]["written"] == 4
        later = [m for m in windows[1:] if m["counts"]["written"]]
        assert sum(m["counts"]["written"] for m in later) == 2  # stories 4 and 5, in a later window
        links = duckdb.sql(f"select url from read_parquet('{output}/articles/**/*.parquet')").fetchall()
        assert sorted(u for (u,) in links) == sorted(
            [f"https://news.example.org/story/{n}" for n in range(1, 6)] + ["https://news.example.org/talks"])
        # the copy arrived in a later window: a near duplicate of the committed original
        [(method, canonical_url)] = duckdb.sql(
            f"select d.method, a.url from read_parquet('{output}/duplicates/**/*.parquet') d "
            f"join read_parquet('{output}/articles/**/*.parquet') a on d.canonical_id = a.article_id "
            f"where d.url like '%mirror%'").fetchall()
        assert (method, canonical_url) == ("near", "https://news.example.org/talks")

        # one commit per window, and each file in exactly one window's manifest; the reading list
        # of committed files (live_files) is exactly what is on disk
        assert len({m["window_start"] for m in windows}) == len(windows)
        listed = [f["path"] for m in windows for f in m["files"]]
        assert len(listed) == len(set(listed))
        on_disk = sorted(str(p.relative_to(output)) for t in ("articles", "duplicates", "rejects", "quarantine")
                         for p in (output / t).rglob("*.parquet"))
        assert live_files(str(output)) == on_disk == sorted(listed)

        summary = json.loads((output / "_runs" / "live-1.json").read_text())
        assert summary["status"] == "ok" and summary["reconciled"] and summary["counts"]["written"] == 6
        assert summary["stopped_by"] == "SIGTERM"
        assert files_under(output / "_journal") == [], "a window commit left its journal"

        polls = len(server.hits("/feed"))
        again = start_cli(tmp_path, server.url("/feed"), "live-2", "--window", "2", "--max-duration", "3")
        try:
            again.wait(timeout=300)
        finally:
            again.kill()
        assert again.returncode == 0, stderr_of(tmp_path, "live-2")
        assert len(server.hits("/feed")) > polls, "the second run never polled the feed"
        second = json.loads((output / "_runs" / "live-2.json").read_text())
        assert second["stopped_by"] == "max-duration" and second["status"] == "ok"
        assert second["windows"] and second["counts"]["written"] == 0


@pytest.mark.slow
def test_sigterm_commits_the_open_window_and_exits_0(tmp_path):
    output = tmp_path / "out"
    with LiveServer() as server:
        server.route("/feed", lambda h: h.reply(200, rss(7, 8), {"Content-Type": "application/rss+xml"}))
        process = start_cli(tmp_path, server.url("/feed"), "term-1", "--window", "300")
        try:
            # the first poll has been answered (the entries are in the open window): stop now
            assert wait_until(lambda: [hit for hit in server.hits("/feed") if hit.ended], process=process), \
                f"never polled: {stderr_of(tmp_path, 'term-1')}"
            sent = time.monotonic()
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=300)
            took = time.monotonic() - sent
        finally:
            process.kill()
    assert process.returncode == 0, stderr_of(tmp_path, "term-1")
    assert took < 60
    [window] = window_manifests(output, "term-1")
    assert window["counts"]["written"] == 2
    assert_window_reconciles(output, window)
    summary = json.loads((output / "_runs" / "term-1.json").read_text())
    assert summary["stopped_by"] == "SIGTERM" and summary["status"] == "ok"
    assert json.loads(next((output / "_state" / "feeds").glob("*.json")).read_text())["body_hash"]


@pytest.mark.slow  # three CLI start-ups
@pytest.mark.parametrize("args, message", [
    (["--streaming", "--runner", "dask", "--poll-interval", "1"], "Dask is batch-only"),
    (["--poll-interval", "1"], "only go with --streaming"),
    (["--streaming"], "needs --poll-interval"),
])
def test_streaming_usage_errors(tmp_path, args, message):
    command = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "pipelines"]
    result = subprocess.run([*command, "run", *args, "--output", str(tmp_path / "out")], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("news-ingest: error")]) == 1
