"""The report as a document: the answer first, then the detail, then how it was computed.

Order (issue 11): one paragraph that answers the question for the primary metric (with its CI,
the number of independent intervened models and the manipulation check that licenses it,
`headline`), one figure (the forest plot of variance shares), then per-metric detail: the
effects table, the per-method dose-response, the rate's slope per level, the manipulation check
(and whether it survived fine-tuning), Steed's regression, coverage, the plots over the grid,
the cells, and the method.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bias_sweep.interventions import METHODS, persistence, reference_method, strengthless
from bias_sweep.metrics import INTRINSIC_BEFORE
from bias_sweep.report.load import SweepData
from bias_sweep.report.statistics.analysis import Analysis
from bias_sweep.report.statistics.gate import GATE_LEVEL, MOVED, NOTHING
from bias_sweep.report.statistics.slopes import LEVEL
from bias_sweep.report.statistics.verdict import ALPHA, extra_treatments, is_number, p_value
from bias_sweep.report.text.headline import change_amount, change_text
from bias_sweep.report.text.numbers import ci_text, num, pct, percent, signed
from bias_sweep.report.text.render import MAX_TABLE_ROWS, cells_summary
from bias_sweep.report.text.verdicts import metric_sentence, unidentifiable_sentence

Blocks = list[tuple[str, Any]]
UNREPLICATED_NOTE = "one intervened model per level"


def _p(p: object) -> str:
    return "" if not is_number(p) else "<0.001" if p < 0.001 else f"{p:.3f}"


def _share(row: pd.Series, name: str) -> str:
    value = row.get(name)
    return "" if not is_number(value) else f"{pct(value)}{ci_text(row, name)}"


def _count(x: object) -> int | str:
    return int(x) if is_number(x) else ""


def effects_display(effects: pd.DataFrame) -> pd.DataFrame:
    """The effects table as a reader sees it: shares with CIs, Holm p-values, verdicts."""
    rows = []
    for _, r in effects.iterrows():
        ident = bool(r.get("intervention_identifiable", False))
        bound = _share(r, "share_between_models")
        diff = r.get("share_difference")
        notes = [
            n for n in str(r.get("note") or "").split("; ") if n and UNREPLICATED_NOTE not in n
        ]
        rows.append({
            "model": r["model"], "comparison": r.get("comparison", ""), "metric": r["metric"],
            "verdict": r.get("verdict", ""), "manipulation": r.get("manipulation", ""),
            "rate share": _share(r, "share_rate"),
            "intervention share": _share(r, "share_intervention") if ident
            else (f"≤ {bound} (with model-to-model)" if bound else ""),
            "difference (points)": "" if not is_number(diff)
            else f"{100 * diff:+.0f}{ci_text(r, 'share_difference', points=True)}".replace("-", "−"),
            "p rate (Holm)": _p(p_value(r, "p_rate")),
            "p intervention (Holm)": _p(p_value(r, "p_intervention")) if ident
            else (f"between models {_p(r.get('p_between_models'))}" if bound else ""),
            **{
                key: value
                for t in extra_treatments(r)
                if is_number(r.get(f"n_{t}"))
                for key, value in (
                    (f"{t} share", _share(r, f"share_{t}")),
                    (f"verdict ({t})", r.get(f"verdict_{t}", "")),
                    (f"p {t} (Holm)", _p(p_value(r, f"p_{t}"))),
                )
            },
            "interaction share": _share(r, "share_interaction"),
            "p interaction (Holm)": _p(p_value(r, "p_interaction")),
            "rate form": r.get("rate_form", ""),
            "intervened models": _count(r.get("n_intervened_models")),
            "runs": _count(r.get("n_runs")), "note": "; ".join(notes),
        })  # fmt: skip
    return pd.DataFrame(rows)


def detail_sentences(effects: pd.DataFrame) -> list[str]:
    """One sentence per (model, metric); the caveat that the intervention cannot be told from
    model-to-model variation is said once for all of a model's metrics, not once per metric."""
    out, said = [], set()
    several = set()
    if "comparison" in effects.columns:
        counts = effects.groupby("model")["comparison"].nunique()
        several = set(counts.index[counts > 1])
    for _, row in effects.iterrows():
        text = metric_sentence(row, row["model"] in several)
        caveat = unidentifiable_sentence(row)
        if caveat:
            text = text.replace(f" {caveat}", "")
            if row["model"] not in said:
                said.add(row["model"])
                out.append(f"{row['model']}: {caveat}")
        out.append(text)
    return out


