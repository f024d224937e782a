"""The bias projection hook: h -> h - s (h . v) v on an encoder's last-layer states (or, for a
k-dimensional subspace with orthonormal basis V, h -> h - s V^T V h: `inlp`'s nullspace projection).

Saved next to a model's weights (`bias_projection.pt`) by the `projection` intervention and
re-attached by every loader of `models.load`, so it acts through fine-tuning and evaluation alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel

from bias_sweep.errors import UserError

PROJECTION_FILE = "bias_projection.pt"


class BiasProjection(torch.nn.Module):
    """h -> h - s (h . v) v on the encoder's output, attached as a forward hook; `direction`
    is one vector v or the rows of a (k, d) matrix spanning the subspace to remove."""

    def __init__(self, direction: torch.Tensor, strength: float) -> None:
        super().__init__()
        v = direction.detach().float()
        # rows -> an orthonormal basis of their span (one vector: itself, normalised)
        v = v / v.norm() if v.dim() == 1 else torch.linalg.qr(v.T).Q.T.contiguous()
        # not persistent: the model's state_dict (and a saved fine-tuned model) stays plain
        self.register_buffer("direction", v, persistent=False)
        self.strength = float(strength)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.strength == 0.0:
            return h
        v = self.direction.to(h.dtype)
        if v.dim() == 2:
            return h - self.strength * (h @ v.T) @ v
        return h - self.strength * (h @ v).unsqueeze(-1) * v

    def _hook(self, module: torch.nn.Module, args: Any, out: Any) -> Any:
        if isinstance(out, torch.Tensor):
            return self(out)
        if isinstance(out, tuple):
            return (self(out[0]), *out[1:])
        out["last_hidden_state"] = self(out["last_hidden_state"])  # a ModelOutput
        return out

    def attach(self, model: PreTrainedModel) -> PreTrainedModel:
        encoder = _encoder_of(model)
        model.add_module("bias_projection", self)  # moves with model.to(device)
        encoder.register_forward_hook(self._hook)
        return model

    def save(self, path: Path) -> None:
        torch.save({"direction": self.direction.cpu(), "strength": self.strength}, path)

    @classmethod
    def load(cls, path: Path) -> BiasProjection:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        return cls(saved["direction"], saved["strength"])


def _encoder_of(model: PreTrainedModel) -> torch.nn.Module:
    base = model.base_model
    for name in ("encoder", "transformer"):  # BERT-like / DistilBERT-like
        if isinstance(getattr(base, name, None), torch.nn.Module):
            return getattr(base, name)
    raise UserError(f"projection: no encoder module found in {type(model).__name__}")
