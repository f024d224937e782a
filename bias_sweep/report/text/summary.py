"""summary.json's lists beside the effects: the manipulation check with its gate, whether its
effect survived fine-tuning, and the changes of the rate's slope (JSON-ready, NaN as None)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bias_sweep.metrics import INTRINSIC_BEFORE
from bias_sweep.report.statistics.analysis import Analysis
from bias_sweep.report.statistics.slopes import LEVEL

MANIPULATION = (
    "model", "method", "intrinsic_kind", "status", "effect", "estimate", "ci_low", "ci_high",
    "gate_ci_low", "gate_ci_high", INTRINSIC_BEFORE, "relative", "relative_ci_low",
    "relative_ci_high", "n_models", "df", "note",
)  # fmt: skip
SURVIVAL = (
    "model", "method", "intrinsic_kind", "survival", "estimate", "ci_low", "ci_high",
    "after_estimate", "after_ci_low", "after_ci_high", "after_n_models", "after_df",
)  # fmt: skip
SLOPE_CHANGES = (
    "model", "metric", "method", "rate_form", "quantity", "estimate", "ci_low", "ci_high", "p",
    "at_strength", "slope_from", "slope_to", "relative", "relative_ci_low", "relative_ci_high",
    "n_models", "df", "note",
)  # fmt: skip


def _value(x: Any) -> Any:
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return None if x is pd.NA or x is None else x


def records(table: pd.DataFrame, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """The table's rows as dicts of these columns (those it has)."""
    cols = [c for c in columns if c in table.columns]
    return [{c: _value(v) for c, v in zip(cols, row, strict=True)} for row in table[cols].values]


def summary_checks(analysis: Analysis) -> dict[str, list[dict[str, Any]]]:
    """`manipulation` (per model, method and intrinsic kind: the gate), `survival` (through
    fine-tuning) and `slope_changes` (per model, metric and method)."""
    slopes = analysis.slopes
    changes = slopes[slopes["quantity"] != LEVEL] if len(slopes) else slopes
    return {
        "manipulation": records(analysis.check, MANIPULATION),
        "survival": records(analysis.survival, SURVIVAL),
        "slope_changes": records(changes, SLOPE_CHANGES),
    }
