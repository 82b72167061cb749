"""Print the README's command-line tables from the parser: the options of ``news-ingest run`` and the
exit codes (``python -m pipelines.readme``). ``tests/test_cli_behaviour.py`` fails when the README differs."""

from pipelines.cli import exit_codes_markdown, options_markdown

if __name__ == "__main__":
    print(options_markdown("run"))
    print(exit_codes_markdown())
