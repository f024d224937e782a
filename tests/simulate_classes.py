"""Simulated per-class tables with a known truth, for the class-level regression's tests
(`class_regression`): one row per fine-tuning run and class, in `per_class.parquet`'s terms.

    natural_c                ~ U(0.15, 0.85): each class's natural share of group A
    intrinsic(m, c)          = (coupling * (natural_c - 0.5) + N(0, 0.1)_c) * (1 - 0.8 s_m)
                               + N(0, 0.05): the pre-trained model associates a class with the
                               group its data leans to, the intervention (strength s_m) removes
                               most of it, each intervened model m with its own noise
    cooccurrence(run, c)     = 0.5 + skew_scale * (natural_c - 0.5): the class's train share of A
    tpr_gap(run, c)          = cooc_coef * (cooccurrence - 0.5) + intrinsic_coef * intrinsic
                               + u_m + e,  u_m ~ N(0, sd_model^2), e ~ N(0, sd_noise^2)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def simulate_class_runs(
    rng: np.random.Generator,
    *,
    cooc_coef: float,
    intrinsic_coef: float,
    n_classes: int = 8,
    strengths: Sequence[float] = (0.0, 0.5, 1.0),
    models_per_strength: int = 4,
    skew_scales: Sequence[float] = (0.0, 0.5, 1.0),
    seeds: Sequence[int] = (0, 1),
    coupling: float = 0.5,
    sd_model: float = 0.02,
    sd_noise: float = 0.05,
) -> pd.DataFrame:
    natural = rng.uniform(0.15, 0.85, n_classes)
    base = coupling * (natural - 0.5) + rng.normal(0, 0.1, n_classes)
    rows = []
    for s in strengths:
        for m in range(models_per_strength):
            model = f"cda:{s}#{m}"
            intrinsic = base * (1 - 0.8 * s) + rng.normal(0, 0.05, n_classes)
            u = rng.normal(0, sd_model)
            for scale in skew_scales:
                cooc = 0.5 + scale * (natural - 0.5)
                for seed in seeds:
                    gap = cooc_coef * (cooc - 0.5) + intrinsic_coef * intrinsic + u
                    gap = gap + rng.normal(0, sd_noise, n_classes)
                    rows += [
                        {"intervention_key": model, "strength": s, "skew_scale": scale,
                         "seed": seed, "class": f"c{c}", "realised_rate": cooc[c],
                         "intrinsic": intrinsic[c], "tpr_gap": gap[c]}
                        for c in range(n_classes)
                    ]  # fmt: skip
    return pd.DataFrame(rows)
