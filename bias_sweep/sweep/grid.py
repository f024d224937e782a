"""The grid of a sweep: its axes, its points, the config of each point, and the axes' short names.

A point is a flat {dotted key: value} dict of one value per axis. Its config is the sweep config
with those values set; `PointConfigs` computes it as a plain dict, which is how the planner gets
the keys of thousands of points quickly, and `point_config` as a DictConfig for running it.
"""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from bias_sweep import adaptation
from bias_sweep.config import from_typed_dict, grid_axes
from bias_sweep.identity import to_dict
from bias_sweep.interventions import effective
from bias_sweep.schema import Config

# Short names of the usual axes: the columns of results, status and reports, W&B config keys.
AXIS_NAMES = {
    "model.name": "model",
    "intervention.method": "method",
    "intervention.strength": "strength",
    "intervention.seed": "intervention_seed",
    "train.adaptation": "adaptation",
    "data.rate": "rate",
    "seed": "seed",
}
USUAL_AXES = tuple(AXIS_NAMES.values())


def expand_grid(conf: DictConfig) -> list[dict[str, Any]]:
    """The sweep's grid points, deduplicated, in a stable order (the shared settings a method
    ignores at 0: `interventions.effective`)."""
    grid = grid_axes(conf)
    keys = list(grid.keys())
    points: list[dict[str, Any]] = []
    seen: set[str] = set()
    for combo in itertools.product(*(grid[k] for k in keys)):
        point = dict(zip(keys, combo, strict=True))
        method = point.get("intervention.method", conf.intervention.method)
        strength = effective(
            method, "strength", point.get("intervention.strength", conf.intervention.strength)
        )
        for setting in ("strength", "seed"):
            if f"intervention.{setting}" in point:
                key = f"intervention.{setting}"
                point[key] = effective(method, setting, point[key], strength)
        adapted = point.get("train.adaptation", conf.train.adaptation)
        for key in [k for k in point if k.startswith("train.")]:
            point[key] = adaptation.effective(adapted, key.removeprefix("train."), point[key])
        ident = json.dumps(point, sort_keys=True, default=str)
        if ident not in seen:
            seen.add(ident)
            points.append(point)
    return points


def first_point(conf: DictConfig) -> dict[str, Any]:
    """The point a single trial of a sweep file runs: the first value of each axis."""
    return {k: v[0] for k, v in grid_axes(conf).items()}


class PointConfigs:
    """point -> the point's resolved config as a plain dict.

    An OmegaConf config per point costs milliseconds, a minute at 10,000 points; here each axis
    value goes through OmegaConf once, for the schema's types (e.g. 0 -> 0.0), and a point is a
    copy of the base dict with its values set.
    """

    def __init__(self, conf: DictConfig) -> None:
        self.conf = conf
        self.base = to_dict(conf)
        self._typed: dict[tuple[str, str], Any] = {}
        self._field_type: dict[str, type] = {}

    def _value(self, key: str, v: Any) -> Any:
        if self._field_type.get(key) is type(v) and isinstance(v, (int, float, str)):
            return v  # already of the field's type (e.g. seeds): OmegaConf would keep it as is
        ident = (key, json.dumps(v, sort_keys=True, default=str))
        if ident not in self._typed:
            one = self.conf.copy()
            OmegaConf.update(one, key, v, merge=False)
            typed = OmegaConf.select(one, key)
            if isinstance(typed, (DictConfig, ListConfig)):
                typed = OmegaConf.to_container(typed, resolve=True)
            self._typed[ident] = typed
            if type(typed) is type(v):
                self._field_type[key] = type(v)
        return self._typed[ident]

    def __call__(self, point: dict[str, Any]) -> dict[str, Any]:
        d = copy.deepcopy(self.base)
        for key, v in point.items():
            *parents, last = key.split(".")
            node = d
            for part in parents:
                node = node[part]
            node[last] = self._value(key, v)
        iv = d["intervention"]
        for setting in ("strength", "seed"):  # strength first: the seed may depend on it
            iv[setting] = effective(iv["method"], setting, iv[setting], iv["strength"])
        train = d["train"]
        for key in train:
            train[key] = adaptation.effective(train["adaptation"], key, train[key])
        return d

    def config(self, point: dict[str, Any]) -> Config:
        """The point's config, typed by the schema (what a trial runs with)."""
        return from_typed_dict(self(point))


def point_config(conf: DictConfig, point: dict[str, Any]) -> Config:
    """The config of one grid point, typed by the schema (what a trial runs with)."""
    return PointConfigs(conf).config(point)


def axis_columns(point: dict[str, Any]) -> dict[str, Any]:
    """A point as flat columns, with short names for the usual axes."""
    return {AXIS_NAMES.get(k, k): v for k, v in point.items()}


def _select(d: dict[str, Any], dotted: str) -> Any:
    """A dotted key's value; None where the config lacks it (a result written before the key
    existed, e.g. train.adaptation)."""
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def point_columns(config: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
    """The usual axes of a point's resolved config (always columns, also when a sweep keeps
    one of them fixed), then the point's other axes."""
    usual = {short: _select(config, dotted) for dotted, short in AXIS_NAMES.items()}
    return {**usual, **{k: v for k, v in axis_columns(point).items() if k not in usual}}
