"""Adaptation methods (`train.adaptation`): how a pre-trained model is fine-tuned on the task.
One module per method, each registering an `Adaptation` (`registry`); importing the package
registers them all. None of them imports torch or peft before it runs."""

from bias_sweep.adaptation.registry import (
    ADAPTATIONS,
    Adaptation,
    adapt,
    default_adaptation,
    effective,
    for_eval,
    head_modules,
    parameter_counts,
    plain_model,
    register_adaptation,
    used,
)
from bias_sweep.registry import discover

__all__ = [
    "ADAPTATIONS",
    "Adaptation",
    "adapt",
    "default_adaptation",
    "effective",
    "for_eval",
    "head_modules",
    "parameter_counts",
    "plain_model",
    "register_adaptation",
    "used",
]

discover(__name__, __path__)
