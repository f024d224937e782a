"""Loading a sweep folder for a report: finished trials, the grid, and how much of it is done;
and which columns of the runs a report may analyse as metrics.

Coverage counts grid points (from sweep.yaml) with a finished trial; trial folders with
`error.txt` and no `result.json` count as failed. Without a sweep.yaml the grid is estimated from
the trials. A table of runs (`bias-sweep report --table`) is read by `report.table`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bias_sweep.config import read_saved
from bias_sweep.errors import UserError
from bias_sweep.identity import trial_key
from bias_sweep.metrics import (
    EVAL_SET_SEPARATOR,
    INTRINSIC_FINETUNED,
    default_eval_set_metrics,
    default_report_metrics,
    known_metric,
    known_metrics,
)
from bias_sweep.report.downstream import with_downstream_rate
from bias_sweep.report.strata import by_strata
from bias_sweep.sweep.grid import USUAL_AXES, PointConfigs, expand_grid, point_columns
from bias_sweep.sweep.layout import ERROR_FILE, RESULT_FILE, SweepFolder
from bias_sweep.sweep.results import load_trials

# A cell of cells.csv: one intervened model at one rate, over its fine-tuning seeds.
CELL_KEYS = ("model", "method", "strength", "intervention_seed", "rate")
# Columns of the runs that describe the design or the bookkeeping, never a metric.
NOT_METRICS = (*USUAL_AXES, "realised_rate", "intrinsic_kind", "intervention_key", "trial_key")


@dataclass
class SweepData:
    name: str
    path: Path
    conf: Any  # DictConfig, or None when sweep.yaml is missing
    trials: pd.DataFrame
    grid: pd.DataFrame  # one row per grid point, short axis names as columns
    cell_keys: list[str]
    done: int
    total: int
    failed: int
    outside_grid: int  # finished trials whose point is not in the current grid
    levels: dict[str, Any] = field(default_factory=dict)  # per model: (interventions, rates)
    source: str = "sweep"  # or "table": runs read from a table file (`report --table`)
    notes: list[str] = field(default_factory=list)  # what the input lacks (optional columns)


def _as_key(series: pd.Series) -> pd.Series:
    """A column made comparable across sources: numbers as floats (YAML 1 == parquet 1.0)."""
    num = pd.to_numeric(series, errors="coerce")
    if num.notna().sum() == series.notna().sum():
        return num.astype(float)
    return series.astype(str)


def _grid_frame(conf: Any) -> tuple[pd.DataFrame, set[str]]:
    """One row per grid point (the usual axes of its config and its other axes), and the trial
    keys of the grid's points."""
    resolve = PointConfigs(conf)
    configs = [(resolve(p), p) for p in expand_grid(conf) or [{}]]
    frame = pd.DataFrame([point_columns(d, p) for d, p in configs])
    return frame, {trial_key(d) for d, _ in configs}


def read_rounds(folder: SweepFolder) -> list[dict[str, Any]]:
    """The rounds of `run --until-decided` so far ([] for a sweep that never ran that way)."""
    try:
        rounds = json.loads(folder.rounds.read_text())
    except (OSError, ValueError):
        return []
    return rounds if isinstance(rounds, list) else []


def rounds_note(rounds: list[dict[str, Any]]) -> list[str]:
    """How the design was reached, where it grew by `run --until-decided`."""
    if not rounds or not all(isinstance(r, dict) for r in rounds):
        return []
    last = rounds[-1]
    runs = ", ".join(str(r.get("runs")) for r in rounds)
    return [
        f"design reached by `run --until-decided` in {len(rounds)} round(s) (runs after each: "
        f"{runs}); last round: {last.get('status')} on {last.get('metric')}; stopping rule: "
        f"{last.get('stopping_rule')}, target width {last.get('target_width')}"
    ]


def load_sweep(sweep_path: Path) -> SweepData:
    """The finished trials of a sweep folder, its grid, and how much of the grid is done."""
    sweep_path = Path(sweep_path)
    if not sweep_path.is_dir():
        raise UserError(f"sweep folder '{sweep_path}' not found")
    folder = SweepFolder(sweep_path)
    conf = read_saved(folder.sweep_file) if folder.sweep_file.is_file() else None
    trials = load_trials(folder) if folder.trials.is_dir() else pd.DataFrame()
    grid, grid_keys = _grid_frame(conf) if conf is not None else (None, set())
    set_aside = 0
    if conf is not None and "trial_key" in trials.columns:
        # Only the current grid's trials are analysed: a point no longer in the grid, or one whose
        # key changed (an earlier version's key of the same point), would count twice.
        kept = trials["trial_key"].isin(grid_keys)
        set_aside = int((~kept).sum())
        trials = trials[kept]
    trials = trials.copy()
    for key in USUAL_AXES:
        if key not in trials.columns:
            trials[key] = pd.Series(dtype=float if key in ("strength", "rate", "seed") else object)
    for col in (*known_metrics(), "strength", "rate", "realised_rate"):
        # Always present and numeric (an all-None column comes back from parquet as objects).
        values = trials[col] if col in trials.columns else np.nan
        trials[col] = pd.to_numeric(values, errors="coerce")
        trials[col] = trials[col].astype(float)
    if "intrinsic_kind" not in trials.columns:
        trials["intrinsic_kind"] = pd.Series(dtype=object)
    trials, downstream_notes = with_downstream_rate(trials)  # a note exactly when it maps
    sort_cols = [c for c in (*CELL_KEYS, "seed", "trial_key") if c in trials.columns]
    trials = trials.sort_values(sort_cols, kind="stable").reset_index(drop=True)

    folders = list(folder.trials.glob("*/")) if folder.trials.is_dir() else []
    failed = sum(1 for f in folders if (f / ERROR_FILE).exists() and not (f / RESULT_FILE).exists())
    if grid is not None:
        name = conf.sweep.name
    else:
        grid = trials[list(USUAL_AXES)].drop_duplicates().reset_index(drop=True)
        name = sweep_path.name
    extra = [c for c in grid.columns if c not in USUAL_AXES]
    cell_keys = [*CELL_KEYS, *[c for c in extra if c in trials.columns]]

    keys = [c for c in grid.columns if c in trials.columns]
    total = len(grid) if conf is not None else max(len(grid), len(folders))
    if trials.empty or len(keys) < len(grid.columns):
        done, outside = min(len(trials), total), 0
    else:
        left = grid[keys].apply(_as_key).drop_duplicates()
        right = trials[keys].apply(_as_key).drop_duplicates()
        right["_found"] = True
        merged = left.merge(right, on=keys, how="left")
        done = int(merged["_found"].fillna(False).astype(bool).sum())
        outside = len(right) - done
    outside += set_aside
    # Axes the statistics do not model (data.scrub, a train setting, ...): one unit per value.
    trials, strata_notes = by_strata(trials, extra, skew_as_rate=bool(downstream_notes))
    data = SweepData(name, sweep_path, conf, trials, grid, cell_keys, done, total, failed, outside)
    rounds = read_rounds(folder)
    data.notes = [*data.notes, *downstream_notes, *strata_notes, *rounds_note(rounds)]
    return data


