"""The manipulation check gates the verdict: a comparison of an intervention method with the
co-occurrence rate answers the research question only if that method moved intrinsic bias.

An intervention that changes nothing upstream trivially changes nothing downstream: its
comparison with the rate would read as "the rate matters more" whatever the truth. So each
method's check (`regressions.manipulation_check`: intrinsic bias after the intervention on
strength, or a strengthless method's difference from `none`, one value per intervened model)
gets a status, and a comparison whose method did not pass is `void` (`verdict.py`).

RULE. A method passes (`moved`) when the GATE_LEVEL (99.9%) t-interval of its change in
intrinsic bias, over its intervened models, excludes 0. Otherwise:
  * `not moved`: the interval includes 0;
  * `cannot tell`: intrinsic bias was measured but gives no interval (one strength and no
    `none`, too few intervened models for a residual degree of freedom, no variation at all);
  both void the comparison: no verdict where the data cannot show that the intervention worked;
  * `not measured`: the runs carry no intrinsic bias for the method (a `--table` without
    intrinsic_after): the verdict stands and the headline says plainly that the manipulation
    was not checked.
With several intrinsic kinds (a model whose runs mix them) a method passes only in every kind.

WHY 99.9%. The acceptance asks for `void` in >= 99% of sweeps whose intervention did nothing,
whatever the rate does. A plain 95% interval passes such a sweep 5% of the time; its chance of
passing a null manipulation is exactly the interval's error rate (the t-interval over
intervened models is exact under the split-plot model, whatever the noise scale), so the level
sets the void rate directly: 99.9% gives 99.9%, measured in the tests. A minimum size relative to
the pre-trained model's intrinsic bias was rejected as the rule: under a null its pass rate
depends on the noise scale (it bounds nothing) and it is undefined for a pre-trained model
without intrinsic bias (skew adds bias to such a model). The cost is power with few intervened
models: the half-width is 5.4 standard errors with df = 7 (the quickstart's 9 models over 3
strengths), 8.6 with df = 4, 31.6 with df = 2 and 636.6 with df = 1 (one intervened model per
strength at 3 strengths): a gate that fails for lack of replicates says so (the headline
names the interval and the df), and more intervened models per strength is the remedy.

SIZE. Where a method moved, its change is also given relative to the pre-trained model's
intrinsic bias (`intrinsic_before`, one number per model and kind: a fixed reference, so the
relative CI is the CI divided by its size), so that a reader can judge a feeble manipulation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from bias_sweep.interventions import reference_method
from bias_sweep.metrics import INTRINSIC_BEFORE

KIND_UNKNOWN = "kind not given"  # a run's intrinsic kind where the table does not say

GATE_LEVEL = 0.999
MOVED, NOT_MOVED, CANNOT_TELL, NOT_MEASURED = "moved", "not moved", "cannot tell", "not measured"
VOIDING = (NOT_MOVED, CANNOT_TELL)
NO_INTERVENTION = ""  # the status of a comparison of `none` alone: nothing to check


def _before(runs: pd.DataFrame) -> dict[tuple[str, str], float]:
    """The pre-trained model's intrinsic bias per (model, kind): what its runs recorded."""
    if INTRINSIC_BEFORE not in runs.columns or runs.empty:
        return {}
    kinds = runs.get("intrinsic_kind", pd.Series(np.nan, index=runs.index))
    kinds = kinds.astype(object).where(kinds.notna(), KIND_UNKNOWN)
    values = pd.to_numeric(runs[INTRINSIC_BEFORE], errors="coerce")
    medians = values.groupby([runs["model"].astype(str), kinds]).median()
    return {key: float(v) for key, v in medians.items()}


