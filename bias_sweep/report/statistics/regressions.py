"""Per-method dose-response, the manipulation check and Steed's regression (statsmodels OLS).

The intervention is replicated by intervened models, so every inference about it uses one value
per intervened model (its mean over rates and seeds, or its intrinsic bias): slopes on strength
have df = n_models - 2, never the number of fine-tuning runs. Slopes are fitted within a
method, never pooled across methods (cda removes bias, skew adds it). Methods without a strength
(`random-init`) are contrasts against the pre-trained model (`none`), with the between-model
variance pooled over all levels of the model (OLS on C(level), `none` as reference).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm

from bias_sweep.interventions import identity_at_zero, reference_method, strengthless
from bias_sweep.metrics import INTRINSIC_AFTER
from bias_sweep.report.statistics.effects import OTHER, RATE_FORMS, metric_kind, rate_form
from bias_sweep.report.statistics.splitplot import intervened_model, intervention_level

CI = 0.95
MIN_CLUSTERS_ROBUST = 20  # fewer clusters than this: cluster-robust SEs are optimistic


def residuals_vary(fit: Any) -> bool:
    """Whether the residuals of a statsmodels OLS fit vary; where they do not (identical
    intervened models, a metric of a few discrete values), its standard errors are 0, not small,
    and an interval would claim certainty."""
    scale = max(1.0, float(np.abs(fit.model.endog).max()))
    return bool(fit.df_resid > 0 and np.abs(fit.resid).max() > 1e-12 * scale)


def model_means(runs: pd.DataFrame, column: str) -> pd.DataFrame:
    """One row per intervened model: method, strength, level and the mean over its rates
    (each rate weighted equally, each rate the mean over its seeds)."""
    d = runs.assign(_y=pd.to_numeric(runs[column], errors="coerce"), _c=intervened_model(runs))
    d = d.dropna(subset=["_y", "rate"])
    if d.empty:
        return pd.DataFrame(columns=["model", "method", "strength", "level", "y"])
    by_rate = d.groupby(["model", "_c", "rate"], sort=True)["_y"].mean()
    y = by_rate.groupby(level=["model", "_c"]).mean().rename("y")
    keys = d.groupby(["model", "_c"], sort=True)[["method", "strength"]].first()
    out = keys.join(y).reset_index().drop(columns="_c")
    out["strength"] = out["strength"].where(~out["method"].isin(strengthless()), 0.0).astype(float)
    out["level"] = intervention_level(out["method"], out["strength"])
    return out


def _through_pretrained(d: pd.DataFrame) -> dict:
    """Slope on strength of a method that is the pre-trained model at strength 0, from the
    intervened model's own measure: the strength-0 value is the pre-trained model's, a constant
    (the same deterministic model and measure, whatever the seed), so the slope is fitted through
    it, (y - y0) ~ strength without intercept, on the models at strength > 0 (df = n - 1). A
    pooled fit would give that one value the model-to-model variance of the others and make the
    interval wider than the design is (one control has no replicate to spread)."""
    y0 = float(d.loc[d["strength"] == 0, "y"].iloc[0])
    pos = d[d["strength"] > 0]
    row = {"effect": "slope on strength", "note": "through the pre-trained model (strength 0)"}
    fit = sm.OLS(pos["y"].to_numpy() - y0, pos["strength"].to_numpy()).fit()
    if not residuals_vary(fit):  # identical models: no replicates
        return {**row, "note": "zero variance"}
    lo, hi = fit.conf_int(1 - CI)[0]
    return {**row, "estimate": fit.params[0], "ci_low": lo, "ci_high": hi, "p": fit.pvalues[0],
            "df": fit.df_resid, "se": fit.bse[0]}  # fmt: skip


def _ols_rows(units: pd.DataFrame, fixed_control: bool = False) -> list[dict]:
    """Slope on strength per method, and contrasts of strengthless methods against the
    reference (the pre-trained model itself, `interventions.reference_method`).
    `fixed_control`: the values are the intervened models' own measure, so a method that is the
    pre-trained model at strength 0 has its slope fitted through that one value."""
    rows = []
    for method, d in units.groupby("method", sort=True):
        if method == reference_method():
            continue
        d = d.dropna(subset=["strength"])
        row = {"method": method, "n_models": len(d), "df": np.nan, "note": ""}
        at_zero = int((d["strength"] == 0).sum())
        if fixed_control and method in identity_at_zero() and at_zero == 1 and len(d) >= 3:
            row.update(_through_pretrained(d))
        elif method in strengthless():
            row.update(_contrast(units, method))
        elif d["strength"].nunique() < 2 and reference_method() in set(units["method"]):
            row.update(_contrast(units, d["level"].iloc[0]))  # one strength: against none
        elif d["strength"].nunique() < 2:
            row.update(effect="slope on strength", note="one strength")
        elif len(d) < 3:
            row.update(effect="slope on strength", note=f"too few intervened models (n={len(d)})")
        elif d["y"].std() == 0:
            row.update(effect="slope on strength", note="zero variance")
        else:
            fit = sm.OLS(d["y"].to_numpy(), sm.add_constant(d["strength"].to_numpy())).fit()
            lo, hi = fit.conf_int(1 - CI)[1]  # y ~ strength
            row.update(effect="slope on strength", estimate=fit.params[1], ci_low=lo)
            row.update(ci_high=hi, p=fit.pvalues[1], df=fit.df_resid, se=fit.bse[1])
        rows.append(row)
    return rows


def _contrast(units: pd.DataFrame, level: str) -> dict:
    """The difference of one level from the reference method (`none`), the between-model
    variance pooled over all levels of the model."""
    reference = reference_method()
    whole = level in strengthless()
    row = {"effect": f"difference from {reference}" if whole else f"{level} - {reference}"}
    if reference not in set(units["method"]):
        return {**row, "note": f"no `{reference}` run to compare with"}
    df_between = len(units) - units["level"].nunique()
    if df_between < 1 or units["y"].std() == 0:
        return {**row, "note": "no replicated level: model-to-model variance unknown"}
    # y ~ C(level, Treatment(reference)): the level means, the reference level dropped
    dummies = pd.get_dummies(units["level"], dtype=float).drop(columns=reference)
    fit = sm.OLS(units["y"].to_numpy(), sm.add_constant(dummies.to_numpy())).fit()
    i = 1 + list(dummies.columns).index(level)
    lo, hi = fit.conf_int(1 - CI)[i]
    return {**row, "estimate": fit.params[i], "ci_low": lo, "ci_high": hi,
            "p": fit.pvalues[i], "df": fit.df_resid, "se": fit.bse[i]}  # fmt: skip


def dose_response(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Per model, metric and method: slope of the metric on strength over intervened-model
    means (or the difference from the reference method), with its CI."""
    rows = []
    for metric in metrics:
        if metric not in runs.columns:
            continue
        for model, units in model_means(runs, metric).groupby("model", sort=True):
            rows += [{"model": model, "metric": metric, **r} for r in _ols_rows(units)]
    return _tidy(pd.DataFrame(rows), ["model", "metric", "method"])


