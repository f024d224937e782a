"""The report's first paragraph: for the primary metric, each comparison's answer with the
sentences that qualify it.

Per model and comparison (an intervention method against the rate, `effects.comparisons`):
  * the answer and its variance shares with their CIs, or, where the method did not pass the
    manipulation check (`void`), why there is no answer and what to change;
  * the manipulation check: by how much the method moved intrinsic bias, also relative to the
    pre-trained model's, or plainly that it was not checked;
  * where the rate x intervention interaction test rejects, how the intervention changed the
    rate's slope (`slopes.py`), so an intervention that changes amplification is never read as
    doing nothing; and the caveats that change the answer (unreplicated levels, a large
    interaction).
A sweep of one method reads as before: no comparison is named.
In a sweep over adaptations the lead (`lead_text`) adds, per model, whether the adaptation
modifies the intervention's effect (`statistics.adaptation_interaction`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from bias_sweep.interventions import reference_method
from bias_sweep.metrics import INTRINSIC_BEFORE
from bias_sweep.report.adaptation import SEP
from bias_sweep.report.statistics.analysis import Analysis
from bias_sweep.report.statistics.gate import (
    GATE_LEVEL,
    KIND_UNKNOWN,
    MOVED,
    NOT_MEASURED,
    NOT_MOVED,
    deciding_checks,
)
from bias_sweep.report.statistics.slopes import CHANGE, slope_changes
from bias_sweep.report.statistics.verdict import (
    ALPHA,
    extra_treatments,
    interaction_large,
    interaction_matters,
    is_number,
)
from bias_sweep.report.text.numbers import ci_text, p_text, pct, percent, signed
from bias_sweep.report.text.verdicts import (
    interaction_sentence,
    lead,
    shares_text,
    treatment_sentence,
    unidentifiable_sentence,
)
from bias_sweep.schema import ReportConfig

FEW_DF = 4  # below this many residual df, the advice names replication first


def _interval(lo: float, hi: float, show=signed) -> str:
    return f"[{show(lo)}, {show(hi)}]" if is_number(lo) and is_number(hi) else "[n/a]"


def change_amount(row: Mapping[str, Any], estimate: float, lo: float, hi: float) -> str:
    """'−2.39 [−3.22, −1.55] per unit strength' or '... from the pre-trained model (none)'."""
    slope = row.get("effect") == "slope on strength"
    unit = "per unit strength" if slope else f"from {reference_method()}"
    return f"{signed(estimate)} {_interval(lo, hi)} {unit}"


def change_text(row: Mapping[str, Any], estimate: float, lo: float, hi: float) -> str:
    """'changes by −2.39 [−3.22, −1.55] per unit strength' or a difference from none."""
    how = (
        "changes by {} per unit strength"
        if row.get("effect") == "slope on strength"
        else f"differs from the pre-trained model ({reference_method()}) by {{}}"
    )
    return how.format(f"{signed(estimate)} {_interval(lo, hi)}")


def _what(row: Mapping[str, Any]) -> str:
    kind = row.get("intrinsic_kind")
    named = isinstance(kind, str) and kind and kind != KIND_UNKNOWN
    return f"intrinsic bias ({kind})" if named else "intrinsic bias"


def advice(row: Mapping[str, Any] | None) -> str:
    """What to change so that the next sweep's intervention moves intrinsic bias."""
    df = row.get("df") if row is not None else None
    few = not is_number(df) or df < FEW_DF
    replicate = (
        f"more intervened models per strength (intervention.seed; with df = {df:.0f} the "
        "interval is wide), "
        if few and is_number(df)
        else "more intervened models per strength (intervention.seed), "
        if few
        else ""
    )
    return (
        "To get an answer, make the intervention move intrinsic bias first: "
        f"{replicate}more steps or a higher learning rate of its continued pre-training "
        "(intervention.steps, intervention.lr), a corpus that carries the association the "
        "probe reads, or another method."
    )


def void_sentence(check: Mapping[str, Any] | None, status: str, method: str) -> str:
    """Why a method's comparison is void, with the numbers of its check."""
    if status == NOT_MOVED and check is not None:
        n, df = int(check["n_models"]), check["df"]
        said = change_text(check, check["estimate"], check["gate_ci_low"], check["gate_ci_high"])
        why = (
            f"{method} did not detectably move {_what(check)}: it {said}, a {GATE_LEVEL:.1%} CI "
            f"over {n} intervened models (df = {df:.0f}) that includes 0"
        )
    else:
        note = (check.get("note") if check is not None else "") or "no interval"
        where = _what(check) if check is not None else "intrinsic bias"
        why = f"whether {method} moved {where} cannot be told ({note})"
    return (
        f"{why}; an intervention that changes nothing upstream trivially changes nothing "
        "downstream, so its comparison with the co-occurrence rate answers nothing."
    )


def moved_sentence(check: Mapping[str, Any], method: str) -> str:
    """By how much a method that passed the gate moved intrinsic bias, also relatively."""
    said = change_text(check, check["estimate"], check["ci_low"], check["ci_high"])
    before = check.get(INTRINSIC_BEFORE)
    if is_number(check.get("relative")):
        rel = check["relative"], check["relative_ci_low"], check["relative_ci_high"]
        size = (
            f", {percent(rel[0])} {_interval(rel[1], rel[2], percent)} of the pre-trained "
            f"model's {signed(before)}"
        )
    elif is_number(before):
        size = " (the pre-trained model's is 0: no relative size)"
    else:
        size = " (the pre-trained model's is not recorded: no relative size)"
    return (
        f"The manipulation check passed: under {method}, {_what(check)} {said} (95% CI over "
        f"{int(check['n_models'])} intervened models; its {GATE_LEVEL:.1%} CI excludes 0){size}."
    )


