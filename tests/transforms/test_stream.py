"""The streaming graph under TestStream on the (bundle-based, streaming) DirectRunner: windows,
deduplication across windows in Beam state with expiry, and validation per window."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms.window import TimestampedValue
from conftest import raw_article, suites_with_word_cap

from expectations import SUITES_DIR
from pipelines.config import RunConfig
from pipelines.core.near_dedupe import NearConfig
from pipelines.streaming import build_window_graph
from pipelines.transforms.stream import TickSource, forget_stop, request_stop, window_label

STARTED = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)
T0 = 1_800_000_000  # epoch seconds, a multiple of the 10 s window
WORDS = ["the", "minister", "said", "talks", "on", "the", "climate", "accord", "would", "resume", "in", "the", "spring", "after", "delegates", "from", "forty", "nations", "failed", "to", "agree", "on", "targets", "for", "emissions", "and", "on", "funds", "for", "poorer", "countries", "while", "protesters", "gathered", "outside", "the", "hall"]


def body(n: int, salt: str = "") -> str:
    return " ".join(f"{WORDS[i % len(WORDS)]}{salt if i % 7 == 0 else ''}" for i in range(n))


def config_for(output: Path, **overrides) -> RunConfig:
    fields = dict(output=str(output), documents_pattern=None, feed_list=None, expectations_dir=str(SUITES_DIR),
                  run_id="stream-test", started_at=STARTED, shards=1, seen_index=False, state_dir=None,
                  enrich="core", poll_interval=1.0, window=10, dedup_ttl=30.0, near=None)
    fields.update(overrides)
    return RunConfig(**fields)


def run_stream(config: RunConfig, events: TestStream) -> list[dict]:
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    with beam.Pipeline(options=options) as p:
        build_window_graph(p, config, p | events)
    runs = Path(config.output) / "_runs" / config.run_id
    return [json.loads(path.read_text()) for path in sorted(runs.glob("window-*.json"))]


def two_windows(first: list, second: list) -> TestStream:
    """``first`` in the window at T0, ``second`` in the next one (10 s windows), a second apart each."""
    stream = TestStream().advance_watermark_to(T0)
    stream.add_elements([TimestampedValue(row, T0 + 1 + i) for i, row in enumerate(first)])
    stream.advance_watermark_to(T0 + 11)
    stream.add_elements([TimestampedValue(row, T0 + 12 + i) for i, row in enumerate(second)])
    return stream.advance_watermark_to_infinity()


def by_window(manifests: list[dict]) -> dict[int, dict]:
    return {int(dt.datetime.fromisoformat(m["window_start"]).timestamp()) - T0: m for m in manifests}


def articles_in(output: Path, manifest: dict, destination: str = "articles") -> list[dict]:
    rows = []
    for record in manifest["files"]:
        if record["destination"] == destination:
            rows += pq.read_table(output / record["path"]).to_pylist()
    return rows


def assert_reconciled(manifest: dict) -> None:
    c = manifest["counts"]
    assert c["read"] == c["written"] + c["duplicates"] + c["rejected"] + c["quarantined"]
    assert manifest["reconciled"] and manifest["published"]


@pytest.mark.slow
def test_windows_and_dedup_across_windows_with_expiry(tmp_path):
    a = raw_article(url="https://example.com/a", title="Story A", body=body(30))
    b = raw_article(url="https://example.com/b", title="Story B", body=body(30, "x"))
    a_again = dict(a, source="/feeds/b.rss", feed_url="/feeds/b.rss")  # same link, another feed
    events = (
        TestStream()
        .advance_watermark_to(T0)
        .add_elements([TimestampedValue(a, T0 + 1), TimestampedValue(b, T0 + 2)])
        .advance_watermark_to(T0 + 12)
        .add_elements([TimestampedValue(a_again, T0 + 13)])  # window 2: a copy of window 1's article
        .advance_watermark_to(T0 + 100)  # past the 30 s TTL: the state of A's keys is gone
        .add_elements([TimestampedValue(a_again, T0 + 101)])
        .advance_watermark_to_infinity()
    )
    windows = by_window(run_stream(config_for(tmp_path), events))

    assert sorted(windows) == [0, 10, 100]
    for manifest in windows.values():
        assert_reconciled(manifest)
    assert windows[0]["counts"] | {} == {"read": 2, "written": 2, "duplicates": 0, "rejected": 0, "quarantined": 0}
    assert windows[10]["counts"]["written"] == 0 and windows[10]["counts"]["duplicates"] == 1
    [first] = [r for r in articles_in(tmp_path, windows[0]) if r["title"] == "Story A"]
    [dup] = articles_in(tmp_path, windows[10], "duplicates")
    assert dup["canonical_id"] == first["article_id"] and dup["method"] == "url"
    assert windows[100]["counts"]["written"] == 1  # expired: written again, as documented
    assert (tmp_path / windows[10]["files"][0]["validation"]).exists()
    assert not list((tmp_path / "_journal").glob("*.json"))


@pytest.mark.slow
def test_near_duplicate_in_a_later_window(tmp_path):
    story = body(60)
    a = raw_article(url="https://example.com/a", title="Story A", body=story)
    edited = raw_article(url="https://example.org/other", title="Story A, edited",
                         body=story.replace("minister", "ministers", 1) + " more words at the end")
    events = two_windows([a], [edited])
    windows = by_window(run_stream(config_for(tmp_path, near=NearConfig()), events))
    assert windows[10]["counts"]["duplicates"] == 1 and windows[10]["counts"]["written"] == 0
    [dup] = articles_in(tmp_path, windows[10], "duplicates")
    assert dup["method"] == "near"


@pytest.mark.slow
def test_a_near_copy_of_a_dropped_copy_points_at_the_article_that_was_written(tmp_path):
    """Window 2: X repeats E's link (E written in window 1) with a new text, Y is a near copy of X's
    text only. X is dropped for E; Y must point at E (in articles/), not at X (never written)."""
    storm = ["a", "storm", "crossed", "the", "northern", "coast", "overnight", "and", "cut", "power", "to", "thousands", "of", "homes", "while", "rescue", "teams", "searched", "flooded", "villages", "and", "the", "weather", "service", "warned", "of", "more", "rain", "over", "the", "weekend", "as", "rivers", "rose", "above", "their", "banks", "in", "three", "provinces", "and", "schools", "stayed", "shut"]
    text = " ".join(storm[i % len(storm)] + ("" if i < len(storm) else str(i // len(storm))) for i in range(70))
    e = raw_article(url="https://example.com/e", title="Climate talks", body=body(60),
                    published_at=dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc))
    x = raw_article(url="https://example.com/e", title="Storm update", body=text, guid="x",
                    published_at=dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc))
    y = raw_article(url="https://example.org/y", title="Storm hits coast", body=text.replace("storm", "gale", 1),
                    guid="y", published_at=dt.datetime(2026, 11, 3, tzinfo=dt.timezone.utc))
    events = two_windows([e], [x, y])
    windows = by_window(run_stream(config_for(tmp_path, near=NearConfig()), events))
    [written] = articles_in(tmp_path, windows[0])
    assert written["url"] == "https://example.com/e" and windows[10]["counts"]["written"] == 0
    dups = {row["url"]: row for row in articles_in(tmp_path, windows[10], "duplicates")}
    assert dups["https://example.com/e"]["method"] == "url"
    assert dups["https://example.org/y"]["method"] == "near"
    assert {row["canonical_id"] for row in dups.values()} == {written["article_id"]}


@pytest.mark.slow
def test_a_window_failing_validation_is_quarantined_and_the_others_written(tmp_path):
    suites = suites_with_word_cap(tmp_path / "suites", max_words=100)
    output = tmp_path / "out"
    short = raw_article(url="https://example.com/short", title="Short", body=body(30))
    long = raw_article(url="https://example.com/long", title="Long", body=body(150, "y"))
    events = two_windows([short], [long])
    windows = by_window(run_stream(config_for(output, expectations_dir=str(suites)), events))
    assert windows[0]["status"] == "ok" and windows[0]["counts"]["written"] == 1
    assert windows[10]["status"] == "quarantined" and windows[10]["counts"]["quarantined"] == 1
    assert_reconciled(windows[10])
    [record] = [f for f in windows[10]["files"] if f["destination"] == "quarantine"]
    assert (output / record["path"]).exists() and not record["validation_success"]


_FIRED: list = []  # module level: the runner pickles the DoFn, a closure's list would be a copy


def _collect(element) -> None:
    _FIRED.append(element)


_TICK_STOP = "test-tick-stop"
_EMITTED: list = []


def _stop_after_three(tick: float) -> float:
    """Runs fused with the tick source, as each tick is emitted: the stop request comes with the
    third tick, whenever that is (however late the runner started), not at a fixed time."""
    _EMITTED.append(tick)
    if len(_EMITTED) == 3:
        request_stop(_TICK_STOP)
    return tick


def test_tick_source_stops_on_request_and_flushes():
    """The tick source ends when its stop event is set: the pipeline finishes with the ticks so far."""
    from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner

    _FIRED.clear(), _EMITTED.clear()
    start = time.time()
    try:
        with beam.Pipeline(runner=FnApiRunner()) as p:
            (p | TickSource(start, start + 60, 0.5, _TICK_STOP)
             | beam.Map(_stop_after_three)
             | beam.WindowInto(beam.window.FixedWindows(1))
             | beam.Map(lambda t: (None, t)) | beam.GroupByKey()
             | beam.Map(_collect))
    finally:
        forget_stop(_TICK_STOP)
    assert time.time() - start < 50  # ended on the request, not at its stop time (start + 60)
    ticks = sorted(t for _, group in _FIRED for t in group)
    assert ticks == sorted(_EMITTED) and 3 <= len(ticks) <= 4, ticks  # every tick emitted is flushed
    assert ticks[:3] == pytest.approx([start, start + 0.5, start + 1.0])


def test_window_label_is_utc():
    from apache_beam.utils.timestamp import Timestamp
    assert window_label(Timestamp.of(T0)) == "20270115T080000Z"