def gate_table(check: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The manipulation check (one row per model, method, intrinsic kind) with the gate:
    `gate_ci_low/high` (the GATE_LEVEL interval), `status`, `intrinsic_before` and the change
    relative to it (`relative`, with its 95% CI)."""
    out = check.copy()
    for col in ("estimate", "se", "df", "ci_low", "ci_high"):
        out[col] = pd.to_numeric(out.get(col, np.nan), errors="coerce").astype(float)
    with np.errstate(invalid="ignore"):
        half = sps.t.ppf((1 + GATE_LEVEL) / 2, out["df"]) * out["se"]
    out["gate_ci_low"], out["gate_ci_high"] = out["estimate"] - half, out["estimate"] + half
    has_interval = np.isfinite(out["gate_ci_low"]) & np.isfinite(out["gate_ci_high"])
    moved = has_interval & ((out["gate_ci_low"] > 0) | (out["gate_ci_high"] < 0))
    out["status"] = np.where(moved, MOVED, np.where(has_interval, NOT_MOVED, CANNOT_TELL))
    kinds = out.get("intrinsic_kind", pd.Series(KIND_UNKNOWN, index=out.index)).astype(object)
    before = _before(runs)
    out[INTRINSIC_BEFORE] = [
        before.get((str(m), k), np.nan) for m, k in zip(out["model"], kinds, strict=True)
    ]
    scale = out[INTRINSIC_BEFORE].abs().where(out[INTRINSIC_BEFORE].abs() > 0)
    for source, name in (("estimate", ""), ("ci_low", "_ci_low"), ("ci_high", "_ci_high")):
        out[f"relative{name}"] = out[source] / scale
    return out


def comparison_statuses(gate: pd.DataFrame | None) -> dict[tuple[str, str], str]:
    """The gate's word per (model, method): every intrinsic kind of the method must have
    moved; the first failing word otherwise (`cannot tell` before `not moved`)."""
    if gate is None or gate.empty:
        return {}
    rank = {CANNOT_TELL: 0, NOT_MOVED: 1, MOVED: 2}
    worst = gate["status"].map(rank).groupby([gate["model"], gate["method"]]).min()
    words = {v: k for k, v in rank.items()}
    return {(str(m), str(c)): words[int(r)] for (m, c), r in worst.items()}


def comparison_status(statuses: dict[tuple[str, str], str], model: str, comparison: str) -> str:
    """A comparison's status: `not measured` where the gate has no row for its method."""
    if comparison == reference_method():
        return NO_INTERVENTION
    return statuses.get((str(model), str(comparison)), NOT_MEASURED)


def deciding_checks(gate: pd.DataFrame | None) -> dict[tuple[str, str], dict]:
    """Per (model, method), the check row that decided its status (the first that failed,
    else the first), as a dict: what the words quote."""
    if gate is None or gate.empty:
        return {}
    ordered = gate.assign(_ok=gate["status"] == MOVED).sort_values("_ok", kind="stable")
    first = ordered.drop_duplicates(["model", "method"]).drop(columns="_ok")
    return {(str(r["model"]), str(r["method"])): r for r in first.to_dict("records")}


SURVIVED, LOST, REVERSED, NOTHING = "survived", "did not survive", "reversed", "nothing to survive"


def survival_table(gate: pd.DataFrame, finetuned: pd.DataFrame) -> pd.DataFrame:
    """Did the intervention's effect on intrinsic bias survive fine-tuning (Kaneko et al. 2022:
    debiased models re-learn bias)? Per (model, method, intrinsic kind): the gate's row beside
    the same check of intrinsic bias measured on the fine-tuned encoders (`after_*`, one value per
    intervened model: its mean over its fine-tuned models), and a `survival` word: `survived`
    where that 95% CI excludes 0 on the side of the change before fine-tuning, `reversed` on the
    other side, `did not survive` where it includes 0 (`cannot tell` without an interval);
    `nothing to survive` where the
    intervention had not moved intrinsic bias in the first place (the gate)."""
    keys = ["model", "method", "intrinsic_kind"]
    cols = ["effect", "estimate", "ci_low", "ci_high", "n_models", "df", "note"]
    if gate.empty or finetuned.empty:
        return pd.DataFrame(columns=[*keys, "status", *cols, *[f"after_{c}" for c in cols]])
    after = finetuned[[*keys, *cols]].rename(columns={c: f"after_{c}" for c in cols})
    out = gate[[*keys, "status", *cols]].merge(after, on=keys, how="inner")
    lo, hi = out["after_ci_low"], out["after_ci_high"]
    side = np.sign(out["estimate"])
    excludes = (lo > 0) | (hi < 0)
    same = excludes & (np.sign(lo) == side)
    word = np.where(same, SURVIVED, np.where(excludes, REVERSED, LOST))
    word = np.where(np.isfinite(lo) & np.isfinite(hi), word, CANNOT_TELL)
    out["survival"] = np.where(out["status"] == MOVED, word, NOTHING)
    return out
