"""`full`: full fine-tuning, every weight of the encoder and the new head trains."""

from __future__ import annotations

from typing import Any

from bias_sweep.adaptation.registry import Adaptation, register_adaptation


def prepare(model: Any, settings: None) -> Any:
    model.requires_grad_(True)
    return model


register_adaptation(Adaptation("full", prepare, default=True))
