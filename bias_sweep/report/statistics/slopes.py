"""The rate's slope at each intervention level, and how much an intervention changes it.

A debiasing intervention can act on amplification: how steeply the fine-tuned model's bias
follows the co-occurrence rate. On a signed metric that effect has opposite signs at r < 0.5 and
r > 0.5, so the intervention's main effect averages to about 0 and the variance shares put it in
the rate x intervention interaction; this module measures it as what it is, a change of slope.

Per intervened model c (its mean over seeds at each rate): b_c, the OLS slope of the metric on
the rate form x over its rates (r for signed metrics, |r - 0.5| for unsigned ones; utility
metrics have no slope, `effects.rate_form`). The intervened model is the unit of replication, so
every interval is over intervened models. Per comparison (a method with `none`, as in
`effects.comparisons`):
  * `slope at level`: the mean of b_c over a level's intervened models, with a t-interval from
    the between-model variance pooled over the comparison's levels (OLS of b on the level
    dummies, df = C - L);
  * `change per unit strength`: OLS b ~ strength over the method's own intervened models
    (df = n - 2; never pooled across methods); for a strengthless method, or a method run at one
    strength beside `none`, the difference from `none` (pooled variance as above);
  * the change at the largest strength s relative to the slope at strength 0 (the fitted line's
    value at 0, or `none`): b1 * s / b0, with Fieller's interval for a ratio of two normal
    estimates (exact under the model; written by hand: no library here has it). Where b0 is not
    distinguishable from 0 the interval is unbounded: NaN, and a note says so.
Tidy frame in (runs), tidy frame out (one row per level and one per change); no words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats as sps

from bias_sweep.interventions import reference_method, strengthless
from bias_sweep.report.statistics.effects import (
    CI_LEVEL,
    OTHER,
    RATE_FORMS,
    comparisons,
    metric_kind,
    rate_form,
)
from bias_sweep.report.statistics.regressions import residuals_vary
from bias_sweep.report.statistics.splitplot import intervened_model, intervention_level

COLUMNS = [
    "model", "metric", "method", "rate_form", "quantity", "level", "strength", "estimate",
    "ci_low", "ci_high", "p", "n_models", "df", "at_strength", "slope_from", "slope_to",
    "relative", "relative_ci_low", "relative_ci_high", "note",
]  # fmt: skip
LEVEL, CHANGE = "slope at level", "change per unit strength"
DIFFERENCE = f"difference from {reference_method()}"


def model_slopes(runs: pd.DataFrame, metric: str, kind: str) -> pd.DataFrame:
    """One row per intervened model: model, method, strength, level and its rate slope b."""
    d = runs.assign(_y=pd.to_numeric(runs[metric], errors="coerce"), _c=intervened_model(runs))
    d = d.dropna(subset=["_y", "rate"])
    cells = d.groupby(["model", "_c", "rate"], sort=True)["_y"].mean().reset_index()
    cells["_x"] = rate_form(kind, cells["rate"].to_numpy(float))
    by_model = cells.groupby(["model", "_c"], sort=True)
    dx = cells["_x"] - by_model["_x"].transform("mean")
    dy = cells["_y"] - by_model["_y"].transform("mean")
    sums = pd.DataFrame({"sxy": dx * dy, "sxx": dx * dx}).groupby([cells["model"], cells["_c"]])
    sums = sums.sum()
    slope = (sums["sxy"] / sums["sxx"].where(sums["sxx"] > 0)).rename("b").dropna()
    keys = d.groupby(["model", "_c"], sort=True)[["method", "strength"]].first()
    out = keys.join(slope, how="inner").reset_index().drop(columns="_c")
    out["strength"] = out["strength"].where(~out["method"].isin(strengthless()), 0.0).astype(float)
    out["level"] = intervention_level(out["method"], out["strength"])
    return out


def fieller(
    num: float, den: float, v_num: float, v_den: float, cov: float, t: float
) -> tuple[float, float]:
    """Fieller's interval for num / den: {q : (num - q den)^2 <= t^2 Var(num - q den)};
    (NaN, NaN) when it is unbounded (den not distinguishable from 0 at this t)."""
    a = den * den - t * t * v_den
    if not a > 0:
        return np.nan, np.nan
    b = num * den - t * t * cov
    root = np.sqrt(max(b * b - a * (num * num - t * t * v_num), 0.0))
    return (b - root) / a, (b + root) / a


# The slopes of the intervened models lie exactly on the fit (`regressions.residuals_vary`).
NO_SPREAD = "the intervened models' slopes do not vary about the fit: no interval"


class _Units:
    """One comparison's intervened models as arrays: slope b, level, strength, method."""

    def __init__(self, units: pd.DataFrame) -> None:
        self.b = units["b"].to_numpy(float)
        self.level = units["level"].to_numpy(object)
        self.strength = units["strength"].to_numpy(float)
        self.method = units["method"].to_numpy(object)
        self.levels, codes = np.unique(self.level, return_inverse=True)
        self.levels = list(self.levels)
        # OLS of the slopes on level dummies (no constant): the level means, pooled variance
        dummies = np.eye(len(self.levels))[codes]
        self.fit = None
        self.why = "one intervened model per level: no interval"
        if len(self.b) > len(self.levels):
            fit = sm.OLS(self.b, dummies).fit()
            if residuals_vary(fit):
                self.fit = fit
            else:
                self.why = NO_SPREAD

    def at(self, level: str) -> np.ndarray:
        return self.level == level


