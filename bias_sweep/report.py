"""Report and compare sweeps: aggregation over seeds, effect sizes, plots, Markdown/HTML, W&B.

The question a report answers (Steed et al. 2022): does the bias intervention on the pre-trained
model (its strength) matter less than the co-occurrence rate of group terms and labels in the
fine-tuning data? Read top to bottom: load -> cells -> effects -> plots -> documents -> W&B.

Statistics, per model and metric, over the finished trials (statsmodels/scipy only):
  * cells: mean, sample std (ddof=1), n and a 95% t-interval (scipy.stats.t) over seeds per
    (model, method, strength, rate[, other grid axes]) -- a plain pandas groupby of trials.csv;
  * two-way ANOVA `y ~ C(strength) * C(rate)` (statsmodels `ols` + `anova_lm(typ=2)`);
    eta^2 of a term = its sum of squares / the total sum of squares of y around its mean.
    When a model's trials span several methods, the "strength" factor is the combined level
    `method:strength` (strength is only meaningful within a method; `none` is one level), and the
    `strength_factor` column says so. With one trial per cell the interaction cannot be told from
    noise: the additive model `C(strength) + C(rate)` is used and the note says so. With empty
    cells (partial sweeps) the type-II sums of squares come from nested model comparisons
    (`anova_lm(typ=2)` is not identified there) and need not add up to the total. A verdict
    calls a factor the one that "matters more" only if its F-test has p < 0.05;
  * standardized slopes: OLS of z-scored y on z-scored strength and rate (with method fixed
    effects when there are several methods, so the strength slope is the within-method one);
  * manipulation check: OLS of the metric on the measured intrinsic bias after the intervention
    (slope, 95% CI, r^2), and OLS of intrinsic bias on strength (did the intervention move it?).
Degenerate data (one level, too few trials, zero variance, collinear design) gives NaN and a
`note`, never an exception. Plots and effects pool over grid axes other than the usual five
(cells.csv keeps them apart). Coverage counts grid points (from sweep.yaml) with a finished
trial; trial folders with `error.txt` and no `result.json` count as failed.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import statsmodels.api as sm
from matplotlib.figure import Figure
from scipy import stats
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm
from threadpoolctl import threadpool_limits

from bias_sweep.config import (
    STRENGTHLESS_METHODS,
    axis_columns,
    expand_grid,
    load_config,
)
from bias_sweep.errors import UserError
from bias_sweep.results import METRIC_KEYS, RESULT_FILE, load_trials

DEFAULT_METRICS = (
    "tpr_gap",
    "fpr_gap",
    "equalized_odds_difference",
    "demographic_parity_difference",
    "flip_rate",
    "ctf_gap",
    "bpsn_auc",
    "bnsp_auc",
    "accuracy",
    "f1",
    "intrinsic_after",
)
USUAL_AXES = ("model", "method", "strength", "rate", "seed")
CELL_KEYS = ("model", "method", "strength", "rate")
UTILITY = ("accuracy", "f1")
INTRINSIC = ("intrinsic_before", "intrinsic_after")
SIGNED = ("tpr_gap", "fpr_gap", "intrinsic_before", "intrinsic_after")
METRIC_LABELS = {
    "tpr_gap": "TPR gap, A − B (rate difference)",
    "fpr_gap": "FPR gap, A − B (rate difference)",
    "equalized_odds_difference": "equalized odds difference (max |TPR/FPR gap|)",
    "demographic_parity_difference": "demographic parity difference (|selection-rate gap|)",
    "subgroup_auc": "subgroup AUC (0–1)",
    "bpsn_auc": "BPSN AUC (0–1)",
    "bnsp_auc": "BNSP AUC (0–1)",
    "flip_rate": "counterfactual flip rate (share of examples)",
    "ctf_gap": "counterfactual gap (mean |ΔP(y=1)|)",
    "accuracy": "accuracy (share correct)",
    "f1": "F1 (positive class)",
    "roc_auc": "ROC AUC (0–1)",
    "intrinsic_before": "intrinsic bias before intervention",
    "intrinsic_after": "intrinsic bias after intervention",
}
RATE_LABEL = "co-occurrence rate P(group A | y=1)"
MAX_SCATTER = 2000  # points drawn per scatter panel (a fixed random sample); fits use all trials
MAX_TABLE_ROWS = 100  # rows of the cells table shown in report.md/html; cells.csv has them all
TINY = 1e-12
ALPHA = 0.05  # ANOVA F-test level at which a factor counts as having a detectable effect


@dataclass
class FigureRecord:
    """A written PNG and what each of its panels says (for tests and for W&B captions)."""

    path: Path
    title: str
    panels: list[dict[str, Any]] = field(default_factory=list)  # title, xlabel, ylabel, texts


@dataclass
class ReportSummary:
    out_dir: Path
    coverage: tuple[int, int]  # (finished grid points, grid points)
    verdicts: list[str]
    files: list[Path]
    failed: int = 0
    figures: list[FigureRecord] = field(default_factory=list)


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


# ----------------------------------------------------------------------------- loading


def _as_key(series: pd.Series) -> pd.Series:
    """A column made comparable across sources: numbers as floats (YAML 1 == parquet 1.0)."""
    num = pd.to_numeric(series, errors="coerce")
    if num.notna().sum() == series.notna().sum():
        return num.astype(float)
    return series.astype(str)


def _grid_frame(conf: Any) -> pd.DataFrame:
    grid = pd.DataFrame([axis_columns(p) for p in expand_grid(conf)])
    fixed = {
        "model": conf.model.name,
        "method": conf.intervention.method,
        "strength": conf.intervention.strength,
        "rate": conf.data.rate,
        "seed": conf.seed,
    }
    for key, value in fixed.items():
        if key not in grid.columns:
            grid[key] = value
    # Same normalisation as expand_grid/trial_config: strengthless methods run at strength 0.
    grid.loc[grid["method"].isin(STRENGTHLESS_METHODS), "strength"] = 0.0
    return grid


def load_sweep(sweep_path: Path) -> SweepData:
    """The finished trials of a sweep folder, its grid, and how much of the grid is done."""
    sweep_path = Path(sweep_path)
    if not sweep_path.is_dir():
        raise UserError(f"sweep folder '{sweep_path}' not found")
    conf_path = sweep_path / "sweep.yaml"
    conf = load_config(conf_path) if conf_path.is_file() else None
    trials = load_trials(sweep_path) if (sweep_path / "trials").is_dir() else pd.DataFrame()
    trials = trials.copy()
    for key in USUAL_AXES:
        if key not in trials.columns:
            trials[key] = pd.Series(dtype=float if key in ("strength", "rate", "seed") else object)
    for col in (*METRIC_KEYS, *INTRINSIC, "strength", "rate", "realised_rate"):
        # Always present and numeric (an all-None column comes back from parquet as objects).
        values = trials[col] if col in trials.columns else np.nan
        trials[col] = pd.to_numeric(values, errors="coerce")
        trials[col] = trials[col].astype(float)
    if "intrinsic_kind" not in trials.columns:
        trials["intrinsic_kind"] = pd.Series(dtype=object)
    sort_cols = [c for c in (*CELL_KEYS, "seed", "trial_key") if c in trials.columns]
    trials = trials.sort_values(sort_cols, kind="stable").reset_index(drop=True)

    folders = list((sweep_path / "trials").glob("*/")) if (sweep_path / "trials").is_dir() else []
    failed = sum(
        1 for f in folders if (f / "error.txt").exists() and not (f / RESULT_FILE).exists()
    )
    if conf is not None:
        grid = _grid_frame(conf)
        name = str(conf.sweep.name)
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
    return SweepData(name, sweep_path, conf, trials, grid, cell_keys, done, total, failed, outside)


def _metrics(metrics: list[str] | None) -> list[str]:
    if metrics is None:
        return list(DEFAULT_METRICS)
    known = set(METRIC_KEYS) | set(INTRINSIC)
    unknown = [m for m in metrics if m not in known]
    if unknown:
        raise UserError(
            f"unknown metric(s) {', '.join(unknown)}; expected some of {', '.join(sorted(known))}"
        )
    return list(dict.fromkeys(metrics))


def _ensure_columns(trials: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    missing = [m for m in metrics if m not in trials.columns]
    if missing:
        trials = trials.assign(**dict.fromkeys(missing, np.nan))
    return trials


# ----------------------------------------------------------------------------- cells


def cell_table(trials: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean, std (ddof=1), n and 95% t-interval of each metric over seeds, per cell."""
    if trials.empty:
        cols = [*keys, "n_trials"]
        for m in metrics:
            cols += [f"{m}_{s}" for s in ("mean", "std", "n", "ci_low", "ci_high")]
        return pd.DataFrame(columns=cols)
    grouped = trials.groupby(keys, sort=True, dropna=False)
    mean = grouped[metrics].mean()
    std = grouped[metrics].std()
    n = grouped[metrics].count()
    with np.errstate(divide="ignore", invalid="ignore"):
        # t.ppf of df <= 0 is NaN: no interval from fewer than two seeds.
        half = stats.t.ppf(0.975, n - 1) * std / np.sqrt(n)
    out = pd.DataFrame({"n_trials": grouped.size()})
    for m in metrics:
        out[f"{m}_mean"] = mean[m]
        out[f"{m}_std"] = std[m]
        out[f"{m}_n"] = n[m]
        out[f"{m}_ci_low"] = mean[m] - half[m]
        out[f"{m}_ci_high"] = mean[m] + half[m]
    return out.reset_index()


