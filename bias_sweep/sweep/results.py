"""The sweep's results store: one `result.json` per trial, and a tidy table of finished trials.

The trial folders are the source of truth; `results.parquet` is rebuilt from them when it is
missing or stale, and appended to while a sweep runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bias_sweep.files import atomic_path, write_json_atomic
from bias_sweep.metrics import INTRINSIC_AFTER, INTRINSIC_BEFORE, eval_set_column, metric_keys
from bias_sweep.sweep.grid import point_columns
from bias_sweep.sweep.layout import (
    PREDICTIONS_FILE,
    RESULT_FILE,
    SweepFolder,
    eval_set_predictions_file,
)

if TYPE_CHECKING:
    from bias_sweep.trial import TrialOutput  # the recipe imports torch; the driver must not


def tidy_row(result: dict[str, Any]) -> dict[str, Any]:
    """One trial's result.json as a flat row: axes, realised rate, intrinsic bias, metrics (the
    in-domain ones, then `<metric>@<set>` for each external eval set), timings."""
    row: dict[str, Any] = {"trial_key": result["trial_key"], "sweep": result.get("sweep")}
    row.update(point_columns(result["config"], result.get("point", {})))
    row["realised_rate"] = result.get("realised_rate")
    row["trainable_parameters"] = result.get("adaptation", {}).get("trainable_parameters")
    intrinsic = result.get("intrinsic_bias", {})
    row["intrinsic_kind"] = (intrinsic.get("after") or {}).get("kind")
    row[INTRINSIC_BEFORE] = (intrinsic.get("before") or {}).get("value")
    row[INTRINSIC_AFTER] = (intrinsic.get("after") or {}).get("value")
    keys = metric_keys()
    for key in keys:
        row[key] = result.get("metrics", {}).get(key)
    for name, one in result.get("eval_sets", {}).items():
        for key in keys:
            row[eval_set_column(key, name)] = one.get("metrics", {}).get(key)
    for key, value in result.get("timings", {}).items():
        row[f"time_{key}"] = value
    row["node"] = result.get("node")
    row["node_id"] = result.get("node_id")
    row["intervention_key"] = result.get("intervention_key")
    return row


def write_trial(folder: Path, output: TrialOutput, extra: dict[str, Any]) -> dict[str, Any]:
    """Write a trial's files into its folder: the predictions first, result.json (the trial's
    result and the caller's `extra` facts, e.g. its grid point) last and atomically, since its
    presence means the trial is done. Returns what result.json holds."""
    with atomic_path(folder / PREDICTIONS_FILE) as tmp:
        output.predictions.to_parquet(tmp, index=False)
    for name, frame in output.eval_set_predictions.items():
        with atomic_path(folder / eval_set_predictions_file(name)) as tmp:
            frame.to_parquet(tmp, index=False)
    result = {**output.result, **extra}
    write_json_atomic(folder / RESULT_FILE, result)
    return result


def read_result(folder: Path) -> dict[str, Any] | None:
    """A trial folder's result, or None while it has none (or one being written right now)."""
    try:
        return json.loads((Path(folder) / RESULT_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def read_results(sweep: SweepFolder) -> list[dict[str, Any]]:
    found = (read_result(p.parent) for p in sorted(sweep.trials.glob(f"*/{RESULT_FILE}")))
    return [r for r in found if r is not None]


def write_table(sweep: SweepFolder, table: pd.DataFrame) -> None:
    with atomic_path(sweep.table) as tmp:
        table.to_parquet(tmp, index=False)


def rebuild_table(sweep: SweepFolder) -> pd.DataFrame:
    """Rebuild `results.parquet` from the trial folders (the source of truth) and return it."""
    table = pd.DataFrame([tidy_row(r) for r in read_results(sweep)])
    if not table.empty:
        table = table.sort_values("trial_key").reset_index(drop=True)
    write_table(sweep, table)
    return table


def append_rows(sweep: SweepFolder, rows: list[dict[str, Any]]) -> None:
    """Add (or replace) rows of the table without re-reading every trial folder: cheap on grids
    of thousands of trials, while the sweep runs."""
    new = pd.DataFrame(rows)
    if sweep.table.exists():
        old = pd.read_parquet(sweep.table)
        if not old.empty:
            new = pd.concat([old[~old["trial_key"].isin(new["trial_key"])], new])
    write_table(sweep, new)


def load_trials(sweep: SweepFolder) -> pd.DataFrame:
    """The tidy table of finished trials, rebuilt from trial folders when missing or stale."""
    n_results = len(list(sweep.trials.glob(f"*/{RESULT_FILE}")))
    if sweep.table.exists():
        table = pd.read_parquet(sweep.table)
        if len(table) == n_results:
            return table
    return rebuild_table(sweep)
