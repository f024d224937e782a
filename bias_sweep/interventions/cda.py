"""`cda`: counterfactual data augmentation by continued MLM pre-training (Webster et al. 2020).

The corpus is `intervention.corpus` where it is set; else the base model's own pre-training text
where it is known (a tiny-bert folder: its skewed corpus is rebuilt from the task), else the
task's unlabeled text (`task.corpus`), as is usual for a real pre-trained model. The difference
matters: on a corpus without bias (the synthetic task's text is group-balanced) continued
pre-training removes bias at any s, so s would not act as a dose; on the text that carried the
bias in, it does (tiny-bert pre-trained at rate 0.9, gap 3.85: 3.95, 1.70 and 1.24 after s = 0,
0.5 and 1 with the default 150 steps; role-matched probe templates).

Two-sided CDA on that corpus: of the sentences that mention a group, a fraction s
(chosen at random, seeded) get their counterfactual twin (group A and B terms swapped) added next
to the original. At s = 1 every group sentence appears in both versions, so groups are exactly
balanced in every context; in between, a corpus with co-occurrence rate r has rate
(r + s (1 - r)) / (1 + s), which moves monotonically to 1/2. (Replacing sentences by their twins
instead would, at s = 1, mirror the bias rather than remove it.)

s = 0 is the same continued pre-training (intervention.steps, batch_size, lr) on the raw corpus:
the control that separates the effect of the augmentation from that of more pre-training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bias_sweep.interventions._continued import (
    ContinuedPretraining,
    base_corpus,
    continue_pretraining,
)
from bias_sweep.interventions.registry import InterventionJob, Method, register_method


def augmented_corpus(
    texts: list[str], lexicon: Any, strength: float, seed: int
) -> tuple[list[str], dict[str, Any]]:
    """`texts` plus the counterfactual twins of a fraction `strength` of its group sentences."""
    with_group = [i for i, t in enumerate(texts) if lexicon.swap(t) != t]
    rng = np.random.default_rng(seed)
    n_twins = int(round(strength * len(with_group)))
    chosen = sorted(rng.choice(with_group, size=n_twins, replace=False).tolist()) if n_twins else []
    twins = [lexicon.swap(texts[i]) for i in chosen]
    return texts + twins, {
        "corpus": len(texts),
        "group_sentences": len(with_group),
        "twins": len(twins),
    }


def apply(job: InterventionJob) -> dict[str, Any]:
    corpus, source = base_corpus(job)
    texts, stats = augmented_corpus(corpus, job.task.lexicon, job.strength, job.seed)
    stats["corpus_source"] = source
    return {**stats, **continue_pretraining(job, texts)}


register_method(Method("cda", apply, settings=ContinuedPretraining))
