"""What identifies a trial and an intervened model: stable keys from the settings they depend on.

A trial's key is its folder name, its W&B run id and its place in the results table; an
intervened model's key names the shared artifact that every rate and seed of it reuses. Both are
hashes of resolved configs (plain dicts), so the planner can compute them for thousands of points
without an OmegaConf config each.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bias_sweep.schema import CorpusConfig

# Settings that do not change what a trial computes: left out of its identity.
NON_IDENTITY_SECTIONS = ("sweep", "tracking", "report", "cache_dir")
# Data settings that change the training sample but not the pre-training corpus, so not the
# intervened model either: one intervened model serves every rate.
RATE_ONLY_DATA_KEYS = ("rate", "rate_method", "train_size", "eval_size", "eval_method")
# Settings added after sweeps existed: left out of the keys while at their defaults, so that
# every key computed before they existed still holds (a sweep started earlier resumes as it was).
LATER_SETTINGS = {("intervention", "corpus"): asdict(CorpusConfig())}


def to_dict(conf: DictConfig | dict[str, Any]) -> dict[str, Any]:
    """A config as a plain, resolved dict (a plain dict is returned as it is)."""
    if isinstance(conf, DictConfig):
        return OmegaConf.to_container(conf, resolve=True)  # type: ignore[return-value]
    return conf


def stable_hash(obj: Any, length: int = 12) -> str:
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _unset_later_settings_dropped(d: dict[str, Any]) -> dict[str, Any]:
    """The config without the settings of LATER_SETTINGS that are at their defaults."""
    d = dict(d)
    for (section, key), default in LATER_SETTINGS.items():
        if section in d and d[section].get(key, default) == default:
            d[section] = {k: v for k, v in d[section].items() if k != key}
    return d


def identity(conf: DictConfig | dict[str, Any]) -> dict[str, Any]:
    """What a trial computes: the config without storage, tracking and caches."""
    d = _unset_later_settings_dropped(to_dict(conf))
    return {k: v for k, v in d.items() if k not in NON_IDENTITY_SECTIONS}


def trial_key(conf: DictConfig | dict[str, Any]) -> str:
    """Stable id of a trial within its sweep (also its W&B run id)."""
    d = to_dict(conf)
    return stable_hash({"sweep": d["sweep"]["name"], "trial": identity(d)})


def intervention_settings(conf: DictConfig | dict[str, Any]) -> dict[str, Any]:
    """Everything an intervened model (and its measured intrinsic bias) depends on: model,
    intervention, the task's pool and the intrinsic measures."""
    d = _unset_later_settings_dropped(to_dict(conf))
    data = {k: v for k, v in d["data"].items() if k not in RATE_ONLY_DATA_KEYS}
    return {
        "model": d["model"],
        "intervention": d["intervention"],
        "data": data,
        "intrinsic": d["intrinsic"],
    }


def intervention_key(conf: DictConfig | dict[str, Any]) -> str:
    return stable_hash(intervention_settings(conf), length=16)


def base_key(conf: DictConfig | dict[str, Any]) -> str:
    """The pre-trained model's own intrinsic measures: what they depend on, without the
    intervention (shared by every intervention of that model)."""
    settings = {k: v for k, v in intervention_settings(conf).items() if k != "intervention"}
    return "base-" + stable_hash(settings, length=16)
