"""The fine-tuning loop (and the short MLM loop used for pre-training and interventions).

Kept short and cheap per step: inputs are tokenized once (and cached per process, so trials
that share data share their tokens), batches are padded only to their own
longest text and built from length-sorted chunks (little padding), the loss is summed on the
device and read once per epoch (no per-step sync), and the precision fits the device
(`bias_sweep.devices`: bf16 or fp16 with loss scaling on GPUs, fp32 on the CPU). Everything random
is seeded, so a run on CPU is bit-for-bit repeatable, also across a resume.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.nn.utils.rnn import pad_sequence
from transformers import (
    PreTrainedModel,
    PreTrainedTokenizerBase,
    get_linear_schedule_with_warmup,
)

from bias_sweep.caches import Memo
from bias_sweep.devices import Amp, amp_for, to_device
from bias_sweep.mlm_head import mlm_loss
from bias_sweep.schema import TrainConfig
from bias_sweep.terms import (  # single_token_ids: for models.tiny
    single_token_ids,
    tokens_and_term_masks,
)
from bias_sweep.train_state import restore, training_state

# Batches are sorted by length within chunks of this many batches: batches hold texts of similar
# length (little padding) while the order still changes with the seed and the epoch.
SORT_CHUNK_BATCHES = 50
# An MLM phase's start and end loss: the means of its first and last this many steps.
LOSS_WINDOW = 20


# Tokenized texts, shared by the trials of one worker process that use the same data (a Tune
# actor runs many trials): key (tokenizer content, max_length, texts) -> token id tensors.
TOKENIZED: Memo[list[torch.Tensor]] = Memo(32)
_tokenizer_ids: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _tokenizer_id(tokenizer: PreTrainedTokenizerBase) -> str:
    """A hash of the tokenizer's content: copies of one tokenizer (one per intervened model
    folder) share their cache entries; computed once per tokenizer object."""
    try:
        return _tokenizer_ids[tokenizer]
    except (KeyError, TypeError):
        pass
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else f"{type(tokenizer)}:{id(tokenizer)}"
    kwargs = {k: v for k, v in tokenizer.init_kwargs.items() if k != "name_or_path"}
    text += repr(sorted(kwargs.items(), key=str))
    ident = hashlib.sha256(text.encode()).hexdigest()
    with contextlib.suppress(TypeError):
        _tokenizer_ids[tokenizer] = ident
    return ident


def tokenize(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int
) -> list[torch.Tensor]:
    """The token ids of each text (truncated to max_length), kept per process (`TOKENIZED`)."""
    texts = [str(t) for t in texts]
    digest = hashlib.sha256("\0".join(texts).encode()).hexdigest() + f":{len(texts)}"
    key = (_tokenizer_id(tokenizer), max_length, digest)

    def make() -> list[torch.Tensor]:
        # Ids only: the attention masks and token type ids are not needed (built per batch).
        ids = tokenizer(
            texts,
            truncation=True,
            max_length=max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
        return [torch.tensor(x, dtype=torch.long) for x in ids]

    # The tensors are never modified in place; the list is the caller's.
    return list(TOKENIZED.get_or_make(key, make))


def collate(seqs: list[torch.Tensor], pad_id: int, device: torch.device) -> dict[str, torch.Tensor]:
    input_ids = pad_sequence(seqs, batch_first=True, padding_value=pad_id)
    lengths = torch.tensor([len(s) for s in seqs])
    mask = (torch.arange(input_ids.shape[1]) < lengths[:, None]).long()
    return {"input_ids": to_device(input_ids, device), "attention_mask": to_device(mask, device)}


def length_batches(lengths: list[int], batch_size: int, gen: torch.Generator) -> list[list[int]]:
    """Shuffle, sort by length within chunks, cut into batches, shuffle the batches."""
    order = torch.randperm(len(lengths), generator=gen).tolist()
    chunk = batch_size * SORT_CHUNK_BATCHES
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lengths.__getitem__)
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    # The batch order is a function of (seed, epoch) alone, so a resumed run sees the same order.
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    # No weight decay on biases and LayerNorm weights (the 1-d parameters), as usual for BERT.
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    # The fused AdamW kernel (CPU and CUDA): one kernel per step instead of a dozen small ops per
    # parameter, the largest per-step overhead of a small model on CPU; deterministic on CPU.
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.AdamW(groups, lr=lr, fused=fused or None)


def fine_tune(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train: pd.DataFrame,
    tcfg: TrainConfig,
    seed: int,
    device: torch.device,
    *,
    resume_state: dict[str, Any] | None = None,
    on_epoch: Callable[[int, dict[str, Any], dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Fine-tune a sequence classifier on `train` (columns text, label) for `tcfg.epochs` epochs.

    Each optimizer step sees `tcfg.batch_size * tcfg.grad_accum` texts, in `grad_accum`
    micro-batches of `batch_size` whose gradients add up to those of the whole batch's mean loss:
    the same updates as one batch of that size (the same texts, in the same order), in the memory
    of one micro-batch.

    After each epoch, `on_epoch(epoch, state, metrics)` gets the full training state (model,
    optimizer, scheduler, epoch, RNG states, and the fp16 loss scaler's; tensors are live: save or
    copy them in the callback) and the epoch's metrics. `resume_state`, such a state, continues at
    the epoch after its own with the same result, bit for bit on CPU, as a run that never stopped.
    """
    torch.manual_seed(seed)  # dropout; replaced by the saved RNG state when resuming
    model.to(device).train()
    if tcfg.compile:
        model.compile(dynamic=True)  # in place: the state dict keeps its keys
    amp = amp_for(tcfg.precision, device)
    seqs = tokenize(tokenizer, list(train["text"]), tcfg.max_length)
    labels = torch.tensor(train["label"].to_numpy(dtype=np.int64))
    lengths = [len(s) for s in seqs]
    step_size = tcfg.batch_size * tcfg.grad_accum
    steps_per_epoch = -(-len(seqs) // step_size)
    total = steps_per_epoch * tcfg.epochs
    optimizer = make_optimizer(model, tcfg.lr, tcfg.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(tcfg.warmup_ratio * total), total)
    start = 1 if resume_state is None else restore(resume_state, model, optimizer, scheduler, amp)

    loss = float("nan")
    t_train = 0.0
    for epoch in range(start, tcfg.epochs + 1):
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        for idx in length_batches(lengths, step_size, _epoch_generator(seed, epoch)):
            for part in range(0, len(idx), tcfg.batch_size):
                micro = idx[part : part + tcfg.batch_size]
                batch = collate([seqs[i] for i in micro], tokenizer.pad_token_id, device)
                with amp.autocast():
                    out = model(**batch, labels=to_device(labels[micro], device))
                # The micro-batch's mean loss weighted by its share of the step's texts: the
                # summed gradients are those of the step's mean loss (exact for a short last one).
                amp.backward(out.loss * (len(micro) / len(idx)))
                loss_sum += out.loss.detach() * len(micro)
            amp.step(optimizer)
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        loss = loss_sum.item() / len(seqs)  # the epoch's one sync
        dt = time.perf_counter() - t0
        t_train += dt
        if on_epoch is not None:
            state = training_state(model, optimizer, scheduler, amp, epoch)
            metrics = {"loss": loss, "epoch": epoch, "samples_per_s": len(seqs) / dt}
            on_epoch(epoch, state, metrics)
    done = tcfg.epochs - start + 1
    return {
        "epochs": tcfg.epochs,
        "epochs_run": done,
        "steps": steps_per_epoch * done,
        "loss": loss,
        "train_s": t_train,
        "samples_per_s": len(seqs) * done / t_train if t_train > 0 else float("nan"),
        "precision": amp.precision,
    }


@torch.inference_mode()
def predict_probs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    tcfg: TrainConfig,
    device: torch.device,
) -> np.ndarray:
    """P(y=c | text) of every class c for each text (rows in the order given); a binary task's
    score, P(y=1 | text), is column 1."""
    model.to(device).eval()
    seqs = tokenize(tokenizer, list(texts), tcfg.max_length)
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # little padding per batch
    probs = torch.empty(len(seqs), model.config.num_labels, dtype=torch.float32)
    bs = tcfg.eval_batch_size
    amp = amp_for(tcfg.precision, device)
    for start in range(0, len(order), bs):
        idx = order[start : start + bs]
        with amp.autocast():
            logits = model(**collate([seqs[i] for i in idx], tokenizer.pad_token_id, device)).logits
        probs[idx] = logits.float().softmax(-1).cpu()
    return probs.numpy()


