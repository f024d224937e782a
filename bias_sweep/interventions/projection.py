"""`projection`: remove a group direction from the encoder's output (Bolukbasi et al. 2016 style).

The bias direction v (unit norm) is the first principal component of the differences between
mean-pooled last-layer states of counterfactual sentence pairs: corpus sentences that mention a
group next to their twin with A and B terms swapped (at most MAX_CORPUS_PAIRS, drawn with the
intervention's seed), plus a few template sentences per lexicon pair. The corpus is
`intervention.corpus` where it is set, else the task's text. The differences are oriented A minus
B, so v points towards group A.

Every forward pass then maps each token's last-layer hidden state h to h - s (h . v) v, before the
pooler, the classification head or the MLM head: s = 0 is the identity, s = 1 removes the
component along v entirely, values in between shrink it. The projection is saved next to the
weights (`bias_projection.pt`, the hook in `models.projection`) and re-attached by
`models.load_classifier` / `load_masked_lm` / `load_encoder`, so it acts through fine-tuning and
evaluation alike. v is fixed: computed once on the pre-trained encoder, not re-estimated as
fine-tuning moves the representation.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bias_sweep.interventions._corpus import WithCorpus
from bias_sweep.interventions.none import copy_model
from bias_sweep.interventions.registry import InterventionJob, Method, register_method

if TYPE_CHECKING:
    import torch

TEMPLATES = ("{}.", "this is {}.", "{} is here.", "that is {}.", "here is {}.", "{} is there.")
MAX_CORPUS_PAIRS = 512


def counterfactual_pairs(
    task: Any, seed: int, max_corpus_pairs: int = MAX_CORPUS_PAIRS
) -> list[tuple[str, str]]:
    """(group A version, group B version) sentence pairs from the corpus (at most
    `max_corpus_pairs`, a seeded sample) and templates."""
    lex = task.lexicon
    pairs = [(t.format(a), t.format(b)) for a, b in lex.pairs for t in TEMPLATES]
    found = []
    for text in task.corpus:
        group = lex.group_of(text)
        if group is not None and lex.swap(text) != text:
            twin = lex.swap(text)
            found.append((text, twin) if group == lex.name_a else (twin, text))
    rng = np.random.default_rng(seed)
    if len(found) > max_corpus_pairs:
        found = [found[i] for i in sorted(rng.choice(len(found), max_corpus_pairs, replace=False))]
    return pairs + found


def bias_direction(model_dir: Path, task: Any, seed: int) -> tuple[torch.Tensor, dict[str, Any]]:
    import torch

    from bias_sweep import models

    pairs = counterfactual_pairs(task, seed)
    encoder, tokenizer = models.load_encoder(model_dir), models.load_tokenizer(model_dir)
    emb = models.sentence_embeddings(encoder, tokenizer, [p for pair in pairs for p in pair])
    diffs = (emb[0::2] - emb[1::2]).double()  # A minus B
    # PCA of the centred pair members = SVD of the (symmetric, so uncentred) differences
    _, sing, vh = torch.linalg.svd(diffs, full_matrices=False)
    v = vh[0]
    if diffs.mean(0) @ v < 0:
        v = -v
    info = {
        "pairs": len(pairs),
        "explained_variance": float(sing[0] ** 2 / (sing**2).sum()),
        "mean_diff_cosine": float(torch.nn.functional.cosine_similarity(diffs.mean(0), v, dim=0)),
    }
    return v.float(), info


def apply(job: InterventionJob) -> dict[str, Any]:
    from bias_sweep.models import PROJECTION_FILE, BiasProjection

    v, info = bias_direction(job.base_dir, job.task, job.seed)
    copy_model(job.base_dir, job.out_dir)
    BiasProjection(v, job.strength).save(job.out_dir / PROJECTION_FILE)
    return info


register_method(
    Method("projection", apply, settings=WithCorpus, persistent=True, identity_at_zero=True)
)
