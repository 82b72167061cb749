"""core.dedupe: dedup keys, the kept-article rule and cluster merging."""

import datetime as dt
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schemas
from pipelines.core.dedupe import (
    METHODS,
    MIN_CONTENT_WORDS,
    dedup_key,
    duplicate_rows,
    kept_row,
    merge_clusters,
    priority,
)

PROPERTY = settings(max_examples=150, deadline=None)
UTC = dt.timezone.utc
INGESTED_AT = dt.datetime(2026, 1, 2, tzinfo=UTC)
LONG_BODY = " ".join(f"word{i}" for i in range(MIN_CONTENT_WORDS))


def row(article_id, published=None, body="", **fields):
    base = schemas.empty_row()
    base.update(article_id=article_id, url=f"https://ex.com/{article_id}", title=f"Title {article_id}",
                source_type="feed", source_name="Ex", feed_url="https://ex.com/rss", guid=None,
                body=body, published_at=published, ingested_at=INGESTED_AT, content_hash="h" * 64,
                canonical_url=f"https://ex.com/{article_id}", cluster_size=1, run_id="run")
    base.update(fields)
    return base


def day(n):
    return dt.datetime(2020, 3, n, tzinfo=UTC)


def cluster(r):
    return (r, [])


def ids(cluster_):
    kept, dropped = cluster_
    return kept["article_id"], sorted((d["article_id"], method) for d, method, _ in dropped)


# --- dedup_key ---------------------------------------------------------------------------------------

def test_bare_guid_is_scoped_by_feed():
    a = row("a", guid="12345", feed_url="https://one.example/rss")
    b = row("b", guid="12345", feed_url="https://two.example/rss")
    c = row("c", guid="12345", feed_url="https://one.example/rss")
    assert dedup_key(a, "guid") != dedup_key(b, "guid")
    assert dedup_key(a, "guid") == dedup_key(c, "guid")


@pytest.mark.parametrize("guid", ["tag:news.example.org,2020:world/4411", "urn:uuid:6a4f1c2e",
                                  "https://news.example.org/a"])
def test_uri_guid_is_global(guid):
    a = row("a", guid=guid, feed_url="https://one.example/rss")
    b = row("b", guid=guid, feed_url="https://two.example/rss")
    assert dedup_key(a, "guid") == dedup_key(b, "guid") == guid


@pytest.mark.parametrize("guid", [None, ""])
def test_no_guid_no_key(guid):
    assert dedup_key(row("a", guid=guid), "guid") is None


@pytest.mark.parametrize("guid", ["2020/03/4411", "story/88231", "12:30", "/posts/5", "a: b"])
def test_non_uri_guid_with_slash_or_colon_is_scoped(guid):
    a = row("a", guid=guid, feed_url="https://one.example/rss")
    b = row("b", guid=guid, feed_url="https://two.example/rss")
    assert dedup_key(a, "guid") != dedup_key(b, "guid")
    assert dedup_key(a, "guid") == dedup_key(row("c", guid=guid, feed_url="https://one.example/rss"), "guid")


def test_url_key_is_the_canonical_url():
    assert dedup_key(row("a", canonical_url="https://ex.com/x"), "url") == "https://ex.com/x"
    assert dedup_key(row("a", canonical_url=None), "url") is None


def test_content_key_needs_enough_words():
    long_enough = row("a", body=LONG_BODY, content_hash="c" * 64)
    assert dedup_key(long_enough, "content") == "c" * 64
    too_short = row("b", body=" ".join(LONG_BODY.split()[:-1]), content_hash="c" * 64)
    assert dedup_key(too_short, "content") is None
    assert dedup_key(row("c", body=""), "content") is None


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown dedup method"):
        dedup_key(row("a"), "minhash")


def test_methods_order():
    assert METHODS == ("guid", "url", "content")


# --- kept-article rule -------------------------------------------------------------------------------

