"""Utility metrics over every row (scikit-learn): accuracy, F1 of the positive class (macro F1 on a
multi-class task), ROC AUC.

None has an expected shape in the co-occurrence rate. Undefined values are NaN: all of them on an
empty table, F1 without any true or predicted positive (not scikit-learn's 0), an AUC with one
class.
"""

from __future__ import annotations

import numpy as np

from bias_sweep.metrics.registry import BINARY, MULTICLASS, OTHER, metric

NAN = float("nan")


@metric("accuracy (share correct)", kind=OTHER, utility=True, report=10, tasks=(BINARY, MULTICLASS))
def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    if len(y_true) == 0:
        return NAN
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y_true, y_pred))


@metric("F1 (positive class)", kind=OTHER, utility=True, report=11)
def f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    if not (y_true.any() or y_pred.any()):
        return NAN
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, zero_division=np.nan))


@metric("macro F1 (mean over classes)", kind=OTHER, utility=True, tasks=(MULTICLASS,))
def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    if len(y_true) == 0:
        return NAN
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro", zero_division=np.nan))


@metric("ROC AUC (0–1)", kind=OTHER)
def roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    if len(np.unique(y_true)) < 2:
        return NAN
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y_true, y_score))
