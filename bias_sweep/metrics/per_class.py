"""Per-class metrics of a multi-class task (De-Arteaga et al. 2019; Steed et al. 2022).

For each class c, one-vs-rest: the TPR gap (A − B) among the rows of class c and the FPR gap among
the others, each group's support (rows of c and rows of other classes), by fairlearn's
`MetricFrame` (`group_gaps`' rate gap, with class c as the positive label). Pooled over classes:

    tpr_gap_rms         De-Arteaga's GAP^RMS: the root mean square of the classes' TPR gaps
    tpr_gap_share_corr  the Pearson correlation across classes between a class's TPR gap and its
                        share of group A in the train sample (De-Arteaga's figure 2)

both also on twin-balanced rows. Classes whose gap is undefined (a group without rows of the
class) are left out of both; NaN when none (or, for the correlation, fewer than three) remain.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bias_sweep.metrics.group_gaps import _rate_gap
from bias_sweep.metrics.registry import GROUPS, MULTICLASS, OTHER, UNSIGNED, metric
from bias_sweep.metrics.table import twin_balanced

NAN = float("nan")
TPR_GAP, FPR_GAP = "tpr_gap", "fpr_gap"  # the per-class gaps (result.json, per_class.parquet)


def class_gaps(
    y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray, a: str, b: str
) -> pd.DataFrame:
    """One row per class (sorted): tpr_gap, fpr_gap, and the support of each group, positives
    (rows of the class) and negatives (rows of the others): support_<group>_pos / _neg."""
    rows = []
    for c in sorted(pd.unique(y_true).tolist(), key=str):
        yt, yp = (y_true == c).astype(int), (y_pred == c).astype(int)
        row: dict[str, Any] = {
            "class": c,
            TPR_GAP: _rate_gap(True, yt, yp, groups, a, b),
            FPR_GAP: _rate_gap(False, yt, yp, groups, a, b),
        }
        for g in (a, b):
            row[f"support_{g}_pos"] = int(((groups == g) & (yt == 1)).sum())
            row[f"support_{g}_neg"] = int(((groups == g) & (yt == 0)).sum())
        rows.append(row)
    return pd.DataFrame(rows).set_index("class")


@metric(
    "TPR gap RMS over classes (De-Arteaga's GAP^RMS)", kind=UNSIGNED, rows=GROUPS, twin=True,
    tasks=(MULTICLASS,),
)  # fmt: skip
def tpr_gap_rms(
    y_true: np.ndarray, y_pred: np.ndarray, *, groups: np.ndarray, a: str, b: str
) -> float:
    gaps = class_gaps(y_true, y_pred, groups, a, b)[TPR_GAP].dropna()
    return float(np.sqrt((gaps**2).mean())) if len(gaps) else NAN


@metric(
    "correlation across classes of TPR gap and train share of A", kind=OTHER, rows=GROUPS,
    twin=True, tasks=(MULTICLASS,),
)  # fmt: skip
def tpr_gap_share_corr(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    groups: np.ndarray,
    a: str,
    b: str,
    train_share: np.ndarray,
) -> float:
    gaps = class_gaps(y_true, y_pred, groups, a, b)[TPR_GAP]
    share = pd.Series(train_share).groupby(pd.Series(y_true)).first().reindex(gaps.index)
    both = pd.DataFrame({"gap": gaps, "share": share}).dropna()
    if len(both) < 3 or both["gap"].std() == 0 or both["share"].std() == 0:
        return NAN
    return float(np.corrcoef(both["gap"], both["share"])[0, 1])


def per_class(preds: pd.DataFrame, a: str, b: str) -> dict[str, dict[str, Any]]:
    """result.json's `per_class`: class -> tpr_gap, fpr_gap, their twin-balanced forms and each
    group's support (natural rows), from a multi-class predictions table."""
    natural = preds[preds["group"].isin([a, b])]
    twins = twin_balanced(preds, a, b)
    gaps = class_gaps(*_columns(natural), a, b)
    twin_gaps = class_gaps(*_columns(twins), a, b).reindex(gaps.index)
    out: dict[str, dict[str, Any]] = {}
    for c, row in gaps.iterrows():
        out[str(c)] = {
            TPR_GAP: _number(row[TPR_GAP]),
            FPR_GAP: _number(row[FPR_GAP]),
            f"{TPR_GAP}_twin": _number(twin_gaps.loc[c, TPR_GAP]),
            f"{FPR_GAP}_twin": _number(twin_gaps.loc[c, FPR_GAP]),
            "support": {
                g: {
                    "positive": int(row[f"support_{g}_pos"]),
                    "negative": int(row[f"support_{g}_neg"]),
                }
                for g in (a, b)
            },  # fmt: skip
        }
    return out


def _columns(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return rows["label"].to_numpy(), rows["pred"].to_numpy(), rows["group"].to_numpy()


def _number(value: float) -> float | None:
    return None if pd.isna(value) else float(value)
