"""Great Expectations validation of whole batches (GX Core 1.x, ephemeral context).

Suites are JSON files in ``expectations/`` named after the table they check
(``articles.json`` ...). Expectations may use suite parameters
(``{"$PARAMETER": "max_published_at"}``) filled per run by the caller.
Creating a :class:`BatchValidator` imports GX (seconds): do it once per
worker, in ``DoFn.setup()``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa


class SuiteError(ValueError):
    """A suite file is missing or is not a valid GX suite."""


def load_suite_json(suites_dir: str | os.PathLike, table: str) -> dict[str, Any]:
    path = Path(suites_dir) / f"{table}.json"
    try:
        suite = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteError(f"expectation suite not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise SuiteError(f"cannot read expectation suite {path}: {exc}") from None
    if not isinstance(suite, dict) or not isinstance(suite.get("expectations"), list):
        raise SuiteError(f"{path} is not a suite: expected an object with an 'expectations' list")
    return suite


@dataclass(frozen=True)
class Outcome:
    success: bool
    result: dict[str, Any]  # GX's result as JSON-ready dict, plus a short summary

    @property
    def failed_expectations(self) -> list[str]:
        return self.result["summary"]["failed"]


class BatchValidator:
    """Validates Arrow tables of one table kind against its suite."""

    def __init__(self, suites_dir: str | os.PathLike | None, table: str,
                 suite_json: dict[str, Any] | None = None) -> None:
        """``suite_json`` (as :func:`load_suite_json` returns it) wins over ``suites_dir``: a
        validator built on a remote worker must not open a path that exists only on the driver."""
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        if suite_json is None:
            suite_json = load_suite_json(suites_dir, table)
        self._context = gx.get_context(mode="ephemeral")
        self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
        try:
            suite = gx.ExpectationSuite(**{**suite_json, "name": suite_json.get("name", table)})
        except Exception as exc:  # GX raises many types for a bad suite; report them as one
            raise SuiteError(f"invalid expectation suite for {table}: {exc}") from None
        self._suite = self._context.suites.add(suite)
        asset = self._context.data_sources.add_pandas(f"{table}_source").add_dataframe_asset(table)
        self._batch_definition = asset.add_batch_definition_whole_dataframe(f"{table}_batch")

    def validate(self, table: pa.Table, parameters: dict[str, Any] | None = None) -> Outcome:
        frame = table.to_pandas()
        batch = self._batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(self._suite, expectation_parameters=parameters or {}).to_json_dict()
        failed = [
            f"{item['expectation_config']['type']}({item['expectation_config']['kwargs'].get('column', '')})"
            for item in result["results"] if not item["success"]
        ]
        result["summary"] = {"rows": table.num_rows, "failed": failed}
        return Outcome(bool(result["success"]), result)