def _estimate(row: pd.Series) -> str:
    if not is_number(row.get("estimate")):
        return ""
    return f"{num(row['estimate'], 3)} [{num(row['ci_low'], 3)}, {num(row['ci_high'], 3)}]"


def dose_display(dose: pd.DataFrame) -> pd.DataFrame:
    cols = ["model", "metric", "method", "effect"]
    out = dose[cols].copy() if len(dose) else pd.DataFrame(columns=cols)
    out["estimate [95% CI]"] = [_estimate(r) for _, r in dose.iterrows()]
    out["p"] = [_p(p) for p in dose.get("p", [])]
    out["intervened models"] = [_count(n) for n in dose.get("n_models", [])]
    out["df"] = [_count(n) for n in dose.get("df", [])]
    out["note"] = list(dose.get("note", []))
    return out


def check_sentences(check: pd.DataFrame) -> list[str]:
    """The manipulation check in words: did the intervention move intrinsic bias (the gate)?"""
    out = []
    for _, r in check.iterrows():
        what = f"{r['model']}, {r['method']}: intrinsic bias ({r.get('intrinsic_kind')})"
        if not is_number(r.get("estimate")):
            out.append(f"{what}: cannot tell ({r.get('note') or 'no estimate'}): void.")
            continue
        n, df = _count(r.get("n_models")), _count(r.get("df"))
        gate = f"{GATE_LEVEL:.1%} CI [{signed(r['gate_ci_low'])}, {signed(r['gate_ci_high'])}]"
        moved = (
            f"the intervention moved intrinsic bias (its {gate} excludes 0)"
            if r.get("status") == MOVED
            else f"no detectable change (its {gate} includes 0): void"
        )
        size = (
            f", {percent(r['relative'])} of the pre-trained model's {signed(r[INTRINSIC_BEFORE])}"
            if is_number(r.get("relative"))
            else ""
        )
        said = change_text(r, r["estimate"], r["ci_low"], r["ci_high"])
        out.append(
            f"{what} {said} (a 95% CI over {n} independent intervened models, one value each,"
            f" df = {df}){size}: {moved}."
        )
    return out


def survival_sentences(survival: pd.DataFrame) -> list[str]:
    """Did the intervention's effect on intrinsic bias survive fine-tuning?"""
    out = []
    for _, r in survival.iterrows():
        what = f"{r['model']}, {r['method']}: the intervention's effect on intrinsic bias"
        after = change_text(r, r["after_estimate"], r["after_ci_low"], r["after_ci_high"])
        before = change_amount(r, r["estimate"], r["ci_low"], r["ci_high"])
        numbers = (
            f"measured on the fine-tuned encoders, intrinsic bias ({r['intrinsic_kind']}) {after}"
            f" (95% CI over {_count(r['after_n_models'])} intervened models, each the mean of"
            f" its fine-tuned models), against {before} before fine-tuning"
        )
        word = r["survival"]
        if word == NOTHING:
            out.append(
                f"{what}: nothing to survive (the intervention had not moved it); {numbers}."
            )
        elif word == "cannot tell":
            out.append(f"{what}: whether it survived fine-tuning cannot be told; {numbers}.")
        else:
            verb = "reversed during" if word == "reversed" else word
            out.append(f"{what} {verb} fine-tuning: {numbers}.")
    return out


