"""The section "Pre-training, slight changes, classes": for the primary metric the pre-training
contrast and the local slope near r = 0.5 (`statistics.rate_contrasts`), and for a multi-class
sweep the class-level regression of the TPR gap (`statistics.class_regression`, on the sweep's
per_class.parquet, `downstream.read_per_class`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bias_sweep.metrics.per_class import TPR_GAP
from bias_sweep.report.statistics.class_regression import class_regression
from bias_sweep.report.statistics.effects import metric_kind
from bias_sweep.report.statistics.rate_contrasts import local_slope, pretraining_contrast


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
