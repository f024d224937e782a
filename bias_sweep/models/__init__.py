"""Models and tokenizers: where a `model.name` lives (`resolve`), how to load it (`load`), the
tiny offline model (`tiny`), the bias projection hook (`projection`) and sentence embeddings
(`encode`).

Every model is a folder in the Hugging Face `from_pretrained` format (config, weights, tokenizer).
"""

from bias_sweep.models.encode import sentence_embeddings
from bias_sweep.models.load import (
    MLM_HEAD_PREFIXES,
    has_mlm_head,
    load_classifier,
    load_config,
    load_encoder,
    load_masked_lm,
    load_tokenizer,
    weight_names,
)
from bias_sweep.models.projection import PROJECTION_FILE, BiasProjection
from bias_sweep.models.resolve import MINILM, hub_snapshot, minilm_dir, resolve_model_dir
from bias_sweep.models.tiny import TINY_BERT, build_tiny_bert, pretraining_corpus

__all__ = [
    "MINILM",
    "MLM_HEAD_PREFIXES",
    "PROJECTION_FILE",
    "TINY_BERT",
    "BiasProjection",
    "build_tiny_bert",
    "has_mlm_head",
    "hub_snapshot",
    "load_classifier",
    "load_config",
    "load_encoder",
    "load_masked_lm",
    "load_tokenizer",
    "minilm_dir",
    "pretraining_corpus",
    "resolve_model_dir",
    "sentence_embeddings",
    "weight_names",
]
