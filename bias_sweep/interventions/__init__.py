"""Bias interventions on the pre-trained model, applied before fine-tuning: one module per method,
each registering a `Method` (`registry`) and saying in its docstring what its strength s in
[0, 1] means.

Each method takes the base model's folder and writes an intervened model (with its tokenizer) as a
`from_pretrained` folder. s = 0 is the method's own control: the same procedure with no
bias-specific change (e.g. the same continued pre-training on the raw corpus), so an effect of s
is the effect of the intervention. Importing the package registers every method of its modules;
none of them imports torch before it runs. A method of your own is one module: see the README's
"Extending".
"""

from bias_sweep.interventions.registry import (
    METHODS,
    InterventionJob,
    Method,
    apply_intervention,
    configured_corpus,
    effective,
    identity_at_zero,
    persistence,
    reference_method,
    register_method,
    strengthless,
    unseeded,
    untrained,
)
from bias_sweep.registry import discover

__all__ = [
    "METHODS",
    "InterventionJob",
    "Method",
    "apply_intervention",
    "configured_corpus",
    "effective",
    "identity_at_zero",
    "persistence",
    "reference_method",
    "register_method",
    "strengthless",
    "unseeded",
    "untrained",
]

discover(__name__, __path__)
