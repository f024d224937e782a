"""`google/civil_comments` (Borkan et al. 2019): comments with a toxicity score; a comment is
toxic (y=1) when its score is at least 0.5. data.positive_label does not apply."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bias_sweep.checks import check
from bias_sweep.data.sources.hub import HubDataset, register_hub_dataset
from bias_sweep.schema import DataConfig

TOXICITY_THRESHOLD = 0.5


def labels(toxicity: pd.Series, cfg: DataConfig) -> tuple[pd.Series, dict[str, Any]]:
    label = (toxicity.astype(float) >= TOXICITY_THRESHOLD).astype("int64")
    return label, {"threshold": TOXICITY_THRESHOLD}


def check_config(cfg: DataConfig) -> None:
    check(
        cfg.positive_label is None,
        "data.positive_label",
        f"null (not used with this dataset: label = toxicity >= {TOXICITY_THRESHOLD})",
        cfg.positive_label,
    )


register_hub_dataset(
    HubDataset("google/civil_comments", "text", "toxicity", labels, check=check_config)
)
