"""summary.json's lists: the effects with their verdicts (`summary_effects`), and beside them
the manipulation check with its gate, whether its effect survived fine-tuning, and the changes
of the rate's slope (JSON-ready, NaN as None)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bias_sweep.metrics import INTRINSIC_BEFORE
from bias_sweep.report.statistics import verdict as rule
from bias_sweep.report.statistics.analysis import Analysis
from bias_sweep.report.statistics.slopes import LEVEL
from bias_sweep.report.treatments import difference_name

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


def summary_effects(effects: pd.DataFrame) -> list[dict]:
    """The `effects` list of summary.json: JSON-ready, NaN as None. Shares with their 95% CIs
    ([low, high]); p-values Holm-adjusted where the engine adjusts them (`p_*`), the
    between-model test unadjusted (it only ever blocks a claim)."""

    def num(x: object) -> float | None:
        return float(x) if rule.is_number(x) else None

    def count(x: object) -> int:
        return int(x) if rule.is_number(x) else 0

    def text(x: object) -> str:
        return "" if x is None or (isinstance(x, float) and not np.isfinite(x)) else str(x)

    shares = ("rate", "intervention", "between_models", "interaction", "difference")
    out = []
    for _, row in effects.iterrows():
        entry = {
            "model": row["model"], "comparison": text(row.get("comparison")),
            "metric": row["metric"], "verdict": row.get("verdict") or rule.verdict_word(row),
            "manipulation": text(row.get("manipulation")),
        }  # fmt: skip
        for name in shares:
            key = f"share_{name}"
            entry[key] = num(row.get(key))
            entry[f"{key}_ci"] = [num(row.get(f"{key}_ci_low")), num(row.get(f"{key}_ci_high"))]
        entry.update({
            "difference_of": text(row.get("difference_of")),
            "intervention_identifiable": bool(row.get("intervention_identifiable", False)),
            "n_intervened_models": count(row.get("n_intervened_models")),
            "models_per_level_min": count(row.get("models_per_level_min")),
            "n_runs": count(row.get("n_runs")),
            "p_rate": num(rule.p_value(row, "p_rate")),
            "p_intervention": num(rule.p_value(row, "p_intervention")),
            "p_between_models": num(row.get("p_between_models")),
            "p_interaction": num(rule.p_value(row, "p_interaction")),
            "interaction_matters": rule.interaction_matters(row),
            "interaction_large": rule.interaction_large(row),
            "rate_form": text(row.get("rate_form")), "note": text(row.get("note")),
        })  # fmt: skip
        for t in rule.extra_treatments(row):  # scrubbing: its verdict, share, difference and test
            entry[f"verdict_{t}"] = text(row.get(f"verdict_{t}"))
            for key in (f"share_{t}", difference_name(t)):
                entry[key] = num(row.get(key))
                entry[f"{key}_ci"] = [num(row.get(f"{key}_ci_low")), num(row.get(f"{key}_ci_high"))]
            entry[f"p_{t}"] = num(rule.p_value(row, f"p_{t}"))
        out.append(entry)
    return out
