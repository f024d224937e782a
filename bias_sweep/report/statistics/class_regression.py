"""Steed et al.'s regression at the class level: is a class's gap explained by its co-occurrence
in the fine-tuning data or by the intervened model's intrinsic association of that class with a
group?

    gap(run, class) ~ cooccurrence(run, class) + intrinsic(intervened model, class)

on a long table (one row per fine-tuning run and class: `per_class.parquet`'s shape), all three
standardised (z-scores over the rows), so the coefficients compare directly. Neither a run nor a
class is an independent replicate of the intervention: the CIs come from a cluster bootstrap
that resamples intervened models, each with all its runs and classes. Which explains more is
decided like the split plot's variance shares: a factor is named when its coefficient's CI
excludes 0 and the CI of the difference of the two absolute coefficients excludes 0 in its
favour; otherwise "inconclusive" (or "neither" when both CIs cover 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

CI = 0.95
FACTORS = ("cooccurrence", "intrinsic")


@dataclass(frozen=True)
class ClassRegression:
    """Standardised coefficients with cluster-bootstrap CIs, and the verdict."""

    coef: dict[str, float]  # factor -> standardised coefficient
    ci: dict[str, tuple[float, float]]  # factor -> CI over intervened models
    difference: float  # |coef cooccurrence| - |coef intrinsic|
    difference_ci: tuple[float, float]
    verdict: str  # cooccurrence | intrinsic | inconclusive | neither
    n_models: int
    n_rows: int

    def sentence(self, metric: str) -> str:
        """The report's one sentence on it."""
        parts = ", ".join(
            f"{f} {self.coef[f]:+.2f} [{self.ci[f][0]:+.2f}, {self.ci[f][1]:+.2f}]" for f in FACTORS
        )
        what = {
            "cooccurrence": "a class's co-occurrence explains more of its gap than intrinsic bias",
            "intrinsic": "a class's intrinsic bias explains more of its gap than its co-occurrence",
            "inconclusive": "the data cannot tell which of the two explains more",
            "neither": "neither explains a class's gap",
        }[self.verdict]
        return (
            f"Class level ({metric}): {what}; standardised coefficients {parts}; 95% CIs over "
            f"{self.n_models} intervened models ({self.n_rows} run x class rows)."
        )


def _standardise(rows: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = rows.copy()
    for c in columns:
        sd = out[c].std()
        out[c] = (out[c] - out[c].mean()) / (sd if sd > 0 else 1.0)
    return out


def _fit(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    # The bootstrap refits thousands of times: plain least squares here, statsmodels for the
    # point estimate (the same algebra, `class_regression` checks they agree).
    design = np.column_stack([np.ones(len(y)), x])
    return np.linalg.lstsq(design, y, rcond=None)[0][1:]


def class_regression(
    rows: pd.DataFrame,
    *,
    gap: str,
    cooccurrence: str,
    intrinsic: str,
    cluster: str,
    n_boot: int = 400,
    seed: int = 0,
) -> ClassRegression:
    """Fit the class-level regression on `rows` (one per run and class; `cluster` names each
    row's intervened model) and bootstrap its CIs over intervened models."""
    data = rows[[gap, cooccurrence, intrinsic, cluster]].dropna()
    data = data.rename(columns={gap: "gap", cooccurrence: FACTORS[0], intrinsic: FACTORS[1]})
    z = _standardise(data, ["gap", *FACTORS])
    fitted = smf.ols("gap ~ cooccurrence + intrinsic", data=z).fit().params
    coef = {f: float(fitted[f]) for f in FACTORS}
    boots = _bootstrap(data, cluster, n_boot, np.random.default_rng(seed))
    ci = {f: _interval(boots[:, i]) for i, f in enumerate(FACTORS)}
    diffs = np.abs(boots[:, 0]) - np.abs(boots[:, 1])
    diff_ci = _interval(diffs)
    return ClassRegression(
        coef=coef,
        ci=ci,
        difference=abs(coef[FACTORS[0]]) - abs(coef[FACTORS[1]]),
        difference_ci=diff_ci,
        verdict=_verdict(ci, diff_ci),
        n_models=int(data[cluster].nunique()),
        n_rows=len(data),
    )


def _bootstrap(
    data: pd.DataFrame, cluster: str, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Coefficients refitted on samples of whole intervened models (with replacement),
    standardised anew in each sample."""
    groups = [g.index.to_numpy() for _, g in data.groupby(cluster, sort=True)]
    values = data[["gap", *FACTORS]].to_numpy(dtype=float)
    out = np.empty((n_boot, len(FACTORS)))
    for b in range(n_boot):
        take = np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))])
        sample = values[data.index.get_indexer(take)]
        sd = sample.std(axis=0, ddof=1)
        sample = (sample - sample.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
        out[b] = _fit(sample[:, 0], sample[:, 1:])
    return out


def _interval(values: np.ndarray) -> tuple[float, float]:
    low, high = np.nanquantile(values, [(1 - CI) / 2, (1 + CI) / 2])
    return float(low), float(high)


def _excludes_zero(ci: tuple[float, float]) -> bool:
    return ci[0] > 0 or ci[1] < 0


def _verdict(ci: dict[str, tuple[float, float]], diff_ci: tuple[float, float]) -> str:
    if not any(_excludes_zero(ci[f]) for f in FACTORS):
        return "neither"
    if diff_ci[0] > 0 and _excludes_zero(ci[FACTORS[0]]):
        return FACTORS[0]
    if diff_ci[1] < 0 and _excludes_zero(ci[FACTORS[1]]):
        return FACTORS[1]
    return "inconclusive"
