"""The cost model (benchmarks/cost_model.py) runs on a tiny corpus and its report adds up.

Not a benchmark: nothing here looks at how long anything took. It checks that every corpus
record is accounted for, that every pipeline step is reported, that the bound is the documented
formula of the reported parts, and that the model's counts are those of a real pipeline run on
the same corpus (one CLI run, about 15 s of start-up). Two documents are spoilt first, so the
reject path (a reader reject and a normalisation reject) is modelled too.
"""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from benchmarks import cost_model
from benchmarks.corpus import CorpusSpec, write_corpus

CLI = Path(sys.executable).with_name("news-ingest")
REPEAT, CORES, STARTUP_S, STARTUP_FULL_S = 1, 2, 5.0, 6.5


def spoil_documents(corpus: Path) -> None:
    """One binary document (rejected when read) and one dated far in the future (rejected by Normalize)."""
    first, second = sorted((corpus / "documents").glob("*.txt"))[:2]
    first.write_bytes(b"\x00\x01\x02 not a text document")
    text = second.read_text(encoding="utf-8")
    second.write_text(re.sub(r"(?m)^published: .*$", "published: 2999-01-01T00:00:00Z", text), encoding="utf-8")


@pytest.fixture(scope="module")
def modelled(tmp_path_factory):
    root = tmp_path_factory.mktemp("cost_model")
    corpus = root / "corpus"
    description = write_corpus(CorpusSpec(records=60, entries_per_feed=10, document_rate=0.1, near_rate=0.2,
                                          tracking_rate=0.1, guid_rate=0.1), corpus)
    spoil_documents(corpus)
    report = cost_model.run_model(corpus, repeat=REPEAT, cores=CORES, startup_s=STARTUP_S,
                                  startup_full_s=STARTUP_FULL_S, full_articles=4, log=lambda *_: None)
    path = cost_model.write_report(report, root / "results" / "cost-model.json")
    return corpus, description, json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_every_record_is_accounted_for(modelled):
    _, description, report = modelled
    counts = report["counts"]
    truth = description["truth"]["originals"] + description["truth"]["copies"]
    assert truth == description["spec"]["records"] == report["corpus"]["records"] == 60
    parsed = counts["feed_entries"] + counts["documents"]
    reader_rejects = counts["feed_rejects"] + counts["document_rejects"]
    assert parsed + reader_rejects == counts["read"] == truth
    assert counts["document_rejects"] == 1 and counts["normalize_rejects"] == 1  # the spoilt documents
    assert counts["normalized"] + counts["normalize_rejects"] == parsed
    assert counts["kept"] + counts["duplicates_found"] == counts["normalized"]
    assert counts["duplicates_found"] > 0  # the corpus' copies were found
    assert counts["written"] + counts["duplicates"] + counts["rejected"] + counts["quarantined"] == truth
    assert counts["rejected"] == reader_rejects + counts["normalize_rejects"] + counts["enrich_rejects"] \
        + counts["articles_check_rejects"] + counts["duplicates_check_rejects"]


@pytest.mark.slow
def test_every_step_is_reported(modelled):
    _, _, report = modelled
    assert list(report["steps"]) == list(cost_model.STEP_NAMES)
    for name, step in report["steps"].items():
        assert step["median_s"] >= 0 and step["ms_per_record"] >= 0, name
        assert len(step["runs_s"]) == REPEAT and all(seconds >= 0 for seconds in step["runs_s"]), name
        assert step["what"], name
    calls = {name: step["calls"] for name, step in report["steps"].items()}
    assert calls["normalize"] == report["counts"]["feed_entries"] + report["counts"]["documents"]
    assert calls["enrich_core"] == report["counts"]["kept"]
    assert calls["reject_rows"] == report["counts"]["rejected"] == 2
    assert calls["gx_validate"] == calls["write_parquet"] == report["counts"]["batches"] >= 3  # three tables
    assert calls["near_match"] > 0  # candidate pairs were verified
    assert {"gx_import_and_validators", "language_model", "full_models"} <= set(report["one_off_s"])
    assert all(seconds >= 0 for seconds in report["one_off_s"].values())
    table = io.StringIO()
    cost_model.print_table(report, table)
    assert all(name in table.getvalue() for name in cost_model.STEP_NAMES)


@pytest.mark.slow
def test_the_bound_is_the_documented_formula_of_the_reported_parts(modelled):
    _, _, report = modelled
    records = report["corpus"]["records"]
    floor_s = report["floor"]["seconds"]
    assert report["floor"]["process_runs"][0]["counts"]["read"] == records
    assert report["bounds"]["formula"] == report["formula"] == cost_model.FORMULA
    total_core = sum(step["median_s"] for step in report["steps"].values())
    full = report["full_enrichment"]
    assert full["articles"] == 4 and full["kept_articles"] == report["counts"]["kept"]
    total_full = (total_core - report["steps"]["enrich_core"]["median_s"]
                  + full["ms_per_article"] / 1000 * report["counts"]["kept"])
    assert math.isclose(report["total_cpu_s"]["core"], total_core, rel_tol=1e-9)
    assert math.isclose(report["total_cpu_s"]["full"], total_full, rel_tol=1e-9)
    assert math.isclose(full["ms_per_record"], full["ms_per_article"] * report["counts"]["kept"] / records)
    for profile, startup_s, total, target in (("core", STARTUP_S, total_core, 0.5),
                                              ("full", STARTUP_FULL_S, total_full, 0.1)):
        bound = report["bounds"][profile]
        assert (bound["records"], bound["cores"], bound["target"]) == (records, CORES, target)
        assert bound["startup_s"] == report["startup"][profile]["seconds"] == startup_s
        assert bound["floor_s"] == floor_s
        best_case_s = startup_s + total / CORES
        assert math.isclose(bound["best_case_s"], best_case_s, rel_tol=1e-9)
        assert math.isclose(bound["best_case_ratio"], (records / best_case_s) / (records / floor_s), rel_tol=1e-9)
        assert bound["target_reachable"] == (bound["best_case_ratio"] >= target)


def test_bound_arithmetic():
    bound = cost_model.bound(10_000, 2, startup_s=6.0, total_cpu_s=10.0, floor_s=7.0, target=0.5)
    assert bound["best_case_s"] == 11.0
    assert math.isclose(bound["best_case_ratio"], 7.0 / 11.0)
    assert bound["target_reachable"] is True
    assert math.isclose(bound["cpu_budget_s"], 2 * (7.0 / 0.5 - 6.0))  # the CPU that just meets the target
    assert not cost_model.bound(10_000, 2, 6.0, bound["cpu_budget_s"] * 1.01, 7.0, 0.5)["target_reachable"]


@pytest.mark.slow
def test_model_counts_equal_a_real_run(modelled, tmp_path):
    corpus, _, report = modelled
    output = tmp_path / "out"
    command = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "pipelines"]
    result = subprocess.run([*command, "run", "--seeds", str(corpus), "--output", str(output), "--enrich", "core",
                             "-q", "--no-seen-index"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    [manifest_path] = (output / "_runs").glob("*.json")
    manifest = json.loads(manifest_path.read_text())["counts"]
    counts = report["counts"]
    for name in ("read", "written", "duplicates", "rejected", "quarantined"):
        assert counts[name] == manifest[name], name
    # what the model saw after normalisation (rows and the rejects before them) is what the run wrote
    before = counts["feed_rejects"] + counts["document_rejects"] + counts["normalize_rejects"]
    assert counts["normalized"] + before == manifest["written"] + manifest["duplicates"] + manifest["rejected"]
