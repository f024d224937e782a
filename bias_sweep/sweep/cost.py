"""What is left of a sweep, in time: `status` and `plan` estimate the remaining work from the
timings that finished trials recorded (`result.json`'s `timings`, `results.parquet`'s `time_*`).

A trial's own cost is its fine-tuning and evaluation (`total_s - intervention_s`); an intervened
model's build is the longest `intervention_s` among the trials that used it (the one that built
it; the others loaded it or waited for it). Both differ by model and by method (a CDA build
fine-tunes, `none` loads), so each pending trial and build is costed from the finished ones of its
own (model, method), falling back to all finished ones where its own have none yet. The spread
is the interquartile range of those timings, carried through as a low and a high estimate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from bias_sweep.sweep.plan import Plan

TOTAL, BUILD = "time_total_s", "time_intervention_s"
GROUP = ["model", "method"]
QUANTILES = (0.25, 0.5, 0.75)


@dataclass(frozen=True)
class Estimate:
    """Seconds of work left (low, median, high) and what they are made of."""

    trials_left: int
    builds_left: int
    work_s: tuple[float, float, float]
    finished: int
    cpu_per_trial: float
    gpu_per_trial: float
    fallbacks: list[str] = field(default_factory=list)  # (model, method) costed from all trials

    def hours(self, per_trial: float) -> tuple[float, ...]:
        return tuple(per_trial * w / 3600 for w in self.work_s)

    def line(self, slots: int) -> str:
        """'left: 36 trials, 3 builds: about 14 min on 2 slots [11, 18]; 0.47 CPU-hours ...'."""
        low, mid, high = (w / max(slots, 1) / 60 for w in self.work_s)
        cpu = self.hours(self.cpu_per_trial)
        text = (
            f"estimate: {self.trials_left} trials and {self.builds_left} intervened-model builds "
            f"left, about {_minutes(mid)} on {slots} slot{'s' * (slots != 1)} "
            f"[{_minutes(low)}, {_minutes(high)}]; {cpu[1]:.2g} CPU-hours [{cpu[0]:.2g}, "
            f"{cpu[2]:.2g}]"
        )
        if self.gpu_per_trial:
            gpu = self.hours(self.gpu_per_trial)
            text += f", {gpu[1]:.2g} GPU-hours [{gpu[0]:.2g}, {gpu[2]:.2g}]"
        text += f" (from {self.finished} finished trials"
        if self.fallbacks:
            text += f"; {', '.join(self.fallbacks)} costed from all of them"
        return text + ")"


def _minutes(m: float) -> str:
    return f"{m:.0f} min" if m >= 1 else f"{60 * m:.0f} s"


def _quantiles(values: pd.Series) -> np.ndarray:
    return np.quantile(values.to_numpy(float), QUANTILES)


def unit_costs(finished: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per (model, method): quantiles of a trial's own seconds and of a build's seconds."""
    rows = finished.dropna(subset=[TOTAL, BUILD])
    own = (rows[TOTAL] - rows[BUILD]).clip(lower=0).rename("s")
    trials = pd.concat([rows[GROUP], own], axis=1)
    builds = rows.groupby([*GROUP, "intervention_key"], sort=False)[BUILD].max().rename("s")
    builds = builds.reset_index()

    def table(frame: pd.DataFrame) -> pd.DataFrame:
        if frame.empty:
            return pd.DataFrame(columns=[*GROUP, *QUANTILES])
        out = frame.groupby(GROUP)["s"].quantile(list(QUANTILES)).unstack()
        return out.reset_index()

    return table(trials), table(builds)


