"""`random-init`: the base's architecture and tokenizer with freshly initialised weights (seeded).

It has no strength (one level in a report). It is the "no pre-training" reference: whatever bias is left after
fine-tuning comes from the fine-tuning data alone.
"""

from __future__ import annotations

from typing import Any

from bias_sweep.interventions.registry import InterventionJob, Method, register_method


def apply(job: InterventionJob) -> dict[str, Any]:
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM

    from bias_sweep import models

    config = AutoConfig.from_pretrained(str(job.base_dir))
    # Keep the same parts as the base: an MLM head only if it had one (so it is probed the same way).
    auto = AutoModelForMaskedLM if models.has_mlm_head(job.base_dir) else AutoModel
    torch.manual_seed(job.seed)
    auto.from_config(config).save_pretrained(job.out_dir)
    models.load_tokenizer(job.base_dir).save_pretrained(job.out_dir)
    return {"parameters_reinitialised": True}


register_method(Method("random-init", apply, strength=False, untrained=True))
