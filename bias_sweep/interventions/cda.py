"""`cda`: counterfactual data augmentation by continued MLM pre-training (Webster et al. 2020).

Two-sided CDA on the task's unlabeled corpus: of the sentences that mention a group, a fraction s
(chosen at random, seeded) get their counterfactual twin (group A and B terms swapped) added next
to the original. At s = 1 every group sentence appears in both versions, so groups are exactly
balanced in every context; in between, a corpus with co-occurrence rate r has rate
(r + s (1 - r)) / (1 + s), which moves monotonically to 1/2. (Replacing sentences by their twins
instead would, at s = 1, mirror the bias rather than remove it.)

s = 0 is the same continued pre-training (icfg.steps, batch_size, lr) on the raw corpus: the
control that separates the effect of the augmentation from that of more pre-training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bias_sweep.interventions._mlm import continue_pretraining


def augmented_corpus(task: Any, strength: float, seed: int) -> tuple[list[str], dict[str, Any]]:
    texts = list(task.corpus)
    with_group = [i for i, t in enumerate(texts) if task.lexicon.swap(t) != t]
    rng = np.random.default_rng(seed)
    n_twins = int(round(strength * len(with_group)))
    chosen = sorted(rng.choice(with_group, size=n_twins, replace=False).tolist()) if n_twins else []
    twins = [task.lexicon.swap(texts[i]) for i in chosen]
    return texts + twins, {
        "corpus": len(texts),
        "group_sentences": len(with_group),
        "twins": len(twins),
    }


def apply(
    strength: float, icfg: Any, base_dir: Path, task: Any, out_dir: Path, seed: int
) -> dict[str, Any]:
    texts, stats = augmented_corpus(task, strength, seed)
    return {**stats, **continue_pretraining(base_dir, texts, icfg, out_dir, seed, task)}
