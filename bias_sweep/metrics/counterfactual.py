"""Counterfactual metrics: how a prediction changes when the text's group terms are swapped.

flip_rate: share of examples whose prediction at THRESHOLD changes with the twin's score;
ctf_gap: mean |score - cf_score|. Rows without a counterfactual score are left out (NaN when none
has one). Both are 0 at balance and grow with a bias either way: V-shaped in the rate.
"""

from __future__ import annotations

import numpy as np

from bias_sweep.metrics.registry import UNSIGNED, metric
from bias_sweep.metrics.table import THRESHOLD

NAN = float("nan")


@metric("counterfactual flip rate (share of examples)", kind=UNSIGNED, report=6)
def flip_rate(y_score: np.ndarray, cf_score: np.ndarray) -> float:
    keep = ~np.isnan(cf_score)
    if not keep.any():
        return NAN
    return float(((y_score[keep] >= THRESHOLD) != (cf_score[keep] >= THRESHOLD)).mean())


@metric("counterfactual gap (mean |ΔP(y=1)|)", kind=UNSIGNED, report=7)
def ctf_gap(y_score: np.ndarray, cf_score: np.ndarray) -> float:
    keep = ~np.isnan(cf_score)
    if not keep.any():
        return NAN
    return float(np.abs(y_score[keep] - cf_score[keep]).mean())
