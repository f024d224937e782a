"""Group gaps on natural rows and on twin-balanced rows (bias_sweep.metrics)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    true_positive_rate,
)
from sklearn.metrics import roc_auc_score

from bias_sweep.metrics import (
    compute_metrics,
    group_metric_keys,
    metric_keys,
    twin_balanced,
    twin_metric_keys,
)
from bias_sweep.metrics.registry import BINARY

A, B = "male", "female"


def content_confounded(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Texts about A are harder (their positives score low) and the model ignores group terms:
    score == cf_score for every row."""
    rng = np.random.default_rng(seed)
    group = rng.choice([A, B], n)
    label = rng.integers(0, 2, n)
    hard = (group == A) & (rng.random(n) < 0.6)  # content, not the group term
    score = np.clip(0.25 + 0.5 * label - 0.4 * (hard & (label == 1)) + rng.normal(0, 0.1, n), 0, 1)
    return pd.DataFrame(
        {
            "text": [f"t{i}" for i in range(n)],
            "cf_text": [f"twin of t{i}" for i in range(n)],
            "label": label,
            "group": group,
            "score": score,
            "pred": (score >= 0.5).astype(int),
            "cf_score": score,
        }
    )


def test_content_difference_is_a_natural_gap_and_no_twin_gap() -> None:
    preds = content_confounded()
    m = compute_metrics(preds, A, B)
    assert m["tpr_gap"] < -0.3  # A's positives are missed: their texts are harder
    assert m["equalized_odds_difference"] > 0.3
    for key in ("tpr_gap", "fpr_gap", "demographic_parity_difference", "equalized_odds_difference"):
        assert m[f"{key}_twin"] == 0.0, key  # the same texts in both groups, the same scores
    assert m["bpsn_auc_twin"] == pytest.approx(m["bnsp_auc_twin"])
    assert m["flip_rate"] == 0.0


def test_group_term_bias_shows_in_both_gaps() -> None:
    """A model that reads the group term (A's twin scores lower) has a twin gap as well."""
    preds = content_confounded()
    preds["score"] = 0.2 + 0.6 * preds["label"] + 0.35 * (preds["group"] == A)
    preds["cf_score"] = 0.2 + 0.6 * preds["label"] + 0.35 * (preds["group"] == B)
    preds["pred"] = (preds["score"] >= 0.5).astype(int)
    m = compute_metrics(preds, A, B)
    assert m["fpr_gap"] == 1.0 and m["fpr_gap_twin"] == 1.0  # every negative of A, none of B


def doubled_by_hand(preds: pd.DataFrame) -> pd.DataFrame:
    ab = preds[preds["group"].isin([A, B]) & preds["cf_score"].notna()]
    twin = pd.DataFrame(
        {
            "label": ab["label"].to_numpy(),
            "group": [B if g == A else A for g in ab["group"]],
            "score": ab["cf_score"].to_numpy(),
            "pred": [int(s >= 0.5) for s in ab["cf_score"]],
        }
    )
    return pd.concat([ab[["label", "group", "score", "pred"]], twin], ignore_index=True)


@pytest.mark.parametrize("seed", [0, 1])
def test_twin_metrics_equal_fairlearn_and_sklearn_on_the_doubled_table(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    preds = pd.DataFrame(
        {
            "label": rng.integers(0, 2, n),
            "group": rng.choice([A, B, "neither"], n),
            "score": rng.random(n),
        }
    )
    preds["pred"] = (preds["score"] >= 0.5).astype(int)
    preds["cf_score"] = np.where(
        rng.random(n) < 0.1, np.nan, np.clip(preds["score"] + rng.normal(0, 0.2, n), 0, 1)
    )
    doubled = doubled_by_hand(preds)
    assert len(doubled) == 2 * int((preds["group"].isin([A, B]) & preds["cf_score"].notna()).sum())
    ours = twin_balanced(preds, A, B)[["label", "group", "score", "pred"]]
    pd.testing.assert_frame_equal(ours.reset_index(drop=True), doubled, check_dtype=False)

    y, p, g, s = doubled["label"], doubled["pred"], doubled["group"], doubled["score"]
    frame = MetricFrame(
        metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y,
        y_pred=p,
        sensitive_features=g,
    ).by_group
    in_a, in_b = (g == A).to_numpy(), (g == B).to_numpy()
    bpsn = (in_b & (y == 1)) | (in_a & (y == 0))
    bnsp = (in_b & (y == 0)) | (in_a & (y == 1))
    want = {
        "tpr_gap_twin": frame.loc[A, "tpr"] - frame.loc[B, "tpr"],
        "fpr_gap_twin": frame.loc[A, "fpr"] - frame.loc[B, "fpr"],
        "demographic_parity_difference_twin": demographic_parity_difference(
            y, p, sensitive_features=g
        ),
        "equalized_odds_difference_twin": equalized_odds_difference(y, p, sensitive_features=g),
        "subgroup_auc_twin": roc_auc_score(y[in_a], s[in_a]),
        "bpsn_auc_twin": roc_auc_score(y[bpsn], s[bpsn]),
        "bnsp_auc_twin": roc_auc_score(y[bnsp], s[bnsp]),
    }
    got = compute_metrics(preds, A, B)
    assert set(want) == set(twin_metric_keys(BINARY)) and set(got) == set(metric_keys(BINARY))
    for key, value in want.items():
        assert got[key] == pytest.approx(float(value), abs=1e-12), key


def test_twin_metrics_are_nan_without_twin_scores() -> None:
    preds = content_confounded().assign(cf_score=np.nan)
    got = compute_metrics(preds, A, B)
    assert all(math.isnan(got[k]) for k in twin_metric_keys(BINARY))
    assert not any(math.isnan(got[k]) for k in group_metric_keys(BINARY))
