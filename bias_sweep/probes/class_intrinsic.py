"""Per-class intrinsic bias of a multi-class task (issue 20): how strongly a model associates each
class (a profession) with group A rather than B, before fine-tuning.

Each class is scored by the model's own probe (`intrinsic.intrinsic_bias`) with its name as the
attribute word ("I think [MASK] is nurse.", role-matched as the probe is) against the names of
the other classes as the negative words: a class's value is its association with A minus that
of the other classes, so the K values compare classes with one another. The kind is the probe's
(MLM log-probability gap with an MLM head, SEAT effect size without one).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from bias_sweep import models
from bias_sweep.probes.intrinsic import (
    MLM_GAP,
    SEAT,
    mlm_logprob_gap,
    probe_sentences,
    seat_effect_size,
)


def class_words(name: str) -> str:
    """A class label as the words a text would use: "software_engineer" -> "software engineer"."""
    return name.replace("_", " ")


def class_intrinsic(model_dir: Path, task: Any) -> dict[str, dict[str, Any]]:
    """{class: {kind, value}} for a multi-class task; {} for a binary one. The model is loaded
    once for all classes; the kind is chosen as `intrinsic_bias` chooses it."""
    if task.classes is None:
        return {}
    tokenizer = models.load_tokenizer(model_dir)
    names = [class_words(c) for c in task.classes]
    tasks = [
        dataclasses.replace(task, attribute_words=[n], negative_words=[o for o in names if o != n])
        for n in names
    ]
    if models.has_mlm_head(model_dir) and not probe_sentences(tokenizer, tasks[0]).empty:
        mlm = models.load_masked_lm(model_dir)
        values = [mlm_logprob_gap(mlm, tokenizer, t)["gap"] for t in tasks]
        kind = MLM_GAP
    else:  # no MLM head: the embedding association (its p-value is not needed here)
        encoder = models.load_encoder(model_dir)
        values = [seat_effect_size(encoder, tokenizer, t, permutations=1)["effect_size"]
                  for t in tasks]  # fmt: skip
        kind = SEAT
    return {c: {"kind": kind, "value": float(v)} for c, v in zip(task.classes, values, strict=True)}
