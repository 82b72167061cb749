"""Hypothesis properties of the core parsers and normalisers that had none: whatever goes in, a valid
value or the module's own refusal comes out, never another exception.

- feed_state: any JSON value or bytes -> a FeedState or a ValueError (and the store: a state, or
  None with a one-line problem);
- language.detect_language: any text -> a supported code with a probability in (0, 1], or (None, None);
- enrich: any title/body through Normalize and enrich_core -> a row that fits the schema, or a reject;
- seen_index.run_of_index_file: any name -> the run id of a well-formed name, else None;
- manifest.build_manifest: any counts -> reconciled iff read = written + duplicates + rejected + quarantined.
"""

from __future__ import annotations

import datetime as dt
import json
import string

from conftest import INGESTED_AT, RUN_ID, raw_article
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import schemas
from pipelines.core import manifest as m
from pipelines.core import records as r
from pipelines.core.enrich import CORE_COLUMNS, FULL_COLUMNS, enrich_core, reading_time_s
from pipelines.core.feed_state import STATE_VERSION, FeedState, FeedStateStore
from pipelines.core.language import detect_language, supported_languages
from pipelines.core.normalize import normalize_article
from pipelines.core.seen_index import run_of_index_file

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
URL = "https://ex.com/rss"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)
times = st.one_of(st.none(), st.text(max_size=30), st.integers(),
                  st.datetimes(timezones=st.timezones() | st.none()).map(lambda t: t.isoformat()))
FIELD_VALUES = {
    "url": st.one_of(st.just(URL), st.text(max_size=20), st.none(), st.integers()),
    "etag": st.one_of(st.none(), st.text(max_size=20), st.integers()),
    "entry_keys": st.one_of(st.lists(st.text(max_size=8), max_size=4), st.none(), st.text(max_size=4),
                            st.lists(st.integers(), max_size=2)),
    "failures": st.one_of(st.integers(-3, 10**20), st.none(), st.booleans(), st.floats(), st.text(max_size=3)),
    "http_status": st.one_of(st.integers(-3, 999), st.none(), st.booleans(), st.text(max_size=3)),
    "dead": st.one_of(st.booleans(), st.none(), st.integers(0, 1)),
    "next_due": times, "last_attempt": times, "last_success": times,
}
# near-valid states: the version and most fields right, the rest anything
state_like = st.fixed_dictionaries(
    {"version": st.one_of(st.just(STATE_VERSION), st.integers(0, 3), st.text(max_size=2))},
    optional={**FIELD_VALUES, "extra": json_values})


@SETTINGS
@given(st.one_of(json_values, state_like))
@example({"version": STATE_VERSION, "url": URL, "entry_keys": [], "dead": False,
          "next_due": "0001-01-01T00:00:00+01:00"})  # no UTC time: an OverflowError before the fix
def test_feed_state_from_any_json_is_a_state_or_a_value_error(data):
    try:
        state = FeedState.from_json(data)
    except ValueError:
        return
    assert isinstance(state, FeedState) and state.url
    for name in ("next_due", "last_attempt", "last_success"):
        value = getattr(state, name)
        assert value is None or value.utcoffset() == dt.timedelta(0)
    assert FeedState.from_json(json.loads(json.dumps(state.to_json()))) == state  # it round-trips


@SETTINGS
@given(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()),
                 state_like.map(lambda v: json.dumps(v).encode())))
def test_a_state_file_of_any_bytes_is_a_state_or_a_reported_problem(tmp_path_factory, data):
    store = FeedStateStore(str(tmp_path_factory.mktemp("state")))
    store.save(FeedState(URL))
    with open(store.path(URL), "wb") as handle:
        handle.write(data)
    state, problem = store.load_checked(URL)
    if state is None:
        assert problem and "\n" not in problem and "fetched afresh" in problem
    else:
        assert problem is None and state.url == URL
    assert store.load(URL) == state


SUPPORTED = set(supported_languages())


@SETTINGS
@given(st.text(max_size=800) | st.text(alphabet=string.ascii_letters + " .,", max_size=800))
def test_detect_language_gives_a_supported_code_with_a_probability_or_nothing(text):
    code, probability = detect_language(text)
    if code is None:
        assert probability is None
    else:
        assert code in SUPPORTED and isinstance(probability, float) and 0 < probability <= 1


