"""Co-occurrence control: samples where P(group A | y=1) = rate and P(group A | y=0) = 1 - rate."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bias_sweep.errors import UserError

from .lexicons import Lexicon

RATE_TOLERANCE = 0.01


def _round(x: float) -> int:
    return int(np.floor(x + 0.5))  # half up: Python's round() is half-to-even


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
) -> tuple[pd.DataFrame, float]:
    """Draw n rows of `pool` (text, label, group) with the group/label co-occurrence set to `rate`.

    Labels are balanced: n // 2 rows with y=1 and the rest (one more when n is odd) with y=0.
    With balanced=False they keep the pool's proportions instead (n1 = round(n * share of y=1)),
    so n = len(pool) with method "counterfactual" keeps every row and only swaps group terms.
    Group A is round(rate * n1) of the y=1 rows and round((1 - rate) * n0) of the y=0 rows, so the
    group marginal is 0.5 (up to rounding).

    method "resample": draw without replacement from the four (group, label) cells. If a cell is
    short the closest feasible count is used, and UserError is raised when that misses the rate by
    more than 0.01 (`size_key` names the size setting to lower in the message).
    method "counterfactual": draw each label's rows at random, then swap the group terms
    (lexicon.swap) of as many rows as needed (random ones) to hit the counts exactly. For a given
    rng state the rows drawn do not depend on the rate, only which of them are swapped: comparing
    rates compares group terms, not different texts. Needs only enough rows of each label.

    Rows whose group is neither name_a nor name_b are ignored. Returns the shuffled sample (the
    pool's columns, fresh index) and the realised rate (#A with y=1) / (#y=1).
    """
    if method not in ("resample", "counterfactual"):
        raise UserError(f"data.rate_method: {method!r}; expected resample or counterfactual")
    if not 0 <= rate <= 1:
        raise UserError(f"data.rate: {rate!r} is not in [0, 1]")
    groups = pool["group"].to_numpy()
    labels = pool["label"].to_numpy()
    valid = (groups == lexicon.name_a) | (groups == lexicon.name_b)
    is_a = groups == lexicon.name_a
    share = (labels[valid] == 1).mean() if valid.any() else 0.0
    n1 = n // 2 if balanced else _round(n * share)
    chosen: list[np.ndarray] = []
    to_swap: list[np.ndarray] = []
    for y, n_y, p_a in ((1, n1, rate), (0, n - n1, 1 - rate)):
        if n_y == 0:
            continue
        in_a = np.flatnonzero(valid & is_a & (labels == y))
        in_b = np.flatnonzero(valid & ~is_a & (labels == y))
        if len(in_a) + len(in_b) < n_y:
            raise UserError(
                f"pool too small: need {n_y} rows with label {y}, the pool has "
                f"{len(in_a) + len(in_b)}; lower {size_key}"
            )
        want_a = _round(p_a * n_y)
        if method == "resample":
            k = min(max(want_a, n_y - len(in_b)), len(in_a))  # closest feasible count of A
            if k != want_a and abs(k / n_y - p_a) > RATE_TOLERANCE:
                short, need, has = (
                    (lexicon.name_a, want_a, len(in_a))
                    if want_a > len(in_a)
                    else (lexicon.name_b, n_y - want_a, len(in_b))
                )
                raise UserError(
                    f"pool too small: need {need} rows of group {short} with label {y}, the pool "
                    f"has {has}; lower {size_key} or use data.rate_method=counterfactual"
                )
            chosen += [rng.choice(in_a, k, replace=False), rng.choice(in_b, n_y - k, replace=False)]
        else:
            rows = rng.choice(np.concatenate([in_a, in_b]), n_y, replace=False)
            chosen.append(rows)
            # The order in which rows get swapped is drawn independently of the rate too, so a
            # seed swaps nested sets of rows as the rate moves away from the pool's own.
            order = rows[rng.permutation(n_y)]
            order_is_a = is_a[order]
            have_a = int(order_is_a.sum())
            # Swap A rows to B when there are too many A rows, B rows to A otherwise.
            if have_a > want_a:
                to_swap.append(order[order_is_a][: have_a - want_a])
            else:
                to_swap.append(order[~order_is_a][: want_a - have_a])
    picked = np.concatenate(chosen) if chosen else np.array([], dtype=int)
    picked = picked[rng.permutation(len(picked))]
    sample = pool.iloc[picked].reset_index(drop=True)
    if to_swap:
        flip = np.isin(picked, np.concatenate(to_swap))
        if flip.any():
            sample.loc[flip, "text"] = lexicon.swap_column(sample.loc[flip, "text"]).to_numpy()
            old = sample.loc[flip, "group"].to_numpy()
            sample.loc[flip, "group"] = np.where(
                old == lexicon.name_a, lexicon.name_b, lexicon.name_a
            )
    pos = sample["label"].to_numpy() == 1
    realised = float((sample["group"].to_numpy()[pos] == lexicon.name_a).mean()) if n1 else rate
    return sample, realised
