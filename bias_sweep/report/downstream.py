"""The downstream factor of a sweep, as the report's loader reads it.

A binary task's downstream factor is the co-occurrence rate r (`rate`). A multi-class sweep
varies data.skew_scale λ instead (every class's skew scaled by λ: 0 re-balanced, 1 natural), and
is analysed on the rate's scale as r = 0.5 + λ / 2, so that λ = 0 is r = 0.5 (no correlation)
and an unsigned metric's form |r - 0.5| = λ / 2 grows with λ as the classes' gaps do.

A multi-class sweep's per-class rows (per_class.parquet) are read here too (`read_per_class`);
the report's words about them and about the rate's contrasts are `text.contrasts`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

SKEW_SCALE = "data.skew_scale"


def with_downstream_rate(trials: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The trials with `rate` set from data.skew_scale where that varies and the rate does not
    (a multi-class sweep), and the report's note saying so."""
    if SKEW_SCALE not in trials.columns or trials.empty:
        return trials, []
    scale = pd.to_numeric(trials[SKEW_SCALE], errors="coerce")
    if scale.nunique() < 2 or trials["rate"].nunique() > 1:
        return trials, []
    note = (
        "the downstream factor is data.skew_scale λ, analysed as rate = 0.5 + λ/2 "
        "(λ = 0: every class re-balanced, rate 0.5; λ = 1: natural skews, rate 1)"
    )
    return trials.assign(rate=0.5 + scale / 2), [note]


def read_per_class(data: Any) -> pd.DataFrame | None:
    """A sweep's per_class.parquet (multi-class sweeps), or None (a table of runs, a binary
    sweep)."""
    from bias_sweep.sweep.layout import SweepFolder

    if getattr(data, "source", None) != "sweep":
        return None
    path = SweepFolder(data.path).per_class_table
    return pd.read_parquet(path) if path.is_file() else None
