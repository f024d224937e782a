"""Continued masked-LM pre-training of a saved model (the `cda` and `skew` interventions), and the
head warm-up it needs on an encoder saved without an MLM head."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from bias_sweep import models
from bias_sweep.devices import amp_for, select_device
from bias_sweep.mlm_head import frozen_encoder, plateaued
from bias_sweep.training import mlm_batches, mlm_step, phase_losses, train_mlm

if TYPE_CHECKING:
    from bias_sweep.data import TaskData

# The head warm-up (`warm_up_head`) on a base without an MLM head. A fresh head learns at 30 times
# the encoder's continued pre-training rate (the intervention's lr, 1e-4 by default): it starts
# from nothing, and the encoder it reads does not move. After a RAMP-step linear ramp of the rate
# it stops when the mean loss of the last WINDOW steps is less than MIN_GAIN (relative) below
# that of the WINDOW steps before, or after MAX_STEPS. Measured on MiniLM, batch 32, 20-step
# means: on real comments (64 tokens) the loss falls 8.0 -> 6.8 in ~75 steps, then creeps to 6.3
# at 300; on the synthetic corpus 7.1 -> 4.8 in ~120 steps, 3.9 at 400 (1e-2 ran ~0.1 lower
# throughout, 1e-3 0.2-0.3 higher). The rule stops at that knee, where the loss has made most of
# its fall: a warm-up step (frozen encoder: forward only) costs about half a joint step. With
# 20-step windows the batch noise decided where it stopped; 2% per 50 steps ran to ~190-280.
HEAD_WARMUP_LR = 3e-3
HEAD_WARMUP_RAMP = 20
HEAD_WARMUP_WINDOW = 30
HEAD_WARMUP_MIN_GAIN = 0.03
HEAD_WARMUP_MAX_STEPS = 300


def continue_pretraining(
    base_dir: Path,
    texts: list[str],
    out_dir: Path,
    seed: int,
    task: TaskData,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    term_mask_prob: float,
    config_overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """MLM training of the base on `texts` for `steps` steps, saved to `out_dir`.

    Group terms are masked with probability term_mask_prob (`training.train_mlm`). At 1, the
    default, every one is: the probe reads what the model predicts in a group slot, and that makes
    each step count; but the model then never conditions on a group term, which is what
    CrowS-Pairs reads (a text and its twin are one masked input), so 0.15 (BERT's rate) when that
    is the measure (probes.crows_pairs docstring).

    A base without an MLM head (e.g. MiniLM) gets a freshly initialised head, first warmed up
    alone with the encoder frozen (`warm_up_head`), then trained jointly with the encoder for
    `steps`; only the encoder is saved, so the result has the same parts as the base (its own
    pooler included) and is probed the same way.

    `config_overrides` (e.g. raised dropout) apply while it trains; the saved model has the
    base's config.
    """
    had_head = models.has_mlm_head(base_dir)
    tokenizer = models.load_tokenizer(base_dir)
    torch.manual_seed(seed)  # a fresh head's initial weights: one intervened model per seed
    mlm = models.load_masked_lm(base_dir, **(config_overrides or {}))
    restore = {k: getattr(models.load_config(base_dir), k) for k in config_overrides or {}}
    device = select_device()
    focus_terms = [t for pair in task.lexicon.pairs for t in pair]
    warmup: dict[str, Any] = {"head_warmup_steps": 0}
    if not had_head:
        warmup = warm_up_head(
            mlm, tokenizer, texts, batch_size, seed, device, focus_terms, term_mask_prob
        )
    info = train_mlm(
        mlm, tokenizer, texts, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
        device=device, focus_terms=focus_terms, focus_prob=term_mask_prob,
    )  # fmt: skip
    mlm.cpu()
    mlm.config.update(restore)
    if had_head:
        mlm.save_pretrained(out_dir)
        info["mlm_head"] = "pre-trained"
    else:
        encoder = models.load_encoder(base_dir)
        # strict=False: the base's pooler is not part of the MLM model and stays as it was
        encoder.load_state_dict(mlm.base_model.state_dict(), strict=False)
        encoder.save_pretrained(out_dir)
        info["mlm_head"] = (
            "initialised (base has none), warmed up with the encoder frozen, then trained"
            " jointly; not saved"
        )
    tokenizer.save_pretrained(out_dir)
    return {**warmup, **info}


def warm_up_head(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    batch_size: int,
    seed: int,
    device: torch.device,
    focus_terms: list[str],
    focus_prob: float = 1.0,
    *,
    lr: float = HEAD_WARMUP_LR,
    ramp: int = HEAD_WARMUP_RAMP,
    window: int = HEAD_WARMUP_WINDOW,
    min_gain: float = HEAD_WARMUP_MIN_GAIN,
    max_steps: int = HEAD_WARMUP_MAX_STEPS,
) -> dict[str, Any]:
    """Train a fresh MLM head alone, the encoder frozen, until its loss levels off.

    Trained jointly from step 0, a random head's gradients move the encoder before the head has
    learned anything (measured on real tweets with MiniLM: MLM loss still 7.0 after 150 joint
    steps). Stops at the first step at which `mlm_head.plateaued(losses, window, min_gain)`
    holds, or at `max_steps`. The decoder tied to the input embeddings stays frozen: it is the
    encoder's embedding matrix (training it would move the encoder's input, which the warm-up
    exists to avoid), and under the tying it is already a trained output embedding; the head's
    own transform and output bias learn. An untied decoder belongs to the head and learns.

    Masking as in `train_mlm`, from its own stream (seed + 1), so that the joint phase sees the
    batches of a run without warm-up. Learning rate `lr` after a `ramp`-step linear ramp, then
    constant (the length is not known in advance), no weight decay (a short phase). One sync per
    step: the rule reads each loss. Ties: a gain of exactly `min_gain` goes on; a plateau reached
    at the cap is reported as a plateau; the start and end losses are the means of the first and
    last `training.LOSS_WINDOW` steps.
    """
    torch.manual_seed(seed + 1)  # dropout
    model.to(device).train()  # dropout on, as in the joint phase: their losses compare
    batches = mlm_batches(tokenizer, texts, focus_terms, batch_size, 64, seed + 1, focus_prob)
    amp = amp_for("auto", device)
    losses: list[float] = []
    t0 = time.perf_counter()
    with frozen_encoder(model) as head_params:
        optimizer = torch.optim.AdamW(head_params, lr=lr, weight_decay=0.0)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / ramp))
        while len(losses) < max_steps and not plateaued(losses, window, min_gain):
            losses.append(mlm_step(model, next(batches), optimizer, schedule, amp).item())
    start, end = phase_losses(losses)
    return {
        "head_warmup_steps": len(losses),
        "head_warmup_stopped_by": "plateau" if plateaued(losses, window, min_gain) else "step cap",
        "head_warmup_loss_start": start,
        "head_warmup_loss_end": end,
        "head_warmup_rule": f"lr {lr} (ramp {ramp}); stop when {window}-step mean loss gains"
        f" < {min_gain:.0%} on the {window} before, or at {max_steps} steps",
        "head_warmup_trained_params": sum(p.numel() for p in head_params),
        "head_warmup_s": time.perf_counter() - t0,
    }
