"""A fine-tuning run's state, what its checkpoints hold: model, optimizer, scheduler, epoch, the RNG
states (so a resumed run draws what the run that never stopped drew) and the fp16 loss scaler's."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bias_sweep.devices import Amp
from bias_sweep.files import atomic_path


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        # numpy's key array as a tensor: the state then loads with torch.load(weights_only=True)
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "python": random.getstate(),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, key, *rest = state["numpy"]
    np.random.set_state((name, key.numpy().astype(np.uint32), *rest))
    random.setstate(state["python"])


def training_state(
    model: torch.nn.Module, optimizer: Any, scheduler: Any, amp: Amp, epoch: int
) -> dict[str, Any]:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": epoch,
        "rng": _rng_state(),
    }
    if amp.scaler.is_enabled():
        state["scaler"] = amp.state_dict()
    return state


def restore(
    state: dict[str, Any], model: torch.nn.Module, optimizer: Any, scheduler: Any, amp: Amp
) -> int:
    """Load a `training_state` into the live objects; the epoch to continue at."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    amp.load_state_dict(state.get("scaler"))
    _set_rng_state(state["rng"])
    return state["epoch"] + 1


def save_state(state: dict[str, Any], path: Path) -> None:
    """Write a training state atomically: a crash while saving leaves the previous one intact."""
    with atomic_path(Path(path)) as tmp:
        torch.save(state, tmp)


def load_state(path: Path) -> dict[str, Any]:
    # weights_only: a checkpoint is data, never code; the state holds only tensors and plain types.
    return torch.load(path, map_location="cpu", weights_only=True)
