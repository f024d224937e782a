"""The adaptation as a unit of the report (`train.adaptation`: full, frozen, lora).

An upstream intervention can matter under one adaptation and not another (a linear probe keeps
the encoder's bias, full fine-tuning can move it), so a sweep over adaptations is analysed per
adaptation: each (model, adaptation) is a unit of its own ("tiny-bert · frozen") in the shares,
verdicts and headline, which then name the adaptation they speak of. Whether the adaptation
modifies the intervention's effect is tested in `statistics.adaptation_interaction`.
"""

from __future__ import annotations

import pandas as pd

ADAPTATION = "adaptation"
BASE_MODEL = "base_model"
SEP = " · "


def by_adaptation(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs with `model` naming the adaptation ("tiny-bert · frozen") where they hold more
    than one, and the model itself in `base_model`."""
    if ADAPTATION not in runs.columns or runs[ADAPTATION].nunique(dropna=True) < 2:
        return runs
    out = runs.copy()
    out[BASE_MODEL] = runs["model"]
    out["model"] = runs["model"].astype(str) + SEP + runs[ADAPTATION].astype(str)
    return out
