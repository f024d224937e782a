"""`LabHC/bias_in_bios` (De-Arteaga et al. 2019): biographies (`hard_text`, the first sentence
left out) with the person's profession and gender. y=1 is one profession, data.positive_label (an
id 0-27 or a name; default nurse, the canonical gender-skewed profession, with enough bios of both
genders, about 12k nurses, 9% men, for resampling at any rate); with data.task=multiclass the
label is the profession, one of 28 classes (De-Arteaga et al.'s task). Its `gender` column (0 = male,
1 = female, from the dataset card) gives the group with the gender lexicon."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bias_sweep.data.sources.hub import HubDataset, register_hub_dataset
from bias_sweep.errors import UserError
from bias_sweep.schema import DataConfig

# `profession` ids, from the dataset card.
PROFESSIONS = (
    "accountant", "architect", "attorney", "chiropractor", "comedian", "composer", "dentist",
    "dietitian", "dj", "filmmaker", "interior_designer", "journalist", "model", "nurse", "painter",
    "paralegal", "pastor", "personal_trainer", "photographer", "physician", "poet", "professor",
    "psychologist", "rapper", "software_engineer", "surgeon", "teacher", "yoga_teacher",
)  # fmt: skip
DEFAULT_PROFESSION = "nurse"
NAME = "LabHC/bias_in_bios"


def profession(positive_label: str | None) -> int:
    """The profession id meaning y=1, from an id or a name (default nurse)."""
    value = DEFAULT_PROFESSION if positive_label is None else str(positive_label).strip().lower()
    if value.isdigit() and int(value) < len(PROFESSIONS):
        return int(value)
    value = value.replace(" ", "_")
    if value not in PROFESSIONS:
        raise UserError(
            f"data.positive_label: '{positive_label}' is not a {NAME} profession "
            f"(an id 0-27 or one of {', '.join(PROFESSIONS)})"
        )
    return PROFESSIONS.index(value)


def labels(professions: pd.Series, cfg: DataConfig) -> tuple[pd.Series, dict[str, Any]]:
    if cfg.task == "multiclass":  # the 28 professions, by name
        ids = professions.astype("int64")
        return ids.map(dict(enumerate(PROFESSIONS))), {"professions": len(PROFESSIONS)}
    positive = profession(cfg.positive_label)
    return (professions.astype("int64") == positive).astype("int64"), {"profession": positive}


def check_config(cfg: DataConfig) -> None:
    if cfg.task == "multiclass":
        return
    profession(cfg.positive_label)


register_hub_dataset(
    HubDataset(
        NAME,
        "hard_text",
        "profession",
        labels,
        gold_group=("gender", "gender", "0", "1"),
        check=check_config,
    )  # fmt: skip
)
