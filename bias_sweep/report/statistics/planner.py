"""The next round of a sweep that grows until its verdict is decided (`bias-sweep next`,
`run --until-decided`): a function of a run table, so that it is tested on simulated tables
and works on runs from elsewhere.

STOPPING RULE (on width; alpha is not spent across rounds). A comparison of the primary metric
is decided when the 95% CI of its share difference (the quantity the verdict reads) is at most
`target_width` wide, its verdict is not `inconclusive` and its manipulation check is not
waiting for replicates (`cannot tell`). The rule looks at the interval's WIDTH, not at whether
a test rejects: the width depends on the noise and the design, not on the sign of the effect,
so stopping on it does not pick the rounds where a null effect happened to look real. Only an
`inconclusive` verdict (rare under the null: a test rejects but the CI straddles 0) gets
another look. Measured in tests/test_planner.py: false claims under the null stay below the
issue's 7%. The budget (`budget_trials`, all runs counted) caps the loop; a round that does not
fit is shrunk to the runs left, and the answer is then `budget spent: <verdict>`.

ALLOCATION. The CI is driven by two strata: the intervened models (between-model variance,
the intervention's test) and the fine-tuning runs within them. For a level mean,
Var = (A + B/m) / n with A = s_u^2 + s_v^2/R (an intervened model's own offset and its rate
profile, over its R subplot cells), B = s_e^2 / R (a seed's), n intervened models and m seeds.
A round costs n' (c_build + R m' c_trial); the product of variance and cost is least at the
two-stage sampling optimum m* = sqrt(B c_build / (A R c_trial)) (Cochran, Sampling Techniques,
ch. 10). Each round grows the total toward the size the width asks for ((width / target)^2,
at least x1.5 and at most x4), with m moved toward m* and n taking the rest: intervened models
where between-model variance dominates, seeds where within-model variance does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bias_sweep.interventions import identity_at_zero, unseeded
from bias_sweep.report.statistics.analysis import Question, gated_effects
from bias_sweep.report.statistics.effects import N_BOOT
from bias_sweep.report.statistics.gate import CANNOT_TELL

TARGET_WIDTH = 0.5  # of the share difference's 95% CI, in share units (50 points)
GROWTH = (1.3, 2.0)  # the least and the most a round multiplies the runs by
GROWTH_POWER = 1.0  # growth = (width / target) ** power, within GROWTH
UNDECIDED = "inconclusive"  # a precise CI that still straddles 0 (or a test that disagrees)
AXES = {"intervention_seed": "intervention.seed", "seed": "seed"}  # table column -> grid axis


@dataclass
class Step:
    """What the planner says about a run table: `decided`, `budget spent` or `next` (with the
    values to add per grid axis)."""

    status: str
    verdicts: dict[str, str]  # 'model/comparison' -> verdict of the primary metric
    widths: dict[str, float]
    runs: int
    add: dict[str, list[int]] = field(default_factory=dict)
    runs_added: int = 0

    def verdict_text(self) -> str:
        if len(self.verdicts) == 1:
            return next(iter(self.verdicts.values()))
        return "; ".join(f"{k}: {v}" for k, v in self.verdicts.items())

    def text(self) -> str:
        """One line (`decided: rate`), or the next round as a YAML mapping."""
        if self.status != "next":
            return f"{self.status}: {self.verdict_text()}"
        return "\n".join(f"{axis}: {values}" for axis, values in self.add.items())


def _replicated(runs: pd.DataFrame) -> pd.Series:
    """Whether each run's level has several intervened models (seeded, and not the pre-trained
    model at strength 0)."""
    method = runs["method"].astype(str)
    single = method.isin(unseeded()) | (method.isin(identity_at_zero()) & (runs["strength"] == 0))
    return ~single


@dataclass(frozen=True)
class _Design:
    """A table's grid: its seed values, its levels with several intervened models (one per
    intervention seed) and with one, and its runs per intervened model and seed."""

    iseeds: list[int]
    seeds: list[int]
    replicated: int
    single: int
    per_model_seed: int

    def runs_at(self, n_iseeds: int, n_seeds: int) -> int:
        return (self.replicated * n_iseeds + self.single) * n_seeds * self.per_model_seed


def _design(runs: pd.DataFrame) -> _Design:
    """The table's grid, derived once (the round's search asks it for many sizes)."""
    iseeds = sorted(int(s) for s in runs["intervention_seed"].dropna().unique())
    seeds = sorted(int(s) for s in runs["seed"].dropna().unique())
    levels = (
        runs[["model", "method", "strength"]].astype(str).assign(rep=_replicated(runs).to_numpy())
    )
    levels = levels.drop_duplicates(["model", "method", "strength"])
    replicated, single = int(levels["rep"].sum()), int((~levels["rep"]).sum())
    units = replicated * len(iseeds) + single
    per_model_seed = max(1, round(len(runs) / max(1, len(seeds)) / max(1, units)))
    return _Design(iseeds, seeds, replicated, single, per_model_seed)


def runs_at(runs: pd.DataFrame, n_iseeds: int, n_seeds: int) -> int:
    """How many runs the table's grid has with n_iseeds intervention seeds and n_seeds seeds."""
    return _design(runs).runs_at(n_iseeds, n_seeds)


