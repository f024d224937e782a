"""Sentence embeddings of a bare encoder: mean-pooled last-layer states."""

from __future__ import annotations

from typing import Any

import torch
from transformers import PreTrainedModel


@torch.inference_mode()
def sentence_embeddings(model: PreTrainedModel, tokenizer: Any, texts: list[str]) -> torch.Tensor:
    """Mean-pooled last-layer states (mask-weighted), as sentence-transformers pools MiniLM."""
    model.eval()
    out = []
    for start in range(0, len(texts), 128):
        batch = tokenizer(
            texts[start : start + 128],
            padding=True,
            truncation=True,
            max_length=64,
            return_tensors="pt",
        )
        h = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(h.dtype)
        out.append((h * mask).sum(1) / mask.sum(1))
    return torch.cat(out)
