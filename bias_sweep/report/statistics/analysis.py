"""Everything a report computes from a table of runs, in one place (`analyse`, given a
`Question`: the metrics, the primary one, the bootstrap's replicates and seed): the effects with
their verdicts, the per-method dose-response, the manipulation check with its gate and whether it
survived fine-tuning, Steed's regression, the rate's slopes and, over adaptations, their
interaction with the intervention.

Intrinsic bias comes in kinds on different scales (`intrinsic_kind`: an MLM log-probability gap,
a SEAT effect size, ...). Nothing here puts two kinds together: the manipulation check and Steed's
regression run per kind (pooled over the models that share it), and a model whose runs mix kinds
gets no split-plot analysis of its intrinsic columns (a note says so).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from bias_sweep.metrics import INTRINSIC_AFTER, INTRINSIC_FINETUNED
from bias_sweep.report.statistics.adaptation_interaction import interaction_table
from bias_sweep.report.statistics.effects import N_BOOT, effects_table
from bias_sweep.report.statistics.gate import KIND_UNKNOWN, gate_table, survival_table
from bias_sweep.report.statistics.regressions import (
    dose_response,
    manipulation_check,
    steed_regression,
)
from bias_sweep.report.statistics.slopes import slope_table
from bias_sweep.report.statistics.verdict import add_verdicts


@dataclass
class Analysis:
    primary_metric: str
    metrics: list[str]
    effects: pd.DataFrame  # one row per (model, comparison, metric), with `verdict`
    dose: pd.DataFrame  # per (model, metric, method)
    check: pd.DataFrame  # manipulation check and its gate, per (model, method, intrinsic_kind)
    steed: pd.DataFrame  # per (model or pooled, metric, term, intrinsic_kind)
    n_boot: int
    notes: list[str] = field(default_factory=list)
    slopes: pd.DataFrame = field(default_factory=pd.DataFrame)  # per (model, metric, method)
    survival: pd.DataFrame = field(default_factory=pd.DataFrame)  # the check after fine-tuning
    # per (model, metric) of a sweep over adaptations: intervention x adaptation
    # (`adaptation_interaction`)
    adaptation: pd.DataFrame = field(default_factory=pd.DataFrame)
    # the runs with mixed-kind models' intrinsic columns blanked: what plots may show
    comparable: pd.DataFrame = field(default_factory=pd.DataFrame)


def intrinsic_kinds(runs: pd.DataFrame) -> pd.Series:
    """The intrinsic kind of each run ('kind not given' where the table does not say)."""
    if "intrinsic_kind" not in runs.columns:
        return pd.Series(KIND_UNKNOWN, index=runs.index, dtype=object)
    return runs["intrinsic_kind"].astype(object).where(runs["intrinsic_kind"].notna(), KIND_UNKNOWN)


def mixed_kind_models(runs: pd.DataFrame) -> list[str]:
    """Models whose runs measured intrinsic bias in more than one kind."""
    if runs.empty or INTRINSIC_AFTER not in runs.columns:
        return []
    measured = runs[INTRINSIC_AFTER].notna()
    kinds = intrinsic_kinds(runs)[measured].groupby(runs["model"][measured]).nunique()
    return [str(m) for m in kinds.index[kinds > 1]]


def _per_kind(
    runs: pd.DataFrame, fit: Callable[[pd.DataFrame], tuple[pd.DataFrame, list[str]]]
) -> tuple[pd.DataFrame, list[str]]:
    """fit() on each intrinsic kind's runs, with an `intrinsic_kind` column."""
    kinds = intrinsic_kinds(runs)
    measured = kinds[runs.get(INTRINSIC_AFTER, pd.Series(np.nan, runs.index)).notna()]
    groups = sorted(measured.unique()) or [KIND_UNKNOWN]
    tables, notes = [], []
    for kind in groups:
        table, more = fit(runs[kinds == kind] if len(measured) else runs)
        tables.append(table.assign(intrinsic_kind=kind))
        notes += [n for n in more if n not in notes]
    return pd.concat(tables, ignore_index=True), notes


def mask_mixed_kinds(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The runs with the intrinsic columns of mixed-kind models blanked, and a note: what the
    variance shares, the dose-response and the plots of intrinsic bias may use."""
    mixed = mixed_kind_models(runs)
    if not mixed:
        return runs, []
    intrinsic = [c for c in runs.columns if str(c).startswith("intrinsic_")]
    intrinsic = [c for c in intrinsic if c != "intrinsic_kind"]
    masked = runs.copy()
    masked.loc[masked["model"].isin(mixed), intrinsic] = np.nan
    note = (
        f"{', '.join(mixed)}: intrinsic bias measured in several kinds (not comparable): no "
        "variance shares or plots of its intrinsic columns; the manipulation check and Steed's "
        "regression are per kind"
    )
    return masked, [note]


@dataclass(frozen=True)
class Question:
    """What an analysis asks of the runs: its metrics (the primary first), the primary metric (the
    headline's, with a Holm family of its own), and the bootstrap's replicates and seed."""

    metrics: list[str]
    primary_metric: str
    n_boot: int = N_BOOT
    seed: int = 0


def analyse(runs: pd.DataFrame, question: Question) -> Analysis:
    """The report's numbers for these runs (a sweep's finished trials or a table's rows)."""
    masked, notes = mask_mixed_kinds(runs)
    metrics = question.metrics
    # Many small array problems: multi-threaded BLAS only adds overhead (2-3x slower on a shared
    # 2-core machine), so the statistics run single-threaded.
    with threadpool_limits(1):
        effects, gate, check_notes = _gated_effects(runs, masked, question)
        dose = dose_response(masked, metrics)
        steed, steed_notes = _per_kind(runs, lambda d: steed_regression(d, metrics))
        slopes = slope_table(masked, metrics)
        survival = _survival(runs, gate)
        adaptation = interaction_table(masked, metrics)
    notes += [n for n in (*check_notes, *steed_notes) if n not in notes]
    return Analysis(
        question.primary_metric,
        list(metrics),
        effects,
        dose,
        gate,
        steed,
        question.n_boot,
        notes,
        slopes,
        survival,
        adaptation,
        masked,
    )


def gated_effects(
    runs: pd.DataFrame, question: Question
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The effects with their verdicts, gated by the manipulation check (`void` where a method
    did not move intrinsic bias); the check with its gate; notes."""
    return _gated_effects(runs, mask_mixed_kinds(runs)[0], question)


def _gated_effects(
    runs: pd.DataFrame, masked: pd.DataFrame, question: Question
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """`gated_effects`, given the runs with mixed-kind models' intrinsic columns blanked."""
    table = effects_table(
        masked,
        question.metrics,
        primary_metric=question.primary_metric,
        n_boot=question.n_boot,
        seed=question.seed,
    )
    check, notes = _per_kind(runs, _check)
    gate = gate_table(check, runs)
    return add_verdicts(table, gate=gate), gate, notes


def _check(runs: pd.DataFrame, column: str = INTRINSIC_AFTER) -> tuple[pd.DataFrame, list[str]]:
    table, note = manipulation_check(runs, column)
    return table, [note] if note else []


def _survival(runs: pd.DataFrame, gate: pd.DataFrame) -> pd.DataFrame:
    """The check of intrinsic bias after fine-tuning beside the gate (`gate.survival_table`)."""
    if INTRINSIC_FINETUNED not in runs.columns or runs[INTRINSIC_FINETUNED].isna().all():
        return survival_table(gate, pd.DataFrame())
    finetuned, _ = _per_kind(runs, lambda d: _check(d, INTRINSIC_FINETUNED))
    return survival_table(gate, finetuned)