def manipulation_check(
    runs: pd.DataFrame, column: str = INTRINSIC_AFTER
) -> tuple[pd.DataFrame, str]:
    """Did the intervention move intrinsic bias? The column (intrinsic bias after the
    intervention, or after fine-tuning) on strength per method, one value per intervened model
    (df = n_models - 2), with its 95% CI and standard error; `gate.py` decides."""
    if column not in runs.columns or runs[column].isna().all():
        return _tidy(pd.DataFrame(), ["model", "method"]), f"no {column}: check skipped"
    rows = []
    # The intervened model's own measure: where strength 0 is the pre-trained model itself, that
    # level is one value measured without replication noise (see `_through_pretrained`).
    fixed = column == INTRINSIC_AFTER
    for model, units in model_means(runs, column).groupby("model", sort=True):
        rows += [{"model": model, **r} for r in _ols_rows(units, fixed_control=fixed)]
    return _tidy(pd.DataFrame(rows), ["model", "method"]), ""


def _tidy(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    cols = [*keys, "effect", "estimate", "ci_low", "ci_high", "p", "se", "n_models", "df", "note"]
    for col in cols:
        if col not in table:
            table[col] = np.nan
    return table[cols].astype({"note": object}).fillna({"note": ""})


def _zscore(x: pd.Series) -> pd.Series | None:
    sd = x.std(ddof=1)
    return (
        None
        if not np.isfinite(sd) or sd <= 1e-12 * max(1.0, abs(x.mean()))
        else (x - x.mean()) / sd
    )


def _steed_fit(d: pd.DataFrame) -> list[dict]:
    """y ~ intrinsic + rate_x (+ C(model) when pooled): standardized coefficients with cluster-robust CIs
    (t with G - 1 df, statsmodels' small-sample correction) and partial R^2 of each term."""
    terms = d[["intrinsic", "rate_x"]].to_numpy()
    # Pooled: the variables are z-scored within model, so they have mean 0 in every model and
    # the model dummies (fixed effects) would not change the coefficients or the residuals: one
    # constant stands for them (the cluster correction's K then counts them as 1).
    controls = np.ones((len(d), 1))
    y, groups = d["y"].to_numpy(), pd.factorize(d["cluster"])[0]
    fit = sm.OLS(y, np.column_stack([terms, controls])).fit(
        cov_type="cluster", cov_kwds={"groups": groups}, use_t=True
    )
    ci = fit.conf_int(1 - CI)
    rows = []
    for i, name in enumerate((INTRINSIC_AFTER, "realised rate")):
        reduced = sm.OLS(y, np.column_stack([terms[:, 1 - i], controls])).fit()
        rows.append({
            "term": name, "std_coef": fit.params[i], "ci_low": ci[i, 0], "ci_high": ci[i, 1],
            "p": fit.pvalues[i], "partial_r2": (reduced.ssr - fit.ssr) / reduced.ssr,
        })  # fmt: skip
    return rows


def _steed_rows(d: pd.DataFrame, metric: str, form: str) -> list[dict]:
    """Steed's fit of one metric per model (z-scored within it), then pooled where every model
    could be fitted."""
    rows, parts, ok = [], [], True
    for model, dm in d.groupby("model", sort=True):
        z = {c: _zscore(dm[c]) for c in ("y", "intrinsic", "rate_x")}
        base = {"model": model, "metric": metric, "rate_form": form}
        base.update(n_runs=len(dm), n_clusters=dm["cluster"].nunique(), note="")
        if any(v is None for v in z.values()) or base["n_clusters"] < 3:
            rows.append({**base, "note": "zero variance or fewer than 3 intervened models"})
            ok = False
            continue
        dz = dm.assign(**z)
        parts.append(dz)
        if base["n_clusters"] < MIN_CLUSTERS_ROBUST:
            base["note"] = f"{base['n_clusters']} clusters: cluster-robust CIs are optimistic"
        rows += [{**base, **r} for r in _steed_fit(dz)]
    if len(parts) > 1 and ok:
        pooled = pd.concat(parts)
        base = {"model": "pooled (model fixed effects)", "metric": metric, "rate_form": form}
        base.update(n_runs=len(pooled), n_clusters=pooled["cluster"].nunique(), note="")
        rows += [{**base, **r} for r in _steed_fit(pooled)]
    return rows


def steed_regression(
    runs: pd.DataFrame, metrics: Sequence[str], kinds: Mapping[str, str] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Steed et al.: extrinsic ~ intrinsic bias after the intervention + measured co-occurrence
    (in the metric's rate form), per model and pooled with model fixed effects; z-scored within
    model; SEs clustered on the intervened model."""
    notes: list[str] = []
    cols = ["model", "metric", "rate_form", "term", "std_coef", "ci_low", "ci_high", "p",
            "partial_r2", "n_runs", "n_clusters", "note"]  # fmt: skip
    if INTRINSIC_AFTER not in runs.columns or runs[INTRINSIC_AFTER].isna().all():
        return pd.DataFrame(columns=cols), [f"no {INTRINSIC_AFTER}: Steed's regression skipped"]
    rate_col = "realised_rate"
    if rate_col not in runs.columns or runs[rate_col].isna().all():
        rate_col = "rate"
        notes.append("no realised_rate: Steed's regression uses the nominal rate")
    rows = []
    for metric in metrics:
        kind = metric_kind(metric, kinds)
        if metric not in runs.columns or metric.startswith("intrinsic") or kind == OTHER:
            continue
        d = runs.assign(
            y=pd.to_numeric(runs[metric], errors="coerce"),
            intrinsic=pd.to_numeric(runs[INTRINSIC_AFTER], errors="coerce"),
            rate_x=rate_form(kind, pd.to_numeric(runs[rate_col], errors="coerce")),
            cluster=runs["model"].astype(str) + "/" + intervened_model(runs),
        ).dropna(subset=["y", "intrinsic", "rate_x"])
        rows += _steed_rows(d, metric, RATE_FORMS[kind])
    table = pd.DataFrame(rows)
    for col in cols:
        if col not in table:
            table[col] = np.nan
    return table[cols], notes
