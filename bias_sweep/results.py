"""The sweep's results store: one `result.json` per trial, and a tidy table of finished trials.

Layout of a sweep folder (`<storage>/<name>/`):
    sweep.yaml                 the resolved sweep config (grid included)
    trials/<trial_key>/        result.json, predictions.parquet (one folder per grid point)
    results.parquet            one row per finished trial; rebuilt from trials/ if lost
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from bias_sweep.config import AXIS_NAMES

METRIC_KEYS = (
    "tpr_gap",
    "fpr_gap",
    "demographic_parity_difference",
    "equalized_odds_difference",
    "subgroup_auc",
    "bpsn_auc",
    "bnsp_auc",
    "flip_rate",
    "ctf_gap",
    "accuracy",
    "f1",
    "roc_auc",
)
RESULT_FILE = "result.json"
TABLE_FILE = "results.parquet"


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=str)
    os.replace(tmp, path)


def tidy_row(result: dict[str, Any]) -> dict[str, Any]:
    """One trial's result.json as a flat row: axes, realised rate, intrinsic bias, metrics, timings."""
    row: dict[str, Any] = {"trial_key": result["trial_key"], "sweep": result.get("sweep")}
    for key, value in result.get("point", {}).items():
        row[AXIS_NAMES.get(key, key)] = value
    cfg = result.get("config", {})
    # The usual axes are always columns, even when a sweep keeps one of them fixed.
    row.setdefault("model", cfg.get("model", {}).get("name"))
    row.setdefault("method", cfg.get("intervention", {}).get("method"))
    row.setdefault("strength", cfg.get("intervention", {}).get("strength"))
    row.setdefault("rate", cfg.get("data", {}).get("rate"))
    row.setdefault("seed", cfg.get("seed"))
    row["realised_rate"] = result.get("realised_rate")
    intrinsic = result.get("intrinsic_bias", {})
    row["intrinsic_kind"] = (intrinsic.get("after") or {}).get("kind")
    row["intrinsic_before"] = (intrinsic.get("before") or {}).get("value")
    row["intrinsic_after"] = (intrinsic.get("after") or {}).get("value")
    for key in METRIC_KEYS:
        row[key] = result.get("metrics", {}).get(key)
    for key, value in result.get("timings", {}).items():
        row[f"time_{key}"] = value
    row["node"] = result.get("node")
    row["node_id"] = result.get("node_id")
    row["intervention_key"] = result.get("intervention_key")
    return row


def read_results(sweep_path: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted((Path(sweep_path) / "trials").glob(f"*/{RESULT_FILE}")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue  # a result being written right now; the next rebuild picks it up
    return out


def rebuild_table(sweep_path: Path) -> pd.DataFrame:
    """Rebuild `results.parquet` from the trial folders (the source of truth) and return it."""
    rows = [tidy_row(r) for r in read_results(sweep_path)]
    table = pd.DataFrame(rows)
    if not table.empty:
        table = table.sort_values("trial_key").reset_index(drop=True)
    target = Path(sweep_path) / TABLE_FILE
    fd, tmp = tempfile.mkstemp(dir=sweep_path, prefix=".results.", suffix=".parquet")
    os.close(fd)
    table.to_parquet(tmp, index=False)
    os.replace(tmp, target)
    return table


def load_trials(sweep_path: Path) -> pd.DataFrame:
    """The tidy table of finished trials, rebuilt from trial folders when missing or stale."""
    sweep_path = Path(sweep_path)
    table_path = sweep_path / TABLE_FILE
    n_results = len(list((sweep_path / "trials").glob(f"*/{RESULT_FILE}")))
    if table_path.exists():
        table = pd.read_parquet(table_path)
        if len(table) == n_results:
            return table
    return rebuild_table(sweep_path)
