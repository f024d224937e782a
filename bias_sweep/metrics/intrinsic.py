"""Intrinsic bias of a (pre-trained or intervened) model: the interventions' manipulation check.

`intrinsic_bias(model_dir, task)` returns a signed `value`: positive when group A is more
associated with the task's positive-class attribute words (and B with the negative-class ones).

- Models with a trained MLM head: `mlm_logprob_gap` (Kurita et al. 2019). In templates such as
  "[MASK] is {attr}.", the increased log probability of a group term given the attribute,
  log P(term | attr) - log P(term | attribute also masked), is compared between paired A and B
  terms; value = mean over positive-class words of that A - B gap, minus the same for
  negative-class words.
- Models without one (e.g. MiniLM): `seat_effect_size` (Caliskan et al. 2017; May et al. 2019):
  the WEAT effect size on mean-pooled sentence embeddings of bleached templates, targets A vs B
  terms, attributes positive vs negative words, with a permutation p-value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bias_sweep import models
from bias_sweep.models.encode import sentence_embeddings

MLM_TEMPLATES = (
    "[MASK] is {}.",
    "[MASK] was very {}.",
    "the {} [MASK].",
    "everyone said [MASK] is {}.",
    "[MASK] is a {} person.",
)
SEAT_TEMPLATES = ("this is {}.", "that is {}.", "here is {}.", "there is {}.", "{} is here.")


def intrinsic_bias(model_dir: Path, task: Any, *, kind: str | None = None) -> dict[str, Any]:
    """The model's association of group A (vs B) with positive (vs negative) attribute words.

    `kind` forces "mlm_logprob_gap" or "seat_effect_size"; by default the MLM probe is used when
    the saved weights have an MLM head and some lexicon pair is a pair of single tokens. The
    result also holds the probe's details, and for MLM models `seat_effect_size` as well, so
    that models of both kinds can be compared on one scale.
    """
    model_dir = Path(model_dir)
    tokenizer = models.load_tokenizer(model_dir)
    if kind is None:
        # The MLM probe needs a trained head and lexicon pairs that are single tokens.
        scorable = _single_token_pairs(tokenizer, task.lexicon.pairs)
        kind = (
            "mlm_logprob_gap" if scorable and models.has_mlm_head(model_dir) else "seat_effect_size"
        )
    seat = seat_effect_size(models.load_encoder(model_dir), tokenizer, task)
    if kind == "seat_effect_size":
        return {"kind": kind, "value": seat["effect_size"], **seat}
    if kind != "mlm_logprob_gap":
        raise ValueError(f"unknown intrinsic bias kind {kind!r}")
    gap = mlm_logprob_gap(models.load_masked_lm(model_dir), tokenizer, task)
    return {"kind": kind, "value": gap["gap"], **gap, "seat_effect_size": seat["effect_size"]}


def _single_token_pairs(tokenizer: Any, pairs: Any) -> list[tuple[int, int]]:
    """Token ids of the lexicon pairs whose terms are both one token (the MLM can score them)."""
    ids = []
    for a, b in pairs:
        ta = tokenizer(a, add_special_tokens=False)["input_ids"]
        tb = tokenizer(b, add_special_tokens=False)["input_ids"]
        if len(ta) == 1 and len(tb) == 1 and ta != tb:
            ids.append((ta[0], tb[0]))
    return ids


@torch.inference_mode()
def mlm_logprob_gap(model: Any, tokenizer: Any, task: Any) -> dict[str, Any]:
    pair_ids = _single_token_pairs(tokenizer, task.lexicon.pairs)
    if not pair_ids:
        raise ValueError("no lexicon pair is a pair of single tokens for this tokenizer")
    a_ids = torch.tensor([a for a, _ in pair_ids])
    b_ids = torch.tensor([b for _, b in pair_ids])
    mask = tokenizer.mask_token
    templates = [t.replace("[MASK]", mask) for t in MLM_TEMPLATES]
    words = {"pos": list(task.attribute_words), "neg": list(task.negative_words)}
    # Sentences: each template with each attribute word, plus the template's prior (word masked).
    texts, keys = [], []
    for ti, t in enumerate(templates):
        texts.append(t.format(mask))
        keys.append(("prior", ti, None))
        for side, ws in words.items():
            for w in ws:
                texts.append(t.format(w))
                keys.append((side, ti, w))
    # The group slot is the template's own [MASK]: first or last one in the prior sentence,
    # where the attribute word is masked too.
    group_first = torch.tensor(
        [t.index(mask) < t.index("{}") for _, ti, _ in keys for t in [templates[ti]]]
    )
    model.eval()
    gaps = []  # log P(a) - log P(b) at the group slot, per sentence and pair
    bs = 64  # logits are (batch, length, vocabulary): 64 x 12 x 30k floats is ~90 MB
    for start in range(0, len(texts), bs):
        enc = tokenizer(texts[start : start + bs], padding=True, return_tensors="pt")
        logp = model(**enc).logits.float().log_softmax(-1)
        is_mask = enc["input_ids"] == tokenizer.mask_token_id
        pos_ids = torch.arange(is_mask.shape[1]).expand_as(is_mask)
        first = torch.where(is_mask, pos_ids, is_mask.shape[1]).min(1).values
        last = torch.where(is_mask, pos_ids, -1).max(1).values
        slot = torch.where(group_first[start : start + bs], first, last)
        at_slot = logp[torch.arange(len(slot)), slot]
        gaps.append(at_slot[:, a_ids] - at_slot[:, b_ids])
    gap = torch.cat(gaps).numpy()  # (sentences, pairs)
    prior = {ti: gap[i] for i, (side, ti, _) in enumerate(keys) if side == "prior"}
    assoc: dict[str, list[np.ndarray]] = {"pos": [], "neg": []}
    for i, (side, ti, _) in enumerate(keys):
        if side != "prior":
            assoc[side].append(gap[i] - prior[ti])  # Kurita: relative to the prior
    pos, neg = float(np.mean(assoc["pos"])), float(np.mean(assoc["neg"]))
    return {
        "gap": pos - neg,
        "pos_assoc": pos,
        "neg_assoc": neg,
        "prior_gap": float(np.mean(list(prior.values()))),
        "pairs_scored": len(pair_ids),
        "pairs_total": len(task.lexicon.pairs),
        "templates": len(templates),
    }


def _unit(x: torch.Tensor) -> np.ndarray:
    x = x.double().numpy()
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def seat_effect_size(
    encoder: Any, tokenizer: Any, task: Any, *, permutations: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """WEAT effect size (and one-sided permutation p-value) on template sentence embeddings."""
    lex = task.lexicon
    groups = [
        [t.format(w) for t in SEAT_TEMPLATES for w in ws]
        for ws in (lex.terms_a, lex.terms_b, task.attribute_words, task.negative_words)
    ]
    emb = _unit(sentence_embeddings(encoder, tokenizer, [s for g in groups for s in g]))
    sizes = np.cumsum([0] + [len(g) for g in groups])
    x, y, pos, neg = (emb[sizes[i] : sizes[i + 1]] for i in range(4))
    targets = np.concatenate([x, y])
    # s(w, A, B): mean cosine with positive minus with negative attribute sentences
    s = (targets @ pos.T).mean(1) - (targets @ neg.T).mean(1)
    nx = len(x)
    effect = (s[:nx].mean() - s[nx:].mean()) / s.std(ddof=1)
    stat = s[:nx].sum() - s[nx:].sum()
    rng = np.random.default_rng(seed)
    perm = np.array([rng.permutation(s) for _ in range(permutations)])
    null = perm[:, :nx].sum(1) - perm[:, nx:].sum(1)
    return {
        "effect_size": float(effect),
        "p_value": float((np.sum(null >= stat) + 1) / (permutations + 1)),
        "targets": [len(x), len(y)],
        "attributes": [len(pos), len(neg)],
    }
