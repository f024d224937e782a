"""Loading a model folder as a tokenizer, a classifier, a masked LM or a bare encoder.

The loaders re-attach a bias projection saved by the `projection` intervention, so whoever loads
an intervened folder gets the projection in every forward pass without knowing about it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from bias_sweep.errors import UserError
from bias_sweep.models.projection import PROJECTION_FILE, BiasProjection

# Weight-name prefixes of masked-LM heads: BERT, RoBERTa/XLM-R, DistilBERT, ALBERT/ELECTRA.
MLM_HEAD_PREFIXES = ("cls.predictions.", "lm_head.", "vocab_projector.", "predictions.")


def load_tokenizer(model_dir: Path) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(str(model_dir), use_fast=True)


def load_classifier(
    model_dir: Path, *, seed: int | None = None, num_labels: int = 2
) -> PreTrainedModel:
    """A `num_labels`-class sequence classifier on the folder's encoder (a new head, seeded if `seed` is set).

    A bias projection saved in the folder is attached (see `models.projection`).
    """
    if seed is not None:
        torch.manual_seed(seed)  # the classification head is freshly initialised
    model = _quiet_load(AutoModelForSequenceClassification, model_dir, num_labels=num_labels)
    return attach_projection(model, model_dir)


def load_masked_lm(model_dir: Path, **config: Any) -> PreTrainedModel:
    """The folder's masked LM; its head is freshly initialised when the folder has none.
    `config`: settings of the model's config to override (e.g. hidden_dropout_prob)."""
    return attach_projection(_quiet_load(AutoModelForMaskedLM, model_dir, **config), model_dir)


def load_config(model_dir: Path) -> PretrainedConfig:
    return AutoConfig.from_pretrained(str(model_dir))


def load_encoder(model_dir: Path) -> PreTrainedModel:
    """The bare encoder (hidden states), e.g. for sentence embeddings."""
    return attach_projection(_quiet_load(AutoModel, model_dir), model_dir)


def _quiet_load(auto_cls: Any, model_dir: Path, **kwargs: Any) -> PreTrainedModel:
    # Newly initialised heads are expected here; transformers' warning about them is noise.
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return auto_cls.from_pretrained(str(model_dir), **kwargs)
    finally:
        hf_logging.set_verbosity(level)


def weight_names(model_dir: Path) -> list[str]:
    """Names of the tensors saved in a folder, read without loading them."""
    model_dir = Path(model_dir)
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (model_dir / index).is_file():
            return list(json.loads((model_dir / index).read_text())["weight_map"])
    if (model_dir / "model.safetensors").is_file():
        with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
            return list(f.keys())
    if (model_dir / "pytorch_model.bin").is_file():
        state = torch.load(model_dir / "pytorch_model.bin", map_location="meta", weights_only=True)
        return list(state)
    raise UserError(f"model folder '{model_dir}' has no weights (model.safetensors)")


def has_mlm_head(model_dir: Path) -> bool:
    """Whether the saved weights include a trained masked-LM head."""
    names = weight_names(model_dir)
    return any(n.startswith(MLM_HEAD_PREFIXES) for n in names)


def attach_projection(model: PreTrainedModel, model_dir: Path) -> PreTrainedModel:
    """Re-attach the bias projection of a `projection`-intervened folder (no-op otherwise)."""
    path = Path(model_dir) / PROJECTION_FILE
    if path.is_file():
        BiasProjection.load(path).attach(model)
    return model
