"""Simulated run tables with a known truth, for the acceptance tests and the benchmark.

A simulated sweep has the shape of a real one (the `--table` schema: one row per fine-tuning run,
columns model, method, strength, intervention_seed, rate, seed, one column per metric,
realised_rate, intrinsic_before, intrinsic_after, intrinsic_finetuned). Each metric follows the
split-plot model that `stats.py` fits:

    y = baseline + contrast[method] + slope[method] * strength              (intervention level)
        + rate_effect * g(r) + interaction * strength * g(r)                (rate, interaction)
        + intrinsic_coef * (intrinsic noise of the intervened model)
        + u[intervened model] + v[intervened model, rate] + e[run]          (random parts)

with g(r) = r - 0.5 for signed metrics and |r - 0.5| for unsigned ones (V-shaped in r), and
u ~ N(0, sd_model^2), v ~ N(0, sd_model_rate^2), e ~ N(0, sd_seed^2). The pre-trained model
(`none`), and a method that is the identity at strength 0 there, is one intervened model, drawn
like the others.

`true_shares` gives the estimand of `stats.py` for such a truth: the population variance of each
factor's effect over the design (levels weighted by their runs, rates equally) divided by the
total variance of one run, which adds the model-to-model and residual variances.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from bias_sweep.interventions import identity_at_zero, strengthless, unseeded
from bias_sweep.metrics import INTRINSIC_AFTER, INTRINSIC_BEFORE, INTRINSIC_FINETUNED
from bias_sweep.report.treatments import EXTRA_TREATMENTS

SCRUB = EXTRA_TREATMENTS["scrub"].column  # the run table's column of data.scrub


@dataclass(frozen=True)
class Design:
    """The grid of a simulated sweep. A method without a seed (`none`) has one intervened model,
    and so has one that is the pre-trained model at strength 0 (`projection`, `inlp`) there."""

    methods: Mapping[str, Sequence[float]] = field(default_factory=lambda: {"cda": (0.0, 0.5, 1.0)})
    models_per_level: int = 3
    rates: Sequence[float] = (0.1, 0.5, 0.9)
    seeds: Sequence[int] = (0, 1)
    models: Sequence[str] = ("tiny-bert",)
    # data.scrub values crossed with the rates (a second downstream treatment); () for none
    scrubs: Sequence[str] = ()

    def subplots(self) -> list[tuple[float, str | None]]:
        """(rate, scrub) of each fine-tuning setting an intervened model is run at."""
        return [(float(r), s) for r in self.rates for s in (self.scrubs or (None,))]

    def levels(self) -> list[tuple[str, float, int]]:
        """(method, strength, number of intervened models) for every intervention level."""
        out = []
        one, zero = unseeded(), identity_at_zero()  # one model whatever the seed (there)
        for method, strengths in self.methods.items():
            for s in (0.0,) if method in strengthless() else strengths:
                single = method in one or (method in zero and s == 0)
                out.append((method, float(s), 1 if single else self.models_per_level))
        return out


@dataclass(frozen=True)
class Truth:
    """How one metric responds; all effects in the metric's units."""

    kind: str = "signed"  # signed: g(r) = r - 0.5; unsigned: g(r) = |r - 0.5|
    baseline: float = 0.0
    rate_effect: float = 0.0
    slopes: Mapping[str, float] = field(default_factory=dict)  # per method, per unit strength
    contrasts: Mapping[str, float] = field(default_factory=dict)  # per method, offset vs none
    interaction: float = 0.0  # per unit strength x g(r)
    scrub_effects: Mapping[str, float] = field(default_factory=dict)  # offset per data.scrub
    intrinsic_coef: float = 0.0  # per unit of the intervened model's intrinsic-bias noise
    sd_model: float = 0.0
    sd_model_rate: float = 0.0
    sd_seed: float = 0.02


@dataclass(frozen=True)
class Intrinsic:
    """Intrinsic bias of an intervened model: baseline + slope[method] * strength + noise; the
    pre-trained model's (`intrinsic_before`) is the baseline. The default moves nothing: a null
    manipulation (`WORKED` is one that works)."""

    baseline: float = 0.5
    slopes: Mapping[str, float] = field(default_factory=dict)
    contrasts: Mapping[str, float] = field(default_factory=dict)
    sd_model: float = 0.05
    # After fine-tuning (`intrinsic_finetuned`): this share of the intervened model's departure
    # from the baseline is left, plus noise of each fine-tuning run.
    retained: float = 1.0
    sd_finetuned: float = 0.02


