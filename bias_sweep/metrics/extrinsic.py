"""Extrinsic bias metrics: plain functions over one predictions table (fairlearn style).

The predictions table has one row per evaluation example:

    text      the input text
    label     true label, 0/1
    group     the group the example mentions (group A's name, group B's name, or anything else)
    score     the model's P(y=1)
    pred      the thresholded prediction, 0/1
    cf_score  P(y=1) for the counterfactual twin (the same text with group terms swapped)

Which rows each metric uses:
  * group metrics (TPR/FPR gaps, demographic parity, equalized odds, Borkan AUCs) use only the rows
    of groups A and B, so that texts mentioning neither group do not dilute an A-vs-B comparison;
  * their twin-balanced versions (`<key>_twin`) use the doubled table of `twin_balanced`: every
    A/B row with a counterfactual score, once as itself and once as its twin in the other group,
    so both groups hold the same texts and only the group terms differ between them;
  * counterfactual metrics (flip rate, ctf_gap) use every row with a counterfactual score;
  * utility metrics (accuracy, F1, ROC AUC) use every row.

Undefined values are NaN, never an exception: a gap when a group has no positives (TPR) or no
negatives (FPR), a parity difference when a group is absent, an AUC whose subset has one class,
a counterfactual metric without any counterfactual score.
"""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from bias_sweep.metrics.names import TWIN_SUFFIX

THRESHOLD = 0.5  # P(y=1) at or above it is a positive prediction (flip rate)
REQUIRED_COLUMNS = ("label", "group", "score", "pred", "cf_score")
NAN = float("nan")


def compute_metrics(preds: pd.DataFrame, group_a: str, group_b: str) -> dict[str, float]:
    """All extrinsic metrics of one predictions table (the keys of `names.METRIC_KEYS`); gaps
    are signed group A minus group B."""
    missing = [c for c in REQUIRED_COLUMNS if c not in preds.columns]
    if missing:
        raise ValueError(f"predictions table lacks column(s) {', '.join(missing)}")
    out: dict[str, float] = {}
    out.update(group_gaps(preds, group_a, group_b))
    out.update(nuanced_aucs(preds, group_a, group_b))
    out.update(twin_group_metrics(preds, group_a, group_b))
    out.update(counterfactual_metrics(preds))
    out.update(utility_metrics(preds))
    return out