# ----------------------------------------------------------------------------- effects


def _z(values: pd.Series) -> np.ndarray | None:
    """z-scores (ddof=1), or None for a constant column (zero variance: nothing to scale)."""
    arr = values.to_numpy(dtype=float)
    sd = arr.std(ddof=1) if len(arr) > 1 else np.nan
    if not np.isfinite(sd) or sd <= TINY * max(1.0, abs(arr.mean())):
        return None
    return (arr - arr.mean()) / sd


def _fit(y: np.ndarray, x: np.ndarray) -> tuple[Any, str]:
    """OLS, or (None, why) when the design cannot identify its coefficients."""
    if len(y) - x.shape[1] < 1:
        return None, f"too few trials for a regression (n={len(y)})"
    if np.linalg.matrix_rank(x) < x.shape[1]:
        return None, "collinear design (strength confounded with method?)"
    return sm.OLS(y, x).fit(), ""


def _strength_factor(d: pd.DataFrame) -> tuple[pd.Series, str]:
    if d["method"].nunique(dropna=False) > 1:
        return d["method"].astype(str) + ":" + d["strength"].map("{:g}".format), "method:strength"
    return d["strength"], "strength"


def _method_dummies(d: pd.DataFrame) -> np.ndarray:
    if d["method"].nunique(dropna=False) < 2:
        return np.empty((len(d), 0))
    return pd.get_dummies(d["method"].astype(str), drop_first=True, dtype=float).to_numpy()


ANOVA_COLUMNS = (
    "eta2_strength",
    "eta2_rate",
    "eta2_interaction",
    "eta2_residual",
    "p_strength",
    "p_rate",
    "p_interaction",
)


def _ols_fit(formula: str, data: pd.DataFrame) -> Any:
    """statsmodels OLS by QR (3x faster than the default pseudo-inverse on 10k-trial designs);
    the pseudo-inverse only for rank-deficient designs (empty cells of a partial sweep)."""
    model = ols(formula, data)
    try:
        fit = model.fit(method="qr")
        if fit.model.rank == model.exog.shape[1] and np.all(np.isfinite(fit.params)):
            return fit
    except np.linalg.LinAlgError:
        pass
    return ols(formula, data).fit()


