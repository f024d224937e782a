"""Variance shares of the rate and the intervention, their CIs and tests, over a tidy run table.

One row per fine-tuning run in (`model, method, strength, intervention_seed, rate, seed`, one
column per metric), one row per (model, comparison, metric) out. No plotting, no files, no wording.

COMPARISONS. Each intervention method is compared with the rate on its own: its levels plus the
pre-trained model (`none`, a shared control where the sweep has it). Methods differ in whether
they worked (the manipulation check gates each one, `gate.py`) and in direction (cda removes
bias, skew adds it), so pooling them into one intervention factor would let a method that did
nothing dilute one that did. A sweep of one method is one comparison of all its runs: the same
numbers as a single pooled analysis.

The design is a split plot. The intervention level l (`method:strength`; `none` and
`random-init` are one level each) varies between intervened models c (the unit of replication:
model, method, strength, intervention_seed; `none` is one intervened model whatever its seed);
the rate r varies within them; seeds are replicates within (c, r). Per model and metric:

    y = mu_lr + u_c + v_cr + e,   u ~ (0, s_u^2), v ~ (0, s_v^2), e ~ (0, s_e^2).

ESTIMAND. With run weights w_l (the share of runs at level l) and equal weights over rates,
split mu_lr into level effects a_l, rate effects b_r and interactions ab_lr (weighted means
zero). Then V_intervention = sum_l w_l a_l^2, V_rate = mean_r b_r^2,
V_interaction = sum_l w_l mean_r ab_lr^2, total = V_int + V_rate + V_inter + s_u^2 + s_v^2 + s_e^2
(the variance of one run over the design), share_x = V_x / total, and
share_difference = share_rate - share_intervention. The rate is a factor: its share is the
variance of its effect whatever the shape (linear, V-shaped, saturating).

ESTIMATES are unbiased method-of-moments versions (omega^2-like) of the split-plot ANOVA on the
intervened-model x rate means: E[SS] = n*V + df*(error mean square) is solved for each V and
variance component. Raw eta^2 = SS/SS_total counts noise as effect (a factor without effect
gets about df/N, and the intervention's SS also carries model-to-model variance), so intervals
around it do not cover a true share of 0; the corrected estimates are unbiased for the estimand
(tested). Shares are reported clipped to [0, 1]; `share_difference` is the clipped shares'
difference, its CI comes from the unclipped replicates (that is what keeps its coverage).

TESTS respect the design: the intervention is tested against the variation between intervened
models (F = MS_level / MS_model-within-level: the one-way ANOVA on intervened-model means), the
rate and the interaction within intervened models (against MS_rate x model-within-level); all
F-tests with scipy. With one intervened model per level the intervention cannot be told from
model-to-model variation: `intervention_identifiable` is False, the rate is tested against the
level x rate interaction, and `share_between_models` (the spread of the level means,
intervention plus model-to-model variation) bounds the intervention's share from above; the
difference is then the rate's share minus that bound (`difference_of` says which).

CIs: 95% percentile intervals from B = n_boot (default 1000) replicates of a residual bootstrap
that resamples intervened models (their offsets and rate profiles, pooled over levels) and
fine-tuning seeds (within the model x rate cell), with a fiducial small-sample top-up; see
`bootstrap.py`. Measured coverage of the share difference over simulated sweeps: 93-99% across
16 truths and designs with 3-5 intervened models per level (test_stats.py checks it).

EXTRA DOWNSTREAM TREATMENTS (`splitplot.EXTRA_TREATMENTS`: data.scrub) vary within intervened
models like the rate and are crossed with it by the grid. The subplot is then each combination
of rate and treatment values; its sum of squares splits orthogonally into each treatment's main
effect (its own V, share, F-test within intervened models, and `share_difference_<t>` against
the intervention, with CIs from the same bootstrap) and their interactions with one another
(part of the total, not claimed). Without them every number is as above.

The rate form (`rate_form`): the shares treat the rate as a factor for every metric (shape-free,
so an unsigned metric's V is a rate effect like a linear one). Where one number per unit of rate
is wanted (`rate_slope`, Steed's regression) the metric's kind decides: signed metrics
(gaps that change sign at r = 0.5) use r, unsigned ones (absolute gaps, V-shaped) |r - 0.5|,
utility metrics none (`C(rate)`: no slope).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from bias_sweep.interventions import reference_method
from bias_sweep.metrics import INTRINSIC_AFTER, OTHER, SIGNED, UNSIGNED, metric_base, metric_kinds
from bias_sweep.report.statistics.bootstrap import bootstrap
from bias_sweep.report.statistics.splitplot import (
    SplitPlot,
    cell_sums,
    error_terms,
    estimates,
    split_plot,
    sums_of_squares,
    with_design_labels,
)
from bias_sweep.report.treatments import EXTRA_TREATMENTS, RATE, difference_name
from bias_sweep.schema import ReportConfig

REQUIRED = ("model", "method", "strength", "rate")  # what the engine needs to run at all
# The `--table` schema (issue 11): without intervention_seed every level counts as one model.
TABLE_COLUMNS = ("model", "method", "strength", "intervention_seed", "rate", "seed")
OPTIONAL_COLUMNS = ("realised_rate", INTRINSIC_AFTER)
# A metric's kind (SIGNED: monotone, linear in r; UNSIGNED: V-shaped, linear in |r - 0.5|;
# OTHER: no expected shape) is declared where the metric is (`bias_sweep.metrics`).
RATE_FORMS = {SIGNED: "r", UNSIGNED: "|r - 0.5|", OTHER: "C(rate)"}
SHARES = ("share_rate", "share_intervention", "share_interaction", "share_difference")
N_BOOT = 1000
CI_LEVEL = 0.95


def metric_kind(metric: str, kinds: Mapping[str, str] | None = None) -> str:
    """signed / unsigned / other; `tpr_gap@set` and `tpr_gap_twin` are of tpr_gap's kind."""
    kinds = {**metric_kinds(), **(kinds or {})}
    for name in (metric, metric_base(metric)):
        if name in kinds:
            return kinds[name]
    return SIGNED if metric.startswith("intrinsic_") else OTHER


