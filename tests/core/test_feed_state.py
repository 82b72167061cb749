"""core.feed_state: due times, backoff, dead feeds and the state store. Time is a parameter: no sleeping."""

import dataclasses
import datetime as dt
import json
import logging

import pytest

from pipelines.core import records as r
from pipelines.core.feed_state import (
    STATE_VERSION,
    FeedSchedule,
    FeedState,
    FeedStateStore,
    after_failure,
    after_not_modified,
    after_success,
    failure_delay,
    is_due,
    save_feed_states,
)

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
URL = "https://ex.com/rss"
SCHEDULE = FeedSchedule(interval=1800, min_backoff=900, max_backoff=6 * 3600, dead_recheck=7 * 86400)
MINUTE = dt.timedelta(minutes=1)


def success(previous=None, now=NOW, **overrides):
    fields = dict(status="ok", http_status=200, etag='"v1"', last_modified="Wed, 25 Nov 2026 10:00:00 GMT",
                  body_hash="h1", entry_keys=["a", "b"])
    fields.update(overrides)
    return after_success(previous, URL, now, SCHEDULE, **fields)


def failed(previous, now=NOW, reason=r.FEED_HTTP_ERROR, **overrides):
    return after_failure(previous, URL, now, SCHEDULE, status="error", reason=reason, error="HTTP 500\nfrom x",
                         **overrides)


# --- due times ----------------------------------------------------------------------------------------

def test_a_feed_without_state_is_due():
    assert is_due(None, NOW)
    assert is_due(FeedState(URL), NOW)


def test_success_sets_validators_and_the_next_due_time():
    state = success()
    assert (state.etag, state.last_modified, state.body_hash) == ('"v1"', "Wed, 25 Nov 2026 10:00:00 GMT", "h1")
    assert state.entry_keys == ("a", "b")
    assert state.next_due == NOW + dt.timedelta(seconds=1800)
    assert state.last_success == state.last_attempt == NOW
    assert (state.failures, state.dead, state.last_status, state.http_status) == (0, False, "ok", 200)
    assert not is_due(state, NOW + 29 * MINUTE)
    assert is_due(state, NOW + 30 * MINUTE)


def test_not_modified_keeps_validators_and_body_hash():
    first = success()
    later = NOW + dt.timedelta(hours=1)
    state = after_not_modified(first, URL, later, SCHEDULE, status="not_modified", http_status=304)
    assert (state.etag, state.last_modified, state.body_hash, state.entry_keys) == (
        first.etag, first.last_modified, first.body_hash, first.entry_keys)
    assert state.next_due == later + dt.timedelta(seconds=1800)
    assert state.last_success == later and state.http_status == 304
    renewed = after_not_modified(first, URL, later, SCHEDULE, status="not_modified", http_status=304,
                                 etag='"v2"')
    assert renewed.etag == '"v2"'  # a 304 may carry a new validator


def test_consecutive_failures_double_the_wait_up_to_the_cap():
    state = success()
    waits = []
    now = NOW
    for _ in range(8):
        now = state.next_due
        state = failed(state, now)
        waits.append((state.next_due - now).total_seconds() / 60)
    # max(interval 30 min, min_backoff 15 min) = 30 min, doubling, capped at 6 h
    assert waits == [30, 60, 120, 240, 360, 360, 360, 360]
    assert state.failures == 8
    assert state.last_reason == r.FEED_HTTP_ERROR
    assert state.last_error == "HTTP 500 from x"  # one line
    # a failure never touches what the last good fetch left
    assert (state.etag, state.body_hash, state.entry_keys, state.last_success) == ('"v1"', "h1", ("a", "b"), NOW)
    assert not state.dead


def test_min_backoff_applies_when_the_interval_is_short():
    schedule = FeedSchedule(interval=0, min_backoff=600, max_backoff=3600)
    assert [failure_delay(n, schedule).total_seconds() for n in (1, 2, 3, 4)] == [600, 1200, 2400, 3600]
    assert failure_delay(10_000, schedule).total_seconds() == 3600  # no overflow


def test_a_recovered_feed_returns_to_its_normal_interval():
    state = failed(failed(failed(success())))
    assert state.failures == 3
    later = state.next_due
    recovered = success(state, later, etag='"v2"', body_hash="h2")
    assert recovered.failures == 0 and recovered.last_reason is None and recovered.last_error is None
    assert recovered.next_due == later + dt.timedelta(seconds=1800)
    assert recovered.etag == '"v2"'


def test_retry_after_pushes_the_due_time_within_the_cap():
    state = failed(None, reason=r.FEED_RATE_LIMITED, retry_after=7200)
    assert state.next_due == NOW + dt.timedelta(hours=2)
    short = failed(None, reason=r.FEED_RATE_LIMITED, retry_after=10)
    assert short.next_due == NOW + dt.timedelta(minutes=30)  # never earlier than the backoff
    huge = failed(None, reason=r.FEED_RATE_LIMITED, retry_after=10 * 86400)
    assert huge.next_due == NOW + dt.timedelta(hours=6)  # capped: a bogus header cannot silence a feed