def mask_tokens(
    input_ids: torch.Tensor,
    maskable: torch.Tensor,
    focus: torch.Tensor,
    tokenizer: PreTrainedTokenizerBase,
    gen: torch.Generator,
    prob: float = 0.15,
    focus_prob: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking (of the chosen: 80% [MASK], 10% a random token, 10% kept) with the `focus`
    tokens chosen with probability `focus_prob` and the other `maskable` ones with `prob`.

    One uniform draw per token decides both (so `focus_prob` 1 draws what it always drew)."""
    u = torch.rand(input_ids.shape, generator=gen)
    chosen = torch.where(focus, u < focus_prob, (u < prob) & maskable)
    labels = input_ids.masked_fill(~chosen, -100)
    r = torch.rand(input_ids.shape, generator=gen)
    noise = torch.randint(len(tokenizer), input_ids.shape, generator=gen)
    ids = torch.where(chosen & (r < 0.8), tokenizer.mask_token_id, input_ids)
    ids = torch.where(chosen & (r >= 0.8) & (r < 0.9), noise, ids)
    return ids, labels


def mlm_batches(
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    focus_terms: Any,
    batch_size: int,
    max_length: int,
    seed: int,
    focus_prob: float = 1.0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Masked batches (input ids, attention mask, labels; on the CPU) without end: the texts in
    seeded random order, epoch after epoch, masked by `mask_tokens` with the same generator (the
    `focus_terms` chosen with probability `focus_prob`)."""
    # The group terms as spelled, found by the same tokenization that gives the ids.
    seqs, focus = tokens_and_term_masks(tokenizer, texts, focus_terms, max_length)
    special = torch.tensor(tokenizer.all_special_ids, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    order: list[int] = []
    while True:
        if len(order) < batch_size:
            order += torch.randperm(len(seqs), generator=gen).tolist()
        idx, order = order[:batch_size], order[batch_size:]
        batch = collate([seqs[i] for i in idx], tokenizer.pad_token_id, torch.device("cpu"))
        ids = batch["input_ids"]
        maskable = ~torch.isin(ids, special)
        is_term = pad_sequence([focus[i] for i in idx], batch_first=True, padding_value=False)
        ids, labels = mask_tokens(ids, maskable, is_term, tokenizer, gen, focus_prob=focus_prob)
        yield ids, batch["attention_mask"], labels


def mlm_step(
    model: PreTrainedModel,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    amp: Amp,
    full_head: bool = False,
) -> torch.Tensor:
    """One optimizer step on a batch of `mlm_batches`; its loss, not synced."""
    with amp.autocast():
        loss = mlm_loss(model, *batch, amp.device, full_head=full_head)
    amp.backward(loss)
    amp.step(optimizer)
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach()


def phase_losses(losses: list[float]) -> tuple[float, float]:
    """A phase's start and end loss: the means of its first and last LOSS_WINDOW steps."""
    if not losses:
        return float("nan"), float("nan")
    head, tail = losses[:LOSS_WINDOW], losses[-LOSS_WINDOW:]
    return sum(head) / len(head), sum(tail) / len(tail)


def train_mlm(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    device: torch.device,
    focus_terms: list[str] = (),  # type: ignore[assignment]
    focus_prob: float = 1.0,
    max_length: int = 64,
    full_head: bool = False,
) -> dict[str, Any]:
    """(Continued) masked-LM training for a fixed number of steps over `texts`, seeded.

    BERT masking of 15% of the tokens, except that the `focus_terms` (the group terms) are
    masked with probability `focus_prob` (1: always) where they occur in a text as one token
    (`term_masks`: in any case, at the start of a sentence or within it, whatever form the
    tokenizer gives them there). Random masking alone makes a group-term prediction a rare
    event; a small model then needs several times more steps before its predictions of the
    group slot depend on the context at all (seen: no effect within 900 steps on the synthetic
    task).
    The texts are visited in seeded random order, epoch after epoch, until `steps` batches.
    The head runs at the labelled positions only (`mlm_head.mlm_loss`); `full_head`: at every
    position, as HF's own forward does (the same loss, slower; the benchmark's baseline).
    """
    torch.manual_seed(seed)  # dropout
    model.to(device).train()
    batches = mlm_batches(tokenizer, texts, focus_terms, batch_size, max_length, seed, focus_prob)
    optimizer = make_optimizer(model, lr, 0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, max(1, steps // 10), steps)
    amp = amp_for("auto", device)
    losses = torch.zeros(steps, device=device)  # read once at the end: no per-step sync
    t0, c0 = time.perf_counter(), time.process_time()
    for step in range(steps):
        losses[step] = mlm_step(model, next(batches), optimizer, scheduler, amp, full_head)
    model.eval()
    per_step = losses.tolist()
    start, end = phase_losses(per_step)
    return {
        "mlm_steps": steps,
        "mlm_loss": sum(per_step) / max(steps, 1),
        "mlm_loss_start": start,
        "mlm_loss_end": end,
        "mlm_texts": len(texts),
        "mlm_focus_tokens": len(single_token_ids(tokenizer, focus_terms)),
        "mlm_focus_prob": focus_prob,
        "mlm_s": time.perf_counter() - t0,
        "mlm_cpu_s": time.process_time() - c0,  # this process, all its threads
    }
