"""Whether a sweep's sizes fit its data, before anything runs.

`plan` and `run` call `check_data` once per distinct data config of the grid (every data setting
but the rate), with all the rates the grid pairs with it. It loads the pool and builds the eval set
exactly as `load_task` does (so an eval set that cannot be built fails here, naming the cell), and
for each rate applies the sampler's own rule (`cooccurrence.first_shortfall`) to the train
pool's (group, label) cells; `cooccurrence.largest_size` gives the largest train_size that fits each rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bias_sweep.caches import cache_root
from bias_sweep.schema import DataConfig

from .class_feasibility import ClassCheck, check_classes
from .cooccurrence import Cells, Shortfall, first_shortfall, largest_size
from .eval_split import split_pool
from .lexicon import get_lexicon
from .pool import describe_source, load_pool


@dataclass(frozen=True)
class RateFit:
    rate: float
    largest: int  # the largest data.train_size that fits at this rate
    short: Shortfall | None  # what data.train_size lacks at this rate; None: it fits


@dataclass(frozen=True)
class DataCheck:
    """What one data config's pool holds and which of its rates the train size fits."""

    where: str  # the source, in words
    names: tuple[str, str]  # the groups (A, B)
    counts: dict[str, Any]  # the source's rows by group (pool.source_counts)
    eval_makeup: dict[str, Any]  # eval_split.Split.makeup
    train_cells: Cells  # the train pool by (group, label)
    method: str  # data.rate_method
    train_size: int
    fits: tuple[RateFit, ...]  # one per rate, in increasing order

    def problem(self) -> str | None:
        """One line saying why data.train_size does not fit, at its worst rate; None if it fits."""
        failing = [f for f in self.fits if f.short is not None]
        if not failing:
            return None
        # The rate that allows the smallest size; among equals, the one short of most rows.
        worst = min(failing, key=lambda f: (f.largest, f.short.has - f.short.need))  # type: ignore[union-attr]
        lack = worst.short.text("train pool")  # type: ignore[union-attr]
        head = f"data.train_size: {self.train_size} rows do not fit {self.where}"
        if self.method != "resample":
            return (
                f"{head} ({self.method}): {lack}; the largest feasible data.train_size is "
                f"{worst.largest}"
            )
        overall = min(f.largest for f in self.fits)
        return (
            f"{head} at data.rate={worst.rate:g} (resample; {len(failing)} of {len(self.fits)} "
            f"rates do not fit): {lack}; the largest feasible data.train_size at rate "
            f"{worst.rate:g} is {worst.largest} (at every rate of the grid: {overall}), or use "
            "data.rate_method=counterfactual"
        )

    def describe(self) -> list[str]:
        """Lines for `plan`: the source's groups, the eval set, the train pool, the fit per rate."""
        a, b = self.names
        ev = self.eval_makeup
        lines = [
            f"data: {self.where}",
            f"  rows by group: {_counts_text(self.counts, a, b)}",
            f"  eval set: {ev['rows']} rows by {ev['method']} ({_cells_text(ev['cells'], a, b)});"
            f" {ev['real']} real, {ev['swapped']} swapped",
            f"  train pool: {_cells_total(self.train_cells)} rows"
            f" ({_cells_text(self.train_cells.as_dict(self.names), a, b)})",
        ]
        verdict = "fits every rate" if self.problem() is None else "does NOT fit every rate"
        if self.method == "resample":
            largest = "per rate: " + ", ".join(f"{f.rate:g}: {f.largest}" for f in self.fits)
        else:  # only the label totals matter: one size for every rate
            largest = f"(any rate): {self.fits[0].largest if self.fits else '-'}"
        lines.append(
            f"  train_size {self.train_size} by {self.method} {verdict}; largest feasible"
            f" train_size {largest}"
        )
        return lines


def _counts_text(counts: dict[str, Any], a: str, b: str) -> str:
    distinct = counts["rows"] - counts.get("duplicates", 0)
    dropped = distinct - counts["kept"]
    share = counts["kept_share"]
    text = f"from the {counts['group_from']}: {a} {counts['a']}, {b} {counts['b']}"
    if counts["group_from"] == "lexicon":
        text += f", both {counts['both']}, neither {counts['neither']}"
    else:
        text += f", no group {counts['neither']}, no twin {counts.get('no_twin', 0)}"
        agreement = counts.get("lexicon_agreement")
        if agreement is not None:
            text += f" (lexicon agrees on {agreement:.1%})"
    text += f"; kept {counts['kept']} of {distinct} distinct texts ({share:.1%}), dropped {dropped}"
    if counts.get("duplicates"):
        text += f" (and {counts['duplicates']} duplicate rows)"
    if counts.get("unusable"):
        text += f"; {counts['unusable']} rows without a text or a label left out first"
    return text


def _cells_text(cells: dict[str, dict[str, int]], a: str, b: str) -> str:
    return "; ".join(
        f"{g}: " + ", ".join(f"{n} y={y}" for y, n in cells[g].items()) for g in (a, b)
    )


def _cells_total(cells: Cells) -> int:
    return cells.a1 + cells.b1 + cells.a0 + cells.b0


def check_data(
    cfg: DataConfig, rates: list[float], *, cache_dir: str | Path | None = None
) -> DataCheck | ClassCheck:
    """Load the pool and eval set of a `data` config (UserError if the eval set cannot be built)
    and fit its train size at every rate (a multi-class task: every class at its target; the
    rates do not apply); raises nothing about the train size (`problem`)."""
    lexicon = get_lexicon(cfg.groups)
    names = (lexicon.name_a, lexicon.name_b)
    where = describe_source(cfg)
    pool = load_pool(cfg, lexicon, cache_root(cache_dir))
    split = split_pool(pool, cfg.eval_size, cfg.eval_method, lexicon, where)
    if pool.classes is not None:
        return check_classes(cfg, pool, split, where)
    cells = Cells.of(split.train_pool, lexicon)
    n, rate_method = cfg.train_size, cfg.rate_method
    fits = tuple(
        RateFit(
            rate,
            largest_size(cells, rate, rate_method, names),
            first_shortfall(cells, rate, n, rate_method, names),
        )
        for rate in sorted(set(rates))
    )
    return DataCheck(
        where, names, dict(pool.counts), dict(split.makeup), cells, rate_method, n, fits
    )
