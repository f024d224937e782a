"""Grid axes the statistics do not model, analysed as strata.

The report's statistics model the co-occurrence rate (or data.skew_scale in its place), the
extra downstream treatments crossed with it (data.scrub: `splitplot.EXTRA_TREATMENTS`), the
intervention level, its intervened models and the seeds. A sweep can vary other settings too
(train.lr, intervention.steps, ...). Pooling their values as if they were seeds would
hide their effect in the noise and mix different treatments in one cell, so each combination of
their values is analysed as a unit of its own, like a model ("tiny-bert · data.scrub=terms"), and
the report says so. Their own effects are not estimated beside the rate and the intervention.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from bias_sweep.report.adaptation import SEP
from bias_sweep.report.downstream import SKEW_SCALE
from bias_sweep.report.treatments import EXTRA_TREATMENTS, crossed_treatments
from bias_sweep.sweep.grid import USUAL_AXES


def unmodelled_axes(runs: pd.DataFrame, axes: Sequence[str], skew_as_rate: bool) -> list[str]:
    """The axes among `axes` that vary in the runs and that the statistics do not model (an
    extra downstream treatment is modelled where it is crossed with the rate)."""
    crossed = [EXTRA_TREATMENTS[t].column for t in crossed_treatments(runs)] if len(runs) else []
    modelled = {*USUAL_AXES, *((SKEW_SCALE,) if skew_as_rate else ()), *crossed}
    return [
        a
        for a in axes
        if a in runs.columns and a not in modelled and runs[a].astype(str).nunique() > 1
    ]


def by_strata(
    runs: pd.DataFrame, axes: Sequence[str], skew_as_rate: bool = False
) -> tuple[pd.DataFrame, list[str]]:
    """The runs with `model` naming their stratum where unmodelled axes vary, and the note."""
    varying = unmodelled_axes(runs, axes, skew_as_rate)
    if not varying or runs.empty:
        return runs, []
    first, *rest = (a + "=" + runs[a].astype(str) for a in varying)
    label = first.str.cat(rest, sep=", ") if rest else first
    out = runs.assign(model=runs["model"].astype(str) + SEP + label)
    note = (
        f"{', '.join(varying)} varies: each of its values is analysed as a unit of its own (like a "
        "model); its own effect is not estimated beside the rate and the intervention"
    )
    return out, [note]
