"""The CLI's parsing and usage errors, without running a pipeline."""

import pytest
from conftest import SEEDS

from pipelines import cli


def run_main(capsys, *argv):
    code = cli.main(list(argv))
    return code, capsys.readouterr()


def test_help_documents_commands_and_output(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for needle in ("run", "articles/ingest_date=", "quarantine/", "_runs/<run_id>.json", "Exit codes"):
        assert needle in text


def test_run_help_lists_options(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = capsys.readouterr().out
    for option in ("--seeds", "--feed-list", "--output", "--expectations", "--batch-size", "--runner"):
        assert option in text


@pytest.mark.parametrize("argv, message", [
    ([], "a command is required"),
    (["run", "--no-such-option"], "unknown arguments"),
    (["run", "--seeds", "/no/such/dir"], "seeds directory not found"),
    (["run", "--batch-size", "0"], "must be at least 1"),
    (["run", "--run-id", "../escape"], "run id"),
    (["run", "--expectations", "/no/such/suites"], "expectation suite not found"),
    (["run", "--feed-list", "/no/such/feeds.yaml"], "feed list not found"),
])
def test_usage_errors_exit_2_with_one_line(capsys, argv, message):
    code, out = run_main(capsys, *argv)
    assert code == cli.EXIT_USAGE
    error_lines = [line for line in out.err.splitlines() if line.startswith("news-ingest: error:")]
    assert len(error_lines) == 1 and message in error_lines[0]
    assert "Traceback" not in out.err


def test_feed_list_with_forbidden_scheme_is_a_usage_error(capsys, tmp_path):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - file:///etc/passwd\n")
    code, out = run_main(capsys, "run", "--seeds", str(SEEDS), "--feed-list", str(feeds))
    assert code == cli.EXIT_USAGE
    assert "scheme 'file' is not allowed" in out.err


def test_beam_options_pass_through_and_defaults_resolve(tmp_path):
    args, beam_args = cli.parse_args(["run", "--seeds", str(SEEDS), "--output", str(tmp_path),
                                      "--runner", "DirectRunner", "--direct_num_workers", "2"])
    assert beam_args == ["--runner", "DirectRunner", "--direct_num_workers", "2"]
    config, feeds = cli.make_config(args, beam_args)
    assert config.output == str(tmp_path)
    assert config.documents_pattern.endswith("seeds/documents/*")
    assert config.feed_list.endswith("seeds/feeds.yaml")
    assert [f.location.rsplit("/", 1)[1] for f in feeds] == ["world.rss", "wire.atom", "science.rdf"]
    assert config.run_id.startswith(config.started_at.strftime("%Y%m%dT%H%M%SZ"))


def test_no_feeds_and_no_documents_switches(tmp_path):
    args, rest = cli.parse_args(["run", "--seeds", str(SEEDS), "--no-feeds"])
    config, feeds = cli.make_config(args, rest)
    assert feeds == [] and config.feed_list is None and config.documents_pattern
    args, rest = cli.parse_args(["run", "--seeds", str(SEEDS), "--no-documents"])
    config, feeds = cli.make_config(args, rest)
    assert config.documents_pattern is None and len(feeds) == 3


@pytest.mark.parametrize("argv, message", [
    (["run", "--http-timeout", "inf"], "must be a finite number >= 0"),
    (["run", "--http-retries", "-1"], "must not be negative"),
    (["run", "--near-jaccard", "1.5"], "must be in (0, 1]"),
    (["run", "--near-bands", "7"], "must be a multiple of bands"),
    (["run", "--enrich", "most"], "invalid choice"),
    (["run", "--user-agent", "two\nlines"], "user_agent must be one non-empty line"),
])
def test_bad_option_values_are_usage_errors(capsys, argv, message):
    code, out = run_main(capsys, *argv)
    assert code == cli.EXIT_USAGE and message in out.err and "Traceback" not in out.err


def test_fetch_and_dedup_options_reach_the_config(tmp_path):
    args, rest = cli.parse_args(["run", "--seeds", str(SEEDS), "--output", str(tmp_path), "--http-retries", "0",
                                 "--host-interval", "2.5", "--no-near-duplicates", "--seen-retention-days", "7",
                                 "--state-dir", str(tmp_path / "st"), "--enrich", "core"])
    config, _ = cli.make_config(args, rest)
    assert (config.fetch_policy.retries, config.fetch_policy.host_interval) == (0, 2.5)
    assert config.near is None and config.retention.days == 7 and config.enrich == "core"
    assert config.state_dir == str(tmp_path / "st")
    args, rest = cli.parse_args(["run", "--seeds", str(SEEDS), "--output", str(tmp_path), "--no-feed-state"])
    assert cli.make_config(args, rest)[0].state_dir is None


@pytest.mark.slow
def test_remote_seeds_go_to_beams_filesystems(tmp_path, capsys):
    """gs:// seeds are matched by Beam's FileSystems; without the GCP extra the run fails in one line."""
    code, captured = run_main(capsys, "run", "-q", "--seeds", "gs://no-such-bucket/seeds",
                              "--output", str(tmp_path / "out"), "--enrich", "core")
    assert code == cli.EXIT_FAILURE
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "gs://no-such-bucket/seeds/documents/*" in lines[0]
    assert "Traceback" not in captured.err