def slopes_display(slopes: pd.DataFrame) -> pd.DataFrame:
    """The rate's slope per level and its change, as a reader sees them."""
    rows = []
    for _, r in slopes.iterrows():
        relative = ""
        if is_number(r.get("relative")):
            interval = (
                f" [{percent(r['relative_ci_low'])}, {percent(r['relative_ci_high'])}]"
                if is_number(r.get("relative_ci_low"))
                else " [unbounded]"
            )
            relative = f"{percent(r['relative'])}{interval}"
        rows.append({
            "model": r["model"], "metric": r["metric"], "method": r["method"],
            "rate form": r["rate_form"], "quantity": r["quantity"],
            "level": r["level"] if r["quantity"] == LEVEL else "",
            "estimate [95% CI]": _estimate(r), "relative change [95% CI]": relative,
            "intervened models": _count(r.get("n_models")), "df": _count(r.get("df")),
            "note": r.get("note") or "",
        })  # fmt: skip
    return pd.DataFrame(rows)


def steed_display(steed: pd.DataFrame) -> pd.DataFrame:
    out = []
    for _, r in steed.iterrows():
        coef = r.get("std_coef")
        out.append({
            "model": r["model"], "metric": r["metric"], "intrinsic kind": r.get("intrinsic_kind"),
            "rate form": r.get("rate_form"), "term": r.get("term", ""),
            "std. coef. [95% CI]": "" if not is_number(coef)
            else f"{num(coef)} [{num(r['ci_low'])}, {num(r['ci_high'])}]",
            "p": _p(r.get("p")), "partial R²": num(r.get("partial_r2"), 3)
            if is_number(r.get("partial_r2")) else "",
            "runs": _count(r.get("n_runs")), "intervened models": _count(r.get("n_clusters")),
            "note": r.get("note") or "",
        })  # fmt: skip
    return pd.DataFrame(out)


def _strengthless_text() -> str:
    """The methods without a strength, in words ("none and random-init")."""
    *rest, last = strengthless()
    return f"{', '.join(rest)} and {last}" if rest else last