def test_earliest_published_wins():
    clusters = [cluster(row("a", day(5))), cluster(row("b", day(3), body="x" * 500)), cluster(row("c", day(4)))]
    assert ids(merge_clusters(clusters, "url")) == ("b", [("a", "url"), ("c", "url")])


def test_unknown_dates_come_last():
    clusters = [cluster(row("a", None, body="x" * 1000)), cluster(row("z", day(20)))]
    assert merge_clusters(clusters, "url")[0]["article_id"] == "z"


def test_longest_body_breaks_a_date_tie():
    clusters = [cluster(row("a", day(3), body="short")), cluster(row("b", day(3), body="much longer body"))]
    assert merge_clusters(clusters, "url")[0]["article_id"] == "b"
    clusters = [cluster(row("a", None, body="short")), cluster(row("b", None, body="much longer body"))]
    assert merge_clusters(clusters, "url")[0]["article_id"] == "b"


def test_smallest_id_breaks_a_full_tie():
    clusters = [cluster(row("b", day(3), body="same")), cluster(row("a", day(3), body="same"))]
    assert merge_clusters(clusters, "url")[0]["article_id"] == "a"


def test_priority_is_a_total_order_over_distinct_ids():
    rows = [row("d", None, "long body"), row("c", None, "x"), row("b", day(2), "x"), row("a", day(2), "x"),
            row("e", day(1), "")]
    assert [r["article_id"] for r in sorted(rows, key=priority)] == ["e", "a", "b", "d", "c"]


# --- merging ------------------------------------------------------------------------------------------

def test_single_cluster_is_unchanged():
    only = (row("a"), [(row("b"), "guid", 1.0)])
    assert ids(merge_clusters([only], "url")) == ("a", [("b", "guid")])


def test_losers_dropped_rows_move_under_the_new_kept_row():
    first = (row("a", day(5)), [(row("a2"), "guid", 1.0)])
    second = (row("b", day(2)), [(row("b2"), "guid", 1.0), (row("b3"), "guid", 1.0)])
    merged = merge_clusters([first, second], "url")
    assert ids(merged) == ("b", [("a", "url"), ("a2", "guid"), ("b2", "guid"), ("b3", "guid")])
    assert {r["canonical_id"] for r in duplicate_rows(merged)} == {"b"}


def test_merge_does_not_mutate_input_lists():
    dropped = [(row("a2"), "guid", 1.0)]
    merge_clusters([(row("a", day(9)), dropped), (row("b", day(1)), [])], "url")
    assert [d[0]["article_id"] for d in dropped] == ["a2"]


def test_merge_is_order_independent_for_every_permutation():
    clusters = [
        (row("a", day(5), "x" * 10), [(row("a1"), "guid", 1.0)]),
        (row("b", None, "x" * 99), []),
        (row("c", day(5), "x" * 20), [(row("c1"), "guid", 1.0), (row("c2"), "url", 1.0)]),
        (row("d", day(5), "x" * 20), []),
    ]
    results = {repr(merge_clusters(list(p), "content")) for p in itertools.permutations(clusters)}
    assert len(results) == 1
    assert ids(merge_clusters(clusters, "content"))[0] == "c"


def test_chained_passes_point_every_drop_at_the_final_kept_row():
    # guid pass: a+b; url pass: c+d; content pass: both clusters merge
    after_guid = merge_clusters([cluster(row("a", day(6))), cluster(row("b", day(7)))], "guid")
    after_url = merge_clusters([cluster(row("c", day(4))), cluster(row("d", None))], "url")
    final = merge_clusters([after_guid, after_url], "content")
    assert ids(final) == ("c", [("a", "content"), ("b", "guid"), ("d", "url")])
    assert [r["canonical_id"] for r in duplicate_rows(final)] == ["c", "c", "c"]
    assert kept_row(final)["cluster_size"] == 4