def rate_form(kind: str, rate: np.ndarray) -> np.ndarray:
    """The rate as it acts on a metric of this kind (the x of slopes and Steed's regression)."""
    rate = np.asarray(rate, dtype=float)
    return np.abs(rate - 0.5) if kind == UNSIGNED else rate


def _f_test(ss: np.ndarray, df1: int, err: np.ndarray, df2: int) -> float:
    if df1 < 1 or df2 < 1 or not np.isfinite(err) or err <= 0:
        return np.nan
    return float(sps.f.sf(ss / df1 / err, df1, df2))


def _quantiles(x: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    finite = x[np.isfinite(x)]
    if finite.size < 0.9 * x.size or finite.size < 10:
        return np.nan, np.nan
    x = finite
    a, b = np.quantile(x, [(1 - CI_LEVEL) / 2, (1 + CI_LEVEL) / 2])
    return float(np.clip(a, lo, hi)), float(np.clip(b, lo, hi))


def _rate_slope(sp: SplitPlot, z: np.ndarray, kind: str, est: dict) -> dict[str, float]:
    """Slope of the rate's marginal means on the rate form, error within intervened models."""
    out = dict.fromkeys(("rate_slope", "rate_slope_ci_low", "rate_slope_ci_high"), np.nan)
    _, within = error_terms(sp)
    x = rate_form(kind, sp.rates)
    sxx = float(((x - x.mean()) ** 2).sum())
    dfw = sp.df[within]
    if kind == OTHER or sxx <= 0 or dfw < 1:
        return out
    means = z.mean(0)
    slope = float(((x - x.mean()) * (means - means.mean())).sum() / sxx)
    se = float(np.sqrt(est["var_within"][0] / (len(sp.lev) * sxx)))
    half = sps.t.ppf((1 + CI_LEVEL) / 2, dfw) * se
    return {
        "rate_slope": slope,
        "rate_slope_ci_low": slope - half,
        "rate_slope_ci_high": slope + half,
    }


def method_text(n_boot: int) -> str:
    return (
        "split-plot ANOVA on intervened-model x rate means (intervention tested against the "
        "intervened models within a level, rate and interaction within models); moment "
        "(omega^2-type) variance shares; 95% CIs from a residual bootstrap over intervened "
        f"models and fine-tuning seeds with a fiducial small-sample top-up, B={n_boot}"
    )


def _design_row(sp: SplitPlot, row: dict) -> tuple[list[str], list[str]]:
    """The design's counts into the row; (the extra treatments, the design's notes)."""
    C, _, L = sp.shape
    extra = [t for t in sp.treatments if t != RATE]
    R = sp.n_rates  # the rates (the subplot may also cross extra treatments with them)
    replicated = sp.n_l.max() > 1
    row.update(n_runs=len(sp.y), n_intervened_models=C, n_levels=L, n_rates=R)
    row.update({f"n_{t}": int(sp.treatments[t].max()) + 1 for t in extra})
    row["models_per_level_min"] = int(sp.n_l.min())
    row["intervention_identifiable"] = bool(replicated and L > 1)
    notes = list(sp.notes)
    if not replicated and L > 1:
        notes.append(
            "one intervened model per level: the intervention cannot be told from "
            "model-to-model variation, share_between_models bounds its share"
        )
    if L < 2:
        notes.append("one intervention level")
    if R < 2:
        notes.append("one rate")
    return extra, notes


def _shares(
    sp: SplitPlot, row: dict, extra: list[str], est: dict, boot: dict, between: str, within: str
) -> None:
    """The shares (clipped) with their bootstrap CIs into the row; the ones this design cannot
    estimate as NaN."""
    L, R = sp.shape[2], sp.n_rates
    treatment_shares = [k for t in extra for k in (f"share_{t}", difference_name(t))]
    names = [*SHARES, *treatment_shares, "share_between_models"]
    point = {k: est[k] for k in names[:-1]} | {"share_between_models": est["share_intervention"]}
    boots = {k: boot[k] for k in names[:-1]} | {"share_between_models": boot["share_intervention"]}
    for name in names:
        lo = -1.0 if name.startswith("share_difference") else 0.0
        row[name] = float(np.clip(point[name][0], lo, 1.0))
        row[f"{name}_ci_low"], row[f"{name}_ci_high"] = _quantiles(boots[name], lo, 1.0)
    drop = ["share_between_models"] if row["intervention_identifiable"] else ["share_intervention"]
    if L < 2 or R < 2:
        drop = ["share_intervention", "share_between_models", "share_difference"]
    if L < 2:
        drop += [difference_name(t) for t in extra]
    if within != "rate_model":
        drop.append("share_interaction")
    for name in drop:
        row[name] = row[f"{name}_ci_low"] = row[f"{name}_ci_high"] = np.nan
    other = row["share_intervention"] if between == "model" else row["share_between_models"]
    for t in (RATE, *extra):  # as shown: the clipped shares' difference
        if np.isfinite(row[difference_name(t)]):
            row[difference_name(t)] = row[f"share_{t}"] - other
    row["difference_of"] = (
        "rate - intervention" if between == "model" or L < 2 else "rate - between-model bound"
    )


def _tests(sp: SplitPlot, row: dict, extra: list[str], ss: dict, est: dict) -> None:
    """The F-tests of each treatment, the intervention (or the between-model bound) and the
    interaction into the row, each against its stratum's error."""
    between, within = error_terms(sp)
    df = sp.df
    for t in (RATE, *extra):
        row[f"p_{t}"] = _f_test(ss[t][0], df[t], est["var_within"][0], df[within])
    p_level = _f_test(ss["level"][0], df["level"], est["e_between"][0], df[between])
    row["p_intervention"] = p_level if row["intervention_identifiable"] else np.nan
    row["p_between_models"] = np.nan if row["intervention_identifiable"] else p_level
    row["p_interaction"] = (
        _f_test(ss["inter"][0], df["inter"], est["var_within"][0], df[within])
        if within == "rate_model"
        else np.nan
    )
    row.update(df_between=df[between], df_within=df[within])


def analyse_metric(
    runs: pd.DataFrame, metric: str, kind: str, n_boot: int, rng: np.random.Generator
) -> dict:
    """One model's runs of one metric -> one effects row (numbers and notes only)."""
    row: dict = {"metric": metric, "kind": kind, "rate_form": RATE_FORMS[kind]}
    for key in ("n_runs", "n_intervened_models", "n_levels", "n_rates", "models_per_level_min"):
        row[key] = 0
    row["intervention_identifiable"] = False
    row["method"] = method_text(n_boot)
    sp = split_plot(runs, metric)
    if sp is None:
        return {**row, "note": "no runs with a value"}
    extra, notes = _design_row(sp, row)
    z = (cell_sums(sp, sp.y[None]) / sp.counts.reshape(-1)).reshape(1, sp.shape[0], -1)
    sse = np.array([float(((sp.y - z.reshape(-1)[sp.cell]) ** 2).sum())])
    ss = sums_of_squares(sp, z, sse)
    est = estimates(sp, ss)
    between, within = error_terms(sp)
    total = float(est["total"][0])
    scale = max(1.0, float(np.abs(sp.y).max())) ** 2
    if sp.df[within] < 1 or not np.isfinite(total):
        return {**row, "note": "; ".join([*notes, "no residual degrees of freedom"])}
    if total <= 1e-12 * scale or float(((sp.y - sp.y.mean()) ** 2).sum()) <= 1e-12 * scale:
        zero = {f"{k}{s}": 0.0 for k in SHARES for s in ("", "_ci_low", "_ci_high")}
        return {**row, **zero, "note": "; ".join([*notes, "zero variance: nothing to explain"])}
    boot = bootstrap(sp, z[0], est, n_boot, rng)
    _shares(sp, row, extra, est, boot, between, within)
    _tests(sp, row, extra, ss, est)
    row.update(_rate_slope(sp, z[0], kind, est))
    for key in ("var_model", "var_within", "var_seed", "total"):
        row[key] = float(est[key][0])
    row["note"] = "; ".join(notes)
    return row


def holm(p: pd.Series | np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values; NaN stays NaN and is not counted.

    By hand rather than statsmodels' `multipletests(method="holm")` (which gives the same
    numbers, see the tests) because that one runs a full `gc.collect()` per call: ~0.1 s in a
    process holding pandas, more than the whole bootstrap of a table.
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        vals = p[ok]
        order = np.argsort(vals)
        scaled = np.maximum.accumulate(vals[order] * np.arange(len(vals), 0, -1))
        adjusted = np.empty_like(vals)
        adjusted[order] = np.minimum(scaled, 1.0)
        out[ok] = adjusted
    return out


def comparisons(runs: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The runs of each intervention method with the pre-trained model (`none`) as a shared
    control: one comparison per method, each judged on its own (and gated by its own
    manipulation check). A sweep of one method is one comparison of all its runs; a sweep of
    `none` alone is one comparison named `none`."""
    reference = reference_method()
    methods = runs["method"].astype(str)
    present = set(methods)
    names = sorted(present - {reference})
    if len(present) == 1:
        return [(names[0] if names else reference, runs)]
    return [(name, runs[methods.isin([name, reference])]) for name in names]


def effects_table(
    runs: pd.DataFrame,
    metrics: Sequence[str],
    kinds: Mapping[str, str] | None = None,
    primary_metric: str = ReportConfig.primary_metric,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (model, comparison, metric): shares with CIs, tests, Holm-adjusted p-values.
    A comparison is one intervention method against the rate (`comparisons`).

    Holm families, per model: the rate and intervention tests of the primary metric together
    (the headline claims one of two factors), with the extra downstream treatments' tests where
    they vary (`data.scrub`: one more factor a verdict may claim), over all comparisons; the same
    tests of all other metrics together; the interaction tests of all metrics. `p_*_holm` are
    the adjusted values that the verdict uses.
    """
    missing = [c for c in REQUIRED if c not in runs.columns]
    if missing:
        raise KeyError(f"run table lacks column {missing[0]!r}")
    rows = []
    for model, d in with_design_labels(runs).groupby("model", sort=True):
        for comparison, runs_c in comparisons(d):
            for metric in metrics:
                base = {"model": model, "comparison": comparison, "metric": metric}
                if metric not in d.columns:
                    rows.append({**base, "note": "no such column"})
                    continue
                # One stream per (model, metric), the same for each comparison: a result does
                # not depend on what else is analysed (nor on the other methods of the sweep).
                key = zlib.crc32(f"{model}\0{metric}".encode())
                rng = np.random.default_rng([seed, key])
                row = analyse_metric(runs_c, metric, metric_kind(metric, kinds), n_boot, rng)
                rows.append({**base, **row})
    columns = None if rows else ["model", "comparison", "metric", "note"]
    return with_holm(pd.DataFrame(rows, columns=columns), primary_metric)


def with_holm(table: pd.DataFrame, primary_metric: str) -> pd.DataFrame:
    """The effects table with `p_*_holm`: Holm over each model's families (`effects_table`)."""
    for col in ("p_rate", "p_intervention", "p_interaction"):
        if col not in table:
            table[col] = np.nan
    # The factors a verdict may claim: the rate, the intervention, any extra treatment analysed.
    factors = ["p_rate", "p_intervention", *(f"p_{t}" for t in EXTRA_TREATMENTS)]
    factors = [c for c in factors if c in table.columns]
    p = {c: table[c].to_numpy(float) for c in (*factors, "p_interaction")}
    adj = {k: np.full(len(table), np.nan) for k in p}
    is_primary = (table["metric"] == primary_metric).to_numpy()
    for idx in table.groupby("model", sort=False).indices.values():
        for family in (idx[is_primary[idx]], idx[~is_primary[idx]]):
            together = holm(np.concatenate([p[c][family] for c in factors]))
            for c, values in zip(factors, np.split(together, len(factors)), strict=True):
                adj[c][family] = values
        adj["p_interaction"][idx] = holm(p["p_interaction"][idx])
    for key, values in adj.items():
        table[f"{key}_holm"] = values
    return table
