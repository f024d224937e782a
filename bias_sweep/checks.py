"""The checks of config values, with one wording: `key 'K': V is not allowed; expected ...`.

Used where a value is validated, once, at the boundary (`bias_sweep.config`, and the config
sections that methods and data sources declare).
"""

from __future__ import annotations

import math
from typing import Any

from bias_sweep.errors import UserError


def check(cond: bool, key: str, allowed: str, value: Any) -> None:
    if not cond:
        raise UserError(f"key '{key}': {value!r} is not allowed; expected {allowed}")


def one_of(value: Any, key: str, choices: tuple[str, ...]) -> None:
    check(value in choices, key, "one of " + ", ".join(choices), value)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def unit(value: Any, key: str) -> None:
    ok = _number(value) and 0 <= value <= 1 and not math.isnan(float(value))
    check(ok, key, "a number in [0, 1]", value)


def positive(value: Any, key: str) -> None:
    check(_number(value) and 0 < value < math.inf, key, "a positive finite number", value)


def non_negative(value: Any, key: str) -> None:
    check(_number(value) and 0 <= value < math.inf, key, "a finite number >= 0", value)


SEED_LIMIT = 2**32  # numpy's and torch's generators take seeds in [0, 2**32)


def seed(value: Any, key: str) -> None:
    ok = _number(value) and float(value).is_integer() and 0 <= value < SEED_LIMIT
    check(ok, key, f"a whole number in [0, {SEED_LIMIT})", value)
