"""Borkan et al. (2019) AUCs, group A as the subgroup and group B as the background.

subgroup_auc: AUC on group A's examples.
bpsn_auc: AUC on background positives + subgroup negatives (low: A's negatives score high).
bnsp_auc: AUC on background negatives + subgroup positives (low: A's positives score low).
"""

from __future__ import annotations

import numpy as np

from bias_sweep.metrics.registry import GROUPS, OTHER, SIGNED, metric
from bias_sweep.metrics.utility import roc_auc


# subgroup AUC (separability within group A) has no direction of bias: no expected shape in r
@metric("subgroup AUC (0–1)", kind=OTHER, rows=GROUPS, twin=True)
def subgroup_auc(y_true: np.ndarray, y_score: np.ndarray, *, groups: np.ndarray, a: str) -> float:
    in_a = groups == a
    return roc_auc(y_true[in_a], y_score[in_a])


def _against_background(
    y_true: np.ndarray, y_score: np.ndarray, groups: np.ndarray, a: str, b: str, subgroup: int
) -> float:
    """AUC on group A's examples of label `subgroup` and group B's of the other label."""
    keep = ((groups == a) & (y_true == subgroup)) | ((groups == b) & (y_true != subgroup))
    return roc_auc(y_true[keep], y_score[keep])


# BPSN/BNSP AUC fall (rise) as group A's examples become mostly positive: monotone in r
@metric("BPSN AUC (0–1)", kind=SIGNED, rows=GROUPS, twin=True, report=8)
def bpsn_auc(
    y_true: np.ndarray, y_score: np.ndarray, *, groups: np.ndarray, a: str, b: str
) -> float:
    return _against_background(y_true, y_score, groups, a, b, subgroup=0)


@metric("BNSP AUC (0–1)", kind=SIGNED, rows=GROUPS, twin=True, report=9)
def bnsp_auc(
    y_true: np.ndarray, y_score: np.ndarray, *, groups: np.ndarray, a: str, b: str
) -> float:
    return _against_background(y_true, y_score, groups, a, b, subgroup=1)
