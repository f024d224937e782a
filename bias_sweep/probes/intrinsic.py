"""Intrinsic bias of a (pre-trained or intervened) model: the interventions' manipulation check.

`intrinsic_bias(model_dir, task)` returns a signed `value` of one `kind`: positive when group A
is more associated with the task's positive-class attribute words (and B with the negative-class
ones). Values of different kinds are on different scales: compare them only within a kind.

- Models with a trained MLM head: `mlm_logprob_gap` (Kurita et al. 2019). In templates such as
  "I think [MASK] is {attr}.", the increased log probability of a group term given the
  attribute, log P(term | attr) - log P(term | attribute also masked), is compared between the
  terms of a lexicon pair; a pair's gap is the mean of that A - B difference over positive-class
  words minus the same over negative-class words, and `value` is the mean over pairs. Each pair
  is scored in the templates of its grammatical role only (`data.lexicon.term_roles`): he/she as subjects,
  him/her as objects, his/her as possessives, man/woman as nouns after "the".
- Models without one (e.g. MiniLM): `seat_effect_size` (Caliskan et al. 2017; May et al. 2019):
  the WEAT effect size on mean-pooled sentence embeddings of bleached templates, targets A vs B
  terms, attributes positive vs negative words, with a permutation p-value.

Given CrowS-Pairs (`probes.crows_pairs`), an MLM model's result also holds its CrowS-Pairs
score, a third kind on a 0-100 scale. `finetuned_intrinsic_bias` measures a fine-tuned model's
encoder in the kind of its intervened model (did the intervention's effect survive?).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.nn.utils.rnn import pad_sequence

from bias_sweep import models
from bias_sweep.caches import Memo
from bias_sweep.data.lexicon import term_roles as roles
from bias_sweep.models.encode import sentence_embeddings
from bias_sweep.probes.crows_pairs import crows_pairs_score
from bias_sweep.terms import token_at_span

MLM_GAP, SEAT, CROWS_PAIRS = "mlm_logprob_gap", "seat_effect_size", "crows_pairs_score"
# [MASK] is the group slot, {} the attribute word. The slot is never a sentence's first word:
# there a cased vocabulary wants "He" and a byte-level BPE one the space-less "he", each a
# token other than the mid-sentence one ("Ġhe") that a model sees in most of its text.
ROLE_TEMPLATES: dict[str, tuple[str, ...]] = {
    roles.SUBJECT: (
        "I think [MASK] is {}.",
        "Everyone said [MASK] was very {}.",
        "Honestly, [MASK] is a {} person.",
        "They told me [MASK] seemed {}.",
    ),
    roles.OBJECT: (
        "Everyone found [MASK] {}.",
        "I think of [MASK] as {}.",
        "They all called [MASK] {}.",
        "People say they find [MASK] so {}.",
    ),
    roles.POSSESSIVE: (
        "I think [MASK] work is {}.",
        "Everyone said [MASK] manner was very {}.",
        "Honestly, [MASK] attitude is {}.",
        "They told me [MASK] words seemed {}.",
    ),
    roles.NOUN: (
        "I think the [MASK] is {}.",
        "Everyone said the [MASK] was very {}.",
        "Honestly, the [MASK] is a {} person.",
        "They told me the [MASK] seemed {}.",
    ),
    roles.ADJECTIVE: (
        "I think the [MASK] person is {}.",
        "Everyone said the [MASK] student was very {}.",
        "Honestly, the [MASK] neighbor is {}.",
        "They told me the [MASK] teacher seemed {}.",
    ),
}
ROLE_TEMPLATES[roles.UNKNOWN] = ROLE_TEMPLATES[roles.SUBJECT]  # a custom term, used as it is
SEAT_TEMPLATES = ("this is {}.", "that is {}.", "here is {}.", "there is {}.", "{} is here.")


def intrinsic_bias(
    model_dir: Path,
    task: Any,
    *,
    kind: str | None = None,
    crows_pairs: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The model's association of group A (vs B) with positive (vs negative) attribute words.

    `kind` forces "mlm_logprob_gap" or "seat_effect_size"; by default the MLM probe is used when
    the saved weights have an MLM head and some lexicon pair is scorable in its role's templates.
    `measures` maps every kind measured to its value: SEAT is measured for every model, and
    the CrowS-Pairs score (`crows_pairs`: the frame of `crows_pairs.load_crows_pairs`) for
    models with an MLM head; its details are under `crows_pairs` (None when not measured).
    """
    model_dir = Path(model_dir)
    tokenizer = models.load_tokenizer(model_dir)
    has_head = models.has_mlm_head(model_dir)
    # Built once, for the choice of kind and for the gap (twice cost 45% of a tiny-bert measure).
    probe = probe_sentences(tokenizer, task) if has_head and kind != SEAT else None
    if kind is None:
        kind = MLM_GAP if probe is not None and not probe.empty else SEAT
    if kind not in (MLM_GAP, SEAT):
        raise ValueError(f"unknown intrinsic bias kind {kind!r}")
    seat = seat_effect_size(models.load_encoder(model_dir), tokenizer, task)
    measures = {SEAT: seat["effect_size"]}
    result: dict[str, Any] = {"kind": kind, "value": seat["effect_size"], **seat}
    mlm = models.load_masked_lm(model_dir) if has_head else None
    if kind == MLM_GAP:
        if mlm is None:
            raise ValueError(f"{MLM_GAP} needs an MLM head; {model_dir} has none")
        gap = mlm_logprob_gap(mlm, tokenizer, task, probe=probe)
        measures[MLM_GAP] = gap["gap"]
        result = {"kind": kind, "value": gap["gap"], **gap, "seat_effect_size": seat["effect_size"]}
    result["crows_pairs"] = None
    if crows_pairs is not None and mlm is not None:
        result["crows_pairs"] = crows_pairs_score(mlm, tokenizer, crows_pairs)
        measures[CROWS_PAIRS] = result["crows_pairs"]["score"]
    result["measures"] = measures
    return result


