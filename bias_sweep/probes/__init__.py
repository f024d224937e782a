"""Intrinsic bias probes of a (pre-trained or intervened) model: the manipulation check.

`intrinsic_bias(model_dir, task)`: the MLM log-probability gap on role-matched templates, or the
SEAT effect size for encoders without an MLM head (`intrinsic`), and the CrowS-Pairs score
(`crows_pairs`) where asked for. Probes read models (torch, transformers); the metrics of a
fine-tuned model's predictions are in `bias_sweep.metrics`.
"""

from bias_sweep.probes.crows_pairs import crows_pairs_score, load_crows_pairs
from bias_sweep.probes.intrinsic import finetuned_intrinsic_bias, intrinsic_bias

__all__ = ["crows_pairs_score", "finetuned_intrinsic_bias", "intrinsic_bias", "load_crows_pairs"]
