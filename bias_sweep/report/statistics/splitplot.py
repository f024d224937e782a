"""The split-plot design of one model's runs of one metric, its sums of squares and the moment
estimates of the variance shares. The estimand and the reasons are in `effects.py`'s docstring.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bias_sweep.interventions import identity_at_zero, strengthless, unseeded
from bias_sweep.report.treatments import EXTRA_TREATMENTS, RATE, crossed_treatments, difference_name

CLUSTER = "intervention_key"  # a sweep's id of the intervened model (identity.intervention_key)
INTERACTIONS = "downstream_inter"  # the treatments' interactions with one another


def _labels(columns: list[pd.Series], label) -> pd.Series:
    """label(*values) for each row, computed once per distinct combination (runs repeat them)."""
    codes, uniques = pd.MultiIndex.from_arrays(columns).factorize()
    names = np.asarray([label(*values) for values in uniques], dtype=object)
    return pd.Series(names[codes], index=columns[0].index)


def intervention_level(method: pd.Series, strength: pd.Series) -> pd.Series:
    """`method:strength`, or the method alone for methods without a strength."""
    strength = pd.to_numeric(strength, errors="coerce").astype(float)
    without = strengthless()
    return _labels([method.astype(str), strength], lambda m, s: m if m in without else f"{m}:{s:g}")


def intervened_model(runs: pd.DataFrame) -> pd.Series:
    """The unit of replication within a level. A sweep's table names each intervened model by
    its `intervention_key` (the key of the stored artifact that all its runs fine-tuned: robust
    to any setting that changes it); other tables by level + intervention seed, a method without a
    seed (`none`), or one that is the pre-trained model at strength 0 (`projection`, `inlp`) at
    that strength, being one model whatever its seed. Rows without a key fall back to the seed."""
    level = intervention_level(runs["method"], runs["strength"])
    if "intervention_seed" not in runs.columns:
        unit = level + "#0"
    else:
        seed = runs["intervention_seed"].astype(str)
        strength = pd.to_numeric(runs["strength"], errors="coerce").astype(float)
        one, zero = unseeded(), identity_at_zero()

        def label(lv: str, method: str, st: float, s: str) -> str:
            return f"{lv}#{'0' if method in one or (method in zero and st == 0) else s}"

        unit = _labels([level, runs["method"].astype(str), strength, seed], label)
    if CLUSTER in runs.columns:
        key = runs[CLUSTER]
        has_key = key.notna() & (key.astype(str) != "")
        unit = unit.where(~has_key, level + "#key:" + key.astype(str))
    return unit


@dataclass
class SplitPlot:
    """One model's runs of one metric as arrays: runs sorted by (intervened model, subplot) cell.
    The subplot is the rate, or the combination of the rate and the extra downstream treatments
    (`treatments`: each one's value index per subplot combination, the rate's first)."""

    y: np.ndarray  # (N,)
    cell: np.ndarray  # (N,) intervened model * R + subplot index
    lev: np.ndarray  # (C,) level of each intervened model
    counts: np.ndarray  # (C, R) runs per cell (>= 1)
    levels: list[str]
    rates: np.ndarray  # (R,) the rate of each subplot combination
    notes: list[str] = field(default_factory=list)
    treatments: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (R,) value index

    def __post_init__(self) -> None:
        if not self.treatments:  # the rate alone: one subplot per rate
            self.treatments = {RATE: np.arange(len(self.rates))}

    @property
    def n_rates(self) -> int:
        return int(self.treatments[RATE].max()) + 1

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.lev), len(self.rates), len(self.levels)

    @property
    def n_l(self) -> np.ndarray:
        return np.bincount(self.lev, minlength=len(self.levels)).astype(float)

    @property
    def df(self) -> dict[str, int]:
        C, R, L = self.shape
        mains = {t: int(codes.max()) for t, codes in self.treatments.items()}  # values - 1
        return {
            "level": L - 1, "model": C - L, **mains, INTERACTIONS: R - 1 - sum(mains.values()),
            "inter": (L - 1) * (R - 1), "rate_model": (R - 1) * (C - L),
            "seed": int((self.counts - 1).sum()),
        }  # fmt: skip


def with_design_labels(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs with `_l` (intervention level) and `_c` (intervened model) columns."""
    level = intervention_level(runs["method"], runs["strength"])
    return runs.assign(_l=level, _c=intervened_model(runs))


def split_plot(runs: pd.DataFrame, metric: str) -> SplitPlot | None:
    """Arrays of the design for one model's runs; None when nothing is left to analyse."""
    if "_c" not in runs.columns:  # effects_table labels all runs once
        runs = with_design_labels(runs)
    y = pd.to_numeric(runs[metric], errors="coerce").to_numpy(float)
    rate = pd.to_numeric(runs["rate"], errors="coerce").to_numpy(float)
    keep = np.isfinite(y) & np.isfinite(rate) & runs["method"].notna().to_numpy()
    notes = [] if keep.all() else [f"{int((~keep).sum())} runs without a value"]
    if not keep.any():
        return None
    if "intervention_seed" not in runs.columns and CLUSTER not in runs.columns:
        notes.append("no intervention_seed column: one intervened model per level assumed")
    c_code, clusters = pd.factorize(runs["_c"].to_numpy()[keep], sort=True)
    extra = crossed_treatments(runs[keep])
    if extra:
        columns = [rate[keep], *(runs[EXTRA_TREATMENTS[t].column].astype(str)[keep] for t in extra)]
        r_code, combos = pd.MultiIndex.from_arrays(columns).factorize(sort=True)
        treatments = {
            name: pd.factorize(combos.get_level_values(i), sort=True)[0]
            for i, name in enumerate((RATE, *extra))
        }
        rates = combos.get_level_values(0).to_numpy(float)
    else:
        rates, r_code = np.unique(rate[keep], return_inverse=True)
        treatments = {}
    y, level = y[keep], runs["_l"].to_numpy()[keep]
    R = len(rates)
    counts = np.bincount(c_code * R + r_code, minlength=len(clusters) * R).reshape(-1, R)
    complete = (counts > 0).all(1)
    if not complete.all():
        notes.append(f"{int((~complete).sum())} intervened models dropped (not run at every rate)")
        ok = complete[c_code]
        c_code = np.cumsum(complete)[c_code[ok]] - 1
        y, level, r_code, counts = y[ok], level[ok], r_code[ok], counts[complete]
    if len(y) == 0:
        return None
    cell = c_code * R + r_code
    order = np.argsort(cell, kind="stable")
    l_code, levels = pd.factorize(level, sort=True)
    lev = np.zeros(len(counts), dtype=int)
    lev[c_code] = l_code
    return SplitPlot(y[order], cell[order], lev, counts, list(levels), rates, notes, treatments)


