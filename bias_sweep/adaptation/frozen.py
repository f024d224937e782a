"""`frozen`: a linear probe. The pre-trained encoder is frozen and only the classification head
(`head_modules`: the modules outside `model.base_model`) trains, so the encoder's
representation, and whatever bias the intervention left in it, reaches evaluation unchanged."""

from __future__ import annotations

from typing import Any

from bias_sweep.adaptation.registry import Adaptation, head_modules, register_adaptation


def prepare(model: Any, settings: None) -> Any:
    model.requires_grad_(False)
    for name in head_modules(model):
        getattr(model, name).requires_grad_(True)
    return model


register_adaptation(Adaptation("frozen", prepare))