def _nested_type2(data: pd.DataFrame, terms: list[str], fit: Any) -> pd.DataFrame:
    """Type-II sums of squares as differences of residual sums of squares of nested models.

    `anova_lm(typ=2)` tests linear hypotheses on the full model's coefficients, which are not
    identified when cells are empty (a partial sweep) and can give negative sums of squares.
    Nested comparisons are the definition of type II -- SS(A | B), SS(B | A), SS(AB | A, B) --
    and stay valid (and non-negative) for rank-deficient designs. F-tests use the full model's
    residual variance, as `anova_lm(typ=2)` does; their p-values take the full model's residual
    degrees of freedom too (`anova_lm` with several models would take each row's own).
    """
    rows: dict[str, tuple[float, float]] = {}

    def row(cmp: pd.DataFrame, i: int) -> tuple[float, float]:
        p = stats.f.sf(cmp["F"].iloc[i], cmp["df_diff"].iloc[i], fit.df_resid)
        return float(cmp["ss_diff"].iloc[i]), float(p)

    if len(terms) == 1:
        rows[terms[0]] = row(anova_lm(_ols_fit("y ~ 1", data), fit), 1)
    else:
        a, b = terms
        additive = _ols_fit(f"y ~ {a} + {b}", data)
        interaction = fit.model.exog.shape[1] > additive.model.exog.shape[1]
        chain = [additive, fit] if interaction else [fit]
        for term, other in ((a, b), (b, a)):
            cmp = anova_lm(_ols_fit(f"y ~ {other}", data), *chain)
            rows[term] = row(cmp, 1)
        if interaction:
            rows[f"{a}:{b}"] = row(cmp, 2)
    rows["Residual"] = (fit.ssr, np.nan)
    return pd.DataFrame.from_dict(rows, orient="index", columns=["sum_sq", "PR(>F)"])


def _anova(d: pd.DataFrame, metric: str) -> tuple[dict[str, float], str]:
    out = dict.fromkeys(ANOVA_COLUMNS, np.nan)
    y = d[metric].to_numpy(dtype=float)
    tss = float(((y - y.mean()) ** 2).sum()) if len(y) else 0.0
    if tss <= TINY * max(1.0, float(np.abs(y).max(initial=0)) ** 2):
        return out, "zero variance"
    factor, _ = _strength_factor(d)
    data = pd.DataFrame({"y": y, "strength": factor.to_numpy(), "rate": d["rate"].to_numpy()})
    terms = [f"C({c})" for c in ("strength", "rate") if data[c].nunique() >= 2]
    notes = [f"{c} has one level" for c in ("strength", "rate") if data[c].nunique() < 2]
    if not terms:
        return out, "; ".join(notes)
    formula = "y ~ " + " * ".join(terms)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rank-deficient designs of partial sweeps warn
            fit = _ols_fit(formula, data)
            if len(terms) == 2 and fit.df_resid < 1:
                notes.append("one trial per cell: additive model, no interaction term")
                fit = _ols_fit("y ~ " + " + ".join(terms), data)
            if fit.df_resid < 1:
                return out, "; ".join([*notes, "no residual degrees of freedom"])
            if fit.model.rank < fit.model.exog.shape[1]:
                notes.append("empty cells: type-II sums of squares by nested model comparison")
                table = _nested_type2(data, terms, fit)
            else:
                table = anova_lm(fit, typ=2)
    except Exception as exc:  # statsmodels on a pathological design: report, do not crash
        return out, "; ".join([*notes, f"ANOVA failed: {type(exc).__name__}"])
    eta = table["sum_sq"] / tss
    out["eta2_strength"] = float(eta.get("C(strength)", np.nan))
    out["eta2_rate"] = float(eta.get("C(rate)", np.nan))
    out["eta2_interaction"] = float(eta.get("C(strength):C(rate)", np.nan))
    out["eta2_residual"] = float(eta.get("Residual", np.nan))
    p = table["PR(>F)"]
    out["p_strength"] = float(p.get("C(strength)", np.nan))
    out["p_rate"] = float(p.get("C(rate)", np.nan))
    out["p_interaction"] = float(p.get("C(strength):C(rate)", np.nan))
    return out, "; ".join(notes)


def _slopes(d: pd.DataFrame, metric: str) -> tuple[dict[str, float], str]:
    names = ("slope_strength", "slope_rate")
    out = {f"{n}{s}": np.nan for n in names for s in ("", "_ci_low", "_ci_high")}
    out["slopes_r2"] = np.nan
    yz = _z(d[metric])
    if yz is None:
        return out, "zero variance" if len(d) > 1 else f"too few trials (n={len(d)})"
    cols, used, notes = [np.ones(len(d))], [], []
    for axis in ("strength", "rate"):
        z = _z(d[axis])
        if z is None:
            notes.append(f"{axis} has one level")
        else:
            cols.append(z)
            used.append(axis)
    if not used:
        return out, "; ".join(notes)
    x = np.column_stack([*cols, _method_dummies(d)])
    fit, why = _fit(yz, x)
    if fit is None:
        return out, "; ".join([*notes, why])
    ci = fit.conf_int(0.05)
    for i, axis in enumerate(used, start=1):
        out[f"slope_{axis}"] = float(fit.params[i])
        out[f"slope_{axis}_ci_low"], out[f"slope_{axis}_ci_high"] = map(float, ci[i])
    out["slopes_r2"] = float(fit.rsquared)
    return out, "; ".join(notes)


def _simple_ols(y: pd.Series, x: pd.Series, extra: np.ndarray | None = None) -> dict[str, float]:
    res = {"slope": np.nan, "ci_low": np.nan, "ci_high": np.nan, "r2": np.nan, "n": float(len(y))}
    if len(y) < 3 or _z(x) is None or _z(y) is None:
        return res
    parts = [np.ones(len(y)), x.to_numpy(dtype=float)]
    design = np.column_stack(parts if extra is None else [*parts, extra])
    fit, _ = _fit(y.to_numpy(dtype=float), design)
    if fit is None:
        return res
    lo, hi = fit.conf_int(0.05)[1]
    res.update(slope=float(fit.params[1]), ci_low=float(lo), ci_high=float(hi))
    res["r2"] = float(fit.rsquared)
    return res