def _level_rows(u: _Units) -> list[dict]:
    rows = []
    for i, level in enumerate(u.levels):
        at = u.at(level)
        row = {"quantity": LEVEL, "level": level, "strength": u.strength[at][0],
               "estimate": u.b[at].mean(), "n_models": int(at.sum()), "note": ""}  # fmt: skip
        if u.fit is None:
            row["note"] = u.why
        else:
            lo, hi = u.fit.conf_int(1 - CI_LEVEL)[i]
            row.update(ci_low=lo, ci_high=hi, p=u.fit.pvalues[i], df=u.fit.df_resid)
        rows.append(row)
    return rows


def _ratio(row: dict, num: float, den: float, cov: np.ndarray, df: float) -> dict:
    """The relative change num / den with Fieller's interval; cov is Cov(num, den)."""
    t = sps.t.ppf((1 + CI_LEVEL) / 2, df)
    lo, hi = fieller(num, den, cov[0, 0], cov[1, 1], cov[0, 1], t)
    row.update(slope_from=den, slope_to=den + num, relative=num / den if den else np.nan)
    row.update(relative_ci_low=lo, relative_ci_high=hi)
    if not np.isfinite(lo):
        row["note"] = "relative change unbounded: the slope at strength 0 is not told from 0"
    return row


def _difference_row(u: _Units, level: str) -> dict:
    """A level's slope minus the reference's (`none`), and relative to the reference's."""
    reference = reference_method()
    strength = u.strength[u.at(level)][0]
    row = {"quantity": DIFFERENCE, "level": level, "strength": strength,
           "at_strength": strength, "n_models": len(u.b), "note": ""}  # fmt: skip
    if reference not in u.levels:
        return {**row, "note": f"no `{reference}` run to compare with"}
    if u.fit is None:
        return {**row, "note": u.why}
    c = np.zeros(len(u.levels))
    c[u.levels.index(level)], c[u.levels.index(reference)] = 1.0, -1.0
    test = u.fit.t_test(c)
    lo, hi = test.conf_int(alpha=1 - CI_LEVEL)[0]
    est = float(np.squeeze(test.effect))
    row.update(estimate=est, ci_low=lo, ci_high=hi, p=float(test.pvalue), df=u.fit.df_resid)
    e_ref = np.eye(len(u.levels))[u.levels.index(reference)]
    both = np.array([c, e_ref])
    cov = both @ u.fit.cov_params() @ both.T
    return _ratio(row, est, float(u.fit.params @ e_ref), cov, u.fit.df_resid)


def _change_row(u: _Units, method: str) -> dict:
    """The change of the slope per unit strength within the method (or against `none`)."""
    own = u.method == method
    strengths = np.unique(u.strength[own])
    if method in strengthless() or (len(strengths) < 2 and reference_method() in u.levels):
        return _difference_row(u, u.level[own][0])
    row = {"quantity": CHANGE, "n_models": int(own.sum()), "note": ""}
    if len(strengths) < 2:
        return {**row, "note": "one strength"}
    if own.sum() < 3:
        return {**row, "note": f"too few intervened models (n={int(own.sum())})"}
    s_max = float(strengths.max())
    change = sm.OLS(u.b[own], sm.add_constant(u.strength[own])).fit()
    if not residuals_vary(change):
        return {**row, "note": NO_SPREAD}
    lo, hi = change.conf_int(1 - CI_LEVEL)[1]
    row.update(estimate=change.params[1], ci_low=lo, ci_high=hi, p=change.pvalues[1])
    row.update(df=change.df_resid, at_strength=s_max)
    # (b1 * s_max, b0): the change at the largest strength, the slope at strength 0
    jac = np.array([[0.0, s_max], [1.0, 0.0]])
    cov = jac @ change.cov_params() @ jac.T
    return _ratio(row, change.params[1] * s_max, change.params[0], cov, change.df_resid)


def slope_table(
    runs: pd.DataFrame, metrics: Sequence[str], kinds: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Per model, metric (with a rate form) and method: the rate's slope at each level and its
    change with the intervention, with 95% CIs over intervened models (module docstring)."""
    rows = []
    for metric in metrics:
        kind = metric_kind(metric, kinds)
        if metric not in runs.columns or kind == OTHER or metric.startswith("intrinsic"):
            continue
        slopes = model_slopes(runs, metric, kind)
        for model, d in slopes.groupby("model", sort=True):
            base = {"model": model, "metric": metric, "rate_form": RATE_FORMS[kind]}
            for method, units in comparisons(d):
                u = _Units(units)
                found = _level_rows(u)
                if method != reference_method():
                    found.append(_change_row(u, method))
                rows += [{**base, "method": method, **r} for r in found]
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.astype({"note": object}).fillna({"note": ""})


def slope_changes(slopes: pd.DataFrame | None) -> dict[tuple[str, str, str], dict]:
    """The change rows (per unit strength or from none) by (model, metric, method), as dicts."""
    if slopes is None or slopes.empty:
        return {}
    changes = slopes[slopes["quantity"] != LEVEL]
    return {(str(r["model"]), str(r["metric"]), str(r["method"])): r
            for r in changes.to_dict("records")}  # fmt: skip
