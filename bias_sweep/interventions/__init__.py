"""Bias interventions on the pre-trained model, applied before fine-tuning; registry by name.

Each method takes the base model's folder and writes an intervened model (with its tokenizer) as a
`from_pretrained` folder. Its module's docstring says what the strength s in [0, 1] means. s = 0
is the method's own control: the same procedure with no bias-specific change (e.g. the same
continued pre-training on the raw corpus), so an effect of s is the effect of the intervention.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bias_sweep.data.intervention_corpus import Corpus, is_set, with_corpus
from bias_sweep.errors import UserError
from bias_sweep.interventions import cda, none, projection, random_init, skew

if TYPE_CHECKING:
    from bias_sweep.data import TaskData

Method = Callable[[float, Any, Path, "TaskData", Path, int], dict[str, Any]]

METHODS: dict[str, Method] = {
    "none": none.apply,
    "cda": cda.apply,
    "skew": skew.apply,
    "projection": projection.apply,
    "random-init": random_init.apply,
}


def apply_intervention(
    method: str,
    strength: float,
    icfg: Any,
    base_dir: Path,
    task: TaskData,
    out_dir: Path,
    seed: int,
    corpus: Corpus | None = None,
) -> dict[str, Any]:
    """Write the intervened model into `out_dir` (the caller makes that atomic); return its info.

    `corpus` (`intervention.corpus`, loaded): the text the method learns from in place of the
    task's own (`task.corpus`); None: the task's text.
    """
    if method not in METHODS:
        raise UserError(
            f"intervention.method: {method!r} is not allowed; expected one of {', '.join(METHODS)}"
        )
    if not 0.0 <= float(strength) <= 1.0:
        raise UserError(f"intervention.strength: {strength!r} is not a number in [0, 1]")
    if is_set(getattr(icfg, "corpus", None)) != (corpus is not None):
        raise ValueError("pass the corpus of intervention.corpus exactly when it is set")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    task = with_corpus(task, corpus)
    info = METHODS[method](float(strength), icfg, Path(base_dir), task, out_dir, int(seed))
    if corpus is not None:
        info["corpus"] = corpus.source
    return {"method": method, "strength": float(strength), "seed": int(seed), **info}
