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

import copy
import functools
import re
from collections.abc import Iterable
from dataclasses import field, fields, is_dataclass, make_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bias_sweep.adaptation import ADAPTATIONS, default_adaptation
from bias_sweep.errors import UserError
from bias_sweep.interventions import METHODS, reference_method
from bias_sweep.schema import Config, InterventionConfig, TrainConfig
from bias_sweep.validation import explain, one_line, validate

__all__ = [
    "checked_overrides",
    "from_dict",
    "from_typed_dict",
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
    own: dict[str, tuple[Any, Any, Any]] = {}
    for spec in specs:
        if spec.settings is None:
            continue
        hints = get_type_hints(spec.settings)
        for f in fields(spec.settings):
            # A nested section (intervention.corpus) has a default_factory, a value a default.
            declared = (hints[f.name], f.default, f.default_factory)
            if own.setdefault(f.name, declared) != declared:
                raise ValueError(f"{section}.{f.name}: two specs declare it differently")
    return [
        (name, kind, field(default=default, default_factory=factory))
        for name, (kind, default, factory) in own.items()
    ]


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
    return OmegaConf.to_object(OmegaConf.merge(_structured(schema()), conf))


def from_typed_dict(conf: dict[str, Any]) -> Config:
    """`typed` for a dict whose values have the schema's types already (a validated config's
    own dict, such as a grid point's): the dataclasses built directly, without OmegaConf's merge
    (65 ms a trial on 2 loaded cores). Keys the dict lacks take their defaults."""
    return _build(schema(), conf)


def _build(kind: type, values: dict[str, Any]) -> Any:
    hints = _hints(kind)
    return kind(**{name: _field_value(hints[name], v) for name, v in values.items()})


@functools.lru_cache(maxsize=64)
def _hints(kind: type) -> dict[str, Any]:
    return get_type_hints(kind)


def _field_value(hint: Any, value: Any) -> Any:
    """A section as its dataclass, a list of sections as a list of them, anything else as a
    copy of itself (the instance owns its containers, as OmegaConf's would)."""
    if isinstance(value, dict):
        for kind in (hint, *get_args(hint)):  # the section's class, or X in `X | None`
            if is_dataclass(kind):
                return _build(kind, value)
    if isinstance(value, list) and get_origin(hint) is list and is_dataclass(get_args(hint)[0]):
        return [_field_value(get_args(hint)[0], v) for v in value]
    return copy.deepcopy(value)


@functools.lru_cache(maxsize=4)
def _structured(kind: type[Config]) -> DictConfig:
    """The schema as an OmegaConf node, built once: 60 ms a time on 2 loaded cores, twice per
    trial. Only merged from (a merge copies its first argument), never changed."""
    return OmegaConf.structured(kind)


DOTTED_KEY = re.compile(r"[\w-]+(\.[\w-]+)*")


def override_key(item: str) -> str:
    """The key of a `key=value` override (the one place that splits them)."""
    return _split_override(item)[0]


def _split_override(item: str) -> tuple[str, str]:
    if "=" not in item:
        raise UserError(f"override {item!r}: expected key=value")
    key, raw = item.split("=", 1)
    if not key.strip():
        raise UserError(f"override {item!r}: empty key")
    if not DOTTED_KEY.fullmatch(key.strip()):
        raise UserError(f"override {item!r}: a key is names joined by dots, like data.rate")
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
    old = OmegaConf.select(conf, key, default=None, throw_on_resolution_failure=False)
    for kind, plain, word in (
        (DictConfig, dict, "mapping {key: value}"),
        (ListConfig, list, "list"),
    ):
        if isinstance(old, kind) and not isinstance(value, (plain, type(None))):
            raise UserError(f"override {item!r}: key '{key}' takes a {word}")
    try:
        # A list replaces the old one either way; merging it is what types its items (the
        # mappings of `eval.sets=[{name: ..., path: ...}]` become EvalSetConfig).
        merge = isinstance(value, list)
        OmegaConf.update(conf, key, value, merge=merge, force_add=False)
    except OmegaConfBaseException as exc:
        raise UserError(f"override {item!r}: {explain(exc, key)}") from None


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
        raise UserError(f"config file '{path}': not valid YAML ({_yaml_problem(exc)})") from None
    if not isinstance(loaded, DictConfig):
        raise UserError(f"config file '{path}': expected a mapping at the top level")
    if len(loaded) == 0:
        raise UserError(f"config file '{path}': empty; give at least one setting (or no file)")
    try:
        return OmegaConf.merge(conf, loaded)
    except OmegaConfBaseException as exc:
        raise UserError(f"config file '{path}': {explain(exc)}") from None
    except TypeError:  # OmegaConf's word for a list where the schema has a mapping, or back
        plain = (OmegaConf.to_container(c) for c in (conf, loaded))
        what = _shape_mismatch(*plain) or "a list where a mapping is expected, or back"
        raise UserError(f"config file '{path}': {what}") from None


def _yaml_problem(exc: Exception) -> str:
    """A YAML parser's error in one line: what is wrong and where (e.g. the duplicate key)."""
    problem, mark = getattr(exc, "problem", None), getattr(exc, "problem_mark", None)
    if not problem:
        return one_line(exc)
    return f"{problem}" + (f" at line {mark.line + 1}" if mark is not None else "")


def _resolve(conf: DictConfig) -> None:
    """Resolve every `${...}` interpolation now, so that what runs (and sweep.yaml) holds plain
    values; one that cannot be resolved is one line naming its key."""
    try:
        OmegaConf.resolve(conf)
    except OmegaConfBaseException as exc:
        text = explain(exc)
        key = getattr(exc, "full_key", None)
        if key and not text.startswith("key '"):
            text = f"key '{key}': {text}"
        raise UserError(f"{text} (an interpolation must resolve to an allowed value)") from None


def _shape_mismatch(schema: Any, loaded: Any, prefix: str = "") -> str | None:
    """The first key where `loaded` has a list and `schema` a mapping, or the other way round
    (both plain containers)."""
    if not isinstance(schema, dict) or not isinstance(loaded, dict):
        return None
    for key, theirs in loaded.items():
        mine = schema.get(key)
        if len({type(v) for v in (mine, theirs) if isinstance(v, (dict, list))}) == 2:
            return f"key '{prefix}{key}' takes a {'mapping' if isinstance(mine, dict) else 'list'}"
        found = _shape_mismatch(mine, theirs, f"{prefix}{key}.")
        if found:
            return found
    return None


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> DictConfig:
    """Load a trial or sweep YAML (or the built-in default when path is None), apply overrides,
    resolve interpolations and validate the result."""
    conf = _read(path)
    for item in overrides or []:
        _set_override(conf, item)
    _resolve(conf)
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
    return OmegaConf.merge(_structured(schema()), conf)


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