def not_checked_sentence() -> str:
    return (
        "The manipulation was not checked: these runs carry no intrinsic bias after the "
        "intervention, so nothing here shows that the intervention moved intrinsic bias."
    )


def slope_sentence(change: Mapping[str, Any] | None, metric: str) -> str:
    """'cda at strength 1 changed the rate's slope (tpr_gap per unit of r) from +0.8 to +0.4
    (−50% [−62%, −38%])', or with the change per unit strength where the relative change is
    unbounded."""
    if change is None or not is_number(change.get("slope_from")):
        return ""
    who = change["method"]
    if change["quantity"] == CHANGE:
        who += f" at strength {change['at_strength']:g}"
    if is_number(change["relative_ci_low"]):
        lo, hi = change["relative_ci_low"], change["relative_ci_high"]
        how = f"{percent(change['relative'])} {_interval(lo, hi, percent)}"
    else:
        interval = _interval(change["ci_low"], change["ci_high"])
        how = f"{signed(change['estimate'])} {interval}; {change['note']}"
    return (
        f"{who} changed the rate's slope ({metric} per unit of {change['rate_form']}) from "
        f"{signed(change['slope_from'])} to {signed(change['slope_to'])} ({how})."
    )


def comparison_paragraph(
    row: pd.Series,
    several: bool,
    check: Mapping[str, Any] | None,
    change: Mapping[str, Any] | None,
) -> list[str]:
    """The sentences of one (model, comparison) for the primary metric: `check` is the
    manipulation check that decided its gate, `change` the change of the rate's slope."""
    metric, model, method = row["metric"], row["model"], str(row.get("comparison") or "")
    subject = f"For {metric} on {model}" + (f", {method} against the rate" if several else "")
    if not is_number(row.get("n_runs")) or not row.get("n_runs"):
        return [f"{subject} there are no runs to analyse."]
    status = row.get("manipulation", NOT_MEASURED)
    counts = f"{int(row['n_intervened_models'])} independent intervened models"
    counts += f" ({int(row['n_runs'])} fine-tuning runs)"
    if row.get("verdict") == "void":
        void = void_sentence(check, status, method)
        parts = [f"{subject}, there is no verdict (void): {void}", advice(check)]
    else:
        parts = [f"{subject}, {lead(row)}: {shares_text(row)}; 95% CIs over {counts}."]
        extra = [t for t in extra_treatments(row) if is_number(row.get(f"n_{t}"))]
        parts += [treatment_sentence(row, t) for t in extra]
        parts.append(unidentifiable_sentence(row))
        if status == MOVED and check is not None:
            parts.append(moved_sentence(check, method))
        elif status == NOT_MEASURED:
            parts.append(not_checked_sentence())
    if interaction_matters(row):
        parts.append(slope_sentence(change, metric))
    # a small interaction is said in the detail only
    parts.append(interaction_sentence(row) if interaction_large(row) else "")
    return [p for p in parts if p]


def headline(
    effects: pd.DataFrame,
    primary_metric: str = ReportConfig.primary_metric,
    gate: pd.DataFrame | None = None,
    slopes: pd.DataFrame | None = None,
) -> str:
    """The first paragraph of the report: the answer for the primary metric, per model and
    comparison, with its CI, the number of independent intervened models behind it, and the
    manipulation check that licenses it (module docstring)."""
    rows = effects[effects["metric"] == primary_metric]
    if rows.empty:
        return f"No results for the primary metric {primary_metric}."
    checks, changes = deciding_checks(gate), slope_changes(slopes)
    parts = []
    for model, model_rows in rows.groupby("model", sort=False):
        several = model_rows.get("comparison", pd.Series(dtype=object)).nunique() > 1
        for _, row in model_rows.iterrows():
            method = str(row.get("comparison") or "")
            check = checks.get((str(model), method))
            change = changes.get((str(model), str(row["metric"]), method))
            parts += comparison_paragraph(row, several, check, change)
    return " ".join(parts)


def interaction_sentences(
    table: pd.DataFrame, effects: pd.DataFrame, primary_metric: str, alpha: float = ALPHA
) -> list[str]:
    """Per model, for the primary metric: whether the adaptation modifies the intervention's
    effect, with the intervention's share under each adaptation."""
    out = []
    for _, row in table[table["metric"] == primary_metric].iterrows():
        p = row["p_interaction"]
        if not is_number(p):
            out.append(f"{primary_metric} on {row['model']}: {row['note']}.")
            continue
        shares = []
        for _, e in effects[effects["metric"] == primary_metric].iterrows():
            if str(e["model"]).startswith(f"{row['model']}{SEP}"):
                under = str(e["model"]).split(SEP, 1)[1]
                share = e.get("share_intervention")
                shares.append(f"{pct(share)}{ci_text(e, 'share_intervention')} under {under}")
        test = f"F({row['df_num']}, {row['df_den']}) = {row['F']:.2f}, {p_text('p', p)}"
        said = "depends on" if p < alpha else "was not shown to depend on"
        out.append(
            f"On {row['model']}, the intervention's effect on {primary_metric} {said} the"
            f" adaptation (intervention x adaptation interaction: {test}); the intervention"
            f" explains {'; '.join(shares)} of the variance."
        )
    return out


def lead_text(analysis: Analysis) -> str:
    """The headline, then, in a sweep over adaptations, whether the adaptation modifies the
    intervention's effect on the primary metric."""
    primary = analysis.primary_metric
    said = interaction_sentences(analysis.adaptation, analysis.effects, primary)
    lead = headline(analysis.effects, primary, analysis.check, analysis.slopes)
    return " ".join([lead, *said])
