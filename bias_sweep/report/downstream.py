"""The downstream factor of a sweep, and what the report says about it beyond the split plot.

A binary task's downstream factor is the co-occurrence rate r (`rate`). A multi-class sweep
varies data.skew_scale λ instead (every class's skew scaled by λ: 0 re-balanced, 1 natural), and
is analysed on the rate's scale as r = 0.5 + λ / 2, so that λ = 0 is r = 0.5 (no correlation)
and an unsigned metric's form |r - 0.5| = λ / 2 grows with λ as the classes' gaps do.

`contrast_blocks` adds the pre-training contrast and the local slope near r = 0.5
(`rate_contrasts`) for the primary metric, and for a multi-class sweep the class-level
regression of the TPR gap (`class_regression`, on the sweep's per_class.parquet).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bias_sweep.metrics.per_class import TPR_GAP
from bias_sweep.report.statistics.class_regression import class_regression
from bias_sweep.report.statistics.effects import metric_kind
from bias_sweep.report.statistics.rate_contrasts import local_slope, pretraining_contrast

SKEW_SCALE = "data.skew_scale"


def with_downstream_rate(trials: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The trials with `rate` set from data.skew_scale where that varies and the rate does not
    (a multi-class sweep), and the report's note saying so."""
    if SKEW_SCALE not in trials.columns or trials.empty:
        return trials, []
    scale = pd.to_numeric(trials[SKEW_SCALE], errors="coerce")
    if scale.nunique() < 2 or trials["rate"].nunique() > 1:
        return trials, []
    note = (
        "the downstream factor is data.skew_scale λ, analysed as rate = 0.5 + λ/2 "
        "(λ = 0: every class re-balanced, rate 0.5; λ = 1: natural skews, rate 1)"
    )
    return trials.assign(rate=0.5 + scale / 2), [note]


def contrast_sentences(trials: pd.DataFrame, metric: str) -> list[str]:
    """The pre-training contrast (with random-init runs) and the local slope near 0.5."""
    if metric not in trials.columns or trials[metric].isna().all():
        return []
    out = []
    contrast = pretraining_contrast(trials, metric, kind=metric_kind(metric))
    if contrast is not None:
        out.append(contrast.sentence(metric, "the rate"))
    local = local_slope(trials, metric)
    if local is not None:
        (low, high), slope = local
        out.append(
            f"Near r = 0.5 (between rates {low:g} and {high:g}) {metric} moves by "
            f"{slope.estimate:+.3f} [{slope.ci[0]:+.3f}, {slope.ci[1]:+.3f}] per unit rate "
            f"(95% CI over {slope.n_models} intervened models)."
        )
    return out


def read_per_class(data: Any) -> pd.DataFrame | None:
    """A sweep's per_class.parquet (multi-class sweeps), or None (a table of runs, a binary
    sweep)."""
    from bias_sweep.sweep.layout import SweepFolder

    if getattr(data, "source", None) != "sweep":
        return None
    path = SweepFolder(data.path).per_class_table
    return pd.read_parquet(path) if path.is_file() else None


def class_sentences(per_class: pd.DataFrame | None) -> list[str]:
    """Steed's class-level regression of the TPR gap on a multi-class sweep's per-class rows
    (co-occurrence: the class's realised train share of A; intrinsic: the intervened model's
    association of the class with A), where both vary."""
    needed = {TPR_GAP, "realised_rate", "intrinsic_after", "intervention_key"}
    if per_class is None or not needed <= set(per_class.columns):
        return []
    rows = per_class.dropna(subset=sorted(needed))
    if rows["intervention_key"].nunique() < 3 or rows["intrinsic_after"].std() == 0:
        return []
    fit = class_regression(
        rows, gap=TPR_GAP, cooccurrence="realised_rate", intrinsic="intrinsic_after",
        cluster="intervention_key",
    )  # fmt: skip
    return [fit.sentence(TPR_GAP)]


def contrast_blocks(sentences: list[str]) -> list[tuple[str, Any]]:
    return [("h2", "Pre-training, slight changes, classes"), ("ul", sentences)] if sentences else []
