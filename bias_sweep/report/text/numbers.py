"""How the report writes a number: shares as percentages, intervals, p-values, signed values
(with a true minus sign, "−")."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bias_sweep.report.statistics.verdict import is_number


def num(x: float, digits: int = 2) -> str:
    """'0.12', '−0.12' or 'n/a'."""
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:.{digits}f}".replace("-", "−")


def pct(x: float) -> str:
    """A share as '72%'."""
    return "n/a" if not is_number(x) else f"{100 * x:.0f}%"


def ci_text(row: pd.Series, name: str, points: bool = False) -> str:
    lo, hi = row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high")
    if not (is_number(lo) and is_number(hi)):
        return ""
    if points:
        return f" [{100 * lo:+.0f}, {100 * hi:+.0f}]".replace("-", "−")
    return f" [{pct(lo)}, {pct(hi)}]"


def p_text(name: str, p: float) -> str:
    """'p = 0.062', 'p < 0.001' or 'p n/a', with the name: 'p(rate) = 0.062'."""
    return (
        f"{name} n/a"
        if not is_number(p)
        else f"{name} < 0.001"
        if p < 0.001
        else f"{name} = {p:.3f}"
    )


def signed(x: float) -> str:
    """'+0.8', '−2.39' (three significant digits)."""
    return "n/a" if not is_number(x) else f"{x:+.3g}".replace("-", "−")


def percent(x: float) -> str:
    """A relative change as '+50%' or '−50%'."""
    return "n/a" if not is_number(x) else f"{100 * x:+.0f}%".replace("-", "−")
