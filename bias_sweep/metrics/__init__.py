"""Bias metrics: extrinsic (group and counterfactual, over a predictions table) and intrinsic."""

from bias_sweep.metrics.extrinsic import compute_metrics

__all__ = ["compute_metrics"]
