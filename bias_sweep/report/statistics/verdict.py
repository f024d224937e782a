"""Numbers into words: the verdict of each (model, comparison, metric) and its sentences.

The verdict is one of `rate`, `intervention`, `inconclusive`, `neither`, `void`:
  * `void`: the comparison's intervention method did not pass the manipulation check (its
    intervened models' intrinsic bias did not differ detectably from its control, or could not
    be shown to; `gate.py`): no verdict, whatever the variance shares say. Otherwise:
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
Where nothing could be estimated or tested (no runs, no residual degrees of freedom) the verdict
is `inconclusive`, not `neither`: no test has looked.

The interaction is reported when its test rejects (after Holm over the model's metrics). It is
called large -- "the answer depends on the level" -- when its share is also at least
LARGE_INTERACTION (1/4) of the larger main share: its spread over levels is then at least half
the main effect's (in standard deviations), enough to change the factor's effect materially from
one level to another. A significant but smaller interaction is said as a qualification.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bias_sweep.report.statistics.gate import VOIDING, comparison_status, comparison_statuses

ALPHA = 0.05
LARGE_INTERACTION = 0.25  # share of the interaction / the larger main share (see the docstring)
VERDICTS = ("rate", "intervention", "inconclusive", "neither", "void")


def is_number(x: object) -> bool:
    return x is not None and bool(np.isfinite(x))


def p_value(row: pd.Series, name: str) -> float:
    value = row.get(f"{name}_holm", np.nan)
    return value if is_number(value) else row.get(name, np.nan)


def verdict_word(row: pd.Series, alpha: float = ALPHA) -> str:
    """The verdict of one effects row (see the module docstring)."""
    tests = (row.get(k) for k in ("p_rate", "p_intervention", "p_between_models"))
    if not any(is_number(p) for p in tests) and not is_number(row.get("share_rate")):
        return "inconclusive"  # nothing estimated, nothing tested: no answer either way
    lo, hi = row.get("share_difference_ci_low"), row.get("share_difference_ci_high")
    p_rate, p_int = p_value(row, "p_rate"), p_value(row, "p_intervention")
    rate_quiet = not (is_number(p_rate) and p_rate < alpha)
    if row.get("n_levels", 0) < 2:  # nothing to compare the rate with
        return "neither" if rate_quiet else "inconclusive"
    if row.get("n_rates", 0) < 2:
        p = p_int if row.get("intervention_identifiable", False) else row.get("p_between_models")
        return "neither" if not (is_number(p) and p < alpha) else "inconclusive"
    if not (is_number(lo) and is_number(hi)):
        return "inconclusive"
    if not row.get("intervention_identifiable", False):
        between = row.get("p_between_models", np.nan)
        if not rate_quiet and lo > 0:
            return "rate"
        quiet = rate_quiet and not (is_number(between) and between < alpha)
        return "neither" if quiet else "inconclusive"
    int_quiet = not (is_number(p_int) and p_int < alpha)
    if rate_quiet and int_quiet:
        return "neither"
    if not rate_quiet and lo > 0:
        return "rate"
    if not int_quiet and hi < 0:
        return "intervention"
    return "inconclusive"


def interaction_matters(row: pd.Series, alpha: float = ALPHA) -> bool:
    """The interaction test rejects after Holm across the model's metrics."""
    p = p_value(row, "p_interaction")
    return bool(is_number(p) and p < alpha)


def interaction_large(row: pd.Series, alpha: float = ALPHA) -> bool:
    """The interaction matters and is large next to the main effects (see the docstring)."""
    if not interaction_matters(row, alpha):
        return False
    mains = [row.get(k) for k in ("share_rate", "share_intervention", "share_between_models")]
    main = max([m for m in mains if is_number(m)], default=0.0)
    inter = row.get("share_interaction")
    return bool(is_number(inter) and inter >= LARGE_INTERACTION * main)


