"""The masked-LM loss with the head computed only where it counts, and the head's warm-up rule.

Hugging Face's `*ForMaskedLM(labels=...)` projects every position onto the whole vocabulary,
although only the labelled ones (~15%, plus the always-masked group terms) enter the loss. On a
small encoder that projection is most of a training step (MiniLM: 384 x 30,522 per position, the
softmax over it, and their backward). `mlm_loss` runs the encoder, gathers the labelled positions'
hidden states and applies the model's own head to those alone: the same loss (the mean
cross-entropy over the labelled positions) and the same gradients, to float rounding. No library
does this for these architectures (ModernBERT's `sparse_prediction` is the same idea, built in).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

Head = Callable[[torch.Tensor], torch.Tensor]  # hidden states (n, hidden) -> logits (n, vocab)

# The head as each *ForMaskedLM's own forward applies it to the encoder's last hidden states
# (transformers 5: modeling_bert.py, modeling_roberta.py, modeling_distilbert.py, ...).
HEADS: dict[str, Callable[[PreTrainedModel], Head]] = {
    "BertForMaskedLM": lambda m: m.cls,  # BERT, MiniLM
    "RobertaForMaskedLM": lambda m: m.lm_head,
    "XLMRobertaForMaskedLM": lambda m: m.lm_head,
    "CamembertForMaskedLM": lambda m: m.lm_head,
    "MPNetForMaskedLM": lambda m: m.lm_head,
    "AlbertForMaskedLM": lambda m: m.predictions,
    "DistilBertForMaskedLM": lambda m: (
        lambda h: m.vocab_projector(m.vocab_layer_norm(m.activation(m.vocab_transform(h))))
    ),
    "ElectraForMaskedLM": lambda m: lambda h: m.generator_lm_head(m.generator_predictions(h)),
}


def labelled_head(model: PreTrainedModel) -> Head | None:
    """The model's MLM head as a function of hidden states, or None for an architecture not in
    `HEADS` (matched by exact class: a subclass may change its forward)."""
    cls = type(model)
    if not cls.__module__.startswith("transformers.") or cls.__name__ not in HEADS:
        return None
    return HEADS[cls.__name__](model)


def mlm_loss(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
    device: torch.device,
    *,
    full_head: bool = False,
) -> torch.Tensor:
    """Mean cross-entropy over the labelled positions (label != -100), as HF computes it.

    The tensors come on the CPU (positions are found there: no device sync); `full_head` or an
    architecture without an entry in `HEADS` takes HF's own forward, the head at every position.
    """
    head = None if full_head else labelled_head(model)
    if head is None:  # unknown architecture: correct, only slower
        return model(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask.to(device),
            labels=labels.to(device),
        ).loss
    flat = labels.flatten()
    positions = flat.ne(-100).nonzero().squeeze(1)
    hidden = model.base_model(
        input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)
    )[0]
    picked = hidden.flatten(0, 1).index_select(0, positions.to(device))
    return F.cross_entropy(head(picked), flat[positions].to(device))


def base_parameters(model: PreTrainedModel) -> set[int]:
    """Ids of the encoder's parameters. A decoder tied to the input embeddings is the same
    Parameter object as they are, so it counts as the encoder's."""
    return {id(p) for p in model.base_model.parameters()}


@contextlib.contextmanager
def frozen_encoder(model: PreTrainedModel) -> Iterator[list[torch.nn.Parameter]]:
    """Only the head trains inside (yields its trainable parameters); restored on exit."""
    encoder = base_parameters(model)
    was = {id(p): p.requires_grad for p in model.parameters()}
    try:
        for p in model.parameters():
            if id(p) in encoder:
                p.requires_grad_(False)
        yield [p for p in model.parameters() if p.requires_grad]
    finally:
        for p in model.parameters():
            p.requires_grad_(was[id(p)])


def plateaued(losses: list[float], window: int, min_gain: float) -> bool:
    """Whether the mean loss of the last `window` steps fell by less than `min_gain` (relative)
    from the mean of the `window` steps before them. Means of windows smooth the per-batch
    noise; a gain exactly at `min_gain` is not a plateau (training goes on), and fewer than
    2 x `window` losses never are one."""
    if len(losses) < 2 * window:
        return False
    before = sum(losses[-2 * window : -window]) / window
    last = sum(losses[-window:]) / window
    return before - last < min_gain * abs(before)