def _intrinsic_check(d: pd.DataFrame) -> dict[str, float]:
    """Did the intervention move intrinsic bias? OLS of intrinsic_after on strength (raw units,
    within method)."""
    if "intrinsic_after" not in d.columns:
        d = d.assign(intrinsic_after=np.nan)
    ok = d.dropna(subset=["intrinsic_after", "strength"])
    r = _simple_ols(ok["intrinsic_after"], ok["strength"], _method_dummies(ok))
    moved = np.nan
    if np.isfinite(r["ci_low"]):
        moved = float(r["ci_low"] > 0 or r["ci_high"] < 0)
    return {
        "intrinsic_on_strength_slope": r["slope"],
        "intrinsic_on_strength_ci_low": r["ci_low"],
        "intrinsic_on_strength_ci_high": r["ci_high"],
        "intrinsic_moved": moved,
    }


def effects_table(trials: pd.DataFrame, metrics: list[str], models: list[str]) -> pd.DataFrame:
    """One row per (model, metric): ANOVA eta^2, standardized slopes, manipulation check."""
    rows = []
    for model in models:
        dm = trials[trials["model"] == model].dropna(subset=["strength", "rate"])
        check = _intrinsic_check(dm)
        for metric in metrics:
            d = dm.dropna(subset=[metric])
            row: dict[str, Any] = {"model": model, "metric": metric, "n": len(d)}
            factor, row["strength_factor"] = _strength_factor(d)
            row["n_levels_strength"] = int(factor.nunique())
            row["n_levels_rate"] = int(d["rate"].nunique())
            notes = []
            if len(d) == 0:
                notes.append("no finished trials")
            eta, note = _anova(d, metric)
            row.update(eta)
            notes.append(note and f"ANOVA: {note}")
            slopes, note = _slopes(d, metric)
            row.update(slopes)
            notes.append(note and f"slopes: {note}")
            if metric in INTRINSIC:
                ext = dict.fromkeys(("slope", "ci_low", "ci_high", "r2"), np.nan)
                ext["n"] = 0.0
            else:
                both = d.dropna(subset=["intrinsic_after"])
                ext = _simple_ols(both[metric], both["intrinsic_after"])
                if len(both) == 0 and len(d):
                    notes.append("no intrinsic measurement")
            for k, v in ext.items():
                row[f"extrinsic_on_intrinsic_{k}"] = v
            row.update(check)
            row["note"] = "; ".join(dict.fromkeys(n for n in notes if n))
            rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- verdicts


def _num(x: float, digits: int = 2) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:.{digits}f}".replace("-", "−")


def _pct(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.0f}%"


def verdict(row: pd.Series) -> str:
    """One sentence: how much variance rate and intervention explain, and which matters more."""
    head = f"{row['model']}, {row['metric']}"
    if row["n"] == 0:
        return f"{head}: no finished trials"
    iv = "intervention strength" if row["strength_factor"] == "strength" else "intervention"
    text = (
        f"{head}: co-occurrence rate explains {_pct(row['eta2_rate'])} of variance, "
        f"{iv} {_pct(row['eta2_strength'])} (interaction {_pct(row['eta2_interaction'])}); "
        f"standardized slope of rate {_num(row['slope_rate'])} "
        f"[{_num(row['slope_rate_ci_low'])}, {_num(row['slope_rate_ci_high'])}], "
        f"of strength {_num(row['slope_strength'])} "
        f"[{_num(row['slope_strength_ci_low'])}, {_num(row['slope_strength_ci_high'])}]"
    )
    # Only a factor whose ANOVA F-test detects an effect (p < 0.05) can "matter more"; two
    # noise-level shares of variance are not compared.
    shares = {
        "the co-occurrence rate": (row["eta2_rate"], row["p_rate"]),
        "the intervention": (row["eta2_strength"], row["p_strength"]),
    }
    detected = {k: eta for k, (eta, p) in shares.items() if np.isfinite(eta) and p < ALPHA}
    if detected:
        text += f" → {max(detected, key=detected.get)} matters more"
    elif all(np.isfinite(p) for _, p in shares.values()):
        text += f" → neither has a detectable effect (ANOVA p ≥ {ALPHA:g})"
    if row["p_interaction"] < ALPHA:
        text += "; the intervention's effect depends on the rate (interaction p < 0.05)"
    if row["note"]:
        text += f" (note: {row['note']})"
    return text


def manipulation_verdict(model: str, effects: pd.DataFrame, kind: str | None) -> str:
    row = effects[effects["model"] == model].iloc[0]
    slope = row["intrinsic_on_strength_slope"]
    if not np.isfinite(slope):
        return f"{model}, manipulation check: not available (no intrinsic bias or one strength)"
    ci = f"[{_num(row['intrinsic_on_strength_ci_low'])}, {_num(row['intrinsic_on_strength_ci_high'])}]"
    moved = (
        "the intervention moved intrinsic bias"
        if row["intrinsic_moved"] == 1
        else "no detectable change (CI includes 0)"
    )
    what = f"intrinsic bias ({kind})" if kind else "intrinsic bias"
    return f"{model}, manipulation check: {what} changes by {_num(slope)} {ci} per unit strength — {moved}"


def coverage_text(data: SweepData) -> str:
    text = f"{data.done} of {data.total} grid points finished; {data.failed} failed"
    pending = data.total - data.done - data.failed
    if pending > 0:
        text += f"; {pending} not finished (pending, running or lost)"
    if data.outside_grid:
        text += f"; {data.outside_grid} finished trials are outside the current grid"
    if data.conf is None:
        text += " (no sweep.yaml: grid size estimated from trial folders)"
    return text


# ----------------------------------------------------------------------------- plots


def _label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def _models(data: SweepData) -> list[str]:
    names = list(dict.fromkeys([*data.grid["model"].dropna(), *data.trials["model"].dropna()]))
    return [str(n) for n in names]


def _levels(data: SweepData, model: str) -> tuple[list[tuple[str, float]], list[float]]:
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


