"""Does the adaptation modify the intervention's effect? Per model and metric of a sweep over
adaptations, the intervention level x adaptation interaction of a split-plot in which each
intervened model (the whole plot, the unit of replication of the intervention) is fine-tuned under
every adaptation (the split).

The test works on each intervened model's mean per adaptation (over rates and seeds): with
intervened-model fixed effects, the F test of level x adaptation against the intervened model x
adaptation residual (statsmodels' `anova_lm` of the nested OLS fits), so it counts intervened
models, not fine-tuning runs, as the independent replicates.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pandas as pd

from bias_sweep.report.adaptation import ADAPTATION, BASE_MODEL

UNIT = ("method", "strength", "intervention_seed")
COLUMNS = ["model", "metric", "adaptations", "F", "df_num", "df_den", "p_interaction", "note"]


def interaction_table(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per (model, metric) of a sweep over adaptations: the F test of intervention level
    x adaptation (empty when the runs have one adaptation)."""
    if BASE_MODEL not in runs.columns:
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    for model, d in runs.groupby(BASE_MODEL, sort=True):
        for metric in metrics:
            row = _interaction(d, metric) if metric in d.columns else {"note": "no such column"}
            rows.append({"model": model, "metric": metric, **row})
    return pd.DataFrame(rows, columns=COLUMNS)


def _interaction(d: pd.DataFrame, metric: str) -> dict:
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm
    from statsmodels.tools.sm_exceptions import SingularMatrixWarning

    keys = [c for c in UNIT if c in d.columns]
    means = d.groupby([*keys, ADAPTATION], dropna=False)[metric].mean().dropna().reset_index()
    means["unit"] = means[keys].astype(str).agg("|".join, axis=1)
    means["level"] = means[["method", "strength"]].astype(str).agg("|".join, axis=1)
    means = means.rename(columns={metric: "y"})
    adaptations = ", ".join(sorted(means[ADAPTATION].astype(str).unique()))
    complete = means.groupby("unit")[ADAPTATION].nunique() == means[ADAPTATION].nunique()
    means = means[means["unit"].isin(complete.index[complete])]  # every adaptation of a unit
    if means["level"].nunique() < 2 or means[ADAPTATION].nunique() < 2:
        return {"adaptations": adaptations, "note": "fewer than two levels or adaptations"}
    # The intervened models' effects absorb the level's: the design is rank-deficient by
    # construction; the fits (pinv) and the test's degrees of freedom use its rank.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularMatrixWarning)
        reduced = smf.ols("y ~ C(unit) + C(adaptation)", means).fit()
        full = smf.ols("y ~ C(unit) + C(adaptation) + C(level):C(adaptation)", means).fit()
    if full.df_resid < 1:
        return {"adaptations": adaptations, "note": "one intervened model per level: no test"}
    test = anova_lm(reduced, full).iloc[1]
    return {
        "adaptations": adaptations,
        "F": float(test["F"]),
        "df_num": int(test["df_diff"]),
        "df_den": int(full.df_resid),
        "p_interaction": float(test["Pr(>F)"]),
        "note": "",
    }
