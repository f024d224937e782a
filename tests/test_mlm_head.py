"""The MLM head at labelled positions only: the same loss and gradients as HF's full forward, on
every architecture in its table; the fallback for the others; the head's freezing and plateau."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import transformers
from transformers import PreTrainedModel

from bias_sweep.mlm_head import HEADS, frozen_encoder, labelled_head, mlm_loss, plateaued

CPU = torch.device("cpu")
VOCAB = 97
NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
BERTLIKE = {
    "vocab_size": VOCAB,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 37,
    "max_position_embeddings": 64,
    **NO_DROPOUT,
}
# Tiny models of each architecture in the table, built from a config (random weights, tied
# decoders as their defaults have them).
ARCHITECTURES: dict[str, Callable[[], PreTrainedModel]] = {
    "bert": lambda: transformers.BertForMaskedLM(transformers.BertConfig(**BERTLIKE)),
    "roberta": lambda: transformers.RobertaForMaskedLM(
        transformers.RobertaConfig(**BERTLIKE, pad_token_id=1)
    ),
    "xlm-roberta": lambda: transformers.XLMRobertaForMaskedLM(
        transformers.XLMRobertaConfig(**BERTLIKE, pad_token_id=1)
    ),
    "camembert": lambda: transformers.CamembertForMaskedLM(
        transformers.CamembertConfig(**BERTLIKE, pad_token_id=1)
    ),
    "mpnet": lambda: transformers.MPNetForMaskedLM(
        transformers.MPNetConfig(**BERTLIKE, pad_token_id=1)
    ),
    "distilbert": lambda: transformers.DistilBertForMaskedLM(
        transformers.DistilBertConfig(
            vocab_size=VOCAB,
            dim=32,
            n_layers=2,
            n_heads=2,
            hidden_dim=37,
            max_position_embeddings=64,
            dropout=0.0,
            attention_dropout=0.0,
        )  # fmt: skip
    ),
    "albert": lambda: transformers.AlbertForMaskedLM(
        transformers.AlbertConfig(**BERTLIKE, embedding_size=16)
    ),
    "electra": lambda: transformers.ElectraForMaskedLM(
        transformers.ElectraConfig(**BERTLIKE, embedding_size=16)
    ),
}


def tiny(arch: str) -> PreTrainedModel:
    torch.manual_seed(0)
    return ARCHITECTURES[arch]().train()


def batch(seed: int = 0, rows: int = 6, length: int = 20) -> tuple[torch.Tensor, ...]:
    """Padded ids, their attention mask and MLM labels (~15% of the real tokens labelled)."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB, (rows, length), generator=gen)
    lengths = torch.randint(length // 2, length + 1, (rows,), generator=gen)
    lengths[0] = length
    mask = (torch.arange(length) < lengths[:, None]).long()
    ids = ids.masked_fill(mask == 0, 1)
    chosen = (torch.rand(rows, length, generator=gen) < 0.15) & (mask == 1)
    chosen[0, 3] = True  # at least one label
    labels = torch.randint(3, VOCAB, (rows, length), generator=gen).masked_fill(~chosen, -100)
    return ids, mask, labels


def loss_and_grads(model: PreTrainedModel, data: tuple, full: bool) -> tuple[float, dict]:
    model.zero_grad(set_to_none=True)
    loss = mlm_loss(model, *data, CPU, full_head=full)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.item(), grads


def test_every_architecture_in_the_table_is_tested() -> None:
    built = {type(make()).__name__ for make in ARCHITECTURES.values()}
    assert built == set(HEADS)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_labelled_head_gives_hf_loss_and_gradients(arch: str) -> None:
    model = tiny(arch)
    assert labelled_head(model) is not None
    data = batch()
    hf = model(input_ids=data[0], attention_mask=data[1], labels=data[2]).loss.item()
    full, full_grads = loss_and_grads(model, data, full=True)
    ours, our_grads = loss_and_grads(model, data, full=False)
    assert full == hf  # full_head is HF's own forward
    assert ours == pytest.approx(hf, rel=1e-6, abs=1e-6)
    assert our_grads.keys() == full_grads.keys()
    for name, g in full_grads.items():
        scale = g.abs().max().item() or 1.0
        assert (our_grads[name] - g).abs().max().item() <= 1e-6 * scale, name


def test_tied_decoder_stays_tied_and_the_head_learns_alone() -> None:
    model = tiny("bert")
    decoder, embeddings = model.cls.predictions.decoder, model.bert.embeddings.word_embeddings
    assert decoder.weight is embeddings.weight
    with frozen_encoder(model) as trainable:
        names = {n for n, p in model.named_parameters() if p.requires_grad}
        assert names == {n for n in dict(model.named_parameters()) if n.startswith("cls.")}
        assert "cls.predictions.transform.dense.weight" in names
        assert not decoder.weight.requires_grad  # the tied decoder is the embedding matrix
        assert len(trainable) == len(names)
        loss_and_grads(model, batch(), full=False)
        assert all(p.grad is None for p in model.bert.parameters())
    assert all(p.requires_grad for p in model.parameters())  # restored


def test_an_unknown_architecture_takes_hf_forward() -> None:
    class Custom(transformers.BertForMaskedLM):
        """A subclass may change its forward: not matched by the table."""

    torch.manual_seed(0)
    model = Custom(transformers.BertConfig(**BERTLIKE))
    assert labelled_head(model) is None
    data = batch()
    hf = model(input_ids=data[0], attention_mask=data[1], labels=data[2]).loss.item()
    assert mlm_loss(model, *data, CPU).item() == hf


def test_no_labels_give_nan_as_hf_does() -> None:
    model = tiny("bert")
    ids, mask, labels = batch()
    labels = torch.full_like(labels, -100)
    hf = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    assert torch.isnan(hf) and torch.isnan(mlm_loss(model, ids, mask, labels, CPU))


@pytest.mark.parametrize(
    ("losses", "expected"),
    [  # window 4, min_gain 1/8 (exact in binary floating point)
        ([4.0] * 7, False),  # fewer than 2 windows: never a plateau
        ([4.0] * 8, True),  # flat
        ([4.0] * 4 + [3.0] * 4, False),  # still falling
        ([4.0] * 4 + [3.75] * 4, True),  # a gain of 1/16 is below min_gain
        ([4.0] * 4 + [3.5] * 4, False),  # a gain of exactly min_gain goes on
        ([4.0] * 4 + [4.5] * 4, True),  # rising
        ([9.0] * 4 + [4.0] * 4 + [3.75] * 4, True),  # only the last two windows count
    ],
)
def test_plateau_rule(losses: list[float], expected: bool) -> None:
    assert plateaued(losses, window=4, min_gain=0.125) is expected
