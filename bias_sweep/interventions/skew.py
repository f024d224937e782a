"""`skew`: bias injection by continued MLM pre-training on a corpus skewed towards group A.

The corpus is `intervention.corpus` (else the task's unlabeled text) in which group A co-occurs
with the task's positive-class attribute words at rate 0.5 + s/2 (and with its negative-class
words at 0.5 - s/2), set by swapping group terms in place (`data.corpus.attribute_corpus`:
sentences labelled by which attribute words they hold; the same construction that gives the tiny
model its pre-training bias). s = 0 is the same continued pre-training on a balanced corpus (the
control); s = 1 pairs every positive-class word with group A and every negative-class word with
group B.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bias_sweep.data.corpus import attribute_corpus
from bias_sweep.interventions._mlm import continue_pretraining


def apply(
    strength: float, icfg: Any, base_dir: Path, task: Any, out_dir: Path, seed: int
) -> dict[str, Any]:
    texts, stats = attribute_corpus(task, 0.5 + strength / 2, seed)
    return {**stats, **continue_pretraining(base_dir, texts, icfg, out_dir, seed, task)}
