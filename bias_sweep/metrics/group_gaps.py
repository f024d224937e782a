"""Group metrics: TPR and FPR gaps (A - B), demographic parity and equalized odds differences.

Computed with fairlearn (`MetricFrame`, `demographic_parity_difference`,
`equalized_odds_difference`) on the rows of groups A and B; a comparison needs both groups, else
NaN. fairlearn reports a rate of 0 where its denominator is empty (no positives for a TPR, no
negatives for an FPR); such a gap is NaN here instead, and so is an equalized odds difference
built on it.
"""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pandas as pd

from bias_sweep.metrics.registry import GROUPS, SIGNED, UNSIGNED, metric

NAN = float("nan")


def _both(groups: np.ndarray, a: str, b: str) -> bool:
    present = set(groups.tolist())
    return a in present and b in present


def _rate_gap(positive: bool, y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray,
              a: str, b: str) -> float:  # fmt: skip
    """TPR (positive) or FPR gap, A - B; NaN where a group has no row to divide by."""
    if not _both(groups, a, b):
        return NAN
    from fairlearn.metrics import MetricFrame, false_positive_rate, true_positive_rate

    rate = true_positive_rate if positive else false_positive_rate
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns on empty rows of the confusion matrix
        frame = MetricFrame(
            metrics=partial(rate, pos_label=1), y_true=y_true, y_pred=y_pred,
            sensitive_features=groups,
        )  # fmt: skip
    by = frame.by_group
    denominators = pd.Series(y_true == int(positive)).groupby(groups).sum()
    defined = by.where(denominators.reindex(by.index) > 0)
    return float(defined[a] - defined[b])


@metric(
    "TPR gap, A − B (rate difference)", kind=SIGNED, rows=GROUPS, twin=True,
    signed_difference=True, report=1, twin_report=3, eval_set_report=True,
)  # fmt: skip
def tpr_gap(y_true: np.ndarray, y_pred: np.ndarray, *, groups: np.ndarray, a: str, b: str) -> float:
    return _rate_gap(True, y_true, y_pred, groups, a, b)


@metric(
    "FPR gap, A − B (rate difference)", kind=SIGNED, rows=GROUPS, twin=True,
    signed_difference=True, report=2, eval_set_report=True,
)  # fmt: skip
def fpr_gap(y_true: np.ndarray, y_pred: np.ndarray, *, groups: np.ndarray, a: str, b: str) -> float:
    return _rate_gap(False, y_true, y_pred, groups, a, b)


@metric(
    "demographic parity difference (|selection-rate gap|)", kind=UNSIGNED, rows=GROUPS,
    twin=True, report=5,
)  # fmt: skip
def demographic_parity_difference(
    y_true: np.ndarray, y_pred: np.ndarray, *, groups: np.ndarray, a: str, b: str
) -> float:
    if not _both(groups, a, b):
        return NAN
    from fairlearn import metrics

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(
            metrics.demographic_parity_difference(y_true, y_pred, sensitive_features=groups)
        )


@metric(
    "equalized odds difference (max |TPR/FPR gap|)", kind=UNSIGNED, rows=GROUPS, twin=True,
    report=4,
)  # fmt: skip
def equalized_odds_difference(
    y_true: np.ndarray, y_pred: np.ndarray, *, groups: np.ndarray, a: str, b: str
) -> float:
    # Both gaps must be defined (each group has positives and negatives): fairlearn would take
    # the max over a rate it silently set to 0.
    if not all(_both(groups[y_true == y], a, b) for y in (0, 1)):
        return NAN
    from fairlearn import metrics

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(metrics.equalized_odds_difference(y_true, y_pred, sensitive_features=groups))
