"""Multi-class tasks (data.task=multiclass): per-class co-occurrence targets and draws.

Each class c of K has its own target P(group A | y = c):

    explicit   data.class_rates {class name: rate}, every class named
    scaled     0.5 + data.skew_scale * (natural_c - 0.5), natural_c the pool's own share of A in
               class c (`pool.natural_shares`), clipped to [0, 1]: 0 re-balances every class
               (Steed et al.'s re-balancing), 1 keeps the natural skews, > 1 amplifies them

The train sample keeps the train pool's class proportions (largest remainders of n x share, a
small class nudged by a few rows where its count cannot realise its target within ±0.01:
`exact_counts`) and draws each class at its target exactly: a class whose count still cannot is
refused (`cooccurrence.shortfall(exact=True)`), as is a short cell. The eval set
holds eval_size // K rows of every class (the first classes one more where it does not divide),
each at P(A) = 0.5.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from bias_sweep.errors import UserError
from bias_sweep.schema import DataConfig

from .cooccurrence import RATE_TOLERANCE, LabelDraw, Shortfall, shortfall
from .lexicon import Lexicon


def class_targets(cfg: DataConfig, classes: tuple[str, ...], natural: list[float]) -> list[float]:
    """Each class's target P(A | class), in the order of `classes`."""
    if cfg.class_rates:
        rates = {str(k): float(v) for k, v in cfg.class_rates.items()}
        unknown = sorted(set(rates) - set(classes))
        missing = [c for c in classes if c not in rates]
        if unknown or missing:
            what = f"unknown class '{unknown[0]}'" if unknown else f"no rate for '{missing[0]}'"
            raise UserError(
                f"data.class_rates: {what}; name every class once ({', '.join(classes)})"
            )
        return [rates[c] for c in classes]
    return [float(np.clip(0.5 + cfg.skew_scale * (p - 0.5), 0.0, 1.0)) for p in natural]


def proportional_counts(n: int, counts: list[int]) -> list[int]:
    """n split in proportion to `counts` (largest remainders, ties to the earlier class)."""
    total = sum(counts)
    exact = np.array(counts, dtype=float) * n / total if total else np.zeros(len(counts))
    base = np.floor(exact).astype(int)
    order = np.argsort(-(exact - base), kind="stable")
    base[order[: n - int(base.sum())]] += 1
    return [int(v) for v in base]


def even_counts(n: int, k: int) -> list[int]:
    """n split evenly over k classes, the first n % k classes one more."""
    return [n // k + (1 if c < n % k else 0) for c in range(k)]


def class_cells(pool: pd.DataFrame, lexicon: Lexicon, k: int) -> list[tuple[int, int]]:
    """(rows of group A, rows of group B) of each class of a pool."""
    groups, labels = pool["group"].to_numpy(), pool["label"].to_numpy()
    return [
        (int(((labels == c) & (groups == lexicon.name_a)).sum()),
         int(((labels == c) & (groups == lexicon.name_b)).sum()))
        for c in range(k)
    ]  # fmt: skip


def train_draws(
    n: int, cells: list[tuple[int, int]], targets: list[float], classes: tuple[str, ...]
) -> list[LabelDraw]:
    rows = exact_counts(proportional_counts(n, [a + b for a, b in cells]), targets)
    return [LabelDraw(c, rows[c], targets[c], classes[c]) for c in range(len(classes))]


def _exact(rows: int, target: float) -> bool:
    return rows == 0 or abs(np.floor(target * rows + 0.5) / rows - target) <= RATE_TOLERANCE


def exact_counts(rows: list[int], targets: list[float], reach: int = 3) -> list[int]:
    """Class counts nudged so that each class can realise its target within RATE_TOLERANCE:
    a class whose count cannot (47 rows at 0.5) moves by up to `reach` rows (to 46 or 48), the
    largest class that stays exact taking the difference, so the total stays n. A class that no
    nudge fixes keeps its count (and `shortfall` refuses it)."""
    rows = list(rows)
    donors = sorted(range(len(rows)), key=lambda c: -rows[c])
    for c, target in enumerate(targets):
        if _exact(rows[c], target):
            continue
        for step in (d for r in range(1, reach + 1) for d in (-r, r)):
            if rows[c] + step <= 0 or not _exact(rows[c] + step, target):
                continue
            donor = next(
                (d for d in donors if d != c and rows[d] - step > 0
                 and _exact(rows[d] - step, targets[d])),
                None,
            )  # fmt: skip
            if donor is not None:
                rows[c] += step
                rows[donor] -= step
                break
    return rows


def eval_draws(n: int, classes: tuple[str, ...]) -> list[LabelDraw]:
    rows = even_counts(n, len(classes))
    return [LabelDraw(c, rows[c], 0.5, classes[c]) for c in range(len(classes))]


def first_class_shortfall(
    draws: list[LabelDraw],
    cells: list[tuple[int, int]],
    method: str,
    names: tuple[str, str],
    *,
    exact: bool,
) -> Shortfall | None:
    """The first class that `draw_labels` cannot draw, or None (the sampler's own rule)."""
    for d in draws:
        in_a, in_b = cells[d.label]
        short = shortfall(
            d.rows, d.p_a, in_a, in_b, method, label=d.shown, names=names, exact=exact
        )
        if short is not None:
            return short
    return None


def largest_fitting(total: int, short: Callable[[int, bool], Shortfall | None]) -> int:
    """The largest n <= total that draws with the exact rule, `short(n, exact)` saying what a
    size lacks. The cells' capacity (the rule without exactness) holds for sizes 0..limit, found
    by bisection; the exact rule can also fail a size below one that fits (rounding), so sizes
    from the limit down are tried until one fits."""
    low, high = 0, total
    while low < high:
        mid = (low + high + 1) // 2
        if short(mid, False) is None:
            low = mid
        else:
            high = mid - 1
    while low > 0 and short(low, True) is not None:
        low -= 1
    return low
