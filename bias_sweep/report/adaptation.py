"""The adaptation as a factor of the report (`train.adaptation`: full, frozen, lora).

An upstream intervention can matter under one adaptation and not another (a linear probe keeps
the encoder's bias, full fine-tuning can move it), so a sweep over adaptations is analysed per
adaptation: each (model, adaptation) is a unit of its own ("tiny-bert · frozen") in the shares,
verdicts and headline, which then name the adaptation they speak of. Whether the adaptation
modifies the intervention's effect is tested here, per model and metric: the intervention level
x adaptation interaction of a split-plot in which each intervened model (the whole plot, the unit
of replication of the intervention) is fine-tuned under every adaptation (the split).

The test works on each intervened model's mean per adaptation (over rates and seeds): with
intervened-model fixed effects, the F test of level x adaptation against the intervened model x
adaptation residual (statsmodels' `anova_lm` of the nested OLS fits), so it counts intervened
models, not fine-tuning runs, as the independent replicates.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pandas as pd

from bias_sweep.interventions import METHODS, persistence
from bias_sweep.report.statistics.verdict import ALPHA, is_number
from bias_sweep.report.text.numbers import ci_text, p_text, pct

ADAPTATION = "adaptation"
BASE_MODEL = "base_model"
SEP = " · "
UNIT = ("method", "strength", "intervention_seed")
COLUMNS = ["model", "metric", "adaptations", "F", "df_num", "df_den", "p_interaction", "note"]


def by_adaptation(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs with `model` naming the adaptation ("tiny-bert · frozen") where they hold more
    than one, and the model itself in `base_model`."""
    if ADAPTATION not in runs.columns or runs[ADAPTATION].nunique(dropna=True) < 2:
        return runs
    out = runs.copy()
    out[BASE_MODEL] = runs["model"]
    out["model"] = runs["model"].astype(str) + SEP + runs[ADAPTATION].astype(str)
    return out


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


def interaction_sentences(
    table: pd.DataFrame, effects: pd.DataFrame, primary_metric: str, alpha: float = ALPHA
) -> list[str]:
    """Per model, for the primary metric: whether the adaptation modifies the intervention's
    effect, with the intervention's share under each adaptation."""
    out = []
    for _, row in table[table["metric"] == primary_metric].iterrows():
        p = row["p_interaction"]
        if not is_number(p):
            out.append(f"{primary_metric} on {row['model']}: {row['note']}.")
            continue
        shares = []
        for _, e in effects[effects["metric"] == primary_metric].iterrows():
            if str(e["model"]).startswith(f"{row['model']}{SEP}"):
                under = str(e["model"]).split(SEP, 1)[1]
                share = e.get("share_intervention")
                shares.append(f"{pct(share)}{ci_text(e, 'share_intervention')} under {under}")
        test = f"F({row['df_num']}, {row['df_den']}) = {row['F']:.2f}, {p_text('p', p)}"
        said = "depends on" if p < alpha else "was not shown to depend on"
        out.append(
            f"On {row['model']}, the intervention's effect on {primary_metric} {said} the"
            f" adaptation (intervention x adaptation interaction: {test}); the intervention"
            f" explains {'; '.join(shares)} of the variance."
        )
    return out


def persistence_sentences(runs: pd.DataFrame) -> list[str]:
    """The sweep's methods grouped by whether fine-tuning can undo them."""
    methods = [m for m in dict.fromkeys(runs.get("method", pd.Series(dtype=object)).dropna())]
    groups: dict[str, list[str]] = {}
    for m in methods:
        if m in METHODS and not METHODS.get(m).pretrained:
            groups.setdefault(persistence(m), []).append(str(m))
    return [f"{kind}: {', '.join(sorted(names))}" for kind, names in sorted(groups.items())]