def _iv_text(iv: tuple[str, float], several: bool) -> str:
    return f"{iv[0]}: {iv[1]:g}" if several else f"{iv[1]:g}"


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _panels(n: int, ncols: int, w: float, h: float) -> tuple[Figure, list[Any]]:
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(w * ncols, h * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _save(fig: Figure, path: Path, title: str, axes: list[Any]) -> FigureRecord:
    fig.savefig(path, dpi=90, format="png")
    panels = [
        {
            "title": ax.get_title(),
            "xlabel": ax.get_xlabel(),
            "ylabel": ax.get_ylabel(),
            "texts": [t.get_text() for t in ax.texts],
        }
        for ax in axes
    ]
    return FigureRecord(path=path, title=title, panels=panels)


def _cell_lookup(plot_cells: pd.DataFrame, model: str, metric: str) -> dict[tuple, tuple]:
    c = plot_cells[plot_cells["model"] == model]
    return {
        (str(m), float(s), float(r)): (mean, lo, hi)
        for m, s, r, mean, lo, hi in zip(
            c["method"],
            c["strength"],
            c["rate"],
            c[f"{metric}_mean"],
            c[f"{metric}_ci_low"],
            c[f"{metric}_ci_high"],
            strict=True,
        )
        if np.isfinite(mean)
    }


def heatmap_figure(data: SweepData, cells: pd.DataFrame, metric: str, path: Path) -> FigureRecord:
    """Mean of a metric over seeds on the strength x rate grid, one panel per model."""
    models = _models(data) or ["(no model)"]
    fig, axes = _panels(len(models), 3, 5.2, 4.2)
    for ax, model in zip(axes, models, strict=True):
        ivs, rates = _levels(data, model)
        several = len({m for m, _ in ivs}) > 1
        ax.set_title(f"{model}: mean {metric} over seeds")
        ax.set_xlabel(RATE_LABEL)
        ax.set_ylabel("intervention (method: strength)" if several else "intervention strength")
        look = _cell_lookup(cells, model, metric)
        if not look:
            _empty(ax, f"no finished trials for {model}, {metric}")
            continue
        grid = np.full((len(ivs), len(rates)), np.nan)
        for i, (m, s) in enumerate(ivs):
            for j, r in enumerate(rates):
                grid[i, j] = look.get((m, s, r), (np.nan,))[0]
        finite = grid[np.isfinite(grid)]
        if metric in SIGNED:
            lim = max(float(np.abs(finite).max()), TINY)
            kw = {"cmap": "RdBu_r", "vmin": -lim, "vmax": lim}
        else:
            kw = {"cmap": "viridis", "vmin": float(finite.min()), "vmax": float(finite.max())}
        img = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", origin="lower", **kw)
        cbar = fig.colorbar(img, ax=ax)
        cbar.set_label(_label(metric))
        ax.set_xticks(range(len(rates)), [f"{r:g}" for r in rates])
        ax.set_yticks(range(len(ivs)), [_iv_text(iv, several) for iv in ivs])
        size = 8 if grid.size <= 60 else 6
        mid = (kw["vmin"] + kw["vmax"]) / 2
        for (i, j), v in np.ndenumerate(grid):
            # Dark text on light cells, light text on dark ones, so every value stays readable.
            light = (
                metric in SIGNED and abs(v) < 0.5 * kw["vmax"] or (metric not in SIGNED and v > mid)
            )
            text = "–" if not np.isfinite(v) else f"{v:.2f}"
            color = "black" if (not np.isfinite(v) or light) else "white"
            ax.text(j, i, text, ha="center", va="center", fontsize=size, color=color)
    fig.suptitle(f"{metric}: mean over seeds per cell ('–': no trials)", fontsize=10)
    return _save(fig, path, f"heatmap of {metric}", axes)


def _lines(ax: Any, data: SweepData, cells: pd.DataFrame, model: str, metric: str) -> None:
    """Metric vs rate, one line per intervention level with its 95% CI band, labelled at its end."""
    ivs, _ = _levels(data, model)
    several = len({m for m, _ in ivs}) > 1
    ax.set_title(f"{model}: {metric} vs rate (mean, 95% CI)")
    ax.set_xlabel(RATE_LABEL)
    ax.set_ylabel(_label(metric))
    look = _cell_lookup(cells, model, metric)
    if not look:
        _empty(ax, f"no finished trials for {model}, {metric}")
        return
    cmap = matplotlib.colormaps["viridis"]
    ends = []  # (y, x, text, colour) of each line's last point, labelled once all are drawn
    for k, iv in enumerate(ivs):
        pts = sorted((r, v) for (m, s, r), v in look.items() if (m, s) == iv)
        if not pts:
            continue
        x = np.array([p[0] for p in pts])
        mean, lo, hi = (np.array([p[1][i] for p in pts]) for i in range(3))
        color = cmap(k / max(1, len(ivs) - 1) * 0.9)
        ax.plot(x, mean, marker="o", ms=3, color=color)
        band = np.isfinite(lo) & np.isfinite(hi)
        if band.any():
            ax.fill_between(x[band], lo[band], hi[band], color=color, alpha=0.15, linewidth=0)
        ends.append((mean[-1], x[-1], ("" if several else "s=") + _iv_text(iv, several), color))
    ax.margins(x=0.2)
    # Push labels apart vertically so that lines ending close together stay readable.
    lo_y, hi_y = ax.get_ylim()
    lo_x, hi_x = ax.get_xlim()
    ends.sort(key=lambda e: e[0])
    gap, placed = 0.045 * (hi_y - lo_y), []
    for y, *_ in ends:
        placed.append(max(y, placed[-1] + gap) if placed else y)
    # Re-centre the stack on the line ends so the labels do not all drift upwards.
    shift = np.mean([e[0] for e in ends]) - np.mean(placed) if ends else 0.0
    for (y, x_end, text, color), y_text in zip(ends, placed, strict=True):
        ax.annotate(
            text,
            xy=(x_end, y),
            xytext=(x_end + 0.03 * (hi_x - lo_x), y_text + shift),
            va="center",
            fontsize=7,
            color=color,
        )


def lines_figure(data: SweepData, cells: pd.DataFrame, metric: str, path: Path) -> FigureRecord:
    models = _models(data) or ["(no model)"]
    fig, axes = _panels(len(models), 3, 5.2, 4.0)
    for ax, model in zip(axes, models, strict=True):
        _lines(ax, data, cells, model, metric)
    fig.suptitle(f"{metric} vs rate; one line per intervention level", fontsize=10)
    return _save(fig, path, f"{metric} vs rate", axes)


def utility_figure(
    data: SweepData, cells: pd.DataFrame, bias: str | None, path: Path
) -> FigureRecord:
    """Utility (accuracy, F1) next to a bias metric, per model, on the same rate axis."""
    models = _models(data) or ["(no model)"]
    cols = [m for m in (bias, *UTILITY) if m]
    fig, axes = _panels(len(models) * len(cols), len(cols), 4.6, 3.8)
    for i, model in enumerate(models):
        for j, metric in enumerate(cols):
            _lines(axes[i * len(cols) + j], data, cells, model, metric)
    fig.suptitle(f"Utility next to bias: {', '.join(cols)} vs rate", fontsize=10)
    return _save(fig, path, "utility next to bias", axes)


def scatter_figure(
    data: SweepData, effects: pd.DataFrame, metrics: list[str], path: Path
) -> FigureRecord:
    """Extrinsic metric vs measured intrinsic bias, per model (rows) and metric (columns)."""
    models = _models(data) or ["(no model)"]
    metrics = [m for m in metrics if m not in INTRINSIC] or ["(no extrinsic metric)"]
    fig, axes = _panels(len(models) * len(metrics), min(4, len(metrics)), 3.6, 3.2)
    kinds = data.trials.get("intrinsic_kind", pd.Series(dtype=object)).dropna()
    kind = f" ({kinds.iloc[0]})" if len(kinds) else ""
    rng = np.random.default_rng(0)
    rates = data.trials["rate"].dropna()
    vmin, vmax = (float(rates.min()), float(rates.max())) if len(rates) else (0.0, 1.0)
    mappable = None
    for i, model in enumerate(models):
        for j, metric in enumerate(metrics):
            ax = axes[i * len(metrics) + j]
            ax.set_title(f"{model}: {metric}", fontsize=9)
            ax.set_xlabel(f"intrinsic bias after intervention{kind}", fontsize=8)
            ax.set_ylabel(_label(metric), fontsize=8)
            cols = ["intrinsic_after", metric, "rate"]
            d = data.trials[data.trials["model"] == model]
            d = d[cols].dropna() if metric in d.columns else d.iloc[:0]
            if d.empty:
                _empty(ax, f"no finished trials with intrinsic bias for {model}, {metric}")
                continue
            if len(d) > MAX_SCATTER:
                d = d.iloc[rng.choice(len(d), MAX_SCATTER, replace=False)]
            mappable = ax.scatter(
                d["intrinsic_after"], d[metric], c=d["rate"], s=6, alpha=0.6,
                cmap="viridis", vmin=vmin, vmax=vmax, rasterized=True,
            )  # fmt: skip
            row = effects[(effects["model"] == model) & (effects["metric"] == metric)]
            if len(row) and np.isfinite(row["extrinsic_on_intrinsic_r2"].iloc[0]):
                r = row.iloc[0]
                ax.text(
                    0.02, 0.97,
                    f"slope {_num(r['extrinsic_on_intrinsic_slope'])}, "
                    f"r² {_num(r['extrinsic_on_intrinsic_r2'])}",
                    transform=ax.transAxes, va="top", fontsize=7,
                )  # fmt: skip
    if mappable is not None:
        fig.colorbar(mappable, ax=axes, label=RATE_LABEL, shrink=0.8)
    fig.suptitle("Extrinsic vs intrinsic bias after the intervention (colour: rate)", fontsize=10)
    return _save(fig, path, "intrinsic vs extrinsic", axes)


def compare_figure(table: pd.DataFrame, sweeps: list[str], path: Path) -> FigureRecord:
    """eta^2 of rate and of the intervention per sweep, one panel per (model, metric)."""
    pairs = list(dict.fromkeys(zip(table["model"], table["metric"], strict=True)))
    fig, axes = _panels(max(1, len(pairs)), 4, 4.0, 3.2)
    if not pairs:
        axes[0].set_title("η² per sweep")
        axes[0].set_xlabel("sweep")
        axes[0].set_ylabel("η² (share of variance)")
        _empty(axes[0], "no finished trials in any sweep")
    for ax, (model, metric) in zip(axes, pairs, strict=False):
        sel = table[(table["model"] == model) & (table["metric"] == metric)].set_index("quantity")
        x = np.arange(len(sweeps))
        for k, (q, name) in enumerate((("eta2_rate", "rate"), ("eta2_strength", "interv."))):
            vals = (
                sel.loc[q, sweeps].to_numpy(dtype=float)
                if q in sel.index
                else np.full(len(x), np.nan)
            )
            ax.bar(x + (k - 0.5) * 0.38, np.nan_to_num(vals), width=0.38, alpha=0.8)
            for xi, v in zip(x, vals, strict=True):
                ax.text(
                    xi + (k - 0.5) * 0.38,
                    np.nan_to_num(v),
                    f"{name}\n{_pct(v)}",
                    ha="center",
                    va="bottom",
                    fontsize=6,
                )
        ax.set_xticks(x, sweeps, fontsize=7)
        ax.set_ylim(0, 1.15)
        ax.set_title(f"{model}, {metric}", fontsize=9)
        ax.set_xlabel("sweep")
        ax.set_ylabel("η² (share of variance)")
    fig.suptitle("Share of variance: co-occurrence rate vs intervention", fontsize=10)
    return _save(fig, path, "eta squared per sweep", axes)


# ----------------------------------------------------------------------------- documents

# A document is a list of blocks rendered both to Markdown and to self-contained HTML:
# ("h1"|"h2"|"p", text), ("ul", [items]), ("table", DataFrame), ("img", Path).


def _fmt_table(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].map(lambda v: "" if not np.isfinite(v) else f"{v:.3g}")
    return out.fillna("").astype(str)


def to_markdown(blocks: list[tuple[str, Any]]) -> str:
    lines: list[str] = []
    for kind, body in blocks:
        if kind == "h1":
            lines += [f"# {body}", ""]
        elif kind == "h2":
            lines += [f"## {body}", ""]
        elif kind == "p":
            lines += [body, ""]
        elif kind == "ul":
            lines += [f"- {item}" for item in body] + [""]
        elif kind == "table":
            t = _fmt_table(body)
            esc = [str(c).replace("|", "\\|") for c in t.columns]
            lines += ["| " + " | ".join(esc) + " |", "|" + "---|" * len(esc)]
            lines += ["| " + " | ".join(v.replace("|", "\\|") for v in r) + " |" for r in t.values]
            lines.append("")
        elif kind == "img":
            lines += [f"![{body.stem}]({body.name})", ""]
    return "\n".join(lines)


CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;"
    "color:#222}table{border-collapse:collapse;font-size:12px;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f3f3f3}"
    "img{max-width:100%;border:1px solid #eee;margin:0.5em 0}.verdict li{margin:0.3em 0}"
)