def optimal_seeds(row: pd.Series, subplots: int, build_cost: float) -> float:
    """The two-stage optimum m* of seeds per intervened model (module docstring); build_cost is
    the cost of one intervened model in units of one fine-tuning run."""
    var_seed = float(row.get("var_seed", np.nan))
    var_within = float(row.get("var_within", np.nan))
    var_model = max(float(row.get("var_model", np.nan)), 0.0)
    if not (np.isfinite(var_seed) and np.isfinite(var_within)):
        return 1.0
    a = var_model + max(var_within, 0.0) / subplots
    b = var_seed / subplots
    if a <= 0:
        return math.inf if b > 0 else 1.0
    return math.sqrt(b * max(build_cost, 0.0) / (a * subplots))


def _precision(
    effects: pd.DataFrame, metric: str, target_width: float
) -> tuple[dict[str, str], dict[str, float], list[pd.Series]]:
    """Verdicts and CI widths per comparison of the metric, and the rows still undecided."""
    verdicts, widths, waiting = {}, {}, []
    for _, row in effects[effects["metric"] == metric].iterrows():
        name = f"{row['model']}/{row['comparison']}"
        verdicts[name] = str(row.get("verdict", UNDECIDED))
        lo, hi = row.get("share_difference_ci_low"), row.get("share_difference_ci_high")
        widths[name] = float(hi - lo) if np.isfinite([lo, hi]).all() else math.inf
        precise = widths[name] <= target_width
        if not precise or verdicts[name] == UNDECIDED or row.get("manipulation") == CANNOT_TELL:
            waiting.append(row)
    return verdicts, widths, waiting


def _grown(runs: pd.DataFrame, design: _Design, worst: pd.Series, width: float,
           target_width: float, budget_trials: int, build_cost: float) -> tuple[int, int]:  # fmt: skip
    """(intervention seeds, seeds) of the next round: the size the width asks for, the seeds
    toward the two-stage optimum, the intervened models the rest, within the budget."""
    n, m, runs_at = len(design.iseeds), len(design.seeds), design.runs_at
    growth = GROWTH[1] if not math.isfinite(width) else (width / target_width) ** GROWTH_POWER
    growth = min(max(growth, GROWTH[0]), GROWTH[1])
    m_star = optimal_seeds(worst, design.per_model_seed, build_cost)
    if worst.get("manipulation") == CANNOT_TELL or not worst.get("intervention_identifiable"):
        m_star = min(m_star, m)  # the gate and the intervention's test need intervened models
    new_m = max(m, min(round(m_star), m * 2)) if math.isfinite(m_star) else m * 2
    new_n = n
    while runs_at(new_n, new_m) < growth * len(runs):
        new_n += 1
    while new_n > n and runs_at(new_n, new_m) > budget_trials:
        new_n -= 1
    if runs_at(new_n, new_m) > budget_trials and new_m > m:
        new_m = m
        while runs_at(new_n + 1, m) <= budget_trials:
            new_n += 1
    return new_n, new_m


def next_step(
    runs: pd.DataFrame,
    budget_trials: int,
    metric: str,
    target_width: float = TARGET_WIDTH,
    build_cost: float = 1.0,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> Step:
    """Decided, budget spent, or the next round for this run table (module docstring)."""
    effects, _, _ = gated_effects(runs, Question([metric], metric, n_boot, seed))
    verdicts, widths, waiting = _precision(effects, metric, target_width)
    if not waiting:
        return Step("decided", verdicts, widths, len(runs))
    worst = max(waiting, key=lambda r: widths[f"{r['model']}/{r['comparison']}"])
    width = widths[f"{worst['model']}/{worst['comparison']}"]
    design = _design(runs)
    iseeds, seeds, n = design.iseeds, design.seeds, len(design.iseeds)
    new_n, new_m = _grown(runs, design, worst, width, target_width, budget_trials, build_cost)
    total = design.runs_at(new_n, new_m)
    if total <= len(runs) or total > budget_trials:
        return Step("budget spent", verdicts, widths, len(runs))
    add = {}
    if new_n > n:
        add[AXES["intervention_seed"]] = list(range(max(iseeds) + 1, max(iseeds) + 1 + new_n - n))
    if new_m > len(seeds):
        add[AXES["seed"]] = list(range(max(seeds) + 1, max(seeds) + 1 + new_m - len(seeds)))
    return Step("next", verdicts, widths, len(runs), add, total - len(runs))
