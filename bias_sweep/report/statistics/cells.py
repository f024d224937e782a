"""Cell statistics for tables and plots: means and 95% t-intervals over replicates.

* `cell_table`: per cell of the given keys (cells.csv: one intervened model at one rate), mean,
  sample std (ddof=1), n and a 95% t-interval (scipy.stats.t) of each metric over the fine-tuning
  seeds -- a plain pandas groupby of trials.csv.
* `level_cells`: what the heat maps and lines show, per (model, method, strength, rate): the mean
  over intervened models of their means over seeds, and a t-interval over the intervened models
  where a level has two or more of them (the intervened model is the intervention's unit of
  replication), else over the seeds of its one model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from bias_sweep.report.statistics.splitplot import intervened_model

LEVEL_KEYS = ("model", "method", "strength", "rate")  # a heat map cell
STATS = ("mean", "std", "n", "ci_low", "ci_high")


def _empty(keys: list[str], metrics: list[str]) -> pd.DataFrame:
    cols = [*keys, "n_trials"] + [f"{m}_{s}" for m in metrics for s in STATS]
    return pd.DataFrame(columns=cols)


def _summarise(grouped: pd.core.groupby.DataFrameGroupBy, metrics: list[str]) -> pd.DataFrame:
    mean, std, n = grouped[metrics].mean(), grouped[metrics].std(), grouped[metrics].count()
    with np.errstate(divide="ignore", invalid="ignore"):
        # t.ppf of df <= 0 is NaN: no interval from fewer than two replicates.
        half = stats.t.ppf(0.975, n - 1) * std / np.sqrt(n)
    out = {}
    for m in metrics:
        out.update({f"{m}_mean": mean[m], f"{m}_std": std[m], f"{m}_n": n[m]})
        out.update({f"{m}_ci_low": mean[m] - half[m], f"{m}_ci_high": mean[m] + half[m]})
    return pd.DataFrame(out)


def cell_table(trials: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean, std (ddof=1), n and 95% t-interval of each metric over seeds, per cell."""
    if trials.empty:
        return _empty(keys, metrics)
    grouped = trials.groupby(keys, sort=True, dropna=False)
    out = _summarise(grouped, metrics)
    out.insert(0, "n_trials", grouped.size())
    return out.reset_index()


def level_cells(trials: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Per (model, method, strength, rate): mean of the intervened models' means, with a
    t-interval over intervened models (over seeds where a level has one intervened model)."""
    keys = list(LEVEL_KEYS)
    if trials.empty:
        return _empty(keys, metrics)
    d = trials.assign(_c=intervened_model(trials))
    per_model = d.groupby([*keys, "_c"], sort=True, dropna=False)[metrics].mean().reset_index()
    over_models = _summarise(per_model.groupby(keys, sort=True, dropna=False), metrics)
    over_seeds = _summarise(d.groupby(keys, sort=True, dropna=False), metrics)
    n_models = per_model.groupby(keys, sort=True, dropna=False)["_c"].nunique()
    replicated = np.repeat((n_models >= 2).to_numpy()[:, None], over_models.shape[1], axis=1)
    out = over_models.where(replicated, over_seeds)
    out.insert(0, "n_intervened_models", n_models)
    out.insert(0, "n_trials", d.groupby(keys, sort=True, dropna=False).size())
    return out.reset_index()
