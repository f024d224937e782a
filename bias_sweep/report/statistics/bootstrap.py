"""The bootstrap behind the CIs of the variance shares (see `stats.py` for the estimand).

Written by hand because no library resamples a split plot: it is a residual bootstrap over
intervened models and fine-tuning seeds, vectorised over replicates (one numpy array per
stratum, B replicates at once), with two small-sample repairs that the simulation tests need
to reach 95% coverage with 3 intervened models per level:
  * models are drawn from the deviations of all levels pooled (not 3 per level), rescaled so
    that their variances are unbiased;
  * each stratum's scale is topped up to the fiducial (df / chi2_df) spread of its mean square.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from bias_sweep.report.statistics.splitplot import (
    SplitPlot,
    cell_sums,
    error_terms,
    estimates,
    main_effect,
    sums_of_squares,
)


def _fiducial_scale(ratio: np.ndarray, df: int, rng: np.random.Generator) -> np.ndarray:
    """Per-replicate scale that tops the bootstrap's spread of a mean square up to its
    normal-theory (fiducial, df/chi2_df) spread on the log scale. Resampling a handful of
    intervened models spreads a variance estimate far less than its df imply (3 models per
    level give 2 df each), which is what makes plain bootstrap intervals under-cover here.
    """
    if df < 1 or not np.isfinite(ratio).all():  # nothing to scale (e.g. a stratum without noise)
        return np.ones(len(ratio))
    log_ratio = np.log(np.clip(ratio, 1e-8, None))
    mean_fid = np.log(df / 2) - special.digamma(df / 2)  # E log(df / chi2_df)
    var_fid = float(special.polygamma(1, df / 2))  # Var log(chi2_df)
    extra_var = max(var_fid - float(log_ratio.var()), 0.0)
    return np.exp(0.5 * rng.normal(mean_fid - log_ratio.mean(), np.sqrt(extra_var), len(ratio)))


def _shrunk_means(sp: SplitPlot, z: np.ndarray, est: dict[str, np.ndarray]) -> np.ndarray:
    """Cell means whose level, rate and interaction parts have the estimated (not the raw,
    noise-inflated) variances: the bootstrap's population then has the estimated shares."""
    n_l = sp.n_l
    zc = z.mean(1)
    zl = np.bincount(sp.lev, zc, len(n_l)) / n_l
    zlr = np.stack([z[sp.lev == i].mean(0) for i in range(len(n_l))])
    g = zc.mean()
    a, b = zl - g, zlr.T @ n_l / n_l.sum() - g
    ab = zlr - a[:, None] - b[None, :] - g
    K = z.size

    def factor(estimate: np.ndarray, plug: float) -> float:
        return float(np.sqrt(max(float(estimate[0]), 0.0) / plug)) if plug > 0 else 0.0

    f_a = factor(est["V_intervention"], z.shape[1] * (n_l * a**2).sum() / K)
    f_ab = factor(est["V_interaction"], (n_l[:, None] * ab**2).sum() / K)
    # Each treatment's main effect shrunk to its own estimate, their interactions to theirs.
    rest, shrunk = b, 0.0
    for name, codes in sp.treatments.items():
        part = main_effect(b[None], codes)[0]
        shrunk = shrunk + factor(est[f"V_{name}"], z.shape[0] * (part**2).sum() / K) * part
        rest = rest - part
    rest_plug = z.shape[0] * (rest**2).sum() / K
    shrunk = shrunk + factor(est["V_treatments_interaction"], rest_plug) * rest
    return g + f_a * a[:, None] + shrunk[None, :] + f_ab * ab