def method_text(n_boot: int, primary_metric: str) -> str:
    return (
        "Each intervention method is compared with the rate on its own (its levels and the"
        f" pre-trained model, {reference_method()}, as a shared control), so a method that did"
        " not work cannot dilute one that did. The manipulation check gates each comparison: a"
        " method whose change in intrinsic bias after the intervention (slope on strength, or a"
        f" difference from {reference_method()}, one value per intervened model) has a"
        f" {GATE_LEVEL:.1%} CI that includes 0, or no CI, gets 'void' (no verdict); at 99.9% a"
        " method that did nothing passes in 0.1% of sweeps. Per model, comparison and metric the"
        " runs form a split plot: the intervention level (method:strength;"
        f" {_strengthless_text()} are one level each) varies between intervened models, the unit of"
        " replication of the intervention (a sweep names each by its intervention_key, a table by"
        f" model, method, strength and intervention_seed, {reference_method()} being one model);"
        " the co-occurrence"
        " rate varies within them; fine-tuning seeds replicate within an intervened model and"
        " rate. Estimand: the share of the variance of one run over the design (levels weighted"
        " by their runs, rates equally) explained by the rate (as a factor, whatever its shape),"
        " by the intervention, and by their interaction, and the difference of the first two."
        " Estimates: moment (omega²-type) solutions of the split-plot ANOVA on intervened-model x"
        " rate means; F-tests (scipy) of the intervention against the variation between"
        " intervened models within a level, of the rate and the interaction within intervened"
        " models. 95% CIs: percentile intervals of a cluster (residual) bootstrap that resamples"
        f" intervened models and fine-tuning seeds, B = {n_boot}, with a fiducial small-sample"
        " top-up. Verdict: a factor is claimed only if the CI of the share difference excludes 0"
        f" on its side and its own test rejects at {ALPHA:g} after Holm; 'neither' when neither"
        " test rejects; otherwise 'inconclusive'. Holm families, per model: the two tests of the"
        f" primary metric ({primary_metric}); the rate and intervention tests of all other"
        " metrics; all interaction tests. With one intervened model per level the intervention"
        " cannot be told from model-to-model variation: its share is not estimated, the share of"
        " all between-model variation bounds it from above, and only the rate can be claimed"
        " (against that bound). Rate forms: the shares treat the rate as a factor; slopes on the"
        " rate and Steed's regression use r for signed metrics, |r − 0.5| for unsigned ones"
        " (absolute gaps, V-shaped in r) and none for utility metrics. The dose-response and the"
        " manipulation check use one value per intervened model (its mean over rates and seeds):"
        f" OLS on strength within each method, never pooled across methods; {_strengthless_text()}"
        " are contrasts to the pre-trained model. Steed's regression: OLS of the z-scored"
        " extrinsic metric on z-scored intrinsic bias after the intervention and the realised"
        " rate, per model and intrinsic kind and pooled over models with model fixed effects,"
        " standard errors clustered on the intervened model (t with G − 1 df), partial R² per"
        " term. The rate's slope: per intervened model the OLS slope of its rate means on the"
        " rate form; per level their mean with a t-interval over intervened models (variance"
        " pooled over the comparison's levels); its change per unit strength by OLS on strength"
        f" within the method (strengthless methods: the difference from {reference_method()});"
        " relative changes"
        " with Fieller's interval. Cells: means over fine-tuning seeds with 95% t-intervals;"
        " plots: means over intervened models with 95% t-intervals over them (over seeds where a"
        " level has one)."
    )


FOREST_CAPTION = (
    "Variance shares of the co-occurrence rate and of the intervention, per model and metric, "
    "with 95% CIs ({primary} on top, in bold; verdict on the right). A hollow marker is the share "
    "of all between-model variation: an upper bound of the intervention's share where it cannot "
    "be estimated."
)
VERDICT_WORDS = (
    "Verdict words: rate / intervention (that factor explains more variance, the CI of the "
    "difference excludes 0 and its Holm-corrected test rejects), inconclusive (the data cannot "
    "tell), neither (no detectable effect of either), void (the comparison's intervention did "
    "not pass the manipulation check: no verdict). Manipulation: the check's status of the "
    "comparison's method (moved / not moved / cannot tell / not measured)."
)
SLOPES_TEXT = (
    "How steeply each metric follows the co-occurrence rate (its slope on the metric's rate "
    "form, per intervened model), at each intervention level, and how much the intervention "
    "changes that slope per unit strength (strengthless methods: the difference from {reference}), "
    "with 95% CIs over intervened models; the relative change is at the method's largest "
    "strength, against the slope at strength 0 (Fieller's interval). An intervention that "
    "changes amplification shows here even where its main effect averages to 0."
)
GATE_TEXT = (
    "Intrinsic bias after the intervention, one value per intervened model; a method passes "
    "(and its comparison gets a verdict) when the {level} CI of its change excludes 0. After "
    "fine-tuning: the same measure on the fine-tuned encoders (mean over each intervened model's "
    "fine-tuned models), to see whether the effect survived."
)
DOSE_TEXT = (
    "Slope of each metric on the intervention strength within each method, over one value per "
    "intervened model (its mean over rates and seeds), with 95% CIs; {strengthless} are "
    "differences from the pre-trained model."
)
STEED_TEXT = (
    "Extrinsic bias ~ intrinsic bias after the intervention + realised co-occurrence rate (in the "
    "metric's rate form): standardized coefficients with 95% CIs clustered on the intervened "
    "model, and partial R², per model and intrinsic kind and pooled over models with model "
    "fixed effects."
)
FILES_TEXT = (
    "{n} cells; all statistics in cells.csv, all runs in trials.csv; every effect with all its "
    "columns in effects.csv, dose_response.csv, slopes.csv, manipulation_check.csv, "
    "survival.csv and steed.csv."
)