_ROWS = st.lists(
    st.tuples(st.one_of(st.none(), st.integers(min_value=1, max_value=5)), st.integers(min_value=0, max_value=3),
              st.integers(min_value=0, max_value=2)),
    min_size=1, max_size=6,
).map(lambda specs: [(row(f"id{i:02d}", day(p) if p else None, "x" * length),
                      [(row(f"id{i:02d}-dup{j}"), "guid", 1.0) for j in range(drops)])
                     for i, (p, length, drops) in enumerate(specs)])


@PROPERTY
@given(_ROWS.flatmap(lambda clusters: st.tuples(st.just(clusters), st.permutations(clusters))))
def test_merge_result_does_not_depend_on_input_order(pair):
    clusters, shuffled = pair
    merged, reshuffled = merge_clusters(clusters, "url"), merge_clusters(shuffled, "url")
    assert repr(merged) == repr(reshuffled)
    kept, dropped = merged
    assert kept == min((c[0] for c in clusters), key=priority)
    assert len(dropped) == len(clusters) - 1 + sum(len(c[1]) for c in clusters)
    assert duplicate_rows(merged) == duplicate_rows(reshuffled)


# --- output rows ---------------------------------------------------------------------------------------

def test_kept_row_sets_cluster_size_without_mutating():
    kept = row("a")
    result = kept_row((kept, [(row("b"), "url", 1.0), (row("c"), "content", 1.0)]))
    assert result["cluster_size"] == 3 and kept["cluster_size"] == 1
    assert kept_row((kept, []))["cluster_size"] == 1


def test_duplicate_rows():
    kept = row("k", guid="g-k")
    cluster_ = (kept, [(row("z", guid="g-z"), "url", 1.0), (row("m", source_type="document", feed_url=None), "content", 1.0)])
    dups = duplicate_rows(cluster_)
    assert [d["article_id"] for d in dups] == ["m", "z"]  # sorted by id
    assert {d["canonical_id"] for d in dups} == {"k"}
    z = dups[1]
    assert (z["method"], z["similarity"], z["guid"], z["url"], z["title"]) == (
        "url", 1.0, "g-z", "https://ex.com/z", "Title z")
    assert dups[0]["feed_url"] is None and dups[0]["source_type"] == "document"
    for dup in dups:
        assert schemas.check_row(dup, schemas.DUPLICATE_SCHEMA) == []
    assert duplicate_rows((kept, [])) == []


def test_entries_sharing_a_guid_but_not_one_entry_keep_ids_of_their_own():
    """A feed that repeats one guid on different items: normalize gives them one guid-based id; the
    guid pass keeps them apart and identifies each by its link (else its content)."""
    from pipelines.core.dedupe import merge_group
    from pipelines.core.records import article_id

    shared = article_id("feed", "https://ex.com/rss", "same", None, "h" * 64)
    first = row(shared, guid="same", url="https://ex.com/1", canonical_url="https://ex.com/1", title="One",
                content_hash="a" * 64)
    second = row(shared, guid="same", url="https://ex.com/2", canonical_url="https://ex.com/2", title="Two",
                 content_hash="b" * 64)
    no_link = row(shared, guid="same", url=None, canonical_url=None, title="Three", content_hash="c" * 64)
    copy = dict(second)  # the same entry twice: one article
    merged = merge_group([cluster(first), cluster(second), cluster(no_link), cluster(copy)], "guid")
    assert len(merged) == 3
    kept = {c[0]["title"]: c[0]["article_id"] for c in merged}
    assert kept == {"One": article_id("feed", "https://ex.com/rss", None, "https://ex.com/1", "a" * 64),
                    "Two": article_id("feed", "https://ex.com/rss", None, "https://ex.com/2", "b" * 64),
                    "Three": article_id("feed", "https://ex.com/rss", None, None, "c" * 64)}
    [(_, [(dropped, method, _)])] = [c for c in merged if c[1]]
    assert dropped["article_id"] == shared and method == "guid"  # the id the copy had
    # one entry under its guid keeps the guid-based id
    [(alone, _)] = merge_group([cluster(first)], "guid")
    assert alone["article_id"] == shared
