"""Numbers into words: the verdict of each (model, metric) and the sentences a reader sees.

The verdict is one of `rate`, `intervention`, `inconclusive`, `neither`:
  * a factor is claimed (rate / intervention) only if the 95% CI of share_rate -
    share_intervention excludes 0 on its side AND its own test rejects at ALPHA after Holm
    over the two factors (for non-primary metrics, over both factors of all non-primary
    metrics). The Holm step alone bounds the chance of any false claim by ALPHA when neither
    factor acts, whatever the bootstrap does; the CI makes the claim a comparison;
  * `neither`: neither test rejects (after Holm);
  * `inconclusive`: everything else, e.g. both act and the CI of the difference includes 0.
With one intervened model per level the intervention cannot be told from model-to-model
variation: only the rate can be claimed, and only if its share exceeds, with the CI of the
difference, the whole share of the between-model variation (an upper bound for the
intervention's share); `neither` needs both the rate test and the between-model test to be
quiet. With one intervention level or one rate there is nothing to compare: never a claim.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ALPHA = 0.05
VERDICTS = ("rate", "intervention", "inconclusive", "neither")


def _ok(x: object) -> bool:
    return x is not None and bool(np.isfinite(x))


def _p(row: pd.Series, name: str) -> float:
    value = row.get(f"{name}_holm", np.nan)
    return value if _ok(value) else row.get(name, np.nan)


def verdict_word(row: pd.Series, alpha: float = ALPHA) -> str:
    """The verdict of one effects row (see the module docstring)."""
    lo, hi = row.get("share_difference_ci_low"), row.get("share_difference_ci_high")
    p_rate, p_int = _p(row, "p_rate"), _p(row, "p_intervention")
    rate_quiet = not (_ok(p_rate) and p_rate < alpha)
    if row.get("n_levels", 0) < 2:  # nothing to compare the rate with
        return "neither" if rate_quiet else "inconclusive"
    if row.get("n_rates", 0) < 2:
        p = p_int if row.get("intervention_identifiable", False) else row.get("p_between_models")
        return "neither" if not (_ok(p) and p < alpha) else "inconclusive"
    if not (_ok(lo) and _ok(hi)):
        return "inconclusive"
    if not row.get("intervention_identifiable", False):
        between = row.get("p_between_models", np.nan)
        if not rate_quiet and lo > 0:
            return "rate"
        quiet = rate_quiet and not (_ok(between) and between < alpha)
        return "neither" if quiet else "inconclusive"
    int_quiet = not (_ok(p_int) and p_int < alpha)
    if rate_quiet and int_quiet:
        return "neither"
    if not rate_quiet and lo > 0:
        return "rate"
    if not int_quiet and hi < 0:
        return "intervention"
    return "inconclusive"


def interaction_matters(row: pd.Series, alpha: float = ALPHA) -> bool:
    """The interaction test rejects after Holm across the model's metrics."""
    p = _p(row, "p_interaction")
    return bool(_ok(p) and p < alpha)


