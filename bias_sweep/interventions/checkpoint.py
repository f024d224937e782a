"""`checkpoint`: an already-debiased model that someone else trained (e.g. the Zari models of
Webster et al. 2020), from a local folder or a Hugging Face hub id at a pinned revision, so that
published checkpoints join the grid next to the interventions run here.

`intervention.checkpoint` is the folder or hub id, `intervention.checkpoint_revision` the hub
revision (a commit hash, or a tag): required for a hub id, since a branch moves and the sweep
would no longer say which model it measured. It has no strength and no seed (one level, one
model); its intrinsic bias is measured like any intervened model's, against `model.name`, the
base it is compared with. A checkpoint without tokenizer files gets the base's tokenizer (the
Zari models use BERT's). Its weights are changed weights: fine-tuning can undo them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bias_sweep.errors import UserError
from bias_sweep.interventions.none import copy_model
from bias_sweep.interventions.registry import InterventionJob, Method, register_method

KEY = "intervention.checkpoint"
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "spiece.model")


@dataclass
class CheckpointSettings:
    checkpoint: str | None = None  # a `from_pretrained` folder or a hub id
    checkpoint_revision: str | None = None  # the hub revision (required for a hub id)


def local_folder(name: str) -> Path | None:
    """The folder `name` names, if it is one (None: a hub id)."""
    path = Path(name).expanduser()
    return path.resolve() if path.exists() or not HUB_ID.fullmatch(name) else None


def validate(settings: CheckpointSettings) -> None:
    name = settings.checkpoint
    if not name:
        raise UserError(f"key '{KEY}': intervention.method=checkpoint needs a folder or a hub id")
    folder = local_folder(name)
    if folder is None:
        if not settings.checkpoint_revision:
            raise UserError(
                f"key '{KEY}': '{name}' is no folder here, and as a hub id it needs a pinned"
                " intervention.checkpoint_revision (a commit hash or tag)"
            )
    elif not (folder / "config.json").is_file():
        what = "has no config.json (not a saved model)" if folder.is_dir() else "does not exist"
        raise UserError(f"key '{KEY}': folder '{folder}' {what}")


def fingerprint(folder: Path) -> str:
    """A hash of a model folder's file names, sizes and config: a changed checkpoint shows."""
    digest = hashlib.sha256((folder / "config.json").read_bytes())
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{f.relative_to(folder)}:{f.stat().st_size}".encode())
    return digest.hexdigest()[:16]


def apply(job: InterventionJob) -> dict[str, Any]:
    from bias_sweep import models

    s: CheckpointSettings = job.settings
    validate(s)  # also here: a config written before the folder went away
    folder = local_folder(s.checkpoint) or models.hub_snapshot(
        s.checkpoint,
        s.checkpoint_revision,
        KEY,
        "a local folder or a model on the Hugging Face hub",
    )
    copy_model(folder, job.out_dir)
    own_tokenizer = any((folder / f).is_file() for f in TOKENIZER_FILES)
    if not own_tokenizer:
        models.load_tokenizer(job.base_dir).save_pretrained(job.out_dir)
    return {
        "checkpoint": s.checkpoint,
        "revision": s.checkpoint_revision,
        "resolved_folder": str(folder),
        "fingerprint": fingerprint(folder),
        "tokenizer": "its own" if own_tokenizer else "the base's",
    }


register_method(
    Method(
        "checkpoint", apply, strength=False, seeded=False, settings=CheckpointSettings,
        validate=validate,
    )
)  # fmt: skip