def estimate(
    finished: pd.DataFrame,
    pending: pd.DataFrame,
    pending_builds: pd.DataFrame,
    cpu_per_trial: float,
    gpu_per_trial: float,
) -> Estimate | None:
    """The work left: `finished` holds the finished trials' model, method, intervention_key and
    time columns; `pending` one row per trial left and `pending_builds` one per intervened model
    to build (each with model and method). None before any trial has finished."""
    needed = {*GROUP, "intervention_key", TOTAL, BUILD}
    if finished.empty or not needed <= set(finished.columns):
        return None
    if finished[[TOTAL, BUILD]].dropna().empty:
        return None
    trials, builds = unit_costs(finished)
    everything = {
        "trial": _quantiles((finished[TOTAL] - finished[BUILD]).clip(lower=0).dropna()),
        "build": _quantiles(finished.groupby("intervention_key")[BUILD].max().dropna()),
    }
    work = np.zeros(3)
    fallbacks: set[str] = set()
    for kind, left, costs in (("trial", pending, trials), ("build", pending_builds, builds)):
        if left.empty:
            continue
        counts = left.groupby(GROUP).size().rename("n").reset_index()
        merged = counts.merge(costs, on=GROUP, how="left")
        for _, row in merged.iterrows():
            q = np.array([row[k] for k in QUANTILES], dtype=float)
            if not np.isfinite(q).all():
                q = everything[kind]
                fallbacks.add(f"{row['method']} on {row['model']}")
            work += row["n"] * q
    return Estimate(
        len(pending),
        len(pending_builds),
        tuple(float(w) for w in work),
        len(finished),
        cpu_per_trial,
        gpu_per_trial,
        sorted(fallbacks),
    )


def plan_estimate(plan: Plan) -> Estimate | None:
    """The estimate of a sweep's plan: its finished trials' timings (`results.parquet`), its
    trials not done and its intervened models not yet built."""
    if not plan.folder.table.is_file():
        return None
    try:
        finished = pd.read_parquet(plan.folder.table)
    except (OSError, ValueError):  # a damaged derived table: status says so elsewhere
        return None
    if "trial_key" in finished.columns:  # only this grid's trials (not set-aside ones)
        finished = finished[finished["trial_key"].isin(plan.done)]
    left = [
        (c["model"], c["method"], key)
        for c, key, done in zip(
            plan.columns, plan.point_interventions, (k in plan.done for k in plan.keys), strict=True
        )
        if not done
    ]
    pending = pd.DataFrame(left, columns=[*GROUP, "intervention_key"])
    built = plan.cached_interventions
    pending_builds = pending[~pending["intervention_key"].isin(built)].drop_duplicates(
        "intervention_key"
    )
    res = plan.conf.sweep.resources
    return estimate(finished, pending, pending_builds, float(res.cpu), float(res.gpu))


def local_slots(plan: Plan) -> int:
    """Trials at once on this machine: the sweep's cap, else its CPUs over a trial's."""
    cap = plan.conf.sweep.max_concurrent_trials
    per_trial = max(float(plan.conf.sweep.resources.cpu), 1.0)
    return int(cap) if cap else max(1, int((os.cpu_count() or 1) // per_trial))


def pilot_estimate(plan: Plan, timings: dict[str, float]) -> Estimate:
    """The estimate of a whole new grid from one pilot trial's timings (`plan --pilot`): every
    trial costed as the pilot's own time, every intervened model not cached as its build; one
    trial has no spread, so low = median = high."""
    one = pd.DataFrame(
        [(plan.columns[0]["model"], plan.columns[0]["method"], plan.point_interventions[0],
          timings["total_s"], timings["intervention_s"])],
        columns=[*GROUP, "intervention_key", TOTAL, BUILD],
    )  # fmt: skip
    left = pd.DataFrame(
        [(c["model"], c["method"], k) for c, k in zip(plan.columns, plan.point_interventions,
                                                      strict=True)],
        columns=[*GROUP, "intervention_key"],
    )  # fmt: skip
    builds = left[~left["intervention_key"].isin(plan.cached_interventions)]
    res = plan.conf.sweep.resources
    out = estimate(one, left, builds.drop_duplicates("intervention_key"), res.cpu, res.gpu)
    assert out is not None  # one finished row with its timings
    return out