def to_html(blocks: list[tuple[str, Any]], title: str) -> str:
    """Self-contained HTML: inline CSS, plots as base64 data URIs, no external resources."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
    ]
    for kind, body in blocks:
        if kind in ("h1", "h2", "p"):
            parts.append(f"<{kind}>{html.escape(body)}</{kind}>")
        elif kind == "ul":
            items = "".join(f"<li>{html.escape(i)}</li>" for i in body)
            parts.append(f'<ul class="verdict">{items}</ul>')
        elif kind == "table":
            parts.append(_fmt_table(body).to_html(index=False, escape=True, border=0))
        elif kind == "img":
            data = base64.b64encode(Path(body).read_bytes()).decode("ascii")
            alt = html.escape(body.stem)
            parts.append(f'<figure><img alt="{alt}" src="data:image/png;base64,{data}"></figure>')
    parts.append("</body></html>")
    return "\n".join(parts)


METHOD_TEXT = (
    "Statistics: cells are means over seeds with 95% t-intervals. Per model and metric, a two-way "
    "ANOVA y ~ C(strength) * C(rate) (type-II sums of squares) gives η² = SS(term) / SS(total); "
    "with several methods the strength factor is the combined level method:strength; with empty "
    "cells, type-II sums of squares come from nested model comparisons. A factor 'matters more' "
    "only if its ANOVA F-test has p < 0.05. Standardized "
    "slopes come from OLS of z-scored y on z-scored strength and rate (with method fixed effects "
    "when there are several methods). The manipulation check regresses the metric on the measured "
    "intrinsic bias after the intervention, and intrinsic bias on strength. Rates are the nominal "
    "grid values; see realised_rate in trials.csv for the rates the data actually reached."
)

EFFECT_COLUMNS = [
    "model",
    "metric",
    "n",
    "eta2_rate",
    "eta2_strength",
    "eta2_interaction",
    "p_rate",
    "p_strength",
    "slope_rate",
    "slope_rate_ci_low",
    "slope_rate_ci_high",
    "slope_strength",
    "slope_strength_ci_low",
    "slope_strength_ci_high",
    "extrinsic_on_intrinsic_slope",
    "extrinsic_on_intrinsic_r2",
    "note",
]


def _cells_summary(cells: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    out = cells[[*keys, "n_trials"]].copy()
    for m in metrics:
        mean, lo, hi = (cells[f"{m}_{s}"] for s in ("mean", "ci_low", "ci_high"))
        out[m] = [
            f"{_num(a, 3)} [{_num(b, 3)}, {_num(c, 3)}]" if np.isfinite(b) else _num(a, 3)
            for a, b, c in zip(mean, lo, hi, strict=True)
        ]
    return out


# ----------------------------------------------------------------------------- W&B


def _wandb_mode(conf: Any) -> str:
    """WANDB_MODE wins over tracking.mode; online without credentials logs offline."""
    from bias_sweep.tracking import effective_mode

    mode = os.environ.get("WANDB_MODE") or (conf.tracking.mode if conf is not None else "offline")
    return effective_mode(mode)


def log_wandb(
    data: SweepData, effects: pd.DataFrame, figures: list[FigureRecord], out_dir: Path
) -> None:
    """One summary run per report: tidy table, effects table and plots."""
    import wandb

    conf = data.conf
    project = conf.tracking.project if conf is not None else "bias-sweep"
    entity = conf.tracking.entity if conf is not None else None
    run = wandb.init(
        project=project,
        entity=entity,
        group=data.name,
        job_type="report",
        name=f"{data.name}-report",
        mode=_wandb_mode(conf),
        dir=str(out_dir),
        config={"sweep": data.name, "done": data.done, "total": data.total},
        reinit="finish_previous",
    )
    try:
        # W&B tables want plain JSON-able cells.
        tidy = data.trials.astype(object).where(data.trials.notna(), None)
        eff = effects.astype(object).where(effects.notna(), None)
        payload: dict[str, Any] = {
            "trials": wandb.Table(dataframe=tidy),
            "effects": wandb.Table(dataframe=eff),
        }
        for fig in figures:
            payload[f"plots/{fig.path.stem}"] = wandb.Image(str(fig.path), caption=fig.title)
        run.log(payload)
        for _, r in effects.iterrows():
            for q in ("eta2_rate", "eta2_strength", "slope_rate", "slope_strength"):
                if np.isfinite(r[q]):
                    run.summary[f"{r['model']}/{r['metric']}/{q}"] = float(r[q])
    finally:
        run.finish()


# ----------------------------------------------------------------------------- entry points


def build_report(
    sweep_path: Path,
    metrics: list[str] | None = None,
    out_dir: Path | None = None,
    use_wandb: bool = False,
) -> ReportSummary:
    """Write the report of one sweep folder (tables, plots, report.md/html) and summarise it."""
    data = load_sweep(Path(sweep_path))
    metrics = _metrics(metrics)
    data.trials = _ensure_columns(data.trials, metrics)
    out_dir = Path(out_dir) if out_dir is not None else data.path / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []

    trials = data.trials
    trials.to_csv(out_dir / "trials.csv", index=False)
    trials.to_parquet(out_dir / "trials.parquet", index=False)
    cells = cell_table(trials, data.cell_keys, metrics)
    cells.to_csv(out_dir / "cells.csv", index=False)
    # Plots pool over extra grid axes (their cells are the four usual keys only) and always show
    # utility next to bias, even when accuracy/F1 were not among the requested metrics.
    plot_metrics = list(dict.fromkeys([*metrics, *UTILITY]))
    trials = data.trials = _ensure_columns(trials, plot_metrics)
    plot_cells = cell_table(trials, list(CELL_KEYS), plot_metrics)
    models = _models(data)
    # Many small least-squares problems: multi-threaded BLAS only adds overhead (2-3x slower on
    # a shared 2-core machine), so the statistics run single-threaded.
    with threadpool_limits(1):
        effects = effects_table(trials, metrics, models)
    effects.to_csv(out_dir / "effects.csv", index=False)
    files += [out_dir / n for n in ("trials.csv", "trials.parquet", "cells.csv", "effects.csv")]

    # Plots of metrics an earlier report asked for would otherwise linger next to this one's.
    for old in [*out_dir.glob("heatmap_*.png"), *out_dir.glob("lines_*.png")]:
        old.unlink()
    figures = []
    for metric in metrics:
        figures.append(heatmap_figure(data, plot_cells, metric, out_dir / f"heatmap_{metric}.png"))
        figures.append(lines_figure(data, plot_cells, metric, out_dir / f"lines_{metric}.png"))
    extrinsic = [m for m in metrics if m not in INTRINSIC]
    figures.append(scatter_figure(data, effects, extrinsic, out_dir / "intrinsic_vs_extrinsic.png"))
    bias = next((m for m in extrinsic if m not in UTILITY), None)
    figures.append(utility_figure(data, plot_cells, bias, out_dir / "utility_vs_bias.png"))
    files += [f.path for f in figures]

    verdicts = [verdict(r) for _, r in effects.iterrows()]
    kinds = trials.get("intrinsic_kind", pd.Series(dtype=object)).dropna()
    kind = str(kinds.iloc[0]) if len(kinds) else None
    checks = [manipulation_verdict(m, effects, kind) for m in models if len(effects)]
    coverage = coverage_text(data)
    blocks: list[tuple[str, Any]] = [
        ("h1", f"Bias sweep report: {data.name}"),
        ("h2", "Verdict"),
        ("ul", verdicts or ["no finished trials: nothing to conclude yet"]),
        ("ul", checks) if checks else ("p", ""),
        ("h2", "Coverage"),
        ("p", coverage),
        ("h2", "Effects (per model and metric)"),
        ("table", effects[EFFECT_COLUMNS]),
        ("p", "All columns, with 95% CIs and the manipulation check: effects.csv."),
        ("h2", "Plots"),
        *[("img", f.path) for f in figures],
        ("h2", "Cells (mean [95% CI] over seeds)"),
        ("table", _cells_summary(cells.head(MAX_TABLE_ROWS), data.cell_keys, metrics)),
        ("p", f"{len(cells)} cells; all statistics in cells.csv, all trials in trials.csv."),
        ("h2", "Method"),
        ("p", METHOD_TEXT),
    ]
    (out_dir / "report.md").write_text(to_markdown(blocks))
    (out_dir / "report.html").write_text(to_html(blocks, f"Bias sweep report: {data.name}"))
    files += [out_dir / "report.md", out_dir / "report.html"]
    summary = {"sweep": data.name, "coverage": coverage, "verdicts": verdicts, "checks": checks}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    files.append(out_dir / "summary.json")

    if use_wandb:
        log_wandb(data, effects, figures, out_dir)
    return ReportSummary(out_dir, (data.done, data.total), verdicts, files, data.failed, figures)


def compare(
    sweep_paths: list[Path], out_dir: Path, metrics: list[str] | None = None
) -> ReportSummary:
    """Effect tables of several sweeps side by side: one column per sweep."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    long, names, coverages, verdicts = [], [], [], []
    done = total = failed = 0
    for path in sweep_paths:
        data = load_sweep(Path(path))
        ms = _metrics(metrics)
        data.trials = _ensure_columns(data.trials, ms)
        name = data.name
        while name in names:  # two sweeps of one name (different storage): keep both columns
            name += "'"
        names.append(name)
        with threadpool_limits(1):
            effects = effects_table(data.trials, ms, _models(data))
        verdicts += [f"{name}: {verdict(r)}" for _, r in effects.iterrows()]
        coverages.append(f"{name}: {coverage_text(data)}")
        done, total, failed = done + data.done, total + data.total, failed + data.failed
        numeric = [
            c for c in effects.columns if c not in ("model", "metric", "strength_factor", "note")
        ]
        melted = effects.melt(id_vars=["model", "metric"], value_vars=numeric, var_name="quantity")
        long.append(melted.assign(sweep=name))
    if long:
        table = (
            pd.concat(long)
            .pivot_table(
                index=["model", "metric", "quantity"],
                columns="sweep",
                values="value",
                aggfunc="first",
                dropna=False,
                sort=False,
            )  # fmt: skip
            .reindex(columns=names)
            .reset_index()
        )
        table.columns.name = None
    else:
        table = pd.DataFrame(columns=["model", "metric", "quantity"])
    table.to_csv(out_dir / "compare.csv", index=False)
    fig = compare_figure(table, names, out_dir / "compare_eta2.png")
    key_q = ("eta2_rate", "eta2_strength", "eta2_interaction", "slope_rate", "slope_strength")
    blocks: list[tuple[str, Any]] = [
        ("h1", f"Bias sweep comparison: {', '.join(names)}"),
        ("h2", "Verdict"),
        ("ul", verdicts or ["no finished trials in any sweep"]),
        ("h2", "Coverage"),
        ("ul", coverages),
        ("h2", "Effects side by side (column per sweep)"),
        ("table", table[table["quantity"].isin(key_q)] if len(table) else table),
        ("p", "All quantities, CIs included: compare.csv."),
        ("img", fig.path),
        ("h2", "Method"),
        ("p", METHOD_TEXT),
    ]
    (out_dir / "report.md").write_text(to_markdown(blocks))
    (out_dir / "report.html").write_text(to_html(blocks, "Bias sweep comparison"))
    files = [out_dir / "compare.csv", fig.path, out_dir / "report.md", out_dir / "report.html"]
    return ReportSummary(out_dir, (done, total), verdicts, files, failed, [fig])