def test_410_marks_the_feed_dead_until_the_recheck():
    state = failed(success(), reason=r.FEED_GONE, http_status=410)
    assert state.dead and state.failures == 1 and state.http_status == 410
    assert state.next_due == NOW + dt.timedelta(days=7)
    assert not is_due(state, NOW + dt.timedelta(days=6))
    assert is_due(state, NOW + dt.timedelta(days=7))
    alive = success(state, NOW + dt.timedelta(days=7))
    assert not alive.dead and alive.failures == 0


def test_a_state_for_another_url_is_not_used():
    other = dataclasses.replace(success(), url="https://other.com/rss", failures=5)
    state = failed(other)
    assert state.url == URL and state.failures == 1 and state.etag is None


def test_entry_keys_are_unique_and_capped():
    state = success(entry_keys=["a", "b", "a"] + [f"k{i}" for i in range(5000)])
    assert state.entry_keys[:3] == ("a", "b", "k0")
    assert len(state.entry_keys) == 2000


@pytest.mark.parametrize("kwargs", [{"interval": -1}, {"min_backoff": -1}, {"max_backoff": -5},
                                    {"dead_recheck": -1}])
def test_schedule_is_checked(kwargs):
    with pytest.raises(ValueError):
        FeedSchedule(**kwargs)


# --- JSON ---------------------------------------------------------------------------------------------

def test_json_round_trip():
    state = failed(success())
    data = state.to_json()
    assert data["version"] == STATE_VERSION
    assert data["next_due"] == state.next_due.isoformat()
    assert FeedState.from_json(json.loads(json.dumps(data))) == state
    assert FeedState.from_json(FeedState(URL).to_json()) == FeedState(URL)


@pytest.mark.parametrize("change", [
    {"version": 99}, {"version": None}, {"url": None}, {"url": ""}, {"failures": "3"}, {"failures": -1},
    {"failures": True}, {"dead": "no"}, {"next_due": "tomorrow"}, {"next_due": "2026-11-27T12:00:00"},
    {"next_due": 5}, {"entry_keys": "abc"}, {"entry_keys": [1, 2]}, {"etag": 5}, {"surprise": 1},
])
def test_from_json_refuses_what_it_did_not_write(change):
    data = {**success().to_json(), **change}
    with pytest.raises(ValueError):
        FeedState.from_json(data)


def test_from_json_refuses_non_mappings():
    for data in (None, [], "x", 5):
        with pytest.raises(ValueError):
            FeedState.from_json(data)


# --- store --------------------------------------------------------------------------------------------

def test_store_round_trip_is_atomic(tmp_path):
    store = FeedStateStore(str(tmp_path / "_state"))
    assert store.load(URL) is None  # missing: fetch everything
    state = failed(success())
    path = store.save(state)
    assert path.startswith(str(tmp_path / "_state" / "feeds"))
    assert store.load(URL) == state
    assert FeedStateStore(str(tmp_path / "_state")).load(URL) == state  # a new store (a new worker) too
    assert list((tmp_path / "_state" / "_staging").iterdir()) == []  # nothing half-written left behind
    newer = success(state, NOW + dt.timedelta(hours=3))
    store.save(newer)
    assert store.load(URL) == newer
    assert [p.name for p in (tmp_path / "_state" / "feeds").iterdir()] == [path.rsplit("/", 1)[1]]


def test_one_file_per_feed(tmp_path):
    paths = save_feed_states(str(tmp_path), [FeedState("https://a.com/rss"), FeedState("https://b.com/rss")])
    assert len(set(paths)) == 2
    store = FeedStateStore(str(tmp_path))
    assert store.load("https://a.com/rss") == FeedState("https://a.com/rss")
    assert store.load("https://c.com/rss") is None


@pytest.mark.parametrize("content", [
    b"", b"{not json", b"\xff\xfe\x00garbage", b"[]", b'{"version": 1}', b'{"version": 2, "url": "x"}',
    json.dumps({**FeedState("https://other.com/rss").to_json()}).encode(),  # another feed's file
])
def test_corrupt_state_means_fetch_everything(tmp_path, content):
    store = FeedStateStore(str(tmp_path))
    store.save(FeedState(URL))
    with open(store.path(URL), "wb") as handle:
        handle.write(content)
    logged = []
    handler = logging.Handler()
    handler.emit = lambda record: logged.append(record.getMessage())
    logger = logging.getLogger("news_ingest")  # the CLI may have turned propagation off
    logger.addHandler(handler)
    try:
        assert store.load(URL) is None
    finally:
        logger.removeHandler(handler)
    assert any("unusable" in message and URL in message for message in logged)


def test_unreadable_state_means_fetch_everything(tmp_path):
    store = FeedStateStore(str(tmp_path))
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / store.path(URL).rsplit("/", 1)[1]).mkdir()  # a directory where the file should be
    assert store.load(URL) is None


def test_store_needs_a_directory():
    with pytest.raises(ValueError):
        FeedStateStore("")