def add_verdicts(effects: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """The effects table with `verdict` and `interaction_matters` columns."""
    out = effects.copy()
    out["verdict"] = [verdict_word(r, alpha) for _, r in out.iterrows()]
    out["interaction_matters"] = [interaction_matters(r, alpha) for _, r in out.iterrows()]
    return out


def _pct(x: float) -> str:
    return "n/a" if not _ok(x) else f"{100 * x:.0f}%"


def _ci(row: pd.Series, name: str, points: bool = False) -> str:
    lo, hi = row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high")
    if not (_ok(lo) and _ok(hi)):
        return ""
    if points:
        return f" [{100 * lo:+.0f}, {100 * hi:+.0f}]".replace("-", "−")
    return f" [{_pct(lo)}, {_pct(hi)}]"


def _pval(name: str, p: float) -> str:
    """'p = 0.062', 'p < 0.001' or 'p n/a', with the name: 'p(rate) = 0.062'."""
    return f"{name} n/a" if not _ok(p) else f"{name} < 0.001" if p < 0.001 else f"{name} = {p:.3f}"


def shares_text(row: pd.Series) -> str:
    """'rate 72% [47%, 80%], intervention 0% [0%, 15%], difference +77 points [+41, +80]'."""
    identifiable = row.get("intervention_identifiable", False)
    iv = "share_intervention" if identifiable else "share_between_models"
    iv_label = "intervention" if identifiable else "intervention and model-to-model variation"
    diff = row.get("share_difference", np.nan)
    diff_text = "n/a" if not _ok(diff) else f"{100 * diff:+.0f}".replace("-", "−")
    return (
        f"the co-occurrence rate explains {_pct(row.get('share_rate'))}"
        f"{_ci(row, 'share_rate')} of the variance, {iv_label} {_pct(row.get(iv))}{_ci(row, iv)}"
        f" (difference {diff_text} points{_ci(row, 'share_difference', points=True)})"
    )


def unidentifiable_sentence(row: pd.Series) -> str:
    if row.get("intervention_identifiable", False) or row.get("n_levels", 0) < 2:
        return ""
    return (
        "With one intervened model per intervention level, the intervention's effect cannot be "
        "told from model-to-model variation; more intervened models per level "
        "(intervention replicates) are needed to claim it."
    )


def interaction_sentence(row: pd.Series) -> str:
    if not interaction_matters(row):
        return ""
    return (
        f"The answer depends on the level: the rate x intervention interaction explains "
        f"{_pct(row.get('share_interaction'))}{_ci(row, 'share_interaction')} of the variance "
        f"({_pval('p', _p(row, 'p_interaction'))}), so the rate's effect differs between "
        "intervention levels."
    )


def _lead(row: pd.Series) -> str:
    word = row.get("verdict") or verdict_word(row)
    return {
        "rate": "the co-occurrence rate matters more than the intervention",
        "intervention": "the intervention matters more than the co-occurrence rate",
        "neither": "neither the rate nor the intervention has a detectable effect",
        "inconclusive": "the data cannot tell whether the rate or the intervention matters more",
    }[word]


def metric_sentence(row: pd.Series) -> str:
    """One metric's verdict with its numbers, then the caveats that apply."""
    if not _ok(row.get("n_runs")) or not row.get("n_runs"):
        return f"{row['model']}, {row['metric']}: no runs to analyse ({row.get('note', '')})."
    text = (
        f"{row['model']}, {row['metric']}: {_lead(row)}; {shares_text(row)}; "
        f"{_pval('p(rate)', _p(row, 'p_rate'))}, "
        + (
            _pval("p(intervention)", _p(row, "p_intervention"))
            if row.get("intervention_identifiable", False)
            else _pval("p(between intervened models)", row.get("p_between_models"))
        )
        + "."
    )
    extra = [unidentifiable_sentence(row), interaction_sentence(row)]
    notes = [n for n in str(row.get("note") or "").split("; ") if n and "cannot be told" not in n]
    if notes:
        extra.append(f"Note: {'; '.join(notes)}.")
    return " ".join([text, *[e for e in extra if e]])


def headline(effects: pd.DataFrame, primary_metric: str = "tpr_gap") -> str:
    """The first sentence of the report: the answer for the primary metric, per model, with
    its CI and the number of independent intervened models behind it."""
    rows = effects[effects["metric"] == primary_metric]
    if rows.empty:
        return f"No results for the primary metric {primary_metric}."
    parts = []
    for _, row in rows.iterrows():
        if not _ok(row.get("n_runs")) or not row.get("n_runs"):
            parts.append(f"For {primary_metric} on {row['model']} there are no runs to analyse.")
            continue
        n_models, n_runs = int(row["n_intervened_models"]), int(row["n_runs"])
        parts.append(
            f"For {primary_metric} on {row['model']}, {_lead(row)}: {shares_text(row)}; 95% CIs "
            f"over {n_models} independent intervened models ({n_runs} fine-tuning runs)."
        )
        parts += [s for s in (unidentifiable_sentence(row), interaction_sentence(row)) if s]
    return " ".join(parts)


def summary_effects(effects: pd.DataFrame) -> list[dict]:
    """The `effects` list of summary.json: JSON-ready, NaN as None."""

    def num(x: object) -> float | None:
        return float(x) if _ok(x) else None

    def count(x: object) -> int:
        return int(x) if _ok(x) else 0

    out = []
    for _, row in effects.iterrows():
        out.append({
            "model": row["model"], "metric": row["metric"],
            "verdict": row.get("verdict") or verdict_word(row),
            "share_rate": num(row.get("share_rate")),
            "share_intervention": num(row.get("share_intervention")),
            "share_between_models": num(row.get("share_between_models")),
            "share_interaction": num(row.get("share_interaction")),
            "share_difference": num(row.get("share_difference")),
            "share_difference_ci": [num(row.get("share_difference_ci_low")),
                                    num(row.get("share_difference_ci_high"))],
            "intervention_identifiable": bool(row.get("intervention_identifiable", False)),
            "n_intervened_models": count(row.get("n_intervened_models")),
            "n_runs": count(row.get("n_runs")),
            "p_rate": num(_p(row, "p_rate")), "p_intervention": num(_p(row, "p_intervention")),
            "interaction_matters": interaction_matters(row),
        })  # fmt: skip
    return out
