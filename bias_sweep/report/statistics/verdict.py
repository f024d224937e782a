"""The verdict rule: the verdict of each (model, comparison, metric) from its numbers (its words
are `report.text.verdicts`).

The verdict is one of `rate`, `intervention`, `inconclusive`, `neither`, `void`:
  * `void`: the comparison's intervention method did not pass the manipulation check (its
    intervened models' intrinsic bias did not differ detectably from its control, or could not
    be shown to; `gate.py`): no verdict, whatever the variance shares say. Otherwise:
  * a factor is claimed (rate / intervention) only if the 95% CI of share_rate -
    share_intervention excludes 0 on its side AND its own test rejects at ALPHA after Holm
    over the two factors (for non-primary metrics, over both factors of all non-primary
    metrics). The Holm step alone bounds the chance of any false claim by ALPHA when neither
    factor acts, whatever the bootstrap does; the CI makes the claim a comparison;
  * `neither`: neither test rejects (after Holm);
  * `inconclusive`: everything else, e.g. both act and the CI of the difference includes 0.
With one intervened model per level the intervention cannot be told from model-to-model
variation: only the rate can be claimed, and only if its share exceeds, with the CI of the
difference, the whole share of the between-model variation (an upper bound for the
intervention's share); `neither` needs both the rate test and the between-model test to be
quiet. With one intervention level or one rate there is nothing to compare: never a claim.
Where nothing could be estimated or tested (no runs, no residual degrees of freedom) the verdict
is `inconclusive`, not `neither`: no test has looked.

Where an extra downstream treatment varies (`data.scrub`, crossed with the rate), it gets its own
verdict (`verdict_scrub`) by the same rule, against the same intervention, with its own share
difference and its test in the same Holm family: `scrub`, `intervention`, `neither`, ...

The interaction is reported when its test rejects (after Holm over the model's metrics). It is
called large -- "the answer depends on the level" -- when its share is also at least
LARGE_INTERACTION (1/4) of the larger main share: its spread over levels is then at least half
the main effect's (in standard deviations), enough to change the factor's effect materially from
one level to another. A significant but smaller interaction is said as a qualification.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bias_sweep.report.statistics.gate import VOIDING, comparison_status, comparison_statuses
from bias_sweep.report.treatments import EXTRA_TREATMENTS, RATE, difference_name

ALPHA = 0.05
LARGE_INTERACTION = 0.25  # share of the interaction / the larger main share (see the docstring)
VERDICTS = ("rate", "intervention", "inconclusive", "neither", "void")


def is_number(x: object) -> bool:
    return x is not None and bool(np.isfinite(x))


def p_value(row: pd.Series, name: str) -> float:
    value = row.get(f"{name}_holm", np.nan)
    return value if is_number(value) else row.get(name, np.nan)


def verdict_word(row: pd.Series, alpha: float = ALPHA, treatment: str = RATE) -> str:
    """The verdict of one effects row (see the module docstring): the rate against the
    intervention, or an extra downstream treatment (`scrub`) against it, named by its own word."""
    p_name = f"p_{treatment}"
    n_values = row.get("n_rates" if treatment == RATE else f"n_{treatment}", 0)
    tests = (row.get(k) for k in (p_name, "p_intervention", "p_between_models"))
    if not any(is_number(p) for p in tests) and not is_number(row.get(f"share_{treatment}")):
        return "inconclusive"  # nothing estimated, nothing tested: no answer either way
    difference = difference_name(treatment)
    lo, hi = row.get(f"{difference}_ci_low"), row.get(f"{difference}_ci_high")
    p_rate, p_int = p_value(row, p_name), p_value(row, "p_intervention")
    rate_quiet = not (is_number(p_rate) and p_rate < alpha)
    if row.get("n_levels", 0) < 2:  # nothing to compare the rate with
        return "neither" if rate_quiet else "inconclusive"
    if not is_number(n_values) or n_values < 2:
        p = p_int if row.get("intervention_identifiable", False) else row.get("p_between_models")
        return "neither" if not (is_number(p) and p < alpha) else "inconclusive"
    if not (is_number(lo) and is_number(hi)):
        return "inconclusive"
    if not row.get("intervention_identifiable", False):
        between = row.get("p_between_models", np.nan)
        if not rate_quiet and lo > 0:
            return treatment
        quiet = rate_quiet and not (is_number(between) and between < alpha)
        return "neither" if quiet else "inconclusive"
    int_quiet = not (is_number(p_int) and p_int < alpha)
    if rate_quiet and int_quiet:
        return "neither"
    if not rate_quiet and lo > 0:
        return treatment
    if not int_quiet and hi < 0:
        return "intervention"
    return "inconclusive"


def extra_treatments(effects: pd.DataFrame | pd.Series) -> list[str]:
    """The extra downstream treatments (`scrub`) that an effects table (or row) analysed."""
    columns = effects.columns if isinstance(effects, pd.DataFrame) else effects.index
    return [t for t in EXTRA_TREATMENTS if f"p_{t}" in columns]


def interaction_matters(row: pd.Series, alpha: float = ALPHA) -> bool:
    """The interaction test rejects after Holm across the model's metrics."""
    p = p_value(row, "p_interaction")
    return bool(is_number(p) and p < alpha)


def interaction_large(row: pd.Series, alpha: float = ALPHA) -> bool:
    """The interaction matters and is large next to the main effects (see the docstring)."""
    if not interaction_matters(row, alpha):
        return False
    mains = [row.get(k) for k in ("share_rate", "share_intervention", "share_between_models")]
    main = max([m for m in mains if is_number(m)], default=0.0)
    inter = row.get("share_interaction")
    return bool(is_number(inter) and inter >= LARGE_INTERACTION * main)


def add_verdicts(
    effects: pd.DataFrame, alpha: float = ALPHA, gate: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The effects table with `manipulation` (the gate's status of the comparison's method;
    `not measured` without a gate table), `verdict` (`void` where the gate failed),
    `interaction_matters` and `interaction_large`."""
    out = effects.copy()
    keys = zip(out["model"], out.get("comparison", pd.Series("", index=out.index)), strict=True)
    statuses = comparison_statuses(gate)
    out["manipulation"] = [comparison_status(statuses, m, c) for m, c in keys]
    words = [verdict_word(r, alpha) for _, r in out.iterrows()]
    void = out["manipulation"].isin(VOIDING).to_numpy()
    out["verdict"] = np.where(void, "void", np.asarray(words, dtype=object))
    for t in extra_treatments(out):
        words = [verdict_word(r, alpha, t) for _, r in out.iterrows()]
        out[f"verdict_{t}"] = np.where(void, "void", np.asarray(words, dtype=object))
    out["interaction_matters"] = [interaction_matters(r, alpha) for _, r in out.iterrows()]
    out["interaction_large"] = [interaction_large(r, alpha) for _, r in out.iterrows()]
    return out
