"""The downstream treatments a sweep varies within intervened models: the co-occurrence rate and
the extra ones beside it (scrubbing), with the names their columns and shares go by. The split
plot (`statistics.splitplot`) separates each one crossed with the rate; the loader (`strata`)
analyses any other varying axis per value.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

RATE = "rate"


@dataclass(frozen=True)
class Treatment:
    """A downstream treatment beside the rate: its run-table column and how a reader calls it."""

    column: str
    label: str  # where it is first named
    noun: str  # where it is named again


# Downstream treatments beside the co-occurrence rate, by name. Each varies within intervened
# models (a fine-tuning choice, crossed with the rate by the grid), so the split plot's subplot
# is their combination with the rate and each gets its own main effect.
EXTRA_TREATMENTS = {"scrub": Treatment("data.scrub", "scrubbing (data.scrub)", "scrubbing")}


def crossed_treatments(runs: pd.DataFrame) -> list[str]:
    """The extra downstream treatments that vary in the runs, each crossed with the rate (every
    combination of its values and the rates was run): the ones a split plot can separate."""
    out = []
    for name, treatment in EXTRA_TREATMENTS.items():
        column = treatment.column
        if column not in runs.columns or runs[column].astype(str).nunique() < 2:
            continue
        pairs = runs[[RATE, column]].astype(str).drop_duplicates()
        if len(pairs) == runs[RATE].nunique() * runs[column].astype(str).nunique():
            out.append(name)
    return out


def difference_name(treatment: str) -> str:
    """The share-difference key of a treatment against the intervention."""
    return "share_difference" if treatment == RATE else f"share_difference_{treatment}"
