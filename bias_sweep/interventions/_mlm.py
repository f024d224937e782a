"""Continued masked-LM pre-training shared by `cda` and `skew`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bias_sweep import models
from bias_sweep.training import select_device, train_mlm


def continue_pretraining(
    base_dir: Path, texts: list[str], icfg: Any, out_dir: Path, seed: int, task: Any
) -> dict[str, Any]:
    """MLM training of the base on `texts` (icfg.steps, batch_size, lr), saved to `out_dir`.

    Group terms are always masked (`training.train_mlm`): the intervention is about what the model
    predicts in a group slot, and that makes each step count.

    A base without an MLM head (e.g. MiniLM) gets a freshly initialised head, trained jointly with
    the encoder; only the encoder is saved, so the result has the same parts as the base (its own
    pooler included) and is probed the same way.
    """
    had_head = models.has_mlm_head(base_dir)
    tokenizer = models.load_tokenizer(base_dir)
    mlm = models.load_masked_lm(base_dir)
    info = train_mlm(
        mlm,
        tokenizer,
        texts,
        steps=int(icfg.steps),
        batch_size=int(icfg.batch_size),
        lr=float(icfg.lr),
        seed=seed,
        device=select_device(),
        focus_terms=[t for pair in task.lexicon.pairs for t in pair],
    )
    mlm.cpu()
    if had_head:
        mlm.save_pretrained(out_dir)
        info["mlm_head"] = "pre-trained"
    else:
        encoder = models.load_encoder(base_dir)
        # strict=False: the base's pooler is not part of the MLM model and stays as it was
        encoder.load_state_dict(mlm.base_model.state_dict(), strict=False)
        encoder.save_pretrained(out_dir)
        info["mlm_head"] = "initialised and trained jointly (base has none); not saved"
    tokenizer.save_pretrained(out_dir)
    return info
