"""`random-init`: the base's architecture and tokenizer with freshly initialised weights (seeded).

The strength is ignored. It is the "no pre-training" reference: whatever bias is left after
fine-tuning comes from the fine-tuning data alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM

from bias_sweep import models


def apply(
    strength: float, icfg: Any, base_dir: Path, task: Any, out_dir: Path, seed: int
) -> dict[str, Any]:
    config = AutoConfig.from_pretrained(str(base_dir))
    # Keep the same parts as the base: an MLM head only if it had one (so it is probed the same way).
    auto = AutoModelForMaskedLM if models.has_mlm_head(base_dir) else AutoModel
    torch.manual_seed(seed)
    auto.from_config(config).save_pretrained(out_dir)
    models.load_tokenizer(base_dir).save_pretrained(out_dir)
    return {"parameters_reinitialised": True}
