"""Every word of one report, each sentence computed once: the headline, the manipulation check's
sentences, the verdicts and the effects of summary.json are said in report.md/html, in
summary.json, on the command line and in W&B, and are put into words here only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bias_sweep.report.load import SweepData, coverage_text
from bias_sweep.report.statistics.analysis import Analysis
from bias_sweep.report.text.contrasts import class_sentences, contrast_blocks, contrast_sentences
from bias_sweep.report.text.document import (
    Blocks,
    Said,
    check_sentences,
    method_text,
    report_blocks,
    survival_sentences,
    title,
)
from bias_sweep.report.text.headline import lead_text
from bias_sweep.report.text.summary import summary_checks, summary_effects
from bias_sweep.report.text.verdicts import metric_sentence


@dataclass(frozen=True)
class ReportText:
    title: str
    headline: str  # "" where there are no effects
    verdicts: list[str]  # one sentence per (model, comparison, metric)
    blocks: Blocks  # report.md and report.html
    summary: dict[str, Any]  # summary.json

    @property
    def effects(self) -> list[dict]:
        """summary.json's `effects`: each effect's shares, CIs, p-values and verdict."""
        return self.summary["effects"]


def report_text(
    data: SweepData,
    analysis: Analysis,
    cells: pd.DataFrame,
    figures: list[Path],
    per_class: pd.DataFrame | None = None,
) -> ReportText:
    """The words of the report of these runs and their analysis (`figures`: the written ones;
    `per_class`: a multi-class sweep's per-class rows, `downstream.read_per_class`)."""
    primary = analysis.primary_metric
    said = Said(
        headline=lead_text(analysis) if len(analysis.effects) else "",
        checks=check_sentences(analysis.check),
        survival=survival_sentences(analysis.survival),
        coverage=coverage_text(data),
    )
    contrasts = contrast_sentences(data.trials, primary) + class_sentences(per_class)
    blocks = report_blocks(data, analysis, cells, said, figures) + contrast_blocks(contrasts)
    verdicts = [metric_sentence(r) for _, r in analysis.effects.iterrows()]
    name = {"sweep": data.name} if data.source == "sweep" else {"table": str(data.path)}
    summary: dict[str, Any] = {
        **name,
        "source": data.source,
        "primary_metric": primary,
        "headline": said.headline,
        "coverage": said.coverage,
        "effects": summary_effects(analysis.effects),
        "verdicts": verdicts,
        "checks": [*said.checks, *said.survival],
        **summary_checks(analysis),
        "rate_contrasts": contrasts,
        "notes": [*data.notes, *analysis.notes],
        "n_boot": analysis.n_boot,
        "method": method_text(analysis.n_boot, primary),
    }
    return ReportText(title(data), said.headline, verdicts, blocks, summary)