# A manipulation that works for every method the cases use: each moves intrinsic bias by 1 per
# unit strength (random-init by 0.5), 50 (25) standard deviations of its model-to-model noise:
# the gate sees it in every replicated design of `case` (case d, the weakest, strengths 0.5 and
# 1: a slope 30 standard errors from 0 with df = 4, against the gate's 8.6).
WORKED = Intrinsic(
    slopes={"cda": -1.0, "skew": 1.0, "projection": -1.0},
    contrasts={"random-init": -0.5},
    sd_model=0.02,
    baseline=1.0,
)


def rate_form(kind: str, rate: np.ndarray) -> np.ndarray:
    rate = np.asarray(rate, dtype=float)
    return np.abs(rate - 0.5) if kind == "unsigned" else rate - 0.5


def cell_mean(
    truth: Truth, method: str, strength: float, rate: np.ndarray, scrub: Sequence | None = None
) -> np.ndarray:
    """The population mean of the metric at one intervention level and rate(s), with their
    data.scrub values where scrubbing varies (the same formula as `simulate_sweep` uses)."""
    g = rate_form(truth.kind, rate)
    level = truth.contrasts.get(method, 0.0) + truth.slopes.get(method, 0.0) * strength
    offset = 0.0 if scrub is None else np.array([truth.scrub_effects.get(x, 0.0) for x in scrub])
    return (
        truth.baseline + level + truth.rate_effect * g + truth.interaction * strength * g + offset
    )


def simulate_sweep(
    design: Design,
    truths: Mapping[str, Truth],
    rng: np.random.Generator,
    intrinsic: Intrinsic | None = None,
    sd_realised: float = 0.01,
) -> pd.DataFrame:
    """One simulated sweep (one model name per sweep in `design.models`): a `--table` run table."""
    intrinsic = intrinsic or Intrinsic()
    units = [  # one row per intervened model
        (model, method, strength, iseed)
        for model in design.models
        for method, strength, k in design.levels()
        for iseed in range(k)
    ]
    subplots = design.subplots()
    n_units, n_rates, n_seeds = len(units), len(subplots), len(design.seeds)
    per_unit = n_rates * n_seeds
    model, method, strength, iseed = (np.asarray(col) for col in zip(*units, strict=True))
    strength = strength.astype(float)
    noise = rng.normal(0.0, intrinsic.sd_model, n_units)
    # A method that is the pre-trained model at strength 0 measures as the baseline there.
    noise[np.isin(method, identity_at_zero()) & (strength == 0)] = 0.0
    intr = (
        intrinsic.baseline
        + np.array([intrinsic.contrasts.get(m, 0.0) for m in method])
        + np.array([intrinsic.slopes.get(m, 0.0) for m in method]) * strength
        + noise
    )
    rate = np.tile(np.repeat(np.asarray([r for r, _ in subplots]), n_seeds), n_units)
    scrub = np.tile(np.repeat(np.asarray([s for _, s in subplots], dtype=object), n_seeds), n_units)
    run_unit = np.repeat(np.arange(n_units), per_unit)
    table = {
        "model": model[run_unit],
        "method": method[run_unit],
        "strength": strength[run_unit],
        "intervention_seed": iseed[run_unit],
        "rate": rate,
        "seed": np.tile(np.asarray(design.seeds), n_units * n_rates),
        "realised_rate": np.clip(rate + rng.normal(0, sd_realised, rate.size), 0, 1),
        INTRINSIC_BEFORE: np.full(rate.size, intrinsic.baseline),
        INTRINSIC_AFTER: intr[run_unit],
        INTRINSIC_FINETUNED: intrinsic.baseline
        + intrinsic.retained * (intr[run_unit] - intrinsic.baseline)
        + rng.normal(0.0, intrinsic.sd_finetuned, rate.size),
    }
    for name, t in truths.items():
        u = rng.normal(0.0, t.sd_model, n_units) + t.intrinsic_coef * noise
        v = np.repeat(rng.normal(0.0, t.sd_model_rate, n_units * n_rates), n_seeds)
        e = rng.normal(0.0, t.sd_seed, rate.size)
        contrast = np.array([t.contrasts.get(m, 0.0) for m in method])[run_unit]
        slope = np.array([t.slopes.get(m, 0.0) for m in method])[run_unit]
        g = rate_form(t.kind, rate)
        s = strength[run_unit]
        mean = t.baseline + contrast + slope * s + t.rate_effect * g + t.interaction * s * g
        if design.scrubs:
            mean = mean + np.array([t.scrub_effects.get(x, 0.0) for x in scrub])
        table[name] = mean + u[run_unit] + v + e
    if design.scrubs:
        table[SCRUB] = scrub
    return pd.DataFrame(table)