def finetuned_intrinsic_bias(
    classifier: Any, model_dir: Path, task: Any, kind: str
) -> dict[str, Any]:
    """Intrinsic bias of a fine-tuned classifier's encoder, in `kind` (its intervened model's).

    Fine-tuning changes the encoder only, so the measure reads the fine-tuned encoder through
    the intervened model's own parts: its weights are copied into a fresh copy of the intervened
    model's encoder (SEAT reads the encoder alone) and, for the MLM probe, into the intervened
    model's masked LM, whose own head then reads the fine-tuned encoder (a classifier has no
    MLM head; its input embeddings, which a BERT head's decoder is tied to, are the fine-tuned
    ones). Kaneko et al. 2022 find that debiased models re-learn bias in fine-tuning: this is
    where it would show. Copies on the CPU, like the measures of `intrinsic_bias`; the classifier
    is untouched. CrowS-Pairs is not measured here.
    """
    model_dir = Path(model_dir)
    state = {k: v.detach().cpu() for k, v in classifier.base_model.state_dict().items()}
    tokenizer = models.load_tokenizer(model_dir)
    if kind == MLM_GAP:  # only the kind asked for: this runs once per fine-tuning run
        mlm = models.load_masked_lm(model_dir)
        _with_weights(mlm.base_model, state)
        gap = mlm_logprob_gap(mlm, tokenizer, task)
        return {"kind": kind, "value": gap["gap"], **gap}
    if kind == SEAT:
        encoder = _with_weights(models.load_encoder(model_dir), state)
        seat = seat_effect_size(encoder, tokenizer, task)
        return {"kind": kind, "value": seat["effect_size"], **seat}
    raise ValueError(f"unknown intrinsic bias kind {kind!r}")


def _with_weights(encoder: Any, state: dict[str, torch.Tensor]) -> Any:
    """The encoder with these weights; a pooler may be in one and not the other, nothing else."""
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    others = [k for k in (*missing, *unexpected) if not k.startswith("pooler.")]
    if others:
        raise ValueError(f"fine-tuned encoder does not fit its intervened model: {others[:3]}")
    return encoder


