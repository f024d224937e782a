"""Where and in what precision a model trains: the device, its autocast and (fp16) loss scaling,
and moving batches onto it.

`train.precision` auto picks by what the device does natively: bf16 on a GPU of compute
capability 8.0 or more (A100, H100, L4, RTX 30xx and later) and on ROCm; fp16 with a loss scaler on
older GPUs (V100, T4), where bf16 is emulated and slow (`torch.cuda.is_bf16_supported()` says True
there, emulation included, so the capability decides); fp32 on the CPU. An explicit value is used
as asked, on any device.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

# Native bf16 tensor cores from Ampere (compute capability 8.0) on.
BF16_MIN_CAPABILITY = (8, 0)
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def select_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def choose_precision(requested: str, device: torch.device) -> str:
    """fp32, bf16 or fp16: `requested` unless it is auto, then the device's best."""
    if requested != "auto":
        return requested
    if device.type != "cuda":
        return "fp32"
    if torch.version.hip or torch.cuda.get_device_capability(device) >= BF16_MIN_CAPABILITY:
        return "bf16"
    return "fp16"


class Amp:
    """A loop's precision on its device: `autocast()` around the forward, `backward(loss)` and
    `step(optimizer)` through a loss scaler that is enabled for fp16 only (fp16 gradients
    underflow without it; for fp32 and bf16 it is a no-op and never syncs)."""

    def __init__(self, precision: str, device: torch.device) -> None:
        self.precision = precision
        self.device = device
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def autocast(self) -> Any:
        dtype = DTYPES[self.precision]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        self.scaler.step(optimizer)  # skipped when fp16 gradients overflowed
        self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        """The scaler's state (its current scale), empty when it is disabled."""
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if state and self.scaler.is_enabled():
            self.scaler.load_state_dict(state)


def amp_for(requested: str, device: torch.device) -> Amp:
    return Amp(choose_precision(requested, device), device)


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Onto the device; to a GPU from pinned memory without blocking, so the copy overlaps the
    work queued before it (the loop does not wait for each batch's transfer)."""
    if device.type != "cuda":
        return tensor
    return tensor.pin_memory().to(device, non_blocking=True)
