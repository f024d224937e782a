"""Extrinsic metrics equal direct computations from the same predictions table."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from bias_sweep.metrics import compute_metrics, metric_keys
from bias_sweep.metrics.registry import BINARY

A, B = "female", "male"
TOL = 1e-12


def random_preds(n: int = 400, seed: int = 0, other: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    groups = np.array([A, B, "neither"] if other else [A, B])
    group = rng.choice(groups, size=n)
    label = rng.integers(0, 2, size=n)
    # Scores lean on the label and on group A, so gaps are non-zero.
    score = np.clip(0.3 * label + 0.15 * (group == A) + rng.uniform(0, 0.6, size=n), 0, 1)
    cf_score = np.clip(score - 0.15 * (group == A) + 0.15 * (group == B), 0, 1)
    return pd.DataFrame(
        {
            "text": [f"text {i}" for i in range(n)],
            "label": label,
            "group": group,
            "score": score,
            "pred": (score >= 0.5).astype(int),
            "cf_score": cf_score,
        }
    )


def hand_preds() -> pd.DataFrame:
    rows = [
        # label, group, score, cf_score
        (1, A, 0.9, 0.8),
        (1, A, 0.4, 0.6),  # flips
        (0, A, 0.7, 0.3),  # flips
        (0, A, 0.2, 0.2),
        (1, B, 0.8, 0.9),
        (1, B, 0.6, 0.6),
        (1, B, 0.3, 0.3),
        (0, B, 0.1, 0.1),
        (0, B, 0.55, 0.45),  # flips
        (0, "neither", 0.6, 0.6),
    ]
    label, group, score, cf = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "text": [f"t{i}" for i in range(len(rows))],
            "label": label,
            "group": group,
            "score": score,
            "pred": [int(s >= 0.5) for s in score],
            "cf_score": cf,
        }
    )


def group_by_hand(y: np.ndarray, p: np.ndarray, s: np.ndarray, g: np.ndarray) -> dict[str, float]:
    """The group metrics counted directly, with boolean masks chosen here."""

    def rate(mask: np.ndarray, cond: np.ndarray) -> float:
        return (p[mask & cond] == 1).sum() / cond[mask].sum()

    a, b = g == A, g == B
    tpr_a, tpr_b = rate(a, y == 1), rate(b, y == 1)
    fpr_a, fpr_b = rate(a, y == 0), rate(b, y == 0)
    sel_a, sel_b = p[a].mean(), p[b].mean()
    bpsn = (b & (y == 1)) | (a & (y == 0))
    bnsp = (b & (y == 0)) | (a & (y == 1))
    return {
        "tpr_gap": tpr_a - tpr_b,
        "fpr_gap": fpr_a - fpr_b,
        "demographic_parity_difference": abs(sel_a - sel_b),
        "equalized_odds_difference": max(abs(tpr_a - tpr_b), abs(fpr_a - fpr_b)),
        "subgroup_auc": roc_auc_score(y[a], s[a]),
        "bpsn_auc": roc_auc_score(y[bpsn], s[bpsn]),
        "bnsp_auc": roc_auc_score(y[bnsp], s[bnsp]),
    }


def by_hand(preds: pd.DataFrame) -> dict[str, float]:
    """The same metrics counted directly; the twin-balanced ones on the A/B rows stacked on
    their twins (other group, cf_score, cf_score >= 0.5)."""
    y = preds["label"].to_numpy()
    p = preds["pred"].to_numpy()
    s = preds["score"].to_numpy()
    cf = preds["cf_score"].to_numpy()
    g = preds["group"].to_numpy()
    ab = (g == A) | (g == B)
    doubled = (
        np.concatenate([y[ab], y[ab]]),
        np.concatenate([p[ab], (cf[ab] >= 0.5).astype(int)]),
        np.concatenate([s[ab], cf[ab]]),
        np.concatenate([g[ab], np.where(g[ab] == A, B, A)]),
    )
    twin = {f"{k}_twin": v for k, v in group_by_hand(*doubled).items()}
    return {
        **group_by_hand(y, p, s, g),
        **twin,
        "flip_rate": ((s >= 0.5) != (cf >= 0.5)).mean(),
        "ctf_gap": np.abs(s - cf).mean(),
        "accuracy": accuracy_score(y, p),
        "f1": f1_score(y, p),
        "roc_auc": roc_auc_score(y, s),
    }


def assert_same(got: dict[str, float], want: dict[str, float]) -> None:
    assert set(got) == set(metric_keys(BINARY))
    for key in metric_keys(BINARY):
        assert got[key] == pytest.approx(float(want[key]), abs=TOL, rel=TOL), key


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_table_matches_direct_computation(seed: int) -> None:
    preds = random_preds(seed=seed)
    assert_same(compute_metrics(preds, A, B), by_hand(preds))


def test_hand_made_table_known_values() -> None:
    preds = hand_preds()
    got = compute_metrics(preds, A, B)
    assert_same(got, by_hand(preds))
    # Counted on paper: A: TPR 1/2, FPR 1/2, selection 2/4; B: TPR 2/3, FPR 1/2, selection 3/5.
    assert got["tpr_gap"] == pytest.approx(0.5 - 2 / 3, abs=TOL)
    assert got["fpr_gap"] == pytest.approx(0.0, abs=TOL)
    assert got["demographic_parity_difference"] == pytest.approx(0.1, abs=TOL)
    assert got["equalized_odds_difference"] == pytest.approx(2 / 3 - 0.5, abs=TOL)
    assert got["flip_rate"] == pytest.approx(3 / 10, abs=TOL)
    assert got["ctf_gap"] == pytest.approx((0.1 + 0.2 + 0.4 + 0.1 + 0.1) / 10, abs=TOL)
    # Subgroup A: positives 0.9, 0.4 vs negatives 0.7, 0.2 -> 3 of 4 pairs ordered right.
    assert got["subgroup_auc"] == pytest.approx(0.75, abs=TOL)
    # BPSN: B positives 0.8, 0.6, 0.3 vs A negatives 0.7, 0.2 -> 4 of 6 pairs.
    assert got["bpsn_auc"] == pytest.approx(4 / 6, abs=TOL)
    # BNSP: A positives 0.9, 0.4 vs B negatives 0.1, 0.55 -> 3 of 4 pairs.
    assert got["bnsp_auc"] == pytest.approx(0.75, abs=TOL)


def test_two_group_table_without_other_rows() -> None:
    preds = random_preds(seed=5, other=False)
    assert_same(compute_metrics(preds, A, B), by_hand(preds))


def test_parquet_round_trip(tmp_path: Path) -> None:
    preds = random_preds(seed=3)
    path = tmp_path / "predictions.parquet"
    preds.to_parquet(path, index=False)
    back = pd.read_parquet(path)
    assert compute_metrics(back, A, B) == compute_metrics(preds, A, B)
    assert_same(compute_metrics(back, A, B), by_hand(preds))


def test_undefined_values_are_nan_not_errors() -> None:
    preds = hand_preds()
    # Group A without positives: TPR of A, EO, subgroup AUC and BNSP AUC are undefined.
    no_pos_a = preds[~((preds["group"] == A) & (preds["label"] == 1))]
    got = compute_metrics(no_pos_a, A, B)
    for key in ("tpr_gap", "equalized_odds_difference", "subgroup_auc", "bnsp_auc"):
        assert math.isnan(got[key]), key
    assert not math.isnan(got["fpr_gap"])
    assert not math.isnan(got["bpsn_auc"])
    # Group B absent: no A-vs-B comparison at all.
    only_a = preds[preds["group"] != B]
    got = compute_metrics(only_a, A, B)
    for key in ("tpr_gap", "fpr_gap", "demographic_parity_difference", "bpsn_auc"):
        assert math.isnan(got[key]), key
    # One class only: AUCs and F1 undefined, accuracy still defined.
    negatives = preds[preds["label"] == 0].assign(pred=0)
    got = compute_metrics(negatives, A, B)
    assert math.isnan(got["roc_auc"]) and math.isnan(got["f1"])
    assert got["accuracy"] == 1.0
    # No counterfactual scores.
    got = compute_metrics(preds.assign(cf_score=np.nan), A, B)
    assert math.isnan(got["flip_rate"]) and math.isnan(got["ctf_gap"])
    # Empty table.
    got = compute_metrics(preds.iloc[:0], A, B)
    assert all(math.isnan(v) for v in got.values())


def test_missing_column_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="cf_score"):
        compute_metrics(hand_preds().drop(columns="cf_score"), A, B)