@dataclass(frozen=True)
class Said:
    """What the document says that summary.json says too, each computed once per report."""

    headline: str  # "" where there are no effects
    checks: list[str]  # the manipulation check
    survival: list[str]  # whether its effect survived fine-tuning
    coverage: str


def title(data: SweepData) -> str:
    return f"Bias sweep report: {data.name}" if data.source == "sweep" else f"Report: {data.name}"


def report_blocks(
    data: SweepData,
    analysis: Analysis,
    cells: pd.DataFrame,
    said: Said,
    figures: list[Path],
) -> Blocks:
    """The whole report, as blocks for `render`: `figures` are the written figures (none: no
    plots), the forest plot shown first, the slopes with theirs, the others under Plots."""
    effects, primary = analysis.effects, analysis.primary_metric
    forest = next((f for f in figures if f.name == "forest.png"), None)
    slope_figure = next((f for f in figures if f.name == "slopes.png"), None)
    plots = [f for f in figures if f not in (forest, slope_figure)]
    blocks: Blocks = [("h1", title(data)), ("lead", said.headline or "No runs to analyse yet.")]
    if forest is not None:
        blocks += [("img", forest), ("p", FOREST_CAPTION.format(primary=primary))]
    blocks += [
        ("h2", "Per-metric detail"),
        ("p", VERDICT_WORDS),
        ("table", effects_display(effects)),
        ("ul", detail_sentences(effects) or ["no runs to analyse"]),
    ]
    notes = [*data.notes, *analysis.notes]
    if notes:
        blocks.append(("ul", [f"Note: {n}." for n in notes]))
    blocks += [
        ("h2", "Dose-response per method"),
        ("p", DOSE_TEXT.format(strengthless=_strengthless_text())),
        ("table", dose_display(analysis.dose)),
        ("ul", persistence_sentences(data.trials)),
        ("h2", "The rate's slope per intervention level"),
        ("p", SLOPES_TEXT.format(reference=reference_method())),
        ("table", slopes_display(analysis.slopes)),
        *([("img", slope_figure)] if slope_figure is not None else []),
        ("h2", "Manipulation check"),
        ("p", GATE_TEXT.format(level=f"{GATE_LEVEL:.1%}")),
        ("ul", said.checks or ["no intrinsic bias measured: no check"]),
        *([("ul", said.survival)] if len(analysis.survival) else []),
        ("h2", "Steed's regression"),
        ("p", STEED_TEXT),
        ("table", steed_display(analysis.steed)),
        ("h2", "Coverage"),
        ("p", said.coverage),
    ]
    if plots:
        blocks += [("h2", "Plots"), *[("img", p) for p in plots]]
    blocks += [
        ("h2", "Cells (mean [95% CI] over fine-tuning seeds, per intervened model and rate)"),
        ("table", cells_summary(cells.head(MAX_TABLE_ROWS), data.cell_keys, analysis.metrics)),
        ("p", FILES_TEXT.format(n=len(cells))),
        ("h2", "Method"),
        ("p", method_text(analysis.n_boot, primary)),
    ]
    return blocks


def persistence_sentences(runs: pd.DataFrame) -> list[str]:
    """The sweep's methods grouped by whether fine-tuning can undo them."""
    methods = [m for m in dict.fromkeys(runs.get("method", pd.Series(dtype=object)).dropna())]
    groups: dict[str, list[str]] = {}
    for m in methods:
        if m in METHODS and not METHODS.get(m).pretrained:
            groups.setdefault(persistence(m), []).append(str(m))
    return [f"{kind}: {', '.join(sorted(names))}" for kind, names in sorted(groups.items())]
