"""Every registered metric over one predictions table.

The predictions table has one row per evaluation example:

    text      the input text
    label     true label, 0/1
    group     the group the example mentions (group A's name, group B's name, or anything else)
    score     the model's P(y=1)
    pred      the thresholded prediction, 0/1
    cf_score  P(y=1) for the counterfactual twin (the same text with group terms swapped)

A multi-class task's table has class names in `label` and `pred` (the argmax class), `score` and
`cf_score` the probability of the true class for the text and for its twin, `cf_pred` the
twin's argmax class, and `train_share`, the share of group A among the train rows of each row's
class (the per-class metrics, `metrics.per_class`).

Which rows each metric reads (`Metric.rows`):
  * GROUPS metrics (gaps, parity and odds differences, Borkan AUCs) see only the rows of groups A
    and B, so that texts mentioning neither group do not dilute an A-vs-B comparison;
  * their twin-balanced versions (`<name>_twin`) see the doubled table of `twin_balanced`: every
    A/B row with a counterfactual score, once as itself and once as its twin in the other group,
    so both groups hold the same texts and only the group terms differ between them;
  * ALL metrics (counterfactual and utility metrics) see every row.

Undefined values are NaN, never an exception: a gap when a group has no positives (TPR) or no
negatives (FPR), a parity difference when a group is absent, an AUC whose subset has one class,
a counterfactual metric without any counterfactual score.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bias_sweep.metrics.registry import ALL, BINARY, GROUPS, computed, twin_name

THRESHOLD = 0.5  # P(y=1) at or above it is a positive prediction (flip rate)
REQUIRED_COLUMNS = ("label", "group", "score", "pred", "cf_score")


def _inputs(rows: pd.DataFrame, group_a: str, group_b: str, task: str) -> dict[str, Any]:
    """A table's columns under the names metric functions ask for (`registry.INPUTS`): labels
    as 0/1 for a binary task, as class names for a multi-class one."""
    labels = int if task == BINARY else None
    return {
        "y_true": rows["label"].to_numpy(dtype=labels),
        "y_pred": rows["pred"].to_numpy(dtype=labels),
        "y_score": rows["score"].to_numpy(dtype=float),
        "cf_score": rows["cf_score"].to_numpy(dtype=float),
        "groups": rows["group"].to_numpy(),
        "a": group_a,
        "b": group_b,
        "train_share": rows["train_share"].to_numpy(dtype=float)
        if "train_share" in rows
        else np.full(len(rows), np.nan),
    }


def compute_metrics(
    preds: pd.DataFrame, group_a: str, group_b: str, task: str = BINARY
) -> dict[str, float]:
    """Every registered metric of `task` over one predictions table, in the order of
    `registry.metric_keys()`; gaps are signed group A minus group B."""
    missing = [c for c in REQUIRED_COLUMNS if c not in preds.columns]
    if missing:
        raise ValueError(f"predictions table lacks column(s) {', '.join(missing)}")
    rows = {
        ALL: _inputs(preds, group_a, group_b, task),
        GROUPS: _inputs(preds[preds["group"].isin([group_a, group_b])], group_a, group_b, task),
    }
    twin_rows = _inputs(twin_balanced(preds, group_a, group_b), group_a, group_b, task)
    natural, twins = {}, {}
    for spec in computed(task):
        natural[spec.name] = float(spec.fn(**{k: rows[spec.rows][k] for k in spec.inputs}))
        if spec.twin:
            twins[twin_name(spec.name)] = float(spec.fn(**{k: twin_rows[k] for k in spec.inputs}))
    twinned = {name: value for name, value in natural.items() if twin_name(name) in twins}
    rest = {name: value for name, value in natural.items() if name not in twinned}
    return {**twinned, **twins, **rest}  # the order of registry.metric_keys()


def twin_balanced(preds: pd.DataFrame, group_a: str, group_b: str) -> pd.DataFrame:
    """The doubled table: each row of group A or B that has a counterfactual score appears
    twice, as itself (its group, score, pred) and as its twin (the other group, cf_score, and the
    prediction at THRESHOLD), so that every text is scored in both groups. A model that ignores
    the group terms (score == cf_score) has gaps of exactly 0 here however the texts about A and
    about B differ; on natural rows it need not."""
    ab = preds[preds["group"].isin([group_a, group_b]) & preds["cf_score"].notna()]
    # A multi-class table carries the twin's own prediction (`cf_pred`, its argmax class).
    cf_pred = (
        ab["cf_pred"]
        if "cf_pred" in ab
        else (ab["cf_score"].to_numpy(dtype=float) >= THRESHOLD).astype(int)
    )
    twin = ab.assign(
        group=np.where(ab["group"] == group_a, group_b, group_a),
        score=ab["cf_score"],
        pred=cf_pred,
    )
    return pd.concat([ab, twin], ignore_index=True)


def group_rates(preds: pd.DataFrame) -> pd.DataFrame:
    """Per group of a predictions table: TPR, FPR and the support (rows, positives, negatives),
    from fairlearn's `MetricFrame.by_group` (NaN where a group has no positives or negatives)."""
    import warnings

    from fairlearn.metrics import MetricFrame, count, false_positive_rate, true_positive_rate

    y_true = preds["label"].to_numpy(dtype=int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns on empty rows of the confusion matrix
        by = MetricFrame(
            metrics={"tpr": true_positive_rate, "fpr": false_positive_rate, "support": count},
            y_true=y_true,
            y_pred=preds["pred"].to_numpy(dtype=int),
            sensitive_features=preds["group"].to_numpy(),
        ).by_group
    labels = pd.Series(y_true).groupby(preds["group"].to_numpy())
    by["support"] = by["support"].astype(int)
    by["positives"] = labels.sum().reindex(by.index)
    by["negatives"] = by["support"] - by["positives"]
    by["tpr"] = by["tpr"].where(by["positives"] > 0)
    by["fpr"] = by["fpr"].where(by["negatives"] > 0)
    return by.rename_axis("group").reset_index()
