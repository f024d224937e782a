"""The report's words: one sentence per (model, metric), the manipulation check, the method."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bias_sweep.report.stats import ALPHA


def num(x: float, digits: int = 2) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:.{digits}f}".replace("-", "−")


def pct(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.0f}%"


def verdict(row: pd.Series) -> str:
    """One sentence: how much variance rate and intervention explain, and which matters more."""
    head = f"{row['model']}, {row['metric']}"
    if row["n"] == 0:
        return f"{head}: no finished trials"
    iv = "intervention strength" if row["strength_factor"] == "strength" else "intervention"
    text = (
        f"{head}: co-occurrence rate explains {pct(row['eta2_rate'])} of variance, "
        f"{iv} {pct(row['eta2_strength'])} (interaction {pct(row['eta2_interaction'])}); "
        f"standardized slope of rate {num(row['slope_rate'])} "
        f"[{num(row['slope_rate_ci_low'])}, {num(row['slope_rate_ci_high'])}], "
        f"of strength {num(row['slope_strength'])} "
        f"[{num(row['slope_strength_ci_low'])}, {num(row['slope_strength_ci_high'])}]"
    )
    # Only a factor whose ANOVA F-test detects an effect (p < 0.05) can "matter more"; two
    # noise-level shares of variance are not compared.
    shares = {
        "the co-occurrence rate": (row["eta2_rate"], row["p_rate"]),
        "the intervention": (row["eta2_strength"], row["p_strength"]),
    }
    detected = {k: eta for k, (eta, p) in shares.items() if np.isfinite(eta) and p < ALPHA}
    if detected:
        text += f" → {max(detected, key=detected.get)} matters more"
    elif all(np.isfinite(p) for _, p in shares.values()):
        text += f" → neither has a detectable effect (ANOVA p ≥ {ALPHA:g})"
    if row["p_interaction"] < ALPHA:
        text += "; the intervention's effect depends on the rate (interaction p < 0.05)"
    if row["note"]:
        text += f" (note: {row['note']})"
    return text


def manipulation_verdict(model: str, effects: pd.DataFrame, kind: str | None) -> str:
    row = effects[effects["model"] == model].iloc[0]
    slope = row["intrinsic_on_strength_slope"]
    if not np.isfinite(slope):
        return f"{model}, manipulation check: not available (no intrinsic bias or one strength)"
    ci = (
        f"[{num(row['intrinsic_on_strength_ci_low'])}, {num(row['intrinsic_on_strength_ci_high'])}]"
    )
    moved = (
        "the intervention moved intrinsic bias"
        if row["intrinsic_moved"] == 1
        else "no detectable change (CI includes 0)"
    )
    what = f"intrinsic bias ({kind})" if kind else "intrinsic bias"
    return f"{model}, manipulation check: {what} changes by {num(slope)} {ci} per unit strength — {moved}"


METHOD_TEXT = (
    "Statistics: cells are means over seeds with 95% t-intervals. Per model and metric, a two-way "
    "ANOVA y ~ C(strength) * C(rate) (type-II sums of squares) gives η² = SS(term) / SS(total); "
    "with several methods the strength factor is the combined level method:strength; with empty "
    "cells, type-II sums of squares come from nested model comparisons. A factor 'matters more' "
    "only if its ANOVA F-test has p < 0.05. Standardized "
    "slopes come from OLS of z-scored y on z-scored strength and rate (with method fixed effects "
    "when there are several methods). The manipulation check regresses the metric on the measured "
    "intrinsic bias after the intervention, and intrinsic bias on strength. Rates are the nominal "
    "grid values; see realised_rate in trials.csv for the rates the data actually reached."
)
