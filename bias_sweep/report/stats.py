"""Statistics of a report, per model and metric, over the finished trials (statsmodels/scipy).

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
(cells.csv keeps them apart).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm

from bias_sweep.metrics.names import INTRINSIC

TINY = 1e-12
ALPHA = 0.05  # ANOVA F-test level at which a factor counts as having a detectable effect


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