def _labels(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return frame["label"].to_numpy(dtype=int), frame["pred"].to_numpy(dtype=int)


def group_gaps(preds: pd.DataFrame, group_a: str, group_b: str) -> dict[str, float]:
    """TPR/FPR gaps (A - B), demographic parity and equalized odds differences (fairlearn)."""
    keys = ("tpr_gap", "fpr_gap", "demographic_parity_difference", "equalized_odds_difference")
    ab = preds[preds["group"].isin([group_a, group_b])]
    present = set(ab["group"])
    if present != {group_a, group_b}:
        return dict.fromkeys(keys, NAN)  # a comparison needs both groups
    y, p = _labels(ab)
    groups = ab["group"].to_numpy()
    # fairlearn reports a rate of 0 when its denominator is empty; we want NaN there instead.
    n_pos = pd.Series(y == 1).groupby(groups).sum()
    n_neg = pd.Series(y == 0).groupby(groups).sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns on empty rows of the confusion matrix
        frame = MetricFrame(
            metrics={
                "tpr": partial(true_positive_rate, pos_label=1),
                "fpr": partial(false_positive_rate, pos_label=1),
            },
            y_true=y,
            y_pred=p,
            sensitive_features=groups,
        )
        by = frame.by_group
        tpr = by["tpr"].where(n_pos.reindex(by.index) > 0)
        fpr = by["fpr"].where(n_neg.reindex(by.index) > 0)
        dpd = demographic_parity_difference(y, p, sensitive_features=groups)
        eod = equalized_odds_difference(y, p, sensitive_features=groups)
    tpr_gap = float(tpr[group_a] - tpr[group_b])
    fpr_gap = float(fpr[group_a] - fpr[group_b])
    if np.isnan(tpr_gap) or np.isnan(fpr_gap):
        eod = NAN  # fairlearn would take the max over a rate it silently set to 0
    return {
        "tpr_gap": tpr_gap,
        "fpr_gap": fpr_gap,
        "demographic_parity_difference": float(dpd),
        "equalized_odds_difference": float(eod),
    }


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    if len(np.unique(y)) < 2:
        return NAN  # ROC AUC needs both classes
    return float(roc_auc_score(y, score))


def nuanced_aucs(preds: pd.DataFrame, group_a: str, group_b: str) -> dict[str, float]:
    """Borkan et al. (2019) AUCs with group A as the subgroup and group B as the background.

    subgroup_auc: AUC on group A's examples.
    bpsn_auc: AUC on background positives + subgroup negatives (low: A's negatives score high).
    bnsp_auc: AUC on background negatives + subgroup positives (low: A's positives score low).
    """
    y = preds["label"].to_numpy(dtype=int)
    score = preds["score"].to_numpy(dtype=float)
    in_a = (preds["group"] == group_a).to_numpy()
    in_b = (preds["group"] == group_b).to_numpy()
    bpsn = (in_b & (y == 1)) | (in_a & (y == 0))
    bnsp = (in_b & (y == 0)) | (in_a & (y == 1))
    return {
        "subgroup_auc": _auc(y[in_a], score[in_a]),
        "bpsn_auc": _auc(y[bpsn], score[bpsn]),
        "bnsp_auc": _auc(y[bnsp], score[bnsp]),
    }


def twin_balanced(preds: pd.DataFrame, group_a: str, group_b: str) -> pd.DataFrame:
    """The doubled table: each row of group A or B that has a counterfactual score appears
    twice, as itself (its group, score, pred) and as its twin (the other group, cf_score, and the
    prediction at THRESHOLD), so that every text is scored in both groups."""
    ab = preds[preds["group"].isin([group_a, group_b]) & preds["cf_score"].notna()]
    twin = ab.assign(
        group=np.where(ab["group"] == group_a, group_b, group_a),
        score=ab["cf_score"],
        pred=(ab["cf_score"].to_numpy(dtype=float) >= THRESHOLD).astype(int),
    )
    return pd.concat([ab, twin], ignore_index=True)


def twin_group_metrics(preds: pd.DataFrame, group_a: str, group_b: str) -> dict[str, float]:
    """The group metrics (`group_gaps`, `nuanced_aucs`) on the twin-balanced table, keys suffixed
    `_twin`. A model that ignores the group terms (score == cf_score) has gaps of exactly 0 here
    however the texts about A and about B differ; on natural rows it need not."""
    doubled = twin_balanced(preds, group_a, group_b)
    out = {**group_gaps(doubled, group_a, group_b), **nuanced_aucs(doubled, group_a, group_b)}
    return {f"{key}{TWIN_SUFFIX}": value for key, value in out.items()}


def counterfactual_metrics(preds: pd.DataFrame) -> dict[str, float]:
    """flip_rate: share of examples whose prediction at THRESHOLD changes with the twin's score;
    ctf_gap: mean |score - cf_score|. Rows without a counterfactual score are left out."""
    score = preds["score"].to_numpy(dtype=float)
    cf = preds["cf_score"].to_numpy(dtype=float)
    keep = ~np.isnan(cf)
    if not keep.any():
        return {"flip_rate": NAN, "ctf_gap": NAN}
    score, cf = score[keep], cf[keep]
    flips = (score >= THRESHOLD) != (cf >= THRESHOLD)
    return {"flip_rate": float(flips.mean()), "ctf_gap": float(np.abs(score - cf).mean())}


def utility_metrics(preds: pd.DataFrame) -> dict[str, float]:
    """Accuracy, F1 (positive class 1) and ROC AUC over all rows."""
    if len(preds) == 0:
        return {"accuracy": NAN, "f1": NAN, "roc_auc": NAN}
    y, p = _labels(preds)
    # F1 is undefined without any true or predicted positive: NaN rather than sklearn's 0.
    f1 = float(f1_score(y, p, zero_division=np.nan)) if (y.any() or p.any()) else NAN
    return {
        "accuracy": float(accuracy_score(y, p)),
        "f1": f1,
        "roc_auc": _auc(y, preds["score"].to_numpy(dtype=float)),
    }
