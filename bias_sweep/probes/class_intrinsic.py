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

from bias_sweep.probes.intrinsic import intrinsic_bias


def class_words(name: str) -> str:
    """A class label as the words a text would use: "software_engineer" -> "software engineer"."""
    return name.replace("_", " ")


def class_intrinsic(model_dir: Path, task: Any) -> dict[str, dict[str, Any]]:
    """{class: {kind, value}} for a multi-class task; {} for a binary one."""
    if task.classes is None:
        return {}
    names = [class_words(c) for c in task.classes]
    out = {}
    for c, name in zip(task.classes, names, strict=True):
        others = [n for n in names if n != name]
        one = dataclasses.replace(task, attribute_words=[name], negative_words=others)
        measured = intrinsic_bias(model_dir, one)
        out[c] = {"kind": measured["kind"], "value": float(measured["value"])}
    return out