def metric_columns(trials: pd.DataFrame) -> list[str]:
    """Columns a report may analyse as metrics: numeric, and not a design column."""
    return [
        str(c)
        for c in trials.columns
        if c not in NOT_METRICS
        and not str(c).startswith("time_")
        and (pd.api.types.is_numeric_dtype(trials[c]) or trials[c].isna().all())
    ]


def default_metrics(trials: pd.DataFrame, source: str = "sweep") -> list[str]:
    """A sweep's default metrics; for a table, those of them (else any known metric) it has."""
    # The external eval sets' gaps too, as the runs hold them (`tpr_gap@madlibs`).
    eval_sets = [
        str(c)
        for c in trials.columns
        if EVAL_SET_SEPARATOR in str(c)
        and str(c).split(EVAL_SET_SEPARATOR, 1)[0] in default_eval_set_metrics()
        and trials[c].notna().any()
    ]
    # Intrinsic bias after fine-tuning, where the trials measured it (older ones did not).
    finetuned = [
        c for c in (INTRINSIC_FINETUNED,) if c in trials.columns and trials[c].notna().any()
    ]
    if source == "sweep":
        return [*default_report_metrics(), *finetuned, *eval_sets]
    present = metric_columns(trials)
    found = [m for m in default_report_metrics() if m in present]
    return [*found, *finetuned, *eval_sets] if found else [m for m in present if known_metric(m)]


def checked_metrics(
    metrics: list[str] | None, trials: pd.DataFrame | None = None, flag: str = "--metric"
) -> list[str]:
    """The metrics to analyse: each a known metric or a numeric column of the runs (so that
    columns such as `tpr_gap@<set>` or `<metric>_twin` can be reported); None: the defaults."""
    if metrics is None:
        return list(default_report_metrics()) if trials is None else default_metrics(trials)
    known = list(dict.fromkeys(known_metrics()))
    if trials is not None:
        known = [*known, *[c for c in metric_columns(trials) if c not in known]]
    unknown = [m for m in metrics if m not in known]
    if unknown:
        raise UserError(
            f"{flag}: unknown metric(s) {', '.join(unknown)}; expected some of {', '.join(known)}"
        )
    return list(dict.fromkeys(metrics))


def ensure_columns(trials: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    missing = [m for m in metrics if m not in trials.columns]
    if missing:
        trials = trials.assign(**dict.fromkeys(missing, np.nan))
    return trials


def coverage_text(data: SweepData) -> str:
    if data.source == "table":
        return f"{len(data.trials)} runs read from {data.path.name} (a table: no planned grid)"
    text = f"{data.done} of {data.total} grid points finished; {data.failed} failed"
    pending = data.total - data.done - data.failed
    if pending > 0:
        text += f"; {pending} not finished (pending, running or lost)"
    if data.outside_grid:
        text += (
            f"; {data.outside_grid} finished trials are outside the current grid, set aside (a"
            " point an edit of the grid dropped, one whose settings an edit changed, or one an"
            " earlier version keyed otherwise): left out of the analysis"
        )
    if data.conf is None:
        text += " (no sweep.yaml: grid size estimated from trial folders)"
    return text


def models_of(data: SweepData) -> list[str]:
    names = list(dict.fromkeys([*data.grid["model"].dropna(), *data.trials["model"].dropna()]))
    return [str(n) for n in names]


def intervention_levels(data: SweepData, model: str) -> tuple[list[tuple[str, float]], list[float]]:
    """Intervention levels (method, strength) and rates of one model, grid and trials together."""
    if model not in data.levels:  # every panel of every figure asks: compute once per model
        data.levels[model] = _compute_levels(data, model)
    return data.levels[model]


def _compute_levels(data: SweepData, model: str) -> tuple[list[tuple[str, float]], list[float]]:
    both = pd.concat(
        [g[g["model"] == model][["method", "strength", "rate"]] for g in (data.grid, data.trials)]
    )
    ivs = sorted(
        {(str(m), float(s)) for m, s in zip(both["method"], both["strength"], strict=True)}
    )
    rates = sorted({float(r) for r in both["rate"].dropna()})
    return ivs, rates
