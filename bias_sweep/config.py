"""Config loading, `key=value` overrides, and the typed config the lower layers receive.

One schema serves a single trial and a sweep: a sweep is a trial config plus a `sweep` section whose
`grid` maps dotted keys (`data.rate`, `intervention.strength`, ...) to the values to sweep over
(`bias_sweep.sweep.grid` expands it). A trial of a sweep file takes the first value of each axis
unless overridden.

The boundary: `load_config` reads YAML and overrides into the schema (`schema()`: the static
sections of `bias_sweep.schema` plus each intervention method's own settings) and validates every
value once (`bias_sweep.validation`). What runs a trial gets `typed(...)`: the schema's
dataclasses, whose sections (`DataConfig`, `TrainConfig`, ...) the lower layers use as they are.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import field, fields, make_dataclass
from pathlib import Path
from typing import Any, get_type_hints

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bias_sweep.adaptation import ADAPTATIONS, default_adaptation
from bias_sweep.errors import UserError
from bias_sweep.interventions import METHODS, reference_method
from bias_sweep.schema import Config, InterventionConfig, TrainConfig
from bias_sweep.validation import explain, one_line, validate

__all__ = [
    "checked_overrides",
    "from_dict",
    "grid_axes",
    "load_config",
    "load_sweep",
    "override_key",
    "read_saved",
    "schema",
    "split_words",
    "typed",
    "yaml_value",
]


def schema() -> type[Config]:
    """The config schema with every registered method's own settings in its `intervention`
    section and every adaptation's in its `train` section (and the reference method and the
    default adaptation as their defaults)."""
    return _schema(METHODS.version, ADAPTATIONS.version)


def _own_settings(specs: Iterable[Any], section: str) -> list[tuple[str, Any, Any]]:
    """(name, type, field) of the settings that specs declare for a section, each once."""
    own: dict[str, tuple[Any, Any]] = {}
    for spec in specs:
        if spec.settings is None:
            continue
        hints = get_type_hints(spec.settings)
        for f in fields(spec.settings):
            declared = (hints[f.name], f.default)  # plain defaults (no default_factory)
            if own.setdefault(f.name, declared) != declared:
                raise ValueError(f"{section}.{f.name}: two specs declare it differently")
    return [(name, kind, field(default=default)) for name, (kind, default) in own.items()]


@functools.lru_cache(maxsize=4)
def _schema(methods_version: int, adaptations_version: int) -> type[Config]:
    intervention = make_dataclass(
        "InterventionConfig",
        [
            ("method", str, field(default=reference_method())),
            *_own_settings(METHODS, "intervention"),
        ],
        bases=(InterventionConfig,),
    )
    train = make_dataclass(
        "TrainConfig",
        [
            ("adaptation", str, field(default=default_adaptation())),
            *_own_settings(ADAPTATIONS, "train"),
        ],
        bases=(TrainConfig,),
    )
    return make_dataclass(
        "Config",
        [
            ("intervention", intervention, field(default_factory=intervention)),
            ("train", train, field(default_factory=train)),
        ],
        bases=(Config,),
    )


def typed(conf: DictConfig | dict[str, Any]) -> Config:
    """A (validated) config, or a part of one with the rest at its defaults, as the schema's
    dataclasses: what a trial runs with."""
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema()), conf))


def override_key(item: str) -> str:
    """The key of a `key=value` override (the one place that splits them)."""
    return _split_override(item)[0]


def _split_override(item: str) -> tuple[str, str]:
    if "=" not in item:
        raise UserError(f"override '{item}': expected key=value")
    key, raw = item.split("=", 1)
    if not key.strip():
        raise UserError(f"override '{item}': empty key")
    return key.strip(), raw


def split_words(words: list[str]) -> tuple[str | None, list[str]]:
    """A command's positional words: an optional config file first, then key=value overrides."""
    path, overrides = (words[0], words[1:]) if words and "=" not in words[0] else (None, words)
    return path, checked_overrides(overrides)


def checked_overrides(words: list[str]) -> list[str]:
    for word in words:
        if "=" not in word:
            raise UserError(f"'{word}': expected key=value (only one config file may be given)")
    return words


def _set_override(conf: DictConfig, item: str) -> None:
    key, raw = _split_override(item)
    value = yaml_value(raw)
    try:
        # A list replaces the old one either way; merging it is what types its items (the
        # mappings of `eval.sets=[{name: ..., path: ...}]` become EvalSetConfig).
        merge = isinstance(value, list)
        OmegaConf.update(conf, key, value, merge=merge, force_add=False)
    except OmegaConfBaseException as exc:
        raise UserError(f"override '{item}': {explain(exc, key)}") from None


def yaml_value(raw: str) -> Any:
    """Parse one override value the way YAML would (numbers, lists, mappings, null, strings).

    Hydra-style mappings without spaces (`{seed:[0,1]}`) are accepted as well as YAML's
    `{seed: [0, 1]}`: YAML would read the former as a single key.
    """
    if raw == "":
        return ""
    if raw.lstrip().startswith("{"):
        raw = re.sub(r":(?=[^\s/])", ": ", raw)
    try:
        return OmegaConf.to_container(OmegaConf.create(f"v: {raw}"))["v"]
    except Exception:
        return raw


def _read(path: str | Path | None) -> DictConfig:
    """The schema's defaults, with a YAML file merged over them (type-checked, not validated)."""
    conf = OmegaConf.structured(schema())
    if path is None:
        return conf
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file '{path}' not found")
    try:
        loaded = OmegaConf.load(path)
    except Exception as exc:
        raise UserError(f"config file '{path}': not valid YAML ({one_line(exc)})") from None
    if not isinstance(loaded, DictConfig):
        raise UserError(f"config file '{path}': expected a mapping at the top level")
    try:
        return OmegaConf.merge(conf, loaded)
    except OmegaConfBaseException as exc:
        raise UserError(f"config file '{path}': {explain(exc)}") from None


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> DictConfig:
    """Load a trial or sweep YAML (or the built-in default when path is None), apply overrides
    and validate the result."""
    conf = _read(path)
    for item in overrides or []:
        _set_override(conf, item)
    validate(conf, grid_axes(conf))
    return conf


def load_sweep(sweep: str | None, overrides: list[str]) -> tuple[DictConfig, Path]:
    """A command's sweep file and overrides: (config, the sweep file's absolute path)."""
    if sweep is None:
        raise UserError("SWEEP: give a sweep file, e.g. sweeps/quickstart.yaml")
    if "=" in sweep and not Path(sweep).is_file():
        raise UserError(f"SWEEP: '{sweep}' looks like an override; give the sweep file first")
    return load_config(sweep, checked_overrides(overrides)), Path(sweep).resolve()


def from_dict(conf: dict[str, Any]) -> DictConfig:
    """A config written out as a plain dict (a Ray task's argument), under the schema again."""
    return OmegaConf.merge(OmegaConf.structured(schema()), conf)


def read_saved(path: Path) -> DictConfig:
    """A sweep's own `sweep.yaml`, written by `run` after it was validated: read, not checked
    again."""
    return _read(path)


def grid_axes(conf: DictConfig) -> dict[str, Any]:
    """The grid as {dotted key: values}; nested mappings are flattened (`data: {rate: [..]}` and
    `data.rate: [..]` are the same axis)."""

    def flatten(prefix: str, node: Any) -> dict[str, Any]:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for k, v in node.items():
                out.update(flatten(f"{prefix}.{k}" if prefix else str(k), v))
            return out
        return {prefix: node}

    return flatten("", OmegaConf.to_container(conf.sweep.grid, resolve=True))