titles = st.text(max_size=200) | st.text(alphabet=string.ascii_letters + " -'", min_size=1, max_size=80)
bodies = (st.text(max_size=1500)
          | st.lists(st.sampled_from(["KABUL (Agencies):", "PARIS (AFP) --", "f-ocused", "Khal-", "ilzad", "said",
                                      "the", "talks", "\n\n", "é", "\u00ad", "\u200b", "Ã©", "<b>", "1,200"]),
                     max_size=120).map(" ".join))


@SETTINGS
@given(titles, bodies, st.booleans())
def test_enrich_core_on_any_normalized_row_fits_the_schema(title, body, html):
    row = normalize_article(raw_article(title=title, body=body, text_is_html=html), RUN_ID, INGESTED_AT)
    if isinstance(row, r.Reject):  # Normalize's own refusal, with a reason code
        assert row.stage == "normalize" and row.reason.isupper()
        return
    enriched = enrich_core(row)
    assert schemas.check_row(enriched) == []
    assert enriched["word_count"] >= 0 and enriched["reading_time_s"] == reading_time_s(enriched["word_count"])
    assert (enriched["language"] is None) == (enriched["language_confidence"] is None)
    assert enriched["language"] is None or enriched["language"] in SUPPORTED
    assert all(enriched[c] is None for c in FULL_COLUMNS) and all(c in enriched for c in CORE_COLUMNS)
    assert {k: v for k, v in enriched.items() if k not in CORE_COLUMNS + FULL_COLUMNS} == {
        k: v for k, v in row.items() if k not in CORE_COLUMNS + FULL_COLUMNS}  # only its own columns


run_ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,40}\Z")
hashes = st.text(alphabet="0123456789abcdef", min_size=16, max_size=16)


@SETTINGS
@given(run_ids, hashes)
def test_run_of_index_file_reads_back_the_run_id(run_id, digest):
    assert run_of_index_file(f"part-{run_id}-{digest}.parquet") == run_id


@SETTINGS
@given(st.text(max_size=80))
def test_run_of_index_file_on_any_name_is_a_run_id_or_none(name):
    run_id = run_of_index_file(name)
    if run_id is not None:
        assert name.startswith(f"part-{run_id}-") and name.endswith(".parquet")
        assert len(name) == len(f"part-{run_id}-") + 16 + len(".parquet")


@SETTINGS
@given(st.text(max_size=40).filter(lambda n: not n.endswith(".parquet")))
def test_names_that_are_not_index_files_have_no_run(name):
    assert run_of_index_file(name) is None


files = st.lists(st.tuples(st.sampled_from(sorted(m.COUNT_OF_DESTINATION)), st.integers(0, 10**6)), max_size=8)


@SETTINGS
@given(st.integers(0, 10**7), files)
def test_build_manifest_reconciles_iff_the_counts_add_up(read, written):
    records = [m.file_record(destination, destination, f"{destination}/f{n}.parquet", rows, f"b{n}", None, True, [])
               for n, (destination, rows) in enumerate(written)]
    manifest = m.build_manifest({"run_id": RUN_ID}, read, records, [], "2026-11-27T12:00:00+00:00")
    counts = manifest["counts"]
    total = counts["written"] + counts["duplicates"] + counts["rejected"] + counts["quarantined"]
    assert total == sum(rows for _, rows in written) and counts["read"] == read
    assert manifest["reconciled"] is (total == read)
    if total != read:
        assert manifest["status"] == m.STATUS_FAILED and str(read) in manifest["error"]
    else:
        assert manifest["error"] is None
        assert manifest["status"] == (m.STATUS_QUARANTINED if counts["quarantined"] else m.STATUS_OK)
    assert [f["path"] for f in manifest["files"]] == sorted(f["path"] for f in records)


@SETTINGS
@given(files)
def test_build_manifest_with_read_equal_to_the_sum_is_reconciled(written):
    records = [m.file_record(d, d, f"{d}/f{n}.parquet", rows, f"b{n}", None, True, [])
               for n, (d, rows) in enumerate(written)]
    manifest = m.build_manifest({}, sum(rows for _, rows in written), records, [], "t")
    assert manifest["reconciled"] and manifest["status"] != m.STATUS_FAILED
