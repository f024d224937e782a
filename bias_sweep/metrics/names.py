"""The names of the metrics, what each measures, and which ones a report shows by default.

The one list: `extrinsic.compute_metrics` returns the keys of `METRIC_KEYS`, the results table has
a column per name, and reports label their axes from `METRIC_LABELS`.

Group metrics come twice: on natural rows (`tpr_gap`: texts that mention each group, as they
are) and on twin-balanced rows (`tpr_gap_twin`: every eval text in both groups, as itself and as
its counterfactual twin), where a content difference between texts about A and texts about B
cannot pass for model bias. An external eval set's metrics have the same names, suffixed with
`@<set name>` in the results table (`eval_set_column`) and prefixed with `<set name>/` in W&B.
"""

from __future__ import annotations

GROUP_METRIC_KEYS = (  # on natural rows: the texts that mention each group
    "tpr_gap",
    "fpr_gap",
    "demographic_parity_difference",
    "equalized_odds_difference",
    "subgroup_auc",
    "bpsn_auc",
    "bnsp_auc",
)
TWIN_SUFFIX = "_twin"
TWIN_METRIC_KEYS = tuple(f"{k}{TWIN_SUFFIX}" for k in GROUP_METRIC_KEYS)  # twin-balanced rows
METRIC_KEYS = (  # what compute_metrics returns, one column each in results.parquet
    *GROUP_METRIC_KEYS,
    *TWIN_METRIC_KEYS,
    "flip_rate",
    "ctf_gap",
    "accuracy",
    "f1",
    "roc_auc",
)
# of the pre-trained and the intervened model, and of the fine-tuned encoder, per trial
INTRINSIC = ("intrinsic_before", "intrinsic_after", "intrinsic_finetuned")
UTILITY = ("accuracy", "f1")
SIGNED = (  # A - B: sign matters
    "tpr_gap",
    "fpr_gap",
    "tpr_gap_twin",
    "fpr_gap_twin",
    "intrinsic_before",
    "intrinsic_after",
    "intrinsic_finetuned",
)
EVAL_SET_SEPARATOR = "@"


def eval_set_column(metric: str, set_name: str) -> str:
    """The results-table column of a metric on an external eval set: `tpr_gap@madlibs`."""
    return f"{metric}{EVAL_SET_SEPARATOR}{set_name}"


def eval_set_columns(set_names: list[str]) -> list[str]:
    """Every results-table column of the external eval sets named, set by set."""
    return [eval_set_column(m, name) for name in set_names for m in METRIC_KEYS]


def metric_base(name: str) -> str:
    """The metric a result column measures: `tpr_gap@winobias` (an external eval set) and
    `tpr_gap_twin` (twin-balanced) are tpr_gaps."""
    return str(name).split(EVAL_SET_SEPARATOR, 1)[0].removesuffix(TWIN_SUFFIX)


def known_metric(name: object) -> bool:
    """A results-table metric column: a metric's name, alone or `@<set>`."""
    if not isinstance(name, str):
        return False
    metric, separator, set_name = name.partition(EVAL_SET_SEPARATOR)
    return metric in (*METRIC_KEYS, *INTRINSIC) and (not separator or bool(set_name))


DEFAULT_REPORT_METRICS = (
    "tpr_gap",
    "fpr_gap",
    "tpr_gap_twin",
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
# Of each external eval set (`<metric>@<set>` columns), what a report analyses by default.
DEFAULT_EVAL_SET_METRICS = ("tpr_gap", "fpr_gap")
METRIC_LABELS = {
    "tpr_gap": "TPR gap, A − B (rate difference)",
    "fpr_gap": "FPR gap, A − B (rate difference)",
    "equalized_odds_difference": "equalized odds difference (max |TPR/FPR gap|)",
    "demographic_parity_difference": "demographic parity difference (|selection-rate gap|)",
    "subgroup_auc": "subgroup AUC (0–1)",
    "bpsn_auc": "BPSN AUC (0–1)",
    "bnsp_auc": "BNSP AUC (0–1)",
    "tpr_gap_twin": "TPR gap, A − B, twin-balanced rows (rate difference)",
    "fpr_gap_twin": "FPR gap, A − B, twin-balanced rows (rate difference)",
    "equalized_odds_difference_twin": "equalized odds difference, twin-balanced rows",
    "demographic_parity_difference_twin": "demographic parity difference, twin-balanced rows",
    "subgroup_auc_twin": "subgroup AUC, twin-balanced rows (0–1)",
    "bpsn_auc_twin": "BPSN AUC, twin-balanced rows (0–1)",
    "bnsp_auc_twin": "BNSP AUC, twin-balanced rows (0–1)",
    "flip_rate": "counterfactual flip rate (share of examples)",
    "ctf_gap": "counterfactual gap (mean |ΔP(y=1)|)",
    "accuracy": "accuracy (share correct)",
    "f1": "F1 (positive class)",
    "roc_auc": "ROC AUC (0–1)",
    "intrinsic_before": "intrinsic bias before intervention",
    "intrinsic_after": "intrinsic bias after intervention",
    "intrinsic_finetuned": "intrinsic bias after fine-tuning",
}
