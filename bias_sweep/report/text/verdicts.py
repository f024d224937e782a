"""Each effect's verdict in words: its lead, its variance shares with their CIs, its tests, and the
caveats that apply (the rule itself is `report.statistics.verdict`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bias_sweep.report.statistics.verdict import (
    extra_treatments,
    interaction_large,
    interaction_matters,
    is_number,
    p_value,
    verdict_word,
)
from bias_sweep.report.text.numbers import ci_text, p_text, pct
from bias_sweep.report.treatments import EXTRA_TREATMENTS, difference_name


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


def treatment_sentence(row: pd.Series, treatment: str) -> str:
    """An extra downstream treatment's verdict against the intervention, with its share, the
    difference and its test: 'Scrubbing (data.scrub) matters more than the intervention:
    scrubbing explains 41% [30%, 52%] of the variance (difference from the intervention +39 points [+27,
    +50]); p(scrub) < 0.001.'"""
    label = EXTRA_TREATMENTS[treatment].label
    word = row.get(f"verdict_{treatment}") or verdict_word(row, treatment=treatment)
    leads = {
        treatment: f"{label} matters more than the intervention",
        "intervention": f"the intervention matters more than {label}",
        "neither": f"neither {label} nor the intervention has a detectable effect",
        "inconclusive": f"the data cannot tell whether {label} or the intervention matters more",
        "void": f"{label}: no verdict (void)",
    }
    share = f"share_{treatment}"
    diff = row.get(difference_name(treatment), np.nan)
    diff_text = "n/a" if not is_number(diff) else f"{100 * diff:+.0f}".replace("-", "−")
    sentence = (
        f"{leads[word]}: {EXTRA_TREATMENTS[treatment].noun} explains {pct(row.get(share))}{ci_text(row, share)} of the variance "
        f"(difference from the intervention {diff_text} points"
        f"{ci_text(row, difference_name(treatment), points=True)}); "
        f"{p_text(f'p({treatment})', p_value(row, f'p_{treatment}'))}."
    )
    return sentence[0].upper() + sentence[1:]


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
    extra = [
        *(
            treatment_sentence(row, t)
            for t in extra_treatments(row)
            if is_number(row.get(f"n_{t}"))
        ),
        unidentifiable_sentence(row),
        interaction_sentence(row),
    ]
    notes = [n for n in str(row.get("note") or "").split("; ") if n and "cannot be told" not in n]
    if notes:
        extra.append(f"Note: {'; '.join(notes)}.")
    return " ".join([text, *[e for e in extra if e]])
