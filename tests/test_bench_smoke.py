"""The benchmark harness runs end to end on a tiny corpus (benchmarks/bench.py).

Not a benchmark: nothing here looks at how long anything took. It checks that the corpus is
deterministic and has the copies it promises, that every configuration reads every record,
and that the harness writes its JSON and chart. One pipeline run (about 15 s, its start-up).
"""

from __future__ import annotations

import json

import pytest

from benchmarks import bench
from benchmarks.corpus import CorpusSpec, news_corpus, write_corpus


def test_corpus_is_deterministic_and_has_its_copies(tmp_path):
    spec = CorpusSpec(records=60, entries_per_feed=10, near_rate=0.2, tracking_rate=0.1, guid_rate=0.1)
    first, second = write_corpus(spec, tmp_path / "a"), write_corpus(spec, tmp_path / "b")
    assert first == second
    names = sorted(str(p.relative_to(tmp_path / "a")) for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert names and names == sorted(str(p.relative_to(tmp_path / "b")) for p in (tmp_path / "b").rglob("*")
                                     if p.is_file())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    truth = first["truth"]
    assert truth["originals"] + truth["copies"] == 60
    assert min(truth["tracking"], truth["guid"], truth["near"]) > 0
    assert first["feeds"] == 6 and first["documents"] == 3
    assert len(list((tmp_path / "a" / "documents").iterdir())) == 3
    corpus = news_corpus(spec)
    for entries in corpus.feeds:  # a guid copy is never in its original's feed
        guids = [entry["guid"] for entry in entries]
        assert len(guids) == len(set(guids))


@pytest.mark.slow
def test_harness_runs_end_to_end(tmp_path):
    results = tmp_path / "results"
    code = bench.main(["--records", "40", "--entries-per-feed", "10", "--repeat", "1",
                       "--configs", "floor", "naive", "core", "--startup-repeat", "0",
                       "--stage-profiles", "core", "--profiler", "none",
                       "--scaling", "20", "40", "--scaling-configs", "floor",
                       "--results", str(results), "--workdir", str(tmp_path / "work")])
    assert code == 0
    report = json.loads((results / "latest.json").read_text())
    assert (results / "latest.png").stat().st_size > 10_000
    assert set(report["compare"]) == {"floor", "naive", "core"}
    assert all(not run["error"] for run in report["runs"])
    truth = report["corpus"]["truth"]
    core = report["compare"]["core"]["counts"]
    assert core["read"] == 40 and core["written"] + core["duplicates"] + core["rejected"] == 40
    assert core["written"] == truth["originals"]  # the corpus' copies are all found, nothing else merged
    assert report["compare"]["naive"]["counts"]["written"] > core["written"]  # naive misses copies
    assert report["compare"]["floor"]["x_floor"] == 1.0 and "x_naive" in report["compare"]["core"]
    assert [p["records"] for p in report["scaling"]["floor"]["points"]] == [20, 40]
    assert len(report["targets"]) == 4
    stages = report["stages"]["core"]["stages_ms"]  # Beam's step timers reached the report
    assert {"read", "normalize", "deduplicate", "enrich", "validate"} <= set(stages)


def test_profile_samples_are_charged_to_the_stage_of_our_innermost_function():
    from benchmarks.stage_profile import sample_stage

    driver = [("main", "pipelines/cli.py", 1), ("_run_locked", "pipelines/pipeline.py", 2),
              ("LocalRunner.run_pipeline", "pipelines/runners.py", 3),
              ("FnApiRunner.run_pipeline", "apache_beam/runners/portability/fn_api_runner/fn_runner.py", 4),
              ("_FnApiRunner.run_via_runner_api", "pipelines/runners.py", 5),
              ("FnApiRunner.run_stages", "apache_beam/runners/portability/fn_api_runner/fn_runner.py", 6)]
    coder = [("PickleCoder.encode", "apache_beam/coders/coders.py", 7)]
    assert sample_stage(driver + coder) == "beam/driver"  # Beam's own work below the runner
    parse = [("FetchHostFeedsFn.process", "pipelines/transforms/read_feeds.py", 8),
             ("parse_feed", "pipelines/core/feeds.py", 9), ("parse", "feedparser/api.py", 10)]
    assert sample_stage(driver + parse) == "read"
    sketch = [("SketchFn.process", "pipelines/transforms/dedupe.py", 11)]
    assert sample_stage(driver + sketch + coder) == "deduplicate"
    assert sample_stage([("_run_code", "<frozen runpy>", 1), ("<module>", "pipelines/pipeline.py", 1),
                         ("<module>", "apache_beam/__init__.py", 1)]) == "imports"


def _keys(corpus) -> set[tuple[str, str]]:
    """The exact keys a corpus' records carry: guids, and links without their tracking query."""
    stories = [entry for entries in corpus.feeds for entry in entries] + corpus.documents
    return {("guid", s["guid"]) for s in stories} | {("link", s["link"].split("?")[0]) for s in stories}


def test_story_prefix_changes_only_the_ids_and_separates_corpora(tmp_path):
    import dataclasses

    base = CorpusSpec(records=2000, entries_per_feed=50)
    plain, prefixed = news_corpus(base), news_corpus(dataclasses.replace(base, story_prefix="d1-"))
    assert _keys(plain) and not _keys(plain) & _keys(prefixed)
    assert prefixed.truth == plain.truth
    for old, new in zip([s for f in plain.feeds for s in f] + plain.documents,
                        [s for f in prefixed.feeds for s in f] + prefixed.documents, strict=True):
        assert {k: v for k, v in old.items() if k not in ("guid", "link")} == \
               {k: v for k, v in new.items() if k not in ("guid", "link")}
        for key in ("guid", "link"):  # the prefix goes in front of the id: story-N, or a copy's record number
            assert new[key] != old[key] and new[key].replace("d1-", "", 1) == old[key]
    # Another seed alone is not enough: copies are numbered by record, so their guids recur.
    other_day = dataclasses.replace(base, seed=8)
    assert _keys(plain) & _keys(news_corpus(other_day))
    assert not _keys(plain) & _keys(news_corpus(dataclasses.replace(other_day, story_prefix="d1-")))
    assert "story_prefix" not in write_corpus(CorpusSpec(records=5), tmp_path / "plain")["spec"]  # default unchanged
    assert write_corpus(CorpusSpec(records=5, story_prefix="d1-"), tmp_path / "d1")["spec"]["story_prefix"] == "d1-"


@pytest.mark.slow
def test_index_growth_runs_into_one_output_and_the_index_grows(tmp_path):
    import os

    from benchmarks import index_growth

    work, out_json = tmp_path / "work", tmp_path / "growth.json"
    code = index_growth.main(["--runs", "2", "--records", "60", "--entries-per-feed", "10",
                              "--out-json", str(out_json), "--keep", str(work)])
    assert code == 0
    report = json.loads(out_json.read_text())
    rows, corpora = report["rows"], report["corpora"]
    assert [row["run"] for row in rows] == [1, 2] and len(corpora) == 2
    assert report["machine"]["cpus"] and report["command"][-1] == str(work)
    assert [c["spec"]["seed"] for c in corpora] == [7, 8]
    assert "story_prefix" not in corpora[0]["spec"] and corpora[1]["spec"]["story_prefix"] == "d1-"
    assert rows[0]["index_entries_before"] == 0
    assert rows[1]["index_entries_before"] == rows[0]["index_entries_after"]
    for row, corpus in zip(rows, corpora, strict=True):
        counts = row["counts"]
        assert row["error"] is None and row["exit_code"] == 0 and row["status"] == "ok"
        assert counts["read"] == 60 == counts["written"] + counts["duplicates"] + counts["rejected"] \
            + counts["quarantined"]
        assert row["index_entries_after"] > row["index_entries_before"]
        # Different prefixes share no key: each run keeps exactly its corpus' originals, drops only
        # its own copies, and none of its records is taken for one an earlier run wrote.
        assert counts["written"] == corpus["truth"]["originals"]
        assert counts["duplicates"] == corpus["truth"]["copies"]
        assert row["seen"] == 0
    # The control: the first corpus again is all seen (the index was read, ``seen`` counts it).
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false", "PYTHONPATH": str(index_growth.ROOT)}
    again = index_growth.run_once(3, work / "corpus-0", 60, work / "out", work, env, [])
    assert again["error"] is None and again["index_entries_before"] == rows[1]["index_entries_after"]
    assert again["counts"]["written"] == 0 and again["seen"] == again["counts"]["duplicates"] == 60
