"""A pool's eval set, decided once, and the train pool left after it.

eval        fixed per pool and eval config (a fixed internal seed): balanced labels,
            P(A | y) = 0.5, each row with its counterfactual twin `cf_text`. data.eval_method
            says how it is built and it never changes by itself:
              resample        real rows only; every (group, label) cell of the pool must
                              hold eval_size / 4 rows, else UserError naming the cell and
                              the largest feasible data.eval_size;
              counterfactual  each label's rows drawn at random, the group terms of some
                              swapped to balance the groups; a swapped row's twin is its
                              original text.
            What it holds (method, rows per group x label, real and swapped rows) is the
            `makeup`, recorded in every trial's result.json.
train pool  the pool minus the eval rows and their twins, so that no train text (swapped or
            not) is an eval text; what every train sample of the pool is drawn from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bias_sweep.caches import Memo
from bias_sweep.errors import UserError

from .classes import class_cells, eval_draws, first_class_shortfall, largest_fitting
from .cooccurrence import (
    Cells,
    Drawing,
    Shortfall,
    cooccurrence_sample,
    draw_labels,
    first_shortfall,
    largest_size,
)
from .lexicon import Lexicon
from .pool import Pool

EVAL_SEED = 20220522  # fixed: every trial of every sweep on a pool shares one eval set


@dataclass(frozen=True)
class Split:
    eval: pd.DataFrame  # text, label, group, cf_text
    train_pool: pd.DataFrame  # text, label, group
    makeup: dict[str, Any]  # what the eval set holds: method, rows, cells, real, swapped


def _eval_fit(pool: Pool, n: int, method: str, lexicon: Lexicon) -> tuple[Shortfall | None, int]:
    """What n balanced eval rows lack (None: they fit) and the largest eval size that fits
    (computed only where n does not fit)."""
    names = (lexicon.name_a, lexicon.name_b)
    if pool.classes is None:
        cells = Cells.of(pool.labelled, lexicon)
        short = first_shortfall(cells, 0.5, n, method, names)
        return short, (largest_size(cells, 0.5, method, names) if short else n)
    classes = pool.classes
    by_class = class_cells(pool.labelled, lexicon, len(classes))

    def class_short(m: int, _exact: bool = False) -> Shortfall | None:
        return first_class_shortfall(eval_draws(m, classes), by_class, method, names, exact=False)

    short = class_short(n)
    return short, (largest_fitting(len(pool.labelled), class_short) if short else n)


def _check_eval(pool: Pool, n: int, method: str, lexicon: Lexicon, where: str) -> None:
    short, largest = _eval_fit(pool, n, method, lexicon)
    if short is None:
        return
    other = (
        ", or use data.eval_method=counterfactual (swapped twins fill the short cells)"
        if method == "resample"
        else ""
    )
    raise UserError(
        f"data.eval_size: {n} balanced eval rows ({method}) do not fit {where}: "
        f"{short.text('pool')}; the largest feasible data.eval_size is {largest}{other}"
    )


_SPLITS: Memo[Split] = Memo(8)  # per process, by pool and eval settings


def split_pool(pool: Pool, n: int, method: str, lexicon: Lexicon, where: str) -> Split:
    """The eval set of `pool` (n rows by `method`) and its train pool (kept per process)."""
    return _SPLITS.get_or_make(
        (pool.fingerprint, n, method), lambda: _split(pool, n, method, lexicon, where)
    )


def _split(pool: Pool, n: int, method: str, lexicon: Lexicon, where: str) -> Split:
    labelled = pool.labelled
    _check_eval(pool, n, method, lexicon, where)
    rows, rng = labelled.assign(original=labelled["text"]), np.random.default_rng(EVAL_SEED)
    if pool.classes is None:
        ev, _ = cooccurrence_sample(
            rows, 0.5, n, method, lexicon, rng, size_key="data.eval_size", mark_swapped=True
        )
    else:
        draws = eval_draws(n, pool.classes)
        how = Drawing(method, lexicon, rng, size_key="data.eval_size", mark_swapped=True)
        ev = draw_labels(rows, draws, how)
    swapped = ev["swapped"].to_numpy()
    # A real row's twin is the pool's; a swapped row's twin is the real text it was made from.
    ev["cf_text"] = np.where(swapped, ev["original"], ev["cf_text"])
    makeup = {
        "method": method,
        "rows": len(ev),
        "seed": EVAL_SEED,
        "cells": _cells(ev, lexicon, pool.classes),
        "real": int((~swapped).sum()),
        "swapped": int(swapped.sum()),
    }
    ev = ev[["row_id", "text", "label", "group", "cf_text"]].reset_index(drop=True)
    held = pd.concat([ev["text"], ev["cf_text"]]).unique()
    keep = ~labelled["text"].isin(held) & ~labelled["cf_text"].isin(held)
    train_pool = labelled.loc[keep, ["row_id", "text", "label", "group"]].reset_index(drop=True)
    return Split(ev, train_pool, makeup)


def _cells(rows: pd.DataFrame, lexicon: Lexicon, classes: tuple[str, ...] | None) -> dict:
    """{group: {label: rows}}: labels "1"/"0" for a binary task, class names for a multi-class one."""
    names = (lexicon.name_a, lexicon.name_b)
    if classes is None:
        return Cells.of(rows, lexicon).as_dict(names)
    by_class = class_cells(rows, lexicon, len(classes))
    return {
        g: {c: by_class[i][side] for i, c in enumerate(classes)} for side, g in enumerate(names)
    }
