"""`skew`: bias injection by continued MLM pre-training on a corpus skewed towards group A.

The corpus is `intervention.corpus` (else the task's unlabeled text) in which group A co-occurs
with the task's positive-class attribute words at rate 0.5 + s/2 (and with its negative-class
words at 0.5 - s/2), set by swapping group terms in place (`data.attribute_corpus`: sentences
labelled by which attribute words they hold; the same construction that gives the tiny model its
pre-training bias). s = 0 is the same continued pre-training on a balanced corpus (the control);
s = 1 pairs every positive-class word with group A and every negative-class word with group B.
"""

from __future__ import annotations

from typing import Any

from bias_sweep.interventions._continued import ContinuedPretraining, continue_pretraining
from bias_sweep.interventions.registry import InterventionJob, Method, register_method


def apply(job: InterventionJob) -> dict[str, Any]:
    from bias_sweep.data.attribute_corpus import attribute_corpus  # pandas

    texts, stats = attribute_corpus(job.task, 0.5 + job.strength / 2, job.seed)
    return {**stats, **continue_pretraining(job, texts)}


register_method(Method("skew", apply, settings=ContinuedPretraining))
