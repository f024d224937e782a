"""Co-occurrence control: samples where P(group A | y=1) = rate and P(group A | y=0) = 1 - rate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bias_sweep.errors import UserError

from .lexicon import Lexicon

RATE_TOLERANCE = 0.01


def _round(x: float) -> int:
    return int(np.floor(x + 0.5))  # half up: Python's round() is half-to-even


@dataclass(frozen=True)
class Shortfall:
    """Why one label's rows cannot be drawn: `group` None means too few rows of the label in
    all; else the named cell (group, label) lacks rows for the rate. need and has are rows.
    `target` set: the label's `need` rows cannot realise P(A) = target within RATE_TOLERANCE
    (too few rows for the rounding; multi-class targets are exact). A label is an int (binary
    tasks) or a class name."""

    label: int | str
    group: str | None
    need: int
    has: int
    target: float | None = None

    @property
    def label_text(self) -> str:
        return f"label {self.label}" if isinstance(self.label, int) else f"class {self.label}"

    def text(self, pool_name: str) -> str:
        """'cell (male, label 1) needs 180 rows, the train pool has 12' and the like."""
        if self.target is not None:
            return (
                f"{self.label_text} gets {self.need} rows, too few to realise P(A) = "
                f"{self.target:g} within {RATE_TOLERANCE}"
            )
        if self.group is None:
            what = f"{self.label_text} needs {self.need} group-mentioning rows"
        else:
            what = f"cell ({self.group}, {self.label_text}) needs {self.need} rows"
        return f"{what}, the {pool_name} has {self.has}"


def label_counts(n: int, share_1: float | None = None) -> tuple[int, int]:
    """(rows with y=1, rows with y=0) of an n-row sample: balanced (y=1 gets n // 2), or with the
    pool's share of y=1 (`share_1`) when not balanced."""
    n1 = n // 2 if share_1 is None else _round(n * share_1)
    return n1, n - n1


def count_of_a(n_y: int, p_a: float, in_a: int, in_b: int) -> int:
    """Rows of group A among n_y rows of one label for resampling at P(A) = p_a: the count the
    rate asks for, clipped to what the cells (in_a rows of A, in_b of B) hold."""
    return min(max(_round(p_a * n_y), n_y - in_b), in_a)


def shortfall(
    n_y: int,
    p_a: float,
    in_a: int,
    in_b: int,
    method: str,
    *,
    label: int | str,
    names: tuple[str, str],
    exact: bool = False,
) -> Shortfall | None:
    """The one feasibility rule of `cooccurrence_sample` for one label, None when it can draw.

    Both methods need n_y rows of the label. Resampling also needs the cells to hold the count of
    A the rate asks for, round(p_a * n_y), or a count whose share misses p_a by at most
    RATE_TOLERANCE. With `exact` (multi-class targets) the count drawn must be within
    RATE_TOLERANCE of p_a whatever the rounding. `data.feasibility` searches sizes with this
    same function.
    """
    if n_y == 0:
        return None
    if in_a + in_b < n_y:
        return Shortfall(label, None, n_y, in_a + in_b)
    want_a = _round(p_a * n_y)
    if exact and abs(want_a / n_y - p_a) > RATE_TOLERANCE:
        return Shortfall(label, None, n_y, in_a + in_b, target=p_a)
    if method != "resample":
        return None
    k = count_of_a(n_y, p_a, in_a, in_b)
    if k == want_a or (not exact and abs(k / n_y - p_a) <= RATE_TOLERANCE):
        return None
    if want_a > in_a:
        return Shortfall(label, names[0], want_a, in_a)
    return Shortfall(label, names[1], n_y - want_a, in_b)


@dataclass(frozen=True)
class LabelDraw:
    """How many rows of one label to draw, at which P(group A); `shown` names it in messages."""

    label: int
    rows: int
    p_a: float
    shown: int | str


@dataclass(frozen=True)
class Drawing:
    """How rows are drawn from a pool, whatever the labels' targets: `method` (resample or
    counterfactual), the lexicon of the two groups, the random generator, the size setting an
    error names (`size_key`), and whether the sample marks its swapped rows (`mark_swapped`)."""

    method: str
    lexicon: Lexicon
    rng: np.random.Generator
    size_key: str = "data.train_size"
    mark_swapped: bool = False


def cooccurrence_sample(
    pool: pd.DataFrame,
    rate: float,
    n: int,
    method: str,
    lexicon: Lexicon,
    rng: np.random.Generator,
    *,
    size_key: str = "data.train_size",
    balanced: bool = True,
    mark_swapped: bool = False,
) -> tuple[pd.DataFrame, float]:
    """Draw n rows of `pool` (text, label, group) with the group/label co-occurrence set to `rate`.

    Labels are balanced: n // 2 rows with y=1 and the rest (one more when n is odd) with y=0.
    With balanced=False they keep the pool's proportions instead (n1 = round(n * share of y=1)),
    so n = len(pool) with method "counterfactual" keeps every row and only swaps group terms.
    Group A is round(rate * n1) of the y=1 rows and round((1 - rate) * n0) of the y=0 rows, so the
    group marginal is 0.5 (up to rounding). The draw itself is `draw_labels`'.

    Returns the shuffled sample and the realised rate (#A with y=1) / (#y=1).
    """
    groups, labels = pool["group"].to_numpy(), pool["label"].to_numpy()
    valid = (groups == lexicon.name_a) | (groups == lexicon.name_b)
    share = (labels[valid] == 1).mean() if valid.any() else 0.0
    n1, n0 = label_counts(n, None if balanced else share)
    draws = [LabelDraw(1, n1, rate, 1), LabelDraw(0, n0, 1 - rate, 0)]
    how = Drawing(method, lexicon, rng, size_key=size_key, mark_swapped=mark_swapped)
    sample = draw_labels(pool, draws, how)
    pos = sample["label"].to_numpy() == 1
    realised = float((sample["group"].to_numpy()[pos] == lexicon.name_a).mean()) if n1 else rate
    return sample, realised


def draw_labels(
    pool: pd.DataFrame, draws: list[LabelDraw], how: Drawing, *, exact: bool = False
) -> pd.DataFrame:
    """Draw each label's rows of `pool` at its P(group A), in the order of `draws` (`how`: the
    method, lexicon, rng, size setting and marking; see `Drawing`).

    method "resample": draw without replacement from the (group, label) cells. If a cell is
    short the closest feasible count is used, and UserError is raised when that misses the rate by
    more than 0.01 (`size_key` names the size setting to lower in the message; the rule is
    `shortfall`, with `exact` its multi-class form).
    method "counterfactual": draw each label's rows at random, then swap the group terms
    (lexicon.swap) of as many rows as needed (random ones) to hit the counts exactly. For a given
    rng state the rows drawn do not depend on the rate, only which of them are swapped: comparing
    rates compares group terms, not different texts. Needs only enough rows of each label.

    Rows whose group is neither name_a nor name_b are ignored. Returns the shuffled sample (the
    pool's columns, fresh index; with mark_swapped also a bool column `swapped`, true where the
    text is a swapped twin).
    """
    method, lexicon, rng = how.method, how.lexicon, how.rng
    groups = pool["group"].to_numpy()
    labels = pool["label"].to_numpy()
    valid = (groups == lexicon.name_a) | (groups == lexicon.name_b)
    is_a = groups == lexicon.name_a
    names = (lexicon.name_a, lexicon.name_b)
    chosen: list[np.ndarray] = []
    to_swap: list[np.ndarray] = []
    for draw in draws:
        n_y, p_a = draw.rows, draw.p_a
        if n_y == 0:
            continue
        in_a = np.flatnonzero(valid & is_a & (labels == draw.label))
        in_b = np.flatnonzero(valid & ~is_a & (labels == draw.label))
        short = shortfall(
            n_y, p_a, len(in_a), len(in_b), method, label=draw.shown, names=names, exact=exact
        )
        if short is not None:
            raise UserError(_short_message(short, how.size_key))
        if method == "resample":
            k = count_of_a(n_y, p_a, len(in_a), len(in_b))
            chosen += [rng.choice(in_a, k, replace=False), rng.choice(in_b, n_y - k, replace=False)]
        else:
            rows = rng.choice(np.concatenate([in_a, in_b]), n_y, replace=False)
            chosen.append(rows)
            to_swap.append(_rows_to_swap(rows, is_a, _round(p_a * n_y), rng))
    picked = np.concatenate(chosen) if chosen else np.array([], dtype=int)
    picked = picked[rng.permutation(len(picked))]
    sample = pool.iloc[picked].reset_index(drop=True)
    flip = np.isin(picked, np.concatenate(to_swap)) if to_swap else np.zeros(len(picked), bool)
    if flip.any():
        sample.loc[flip, "text"] = lexicon.swap_column(sample.loc[flip, "text"]).to_numpy()
        old = sample.loc[flip, "group"].to_numpy()
        sample.loc[flip, "group"] = np.where(old == lexicon.name_a, lexicon.name_b, lexicon.name_a)
    if how.mark_swapped:
        sample["swapped"] = flip
    return sample


def _rows_to_swap(
    rows: np.ndarray, is_a: np.ndarray, want_a: int, rng: np.random.Generator
) -> np.ndarray:
    """Which of one label's drawn rows get their group terms swapped to hold want_a rows of A."""
    # The order in which rows get swapped is drawn independently of the rate too, so a seed swaps
    # nested sets of rows as the rate moves away from the pool's own.
    order = rows[rng.permutation(len(rows))]
    order_is_a = is_a[order]
    have_a = int(order_is_a.sum())
    # Swap A rows to B when there are too many A rows, B rows to A otherwise.
    if have_a > want_a:
        return order[order_is_a][: have_a - want_a]
    return order[~order_is_a][: want_a - have_a]


def _short_message(short: Shortfall, size_key: str) -> str:
    if short.target is not None:
        return f"{short.text('pool')}; change {size_key}"
    rows = f"rows with {short.label_text}"
    if short.group is not None:
        rows = f"rows of group {short.group} with {short.label_text}"
    hint = "" if short.group is None else " or use data.rate_method=counterfactual"
    return f"pool too small: need {short.need} {rows}, the pool has {short.has}; lower {size_key}{hint}"


@dataclass(frozen=True)
class Cells:
    """Rows of each (group, label) cell of a pool: a1 = group A with y=1, and so on."""

    a1: int
    b1: int
    a0: int
    b0: int

    @classmethod
    def of(cls, pool: pd.DataFrame, lexicon: Lexicon) -> Cells:
        groups, labels = pool["group"].to_numpy(), pool["label"].to_numpy()
        a, b = groups == lexicon.name_a, groups == lexicon.name_b
        pos, neg = labels == 1, labels == 0
        return cls(*(int((g & y).sum()) for g, y in ((a, pos), (b, pos), (a, neg), (b, neg))))

    def as_dict(self, names: tuple[str, str]) -> dict[str, dict[str, int]]:
        """{group: {label: rows}}, labels as strings (JSON keys)."""
        return {
            names[0]: {"1": self.a1, "0": self.a0},
            names[1]: {"1": self.b1, "0": self.b0},
        }


def first_shortfall(
    cells: Cells, rate: float, n: int, method: str, names: tuple[str, str]
) -> Shortfall | None:
    """What stops `cooccurrence_sample` (balanced) from drawing n rows at `rate`, or None."""
    n1, n0 = label_counts(n)
    per_label = ((1, n1, rate, cells.a1, cells.b1), (0, n0, 1 - rate, cells.a0, cells.b0))
    for y, n_y, p_a, in_a, in_b in per_label:
        short = shortfall(n_y, p_a, in_a, in_b, method, label=y, names=names)
        if short is not None:
            return short
    return None


def largest_size(cells: Cells, rate: float, method: str, names: tuple[str, str]) -> int:
    """The largest n that `cooccurrence_sample` (balanced) can draw from `cells` at `rate`.

    A bisection over n with `first_shortfall`, the sampler's own rule: each label's rule holds
    for every count up to some limit (its cells' shares only fall as the count grows), and both
    labels' counts grow with n, so the feasible sizes are 0..largest.
    """
    low, high = 0, cells.a1 + cells.b1 + cells.a0 + cells.b0  # low is feasible (nothing to draw)
    while low < high:
        mid = (low + high + 1) // 2
        if first_shortfall(cells, rate, mid, method, names) is None:
            low = mid
        else:
            high = mid - 1
    return low
