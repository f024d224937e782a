"""What identifies a trial and an intervened model: stable keys from the settings they depend on.

A trial's key is its folder name, its W&B run id and its place in the results table; an
intervened model's key names the shared artifact that every rate and seed of it reuses. Both are
hashes of resolved configs (plain dicts), so the planner can compute them for thousands of points
without an OmegaConf config each.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bias_sweep.adaptation import used as adaptation_used
from bias_sweep.hashing import stable_hash
from bias_sweep.interventions import METHODS
from bias_sweep.schema import SAMPLE_ONLY_DATA_KEYS, Config, CorpusConfig, TrainConfig

# Settings that do not change what a trial computes: left out of its identity.
NON_IDENTITY_SECTIONS = ("sweep", "tracking", "report", "cache_dir")
NON_IDENTITY_TRAIN_KEYS = ("compile",)  # how the same computation runs
# Settings added after sweeps existed, per section: left out of the keys while at their defaults
# (what those sweeps did), so that every key computed before them still holds (a sweep started
# earlier resumes and reruns nothing).
LATER_SETTINGS = {
    "intervention": {"corpus": asdict(CorpusConfig())},
    "train": {"precision": TrainConfig.precision, "grad_accum": TrainConfig.grad_accum},
}


Conf = DictConfig | Config | dict[str, Any]


def to_dict(conf: Conf) -> dict[str, Any]:
    """A config as a plain, resolved dict (a plain dict is returned as it is)."""
    if isinstance(conf, DictConfig):
        return OmegaConf.to_container(conf, resolve=True)  # type: ignore[return-value]
    if isinstance(conf, Config):
        return asdict(conf)
    return conf


def identity(conf: Conf) -> dict[str, Any]:
    """What a trial computes: the config without storage, tracking and caches, with only the
    intervention settings its method uses (`Method.used`) and the train settings its adaptation
    uses (`adaptation.used`), and without the LATER_SETTINGS at their defaults: a new method or
    adaptation, and its settings, leave the keys of the trials that do not use them as they were,
    and so do settings added after sweeps existed."""
    d = {k: v for k, v in to_dict(conf).items() if k not in NON_IDENTITY_SECTIONS}
    if "intervention" in d:
        # (A config written before a later setting existed holds it at its default.)
        given = {**LATER_SETTINGS["intervention"], **d["intervention"]}
        d["intervention"] = METHODS.get(given["method"]).used(given)
    if "train" in d:
        d["train"] = adaptation_used(d["train"])
    for section in LATER_SETTINGS:
        if section in d:
            d[section] = _later_defaults_dropped(section, d[section])
    return d


def _later_defaults_dropped(section: str, values: dict[str, Any]) -> dict[str, Any]:
    """A section's settings without those of LATER_SETTINGS that are at their defaults (and,
    for train, without those that do not change what is computed)."""
    later = LATER_SETTINGS[section]
    skip = NON_IDENTITY_TRAIN_KEYS if section == "train" else ()
    return {k: v for k, v in values.items() if k not in skip and later.get(k, ...) != v}


def trial_key(conf: Conf) -> str:
    """Stable id of a trial within its sweep (also its W&B run id)."""
    d = to_dict(conf)
    return stable_hash({"sweep": d["sweep"]["name"], "trial": identity(d)})


def intervention_settings(conf: Conf) -> dict[str, Any]:
    """Everything an intervened model (and its measured intrinsic bias) depends on: model,
    the settings its intervention method uses (`Method.used`), the task's pool and the
    intrinsic measures."""
    d = to_dict(conf)
    # The sample settings change the training sample but not the pre-training corpus, so not
    # the intervened model either: one intervened model serves every rate.
    data = {k: v for k, v in d["data"].items() if k not in SAMPLE_ONLY_DATA_KEYS}
    method = METHODS.get(d["intervention"]["method"])
    return {
        "model": d["model"],
        # (A config written before a later setting existed holds it at its default.)
        "intervention": _later_defaults_dropped(
            "intervention", method.used({**LATER_SETTINGS["intervention"], **d["intervention"]})
        ),
        "data": data,
        "intrinsic": d["intrinsic"],
    }


def intervention_key(conf: Conf) -> str:
    return stable_hash(intervention_settings(conf), length=16)


def base_key(conf: Conf) -> str:
    """The pre-trained model's own intrinsic measures: what they depend on, without the
    intervention (shared by every intervention of that model)."""
    settings = {k: v for k, v in intervention_settings(conf).items() if k != "intervention"}
    return "base-" + stable_hash(settings, length=16)
