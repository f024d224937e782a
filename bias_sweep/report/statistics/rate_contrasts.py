"""Two read-outs of the rate's effect that Steed et al. and the seed paper ask for:

    pre-training contrast  the rate's slope on a metric without pre-training (`random-init`)
                           and with it (every other intervened model), and the CI of their
                           difference: "re-balancing works without pre-training but not after"
    local slope            the slope between the two grid rates nearest 0.5, with its CI: do
                           "even slight changes to co-occurrence rates" move the metric?

Both count intervened models, not runs: each intervened model gives one slope (fitted to its
mean per rate, over its seeds), and the CIs are t intervals over those slopes (df = models - 1;
Welch's for the difference of the two arms). `rate` is whichever column is the downstream factor
(`rate`, or `skew_scale` for a multi-class sweep).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats as sps

from bias_sweep.interventions import untrained
from bias_sweep.report.statistics.effects import rate_form
from bias_sweep.report.statistics.splitplot import intervened_model

CI = 0.95


@dataclass(frozen=True)
class Slope:
    estimate: float
    ci: tuple[float, float]
    n_models: int


def _cell_means(runs: pd.DataFrame, metric: str, rate: str, kind: str) -> pd.DataFrame:
    """One row per (intervened model, rate): x (the rate's form for the metric's kind), y."""
    d = runs.assign(_m=intervened_model(runs), _y=pd.to_numeric(runs[metric], errors="coerce"))
    d = d.dropna(subset=["_y", rate])
    means = d.groupby(["_m", rate], sort=True)["_y"].mean().rename("y").reset_index()
    means["x"] = rate_form(kind, means[rate].to_numpy())
    return means.rename(columns={"_m": "model"})


def _model_slopes(cells: pd.DataFrame) -> np.ndarray:
    """One slope per intervened model (its rates' means against their x)."""
    slopes = [
        np.polyfit(g["x"].to_numpy(float), g["y"].to_numpy(float), 1)[0]
        for _, g in cells.groupby("model", sort=True)
        if g["x"].nunique() >= 2
    ]
    return np.asarray(slopes, dtype=float)


def _t_slope(slopes: np.ndarray) -> Slope:
    n = len(slopes)
    if n < 2:
        return Slope(float(np.mean(slopes)) if n else float("nan"), (np.nan, np.nan), n)
    half = sps.t.ppf((1 + CI) / 2, n - 1) * slopes.std(ddof=1) / np.sqrt(n)
    mean = float(slopes.mean())
    return Slope(mean, (mean - half, mean + half), n)


def _welch(a: np.ndarray, b: np.ndarray) -> tuple[float, tuple[float, float]]:
    """The difference of two arms' mean slopes and its Welch t interval."""
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    diff = float(a.mean() - b.mean())
    half = sps.t.ppf((1 + CI) / 2, df) * np.sqrt(va + vb)
    return diff, (diff - half, diff + half)


@dataclass(frozen=True)
class PretrainingContrast:
    without: Slope  # random-init
    with_: Slope  # every other intervened model
    difference: float  # without - with
    difference_ci: tuple[float, float]

    def sentence(self, metric: str, rate: str) -> str:
        w, p = self.without, self.with_
        lo, hi = self.difference_ci
        return (
            f"Pre-training: {rate} moves {metric} by {w.estimate:+.3f} [{w.ci[0]:+.3f}, "
            f"{w.ci[1]:+.3f}] per unit without pre-training ({w.n_models} {'/'.join(untrained())} "
            "models) "
            f"and by {p.estimate:+.3f} [{p.ci[0]:+.3f}, {p.ci[1]:+.3f}] after it ({p.n_models} "
            f"models); difference {self.difference:+.3f} [{lo:+.3f}, {hi:+.3f}] (95% CIs)."
        )


def pretraining_contrast(
    runs: pd.DataFrame, metric: str, *, kind: str, rate: str = "rate"
) -> PretrainingContrast | None:
    """The rate's slope with and without pre-training; None without random-init runs, without
    other runs, or with fewer than two intervened models in an arm."""
    is_random = runs["method"].isin(untrained())
    if not is_random.any() or is_random.all():
        return None
    arms = [
        _model_slopes(_cell_means(runs[m], metric, rate, kind)) for m in (is_random, ~is_random)
    ]
    if min(len(a) for a in arms) < 2:
        return None
    diff, diff_ci = _welch(*arms)
    return PretrainingContrast(_t_slope(arms[0]), _t_slope(arms[1]), diff, diff_ci)


def local_slope(
    runs: pd.DataFrame, metric: str, *, rate: str = "rate"
) -> tuple[tuple[float, float], Slope] | None:
    """The slope between the grid rates nearest 0.5 on either side (0.5 itself left out: a
    central difference; the two nearest where one side has none), a difference quotient of the
    rate itself whatever the metric's kind, with its CI; None with fewer than two rates."""
    rates = sorted(float(r) for r in pd.to_numeric(runs[rate], errors="coerce").dropna().unique())
    below, above = [r for r in rates if r < 0.5], [r for r in rates if r > 0.5]
    if below and above:
        pair = (below[-1], above[0])
    elif len(rates) >= 2:
        pair = tuple(sorted(sorted(rates, key=lambda r: abs(r - 0.5))[:2]))
    else:
        return None
    cells = _cell_means(runs[runs[rate].isin(pair)], metric, rate, kind="signed")
    return pair, _t_slope(_model_slopes(cells))