def bootstrap(
    sp: SplitPlot, z: np.ndarray, est: dict[str, np.ndarray], n_boot: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """B replicate estimates from a residual bootstrap of intervened models and seeds.

    Replicate = shrunk cell means + the deviations of a resampled intervened model (its offset
    and its rate profile, rescaled by sqrt(n/(n-1))-type factors so that their variances are
    unbiased) + seed deviations resampled within the source model's cells. Seed deviations are
    centred when a model-level part is drawn (the cell means already carry the seeds' noise).
    Models are drawn from all levels' deviations pooled: they are exchangeable under the model
    the F-test assumes, and 3 models per level would give only 3 distinct draws (intervals then
    under-cover). With one model per level, level x rate residuals are resampled instead.
    Each stratum's scale gets a fiducial top-up (`_fiducial_scale`).
    """
    C, R, L = sp.shape
    df = sp.df
    between, within = error_terms(sp)
    fixed = _shrunk_means(sp, z, est)[sp.lev]  # (C, R)
    zc = z.mean(1)
    parts: dict[str, np.ndarray] = {}  # stratum -> (B, C, R) noise at scale 1
    src = np.tile(np.arange(C), (n_boot, 1))
    if between == "model":
        n_c = sp.n_l[sp.lev]
        ok = n_c > 1
        zl = (np.bincount(sp.lev, zc, L) / sp.n_l)[sp.lev]
        zlr = np.stack([z[sp.lev == i].mean(0) for i in range(L)])[sp.lev]
        src = rng.choice(np.flatnonzero(ok), size=(n_boot, C))
        u = np.where(ok, (zc - zl) * np.sqrt(n_c / np.where(ok, n_c - 1, 1)), 0.0)
        parts["model"] = np.repeat(u[src][:, :, None], R, axis=2)
        if within == "rate_model":
            v_scale = np.sqrt(n_c * R / np.where(ok, n_c - 1, 1) / (R - 1))
            v = (z - zc[:, None] - zlr + zl[:, None]) * np.where(ok, v_scale, 0.0)[:, None]
            parts["rate_model"] = v[src]
    elif within == "inter":
        res = (z - zc[:, None] - z.mean(0)[None, :] + z.mean()).reshape(-1)
        res = res * np.sqrt(C * R / df["inter"])
        parts["inter"] = res[rng.integers(0, res.size, (n_boot, C * R))].reshape(n_boot, C, R)
    # seeds: resampled within the source model's cell, rescaled by sqrt(m / (m - 1))
    m_cell = sp.counts.reshape(-1)
    starts = np.concatenate([[0], np.cumsum(m_cell)[:-1]])
    m_run = m_cell[sp.cell]
    e_scale = np.sqrt(m_run / np.where(m_run > 1, m_run - 1, 1)) * (m_run > 1)
    e = (sp.y - z.reshape(-1)[sp.cell]) * e_scale
    src_cell = src[:, sp.cell // R] * R + sp.cell % R
    draw = starts[src_cell] + np.floor(rng.random(src_cell.shape) * m_cell[src_cell]).astype(int)
    seeds = e[draw]
    seed_means = cell_sums(sp, seeds) / m_cell
    if parts:
        seeds = seeds - seed_means[:, sp.cell]
    else:  # no model-level part: the seeds are all the noise of the cell means
        parts["seed"] = seed_means.reshape(n_boot, C, R)
    # fiducial top-up of each stratum's scale, measured on a first pass at scale 1
    ss_obs = sums_of_squares(sp, z[None], np.array([est["var_seed"][0] * df["seed"]]))
    sse = (seeds**2).sum(1)
    if "seed" in parts:
        sse = sse - (seed_means**2 * m_cell).sum(1)
    ss_one = sums_of_squares(sp, fixed[None] + sum(parts.values()), sse)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = {k: _fiducial_scale(ss_one[k] / ss_obs[k][0], df[k], rng) for k in parts}
    zs = fixed[None] + sum(scale[k][:, None, None] * p for k, p in parts.items())
    seed_scale = scale.get("seed")
    if seed_scale is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            seed_scale = _fiducial_scale(sse / ss_obs["seed"][0], df["seed"], rng)
    return estimates(sp, sums_of_squares(sp, zs, sse * seed_scale**2))