def main_effect(deviations: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The part of subplot deviations (B, R) that one treatment's values explain: each
    combination gets the mean over the combinations sharing its value (an orthogonal projection
    in a crossed design; the identity for the rate alone)."""
    n = np.bincount(codes).astype(float)
    onehot = np.eye(len(n))[codes]  # (R, values)
    return (deviations @ onehot / n)[:, codes]


def cell_sums(sp: SplitPlot, values: np.ndarray) -> np.ndarray:
    """Sums over the runs of each cell for a batch (B, N) -> (B, C*R); runs are cell-sorted."""
    starts = np.concatenate([[0], np.cumsum(sp.counts.reshape(-1))[:-1]])
    return np.add.reduceat(values, starts, axis=1)


def sums_of_squares(sp: SplitPlot, z: np.ndarray, sse: np.ndarray) -> dict[str, np.ndarray]:
    """Split-plot sums of squares on cluster x rate means z (B, C, R), plus the seeds' SS."""
    C, R, L = sp.shape
    n_l = sp.n_l
    zc = z.mean(2)  # intervened-model means
    onehot = np.eye(L)[sp.lev]  # (C, L)
    zl = zc @ onehot / n_l
    zlr = np.einsum("bcr,cl->blr", z, onehot) / n_l[None, :, None]
    zr, g = z.mean(1), zc.mean(1)
    inter = zlr - zl[:, :, None] - zr[:, None, :] + g[:, None, None]
    resid = z - zc[:, :, None] - zlr[:, sp.lev] + zl[:, sp.lev][:, :, None]
    deviations = zr - g[:, None]
    rest, mains = deviations, {}
    for name, codes in sp.treatments.items():
        part = main_effect(deviations, codes)
        mains[name] = C * (part**2).sum(1)
        rest = rest - part
    return {
        "level": R * (n_l * (zl - g[:, None]) ** 2).sum(1),
        "model": R * ((zc - zl[:, sp.lev]) ** 2).sum(1),
        **mains,
        INTERACTIONS: C * (rest**2).sum(1),
        "inter": (n_l[None, :, None] * inter**2).sum((1, 2)),
        "rate_model": (resid**2).sum((1, 2)),
        "seed": sse,
    }


def _ms(ss: dict[str, np.ndarray], df: dict[str, int], key: str) -> np.ndarray:
    return ss[key] / df[key] if df[key] > 0 else np.full_like(ss[key], np.nan)


def error_terms(sp: SplitPlot) -> tuple[str, str]:
    """Which mean squares serve as the between- and within-model errors for this design."""
    df = sp.df
    within = "rate_model" if df["rate_model"] > 0 else "inter" if df["inter"] > 0 else "seed"
    between = "model" if df["model"] > 0 else within
    return between, within


def estimates(sp: SplitPlot, ss: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Moment estimates of the V's, the total and the shares, for a batch of sums of squares."""
    C, R, L = sp.shape
    df, K = sp.df, C * R
    q = float(np.mean(1.0 / sp.counts))  # mean of 1/runs per cell: seeds' share in a cell mean
    between, within = error_terms(sp)
    ms_e = _ms(ss, df, "seed") if df["seed"] > 0 else np.zeros_like(ss["seed"])
    e_w = q * ms_e if within == "seed" else _ms(ss, df, within)
    e_b = e_w if between == within else _ms(ss, df, between)
    replicated = df["model"] > 0
    v_int = (ss["level"] - df["level"] * e_b) / K  # unreplicated: intervention + model variation
    v = {t: (ss[t] - df[t] * e_w) / K for t in (*sp.treatments, INTERACTIONS)}
    v_rate = v[RATE]
    v_inter = (ss["inter"] - df["inter"] * e_w) / K if within == "rate_model" else 0 * v_rate
    s_u = (e_b - e_w) / R if replicated else 0 * v_rate
    total = v_int + sum(v.values()) + v_inter + s_u + e_w + (1 - q) * ms_e
    out = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for t in sp.treatments:
            out[f"share_{t}"] = v[t] / total
            out[difference_name(t)] = (v[t] - v_int) / total
            out[f"V_{t}"] = v[t]
        out["share_intervention"] = v_int / total
        out["share_interaction"] = v_inter / total
    out.update(V_intervention=v_int, V_interaction=v_inter, V_treatments_interaction=v[INTERACTIONS],
               var_model=s_u, var_within=e_w, var_seed=ms_e, total=total, e_between=e_b)  # fmt: skip
    return out