def add_verdicts(
    effects: pd.DataFrame, alpha: float = ALPHA, gate: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The effects table with `manipulation` (the gate's status of the comparison's method;
    `not measured` without a gate table), `verdict` (`void` where the gate failed),
    `interaction_matters` and `interaction_large`."""
    out = effects.copy()
    keys = zip(out["model"], out.get("comparison", pd.Series("", index=out.index)), strict=True)
    statuses = comparison_statuses(gate)
    out["manipulation"] = [comparison_status(statuses, m, c) for m, c in keys]
    words = [verdict_word(r, alpha) for _, r in out.iterrows()]
    void = out["manipulation"].isin(VOIDING).to_numpy()
    out["verdict"] = np.where(void, "void", np.asarray(words, dtype=object))
    out["interaction_matters"] = [interaction_matters(r, alpha) for _, r in out.iterrows()]
    out["interaction_large"] = [interaction_large(r, alpha) for _, r in out.iterrows()]
    return out


def pct(x: float) -> str:
    return "n/a" if not is_number(x) else f"{100 * x:.0f}%"


def ci_text(row: pd.Series, name: str, points: bool = False) -> str:
    lo, hi = row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high")
    if not (is_number(lo) and is_number(hi)):
        return ""
    if points:
        return f" [{100 * lo:+.0f}, {100 * hi:+.0f}]".replace("-", "−")
    return f" [{pct(lo)}, {pct(hi)}]"


def p_text(name: str, p: float) -> str:
    """'p = 0.062', 'p < 0.001' or 'p n/a', with the name: 'p(rate) = 0.062'."""
    return (
        f"{name} n/a"
        if not is_number(p)
        else f"{name} < 0.001"
        if p < 0.001
        else f"{name} = {p:.3f}"
    )


def shares_text(row: pd.Series) -> str:
    """'rate 72% [47%, 80%], intervention 0% [0%, 15%], difference +77 points [+41, +80]'."""
    identifiable = row.get("intervention_identifiable", False)
    iv = "share_intervention" if identifiable else "share_between_models"
    iv_label = "intervention" if identifiable else "intervention and model-to-model variation"
    diff = row.get("share_difference", np.nan)
    diff_text = "n/a" if not is_number(diff) else f"{100 * diff:+.0f}".replace("-", "−")
    return (
        f"the co-occurrence rate explains {pct(row.get('share_rate'))}"
        f"{ci_text(row, 'share_rate')} of the variance, {iv_label} {pct(row.get(iv))}{ci_text(row, iv)}"
        f" (difference {diff_text} points{ci_text(row, 'share_difference', points=True)})"
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
    share = (
        f"{pct(row.get('share_interaction'))}{ci_text(row, 'share_interaction')} of the variance "
        f"({p_text('p', p_value(row, 'p_interaction'))})"
    )
    if interaction_large(row):
        return (
            f"The answer depends on the level: the rate x intervention interaction explains "
            f"{share}, so the rate's effect differs between intervention levels."
        )
    return (
        "The rate's effect also differs a little between intervention levels: the rate x "
        f"intervention interaction explains {share}."
    )


LEADS = {
    "rate": "the co-occurrence rate matters more than the intervention",
    "intervention": "the intervention matters more than the co-occurrence rate",
    "neither": "neither the rate nor the intervention has a detectable effect",
    "inconclusive": "the data cannot tell whether the rate or the intervention matters more",
    "void": "no verdict (void: the intervention did not pass the manipulation check)",
}


def lead(row: pd.Series) -> str:
    return LEADS[row.get("verdict") or verdict_word(row)]


def row_name(row: pd.Series, with_comparison: bool = False) -> str:
    """'tiny-bert, tpr_gap', with '(cda)' where a model has several comparisons."""
    comparison = row.get("comparison")
    named = with_comparison and isinstance(comparison, str) and comparison
    return f"{row['model']}, {row['metric']}" + (f" ({comparison})" if named else "")


def metric_sentence(row: pd.Series, with_comparison: bool = False) -> str:
    """One metric's verdict with its numbers, then the caveats that apply."""
    name = row_name(row, with_comparison)
    if not is_number(row.get("n_runs")) or not row.get("n_runs"):
        return f"{name}: no runs to analyse ({row.get('note', '')})."
    text = (
        f"{name}: {lead(row)}; {shares_text(row)}; "
        f"{p_text('p(rate)', p_value(row, 'p_rate'))}, "
        + (
            p_text("p(intervention)", p_value(row, "p_intervention"))
            if row.get("intervention_identifiable", False)
            else p_text("p(between intervened models)", row.get("p_between_models"))
        )
        + "."
    )
    extra = [unidentifiable_sentence(row), interaction_sentence(row)]
    notes = [n for n in str(row.get("note") or "").split("; ") if n and "cannot be told" not in n]
    if notes:
        extra.append(f"Note: {'; '.join(notes)}.")
    return " ".join([text, *[e for e in extra if e]])


def summary_effects(effects: pd.DataFrame) -> list[dict]:
    """The `effects` list of summary.json: JSON-ready, NaN as None. Shares with their 95% CIs
    ([low, high]); p-values Holm-adjusted where the engine adjusts them (`p_*`), the
    between-model test unadjusted (it only ever blocks a claim)."""

    def num(x: object) -> float | None:
        return float(x) if is_number(x) else None

    def count(x: object) -> int:
        return int(x) if is_number(x) else 0

    def text(x: object) -> str:
        return "" if x is None or (isinstance(x, float) and not np.isfinite(x)) else str(x)

    shares = ("rate", "intervention", "between_models", "interaction", "difference")
    out = []
    for _, row in effects.iterrows():
        entry = {
            "model": row["model"], "comparison": text(row.get("comparison")),
            "metric": row["metric"], "verdict": row.get("verdict") or verdict_word(row),
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
            "p_rate": num(p_value(row, "p_rate")),
            "p_intervention": num(p_value(row, "p_intervention")),
            "p_between_models": num(row.get("p_between_models")),
            "p_interaction": num(p_value(row, "p_interaction")),
            "interaction_matters": interaction_matters(row),
            "interaction_large": interaction_large(row),
            "rate_form": text(row.get("rate_form")), "note": text(row.get("note")),
        })  # fmt: skip
        out.append(entry)
    return out
