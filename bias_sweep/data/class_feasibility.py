"""Whether a multi-class data config fits its pool, before anything runs (`feasibility`'s
multi-class form): every class of the train sample at its own target (`classes`), the short
class named, with the largest data.train_size that fits every class."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bias_sweep.schema import DataConfig

from .classes import class_cells, class_targets, first_class_shortfall, largest_fitting, train_draws
from .cooccurrence import Shortfall
from .eval_split import Split
from .pool import Pool, natural_shares


@dataclass(frozen=True)
class ClassCheck:
    """What a multi-class pool holds, each class's target and whether train_size fits them."""

    where: str
    names: tuple[str, str]
    eval_makeup: dict[str, Any]
    classes: tuple[str, ...]
    natural: list[float]
    targets: list[float]
    train_size: int
    short: Shortfall | None  # the first class data.train_size cannot draw; None: it fits
    largest: int  # the largest data.train_size that fits every class

    def problem(self) -> str | None:
        if self.short is None:
            return None
        return (
            f"data.train_size: {self.train_size} rows do not fit {self.where}: "
            f"{self.short.text('train pool')}; the largest feasible data.train_size is "
            f"{self.largest}"
        )

    def describe(self) -> list[str]:
        ev = self.eval_makeup
        per_class = ", ".join(
            f"{c} {n:.2f}->{t:.2f}"
            for c, n, t in zip(self.classes, self.natural, self.targets, strict=True)
        )
        verdict = "fits every class" if self.short is None else "does NOT fit every class"
        return [
            f"data: {self.where}, {len(self.classes)} classes",
            f"  eval set: {ev['rows']} rows by {ev['method']}; {ev['real']} real, "
            f"{ev['swapped']} swapped",
            f"  P({self.names[0]} | class), natural->target: {per_class}",
            f"  train_size {self.train_size} {verdict}; largest feasible train_size {self.largest}",
        ]


def check_classes(cfg: DataConfig, pool: Pool, split: Split, where: str) -> ClassCheck:
    classes, lexicon = pool.classes or (), pool.lexicon
    names = (lexicon.name_a, lexicon.name_b)
    natural = natural_shares(pool.labelled, lexicon, len(classes))
    targets = class_targets(cfg, classes, natural)
    cells = class_cells(split.train_pool, lexicon, len(classes))

    def short(n: int, exact: bool = True) -> Shortfall | None:
        draws = train_draws(n, cells, targets, classes)
        return first_class_shortfall(draws, cells, cfg.rate_method, names, exact=exact)

    return ClassCheck(
        where, names, dict(split.makeup), classes, natural, targets, cfg.train_size,
        short(cfg.train_size), largest_fitting(len(split.train_pool), short),
    )  # fmt: skip