# The probe's inputs depend on the tokenizer and the task's words only, and a sweep's worker
# measures every fine-tuned model it trains with the same ones: tokenizing them (about 5,000
# texts with offsets, 0.4 s) was most of the cost of that measure, so each process keeps them.
_PROBES: Memo[pd.DataFrame] = Memo(8)


def probe_sentences(tokenizer: Any, task: Any) -> pd.DataFrame:
    """The MLM probe's inputs (`_probe_sentences`), kept per tokenizer content and task words."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:  # no fast tokenizer: nothing to key its content on
        return _probe_sentences(tokenizer, task)
    key = (
        hashlib.sha256(backend.to_str().encode()).hexdigest(),
        tuple(map(tuple, task.lexicon.pairs)),
        tuple(task.attribute_words),
        tuple(task.negative_words),
    )
    return _PROBES.get_or_make(key, lambda: _probe_sentences(tokenizer, task)).copy()


def _probe_sentences(tokenizer: Any, task: Any) -> pd.DataFrame:
    """The MLM probe's inputs: one row per (lexicon pair, template, attribute word or prior).

    Each sentence is tokenized with the group term in place, and the term's token is then
    masked: the target is the token the tokenizer gives the term there (found by its offsets,
    `terms.token_at_span`), e.g. "Ġhe" for byte-level BPE and "he" for WordPiece. In the
    prior sentence the attribute word's tokens become one mask too (Kurita et al.). A pair is
    scored in a template only where both of its terms are single tokens; pairs without a role
    have no rows.
    """
    cells, texts = _probe_texts(task)
    columns = ["pair", "role", "template", "side", "ids_a", "slot_a", "target_a"]
    columns += ["ids_b", "slot_b", "target_b"]
    if not cells:
        return pd.DataFrame(columns=columns)
    enc = tokenizer([t[0] for t in texts], return_offsets_mapping=True)
    mask = tokenizer.mask_token_id
    for i, cell in enumerate(cells):
        for g, j in (("a", 2 * i), ("b", 2 * i + 1)):
            text, start, length, word_start, word_length = texts[j]
            ids, offsets = list(enc["input_ids"][j]), enc["offset_mapping"][j]
            slot = token_at_span(text, offsets, start, start + length)
            cell[f"slot_{g}"] = slot
            if slot is None:
                continue
            cell[f"target_{g}"] = ids[slot]
            ids[slot] = mask
            if cell["side"] == "prior":
                _mask_word(ids, offsets, word_start, word_start + word_length, mask)
            cell[f"ids_{g}"] = tuple(ids)
    frame = pd.DataFrame(cells).reindex(columns=columns)
    single = frame["slot_a"].notna() & frame["slot_b"].notna()
    scored = single.groupby([frame["pair"], frame["template"]]).transform("all")
    frame = frame[scored].reset_index(drop=True)
    for column in ("slot_a", "slot_b", "target_a", "target_b"):
        frame[column] = frame[column].astype(int)
    return frame


def _probe_texts(task: Any) -> tuple[list[dict[str, Any]], list[tuple[str, int, int, int, int]]]:
    """One cell per (pair, template, side) and two texts per cell (its A and B sentences), each
    as (text, term start, term length, word start, word length)."""
    words = [("pos", w) for w in task.attribute_words] + [("neg", w) for w in task.negative_words]
    words = [("prior", task.attribute_words[0]), *words]  # the prior's word is masked as a whole
    cells, texts = [], []
    for pair, (a, b) in enumerate(task.lexicon.pairs):
        role = roles.pair_role(a, b)
        for template in ROLE_TEMPLATES.get(role, ()) if role else ():
            prefix, rest = template.split("[MASK]")
            for side, word in words:
                cells.append({"pair": pair, "role": role, "template": template, "side": side})
                for term in (a, b):
                    at = len(prefix) + len(term) + rest.index("{}")
                    texts.append(
                        (prefix + term + rest.format(word), len(prefix), len(term), at, len(word))
                    )
    return cells, texts


def _mask_word(ids: list[int], offsets: list[tuple[int, int]], start: int, end: int,
               mask: int) -> None:  # fmt: skip
    """The tokens of characters start:end become one mask (the prior sentence: Kurita et al.)."""
    word = [k for k, (s, e) in enumerate(offsets) if e > s and s < end and e > start]
    ids[word[0] : word[-1] + 1] = [mask]


@torch.inference_mode()
def _slot_logprobs(model: Any, tokenizer: Any, ids: list[tuple[int, ...]], slots: list[int],
                   targets: list[int]) -> np.ndarray:  # fmt: skip
    """log P(target | ids) at each masked slot; each distinct input is run once."""
    inputs = list(dict.fromkeys(zip(ids, slots, strict=True)))
    model.eval()
    rows = []
    bs = 64  # logits are (batch, length, vocabulary): 64 x 16 x 50k floats is ~200 MB
    for start in range(0, len(inputs), bs):
        chunk = inputs[start : start + bs]
        seqs = [torch.tensor(i) for i, _ in chunk]
        batch = pad_sequence(seqs, batch_first=True, padding_value=tokenizer.pad_token_id)
        lengths = torch.tensor([len(s) for s in seqs])
        attention = (torch.arange(batch.shape[1]) < lengths[:, None]).long()
        logits = model(input_ids=batch, attention_mask=attention).logits
        at_slot = logits[torch.arange(len(chunk)), torch.tensor([s for _, s in chunk])]
        rows.append(at_slot.float().log_softmax(-1))
    index = {key: i for i, key in enumerate(inputs)}
    at = torch.tensor([index[key] for key in zip(ids, slots, strict=True)])
    return torch.cat(rows)[at, torch.tensor(targets)].numpy()


def mlm_logprob_gap(
    model: Any, tokenizer: Any, task: Any, *, probe: pd.DataFrame | None = None
) -> dict[str, Any]:
    """Kurita et al.'s association gap, each lexicon pair in its role's templates (`probe`: the
    rows of `probe_sentences` when the caller has them already)."""
    frame = probe_sentences(tokenizer, task) if probe is None else probe.copy()
    if frame.empty:
        raise ValueError("no lexicon pair is scorable: none has a role and single-token terms")
    n = len(frame)
    logp = _slot_logprobs(
        model,
        tokenizer,
        [*frame["ids_a"], *frame["ids_b"]],
        [*frame["slot_a"], *frame["slot_b"]],
        [*frame["target_a"], *frame["target_b"]],
    )
    frame["gap"] = logp[:n] - logp[n:]  # log P(a) - log P(b) at the group slot
    is_prior = frame["side"] == "prior"
    prior = frame[is_prior].set_index(["pair", "template"])["gap"]
    assoc = frame[~is_prior].copy()
    keys = pd.MultiIndex.from_frame(assoc[["pair", "template"]])
    assoc["assoc"] = assoc["gap"].to_numpy() - prior.reindex(keys).to_numpy()  # Kurita
    per_pair = assoc.groupby(["pair", "role", "side"])["assoc"].mean().unstack("side")
    per_pair["gap"] = per_pair["pos"] - per_pair["neg"]
    per_pair = per_pair.reset_index()
    pairs = task.lexicon.pairs
    scored = set(per_pair["pair"])
    first = frame[is_prior].drop_duplicates("pair").set_index("pair")
    return {
        "gap": float(per_pair["gap"].mean()),
        "pos_assoc": float(per_pair["pos"].mean()),
        "neg_assoc": float(per_pair["neg"].mean()),
        "prior_gap": float(prior.mean()),
        "pairs_scored": len(per_pair),
        "pairs_total": len(pairs),
        "by_role": {str(r): float(g) for r, g in per_pair.groupby("role")["gap"].mean().items()},
        # The tokens scored for each pair, as the tokenizer spells the terms in the templates.
        "target_tokens": {
            f"{pairs[p][0]}/{pairs[p][1]}": tokenizer.convert_ids_to_tokens(
                [int(first.loc[p, "target_a"]), int(first.loc[p, "target_b"])]
            )
            for p in sorted(scored)
        },
        "unscored": [f"{a}/{b}" for i, (a, b) in enumerate(pairs) if i not in scored],
        "templates": int(frame["template"].nunique()),
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
