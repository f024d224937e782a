"""The metric registry: every metric declares, where it is defined, what the project needs to know.

A metric is a plain function in fairlearn's style over columns of the predictions table
(`metrics.table`), registered with `@metric(...)`: its name is the function's name, and it says
its label, its kind (how it responds to the co-occurrence rate: `SIGNED` gaps change sign at
r = 0.5, `UNSIGNED` absolute gaps are V-shaped in r, `OTHER` has no expected shape), which rows it
reads (`GROUPS`: the rows of groups A and B; `ALL`: every row), whether it also has a
twin-balanced form (`<name>_twin`), and whether a report shows it by default. A column that the
trial fills from elsewhere (the intervened model's intrinsic bias) is registered the same way,
without a function. Every list of metric names (the results table's columns, the report's labels,
kinds and defaults, the known names that config accepts) is a view of this registry.

An external eval set's metrics have the same names, suffixed with `@<set name>` in the results
table (`eval_set_column`) and prefixed with `<set name>/` in W&B.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bias_sweep.registry import Registry

SIGNED, UNSIGNED, OTHER = "signed", "unsigned", "other"
GROUPS, ALL = "groups", "all"
BINARY, MULTICLASS = "binary", "multiclass"  # the tasks a metric applies to (data.task)
TWIN_SUFFIX = "_twin"
EVAL_SET_SEPARATOR = "@"
# What a metric function may ask for, by parameter name (columns of the predictions table, and
# the names of the two groups compared).
# `train_share`: each row's class's share of group A in the train sample (multi-class tasks).
INPUTS = ("y_true", "y_pred", "y_score", "cf_score", "groups", "a", "b", "train_share")


@dataclass(frozen=True)
class Metric:
    name: str
    label: str  # axis label in figures: what it measures and its scale
    kind: str = OTHER  # SIGNED | UNSIGNED | OTHER: the form of the rate a report regresses it on
    fn: Callable[..., float] | None = None  # None: a column the trial fills (intrinsic bias)
    rows: str = ALL  # GROUPS: the rows of groups A and B only; ALL: every row
    twin: bool = False  # also computed on twin-balanced rows, as `<name>_twin` (rows=GROUPS)
    signed_difference: bool = False  # an A - B difference: 0 is no bias, the sign its direction
    utility: bool = False  # task performance rather than bias
    report: float | None = None  # its place among a report's default metrics (None: on request)
    twin_report: float | None = None  # the same for its twin-balanced form
    eval_set_report: bool = False  # also analysed by default on each external eval set
    tasks: tuple[str, ...] = (BINARY,)  # the tasks it is computed for (labels 0/1, or classes)
    inputs: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        if self.kind not in (SIGNED, UNSIGNED, OTHER):
            raise ValueError(f"metric {self.name}: kind {self.kind!r}")
        if self.rows not in (GROUPS, ALL) or (self.twin and self.rows != GROUPS):
            raise ValueError(f"metric {self.name}: rows {self.rows!r} (a twin form needs GROUPS)")
        if self.fn is not None:
            inputs = tuple(inspect.signature(self.fn).parameters)
            unknown = [p for p in inputs if p not in INPUTS]
            if unknown:
                raise ValueError(f"metric {self.name}: unknown inputs {unknown}; use {INPUTS}")
            object.__setattr__(self, "inputs", inputs)


METRICS: Registry[Metric] = Registry("metric")


def register_metric(spec: Metric) -> Metric:
    return METRICS.register(spec)


def metric(label: str, **facts: Any) -> Callable[[Callable[..., float]], Callable[..., float]]:
    """Register the decorated function as a metric named after it (`facts`: Metric's fields)."""

    def register(fn: Callable[..., float]) -> Callable[..., float]:
        register_metric(Metric(name=fn.__name__, label=label, fn=fn, **facts))
        return fn

    return register


def computed(task: str | None = None) -> list[Metric]:
    """The metrics computed from a predictions table, in registration order (of one task)."""
    return [m for m in METRICS if m.fn is not None and (task is None or task in m.tasks)]


def twin_name(name: str) -> str:
    return f"{name}{TWIN_SUFFIX}"


def group_metric_keys(task: str | None = None) -> tuple[str, ...]:
    """The metrics that also have a twin-balanced form, on natural rows (of one task, or all)."""
    return tuple(m.name for m in computed(task) if m.twin)


def twin_metric_keys(task: str | None = None) -> tuple[str, ...]:
    return tuple(twin_name(name) for name in group_metric_keys(task))


def metric_keys(task: str | None = None) -> tuple[str, ...]:
    """What `compute_metrics` returns for a task (None: every task's, one column each in
    results.parquet): the metrics with a twin-balanced form, their twin forms, the others."""
    rest = tuple(m.name for m in computed(task) if not m.twin)
    return (*group_metric_keys(task), *twin_metric_keys(task), *rest)


def intrinsic_columns() -> tuple[str, ...]:
    """The columns a trial fills from the intervened model's intrinsic bias."""
    return tuple(m.name for m in METRICS if m.fn is None)


def utility_metrics() -> tuple[str, ...]:
    return tuple(m.name for m in METRICS if m.utility)


def _with_twins(pick: Callable[[Metric], bool]) -> tuple[str, ...]:
    return tuple(
        name
        for m in METRICS
        if pick(m)
        for name in ((m.name, twin_name(m.name)) if m.twin else (m.name,))
    )


def signed_differences() -> tuple[str, ...]:
    """A - B differences (twin forms included): figures centre their colour scale on 0."""
    return _with_twins(lambda m: m.signed_difference)


def metric_kinds() -> dict[str, str]:
    """name -> SIGNED / UNSIGNED / OTHER (a twin form or an eval set's column: its metric's)."""
    return {m.name: m.kind for m in METRICS}


def _twin_label(label: str) -> str:
    what, paren, scale = label.partition(" (")
    return f"{what}, twin-balanced rows{paren}{scale}"


def metric_labels() -> dict[str, str]:
    """name -> axis label, twin forms included."""
    labels: dict[str, str] = {}
    for m in METRICS:
        labels[m.name] = m.label
        if m.twin:
            labels[twin_name(m.name)] = _twin_label(m.label)
    return labels


def default_report_metrics() -> tuple[str, ...]:
    """What a report analyses when no metric is asked for, in the order the metrics ask."""
    places = [(m.report, m.name) for m in METRICS if m.report is not None]
    places += [(m.twin_report, twin_name(m.name)) for m in METRICS if m.twin_report is not None]
    return tuple(name for _, name in sorted(places, key=lambda p: p[0]))


def default_eval_set_metrics() -> tuple[str, ...]:
    """Of each external eval set (`<metric>@<set>` columns), what a report analyses by default."""
    return tuple(m.name for m in METRICS if m.eval_set_report)


def eval_set_column(metric: str, set_name: str) -> str:
    """The results-table column of a metric on an external eval set: `tpr_gap@madlibs`."""
    return f"{metric}{EVAL_SET_SEPARATOR}{set_name}"


def eval_set_columns(set_names: list[str]) -> list[str]:
    """Every results-table column of the external eval sets named, set by set."""
    return [eval_set_column(m, name) for name in set_names for m in metric_keys()]


def metric_base(name: str) -> str:
    """The metric a result column measures: `tpr_gap@winobias` (an external eval set) and
    `tpr_gap_twin` (twin-balanced) are tpr_gaps."""
    return str(name).split(EVAL_SET_SEPARATOR, 1)[0].removesuffix(TWIN_SUFFIX)


def known_metrics() -> tuple[str, ...]:
    """Every results-table metric column of the in-domain eval set."""
    return (*metric_keys(), *intrinsic_columns())


def known_metric(name: object) -> bool:
    """A results-table metric column: a metric's name, alone or `@<set>`."""
    if not isinstance(name, str):
        return False
    base, separator, set_name = name.partition(EVAL_SET_SEPARATOR)
    return base in known_metrics() and (not separator or bool(set_name))
