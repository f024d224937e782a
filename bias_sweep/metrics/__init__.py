"""Bias metrics: plain functions over one predictions table (fairlearn style), one module per
family, each registered where it is defined with its label, kind and defaults (`registry`).

Importing the package registers every metric of its modules; none of them imports fairlearn or
scikit-learn before it computes, so reading the names is cheap. A metric of your own is one
module (here, or anywhere that is imported before the metrics are used): see the README's
"Extending".
"""

from bias_sweep.metrics.intrinsic import INTRINSIC_AFTER, INTRINSIC_BEFORE, INTRINSIC_FINETUNED
from bias_sweep.metrics.registry import (
    ALL,
    EVAL_SET_SEPARATOR,
    GROUPS,
    METRICS,
    OTHER,
    SIGNED,
    TWIN_SUFFIX,
    UNSIGNED,
    Metric,
    default_eval_set_metrics,
    default_report_metrics,
    eval_set_column,
    eval_set_columns,
    group_metric_keys,
    intrinsic_columns,
    known_metric,
    known_metrics,
    metric,
    metric_base,
    metric_keys,
    metric_kinds,
    metric_labels,
    register_metric,
    signed_differences,
    twin_metric_keys,
    utility_metrics,
)
from bias_sweep.metrics.table import THRESHOLD, compute_metrics, twin_balanced
from bias_sweep.registry import discover

__all__ = [
    "ALL",
    "EVAL_SET_SEPARATOR",
    "GROUPS",
    "INTRINSIC_AFTER",
    "INTRINSIC_BEFORE",
    "INTRINSIC_FINETUNED",
    "METRICS",
    "OTHER",
    "SIGNED",
    "THRESHOLD",
    "TWIN_SUFFIX",
    "UNSIGNED",
    "Metric",
    "compute_metrics",
    "default_eval_set_metrics",
    "default_report_metrics",
    "eval_set_column",
    "eval_set_columns",
    "group_metric_keys",
    "intrinsic_columns",
    "known_metric",
    "known_metrics",
    "metric",
    "metric_base",
    "metric_keys",
    "metric_kinds",
    "metric_labels",
    "register_metric",
    "signed_differences",
    "twin_balanced",
    "twin_metric_keys",
    "utility_metrics",
]

discover(__name__, __path__)
