"""The names of the metrics, what each measures, and which ones a report shows by default.

The one list: `extrinsic.compute_metrics` returns the keys of `METRIC_KEYS`, the results table has
a column per name, and reports label their axes from `METRIC_LABELS`.
"""

from __future__ import annotations

METRIC_KEYS = (  # what compute_metrics returns, one column each in results.parquet
    "tpr_gap",
    "fpr_gap",
    "demographic_parity_difference",
    "equalized_odds_difference",
    "subgroup_auc",
    "bpsn_auc",
    "bnsp_auc",
    "flip_rate",
    "ctf_gap",
    "accuracy",
    "f1",
    "roc_auc",
)
INTRINSIC = ("intrinsic_before", "intrinsic_after")  # of the intervened model, per trial
UTILITY = ("accuracy", "f1")
SIGNED = ("tpr_gap", "fpr_gap", "intrinsic_before", "intrinsic_after")  # A - B: sign matters
DEFAULT_REPORT_METRICS = (
    "tpr_gap",
    "fpr_gap",
    "equalized_odds_difference",
    "demographic_parity_difference",
    "flip_rate",
    "ctf_gap",
    "bpsn_auc",
    "bnsp_auc",
    "accuracy",
    "f1",
    "intrinsic_after",
)
METRIC_LABELS = {
    "tpr_gap": "TPR gap, A − B (rate difference)",
    "fpr_gap": "FPR gap, A − B (rate difference)",
    "equalized_odds_difference": "equalized odds difference (max |TPR/FPR gap|)",
    "demographic_parity_difference": "demographic parity difference (|selection-rate gap|)",
    "subgroup_auc": "subgroup AUC (0–1)",
    "bpsn_auc": "BPSN AUC (0–1)",
    "bnsp_auc": "BNSP AUC (0–1)",
    "flip_rate": "counterfactual flip rate (share of examples)",
    "ctf_gap": "counterfactual gap (mean |ΔP(y=1)|)",
    "accuracy": "accuracy (share correct)",
    "f1": "F1 (positive class)",
    "roc_auc": "ROC AUC (0–1)",
    "intrinsic_before": "intrinsic bias before intervention",
    "intrinsic_after": "intrinsic bias after intervention",
}
