"""Transitional: the metric tables report/ reads, as views of the registry (removed once report/
reads the registry itself)."""

from typing import Any

from bias_sweep.metrics import registry as _r

EVAL_SET_SEPARATOR = _r.EVAL_SET_SEPARATOR
known_metric = _r.known_metric
metric_base = _r.metric_base
_VIEWS = {
    "METRIC_KEYS": _r.metric_keys,
    "INTRINSIC": _r.intrinsic_columns,
    "UTILITY": _r.utility_metrics,
    "SIGNED": _r.signed_differences,
    "METRIC_LABELS": _r.metric_labels,
    "DEFAULT_REPORT_METRICS": _r.default_report_metrics,
    "DEFAULT_EVAL_SET_METRICS": _r.default_eval_set_metrics,
}


def __getattr__(name: str) -> Any:
    if name in _VIEWS:
        return _VIEWS[name]()
    raise AttributeError(name)
