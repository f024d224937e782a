"""`inlp`: iterative nullspace projection (Ravfogel et al. 2020), as in bias-bench.

A linear classifier (scikit-learn's logistic regression) learns to tell group A from group B
sentences by their mean-pooled last-layer states; its weight vector is a direction that carries
group information, and the states are projected onto the nullspace of all directions found so
far before the next classifier is fitted, for `intervention.inlp_iterations` rounds (a fixed
number, as in Ravfogel et al.'s code and bias-bench: a classifier at chance on its held-out
sentences does not mean that a fresh probe on other text is). Each round's held-out accuracy is
recorded. The sentences are the counterfactual pairs of `projection` (corpus sentences and their
twins, and templates), split by pair into a fitting and a held-out half, so the groups are
balanced and differ only in their group terms; up to `CORPUS_PAIRS` from the corpus, since a
probe on other text finds what a small sample misses (tiny model with a planted gender direction,
a probe on the eval sentences after 40 rounds: 0.58 from 512 corpus pairs, 0.50 from 4000).

The strength s is the fraction of the iterations whose directions are removed: the first
round(s n) of the n rounds. s = 1 is full INLP, s = 0 the unchanged model. The removal is a hook
on every token's last-layer state, h -> h - V^T V h (V: an orthonormal basis of the removed
directions), saved next to the weights like `projection`'s and acting through fine-tuning and
evaluation alike: fine-tuning cannot undo it (it can only re-encode the information elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bias_sweep.caches import Memo
from bias_sweep.checks import positive
from bias_sweep.hashing import stable_hash
from bias_sweep.interventions.none import copy_model
from bias_sweep.interventions.projection import counterfactual_pairs
from bias_sweep.interventions.registry import InterventionJob, Method, register_method

CORPUS_PAIRS = 4000


@dataclass
class InlpSettings:
    # Classifiers fitted: directions removed at s = 1. 40, not fewer: on the tiny model with a
    # planted gender direction, 20 rounds still leave a held-out accuracy of 0.55 and a fresh probe
    # on the eval sentences at 0.57; 40 rounds take them to 0.51 (bias-bench runs 80 on BERT).
    inlp_iterations: int = 40

    def check(self) -> None:
        positive(self.inlp_iterations, "intervention.inlp_iterations")


def nullspace_directions(
    x: np.ndarray, y: np.ndarray, fit: np.ndarray, iterations: int, seed: int
) -> tuple[np.ndarray, list[float]]:
    """The directions INLP removes from `x` (rows (k, d), k = iterations, at most d - 1) and each
    round's held-out accuracy. `fit`: which rows the classifiers learn from."""
    from scipy.linalg import orth
    from sklearn.linear_model import LogisticRegression

    held = ~fit
    found: list[np.ndarray] = []
    accuracies: list[float] = []
    projected = x
    for _ in range(min(iterations, x.shape[1] - 1)):  # leave the encoder some dimension
        clf = LogisticRegression(max_iter=2000, random_state=seed).fit(projected[fit], y[fit])
        accuracies.append(float(clf.score(projected[held], y[held])))
        found.append(clf.coef_[0])
        basis = orth(np.stack(found).T)  # (d, k): the removed subspace
        projected = x - (x @ basis) @ basis.T  # the nullspace of every classifier so far
    return np.stack(found), accuracies


# The directions of one (base model, corpus, seed, iterations): every strength of a grid uses
# a prefix of the same list, so a worker that builds several fits them once.
FITTED: Memo[tuple[np.ndarray, list[float], int]] = Memo(8)


def fitted_directions(job: InterventionJob) -> tuple[np.ndarray, list[float], int]:
    """The job's INLP directions, each round's held-out accuracy and the number of pairs."""
    pairs = counterfactual_pairs(job.task, job.seed, CORPUS_PAIRS)
    iterations = job.settings.inlp_iterations
    key = (str(job.base_dir), job.seed, iterations, stable_hash(pairs))

    def fit() -> tuple[np.ndarray, list[float], int]:
        from bias_sweep import models

        encoder, tokenizer = models.load_encoder(job.base_dir), models.load_tokenizer(job.base_dir)
        emb = models.sentence_embeddings(encoder, tokenizer, [p for pair in pairs for p in pair])
        y = np.tile([1, 0], len(pairs))  # group A first in each pair
        held_in = np.repeat(np.random.default_rng(job.seed).random(len(pairs)) < 0.5, 2)
        found = nullspace_directions(emb.double().numpy(), y, held_in, iterations, job.seed)
        return (*found, len(pairs))

    return FITTED.get_or_make(key, fit)


def apply(job: InterventionJob) -> dict[str, Any]:
    import torch

    from bias_sweep import models

    copy_model(job.base_dir, job.out_dir)
    if job.strength == 0:  # the control: the unchanged model, nothing to fit
        return {"directions_removed": 0}
    directions, accuracies, pairs = fitted_directions(job)
    removed = int(round(job.strength * len(directions)))
    if removed:
        projection = models.BiasProjection(torch.from_numpy(directions[:removed]), 1.0)
        projection.save(job.out_dir / models.PROJECTION_FILE)
    return {
        "pairs": pairs,
        "directions_removed": removed,
        "heldout_accuracy_by_round": accuracies,
    }


register_method(
    Method("inlp", apply, settings=InlpSettings, persistent=True, identity_at_zero=True)
)