def simulate_many(
    design: Design, truths: Mapping[str, Truth], n_sweeps: int, seed: int, **kwargs: object
) -> pd.DataFrame:
    """n independent sweeps in one table, sweep i as model `sim{i}` (the analysis is per model,
    so one call analyses them all)."""
    names = tuple(f"sim{i:04d}" for i in range(n_sweeps))
    many = replace(design, models=names)
    return simulate_sweep(many, truths, np.random.default_rng(seed), **kwargs)


def true_shares(design: Design, truth: Truth, intrinsic: Intrinsic | None = None) -> dict:
    """The estimand of `stats.py` for this design and truth (see the module docstring).

    With run weights w_l (runs at level l / all runs) and equal rate weights, the cell means
    mu_lr split orthogonally into level effects a_l, rate effects b_r and interactions ab_lr:
        V_intervention = sum_l w_l a_l^2,  V_rate = mean_r b_r^2,
        V_interaction = sum_l w_l mean_r ab_lr^2,
        total = V_intervention + V_rate + V_interaction + var(u) + var(v) + var(e),
    and share_x = V_x / total.
    """
    intrinsic = intrinsic or Intrinsic()
    levels = design.levels()
    subplots = design.subplots()
    rates = np.asarray([r for r, _ in subplots])
    scrubs = [s for _, s in subplots] if design.scrubs else None
    mu = np.array([cell_mean(truth, m, s, rates, scrubs) for m, s, _ in levels])  # (L, subplots)
    w = np.array([k for *_, k in levels], dtype=float)
    w /= w.sum()
    grand = w @ mu.mean(axis=1)
    a = mu.mean(axis=1) - grand
    b = w @ mu - grand  # each subplot's effect: the rate's and scrubbing's main effects + theirs
    ab = mu - a[:, None] - b[None, :] - grand
    shape = (len(design.rates), len(design.scrubs) or 1)
    b_rate, b_scrub = b.reshape(shape).mean(1), b.reshape(shape).mean(0)
    v_int, v_inter = float(w @ a**2), float(w @ (ab**2).mean(1))
    v_rate, v_scrub, v_sub = (
        float(np.mean(b_rate**2)),
        float(np.mean(b_scrub**2)),
        float(np.mean(b**2)),
    )
    var_u = truth.sd_model**2 + (truth.intrinsic_coef * intrinsic.sd_model) ** 2
    total = v_int + v_sub + v_inter + var_u + truth.sd_model_rate**2 + truth.sd_seed**2
    out = {
        "V_intervention": v_int,
        "V_rate": v_rate,
        "V_interaction": v_inter,
        "total": total,
        "share_intervention": v_int / total,
        "share_rate": v_rate / total,
        "share_interaction": v_inter / total,
        "share_difference": (v_rate - v_int) / total,
    }
    if design.scrubs:
        out.update(V_scrub=v_scrub, share_scrub=v_scrub / total)
        out["share_difference_scrub"] = (v_scrub - v_int) / total
    return out


# The acceptance cases of issue 11 (design like the quickstart: cda at 3 strengths x 3 rates x
# 2 seeds x 3 intervened models = 54 runs). Effects are sized so that each case is clear but not
# trivial; the tests also run other sizes.
QUICKSTART = Design()


def case(name: str) -> tuple[Design, dict[str, Truth]]:
    """The issue's cases (a)-(f) as (design, {metric: truth})."""
    sd = {"sd_model": 0.02, "sd_seed": 0.02}
    if name == "a":  # rate only
        return QUICKSTART, {"tpr_gap": Truth(rate_effect=0.12, **sd)}
    if name == "b":  # intervention only, model-to-model noise, 3 intervened models per strength
        return QUICKSTART, {"tpr_gap": Truth(slopes={"cda": -0.15}, **sd)}
    if name == "c":  # nothing
        return QUICKSTART, {"tpr_gap": Truth(**sd)}
    if name == "d":  # opposite effects in two methods
        design = Design(methods={"none": (), "cda": (0.5, 1.0), "skew": (0.5, 1.0)})
        return design, {"tpr_gap": Truth(slopes={"cda": -0.1, "skew": 0.1}, **sd)}
    if name == "e":  # unsigned metric, V-shaped in r
        t = Truth(kind="unsigned", baseline=0.05, rate_effect=0.3, **sd)
        return QUICKSTART, {"demographic_parity_difference": t}
    if name == "f":  # one intervened model per strength, large model-to-model noise
        design = Design(models_per_level=1, seeds=(0, 1, 2))
        return design, {"tpr_gap": Truth(sd_model=0.1, sd_seed=0.02)}
    raise ValueError(f"unknown case {name!r}")
