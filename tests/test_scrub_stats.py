"""Scrubbing as a downstream treatment beside the rate (issue 20 item 6), proven on simulated
sweeps with a known truth as issue 11 proved the rate and the intervention: the quickstart's
design (cda at 3 strengths x 3 intervened models, rates 0.1/0.5/0.9, 2 seeds) crossed with
data.scrub in {none, terms}: 108 runs per sweep, >= 200 sweeps per case in one table.

Cases: scrubbing acts alone; nothing acts; scrubbing and the rate both act; the intervention
acts alone while scrubbing varies. Each verdict (the rate's and scrubbing's, both against the
intervention, one Holm family) is asserted close to its measured rate, and the share of
scrubbing and the CI of its difference from the intervention's are checked against the truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import simulate

from bias_sweep.report.statistics import effects as stats
from bias_sweep.report.statistics import verdict
from bias_sweep.report.statistics.splitplot import (
    estimates,
    split_plot,
    sums_of_squares,
    with_design_labels,
)
from bias_sweep.report.strata import by_strata

DESIGN = simulate.Design(scrubs=("none", "terms"))
SD = {"sd_model": 0.02, "sd_seed": 0.02}
CLAIMS = ("rate", "intervention", "scrub")
TRUTHS = {
    "scrub": simulate.Truth(scrub_effects={"terms": -0.08}, **SD),
    "none": simulate.Truth(**SD),
    "both": simulate.Truth(rate_effect=0.12, scrub_effects={"terms": -0.08}, **SD),
    "intervention": simulate.Truth(slopes={"cda": -0.15}, **SD),
}


def analyse(truth: simulate.Truth, n: int, seed: int, design: simulate.Design = DESIGN):
    runs = simulate.simulate_many(design, {"tpr_gap": truth}, n, seed)
    table = stats.effects_table(runs, ["tpr_gap"], primary_metric="tpr_gap", seed=seed)
    return verdict.add_verdicts(table)


def covered(effects: pd.DataFrame, name: str, truth: float) -> float:
    inside = (effects[f"{name}_ci_low"] <= truth) & (truth <= effects[f"{name}_ci_high"])
    return float(inside.mean())


@pytest.fixture(scope="module", params=list(TRUTHS))
def case(request):
    name = request.param
    seed = 40 + list(TRUTHS).index(name)
    truth = TRUTHS[name]
    return name, simulate.true_shares(DESIGN, truth), analyse(truth, 200, seed)


def test_every_case_is_covered(case):
    """The 95% CIs of scrubbing's share difference and of the rate's cover their truths."""
    name, shares, eff = case
    assert eff["n_scrub"].eq(2).all() and eff["n_rates"].eq(3).all()
    assert 0.91 <= covered(eff, "share_difference_scrub", shares["share_difference_scrub"]) <= 1
    assert 0.91 <= covered(eff, "share_difference", shares["share_difference"]) <= 1
    # the point estimate of scrubbing's share is unbiased to within its Monte Carlo error
    assert eff["share_scrub"].mean() == pytest.approx(shares["share_scrub"], abs=0.02)


# What each verdict should say, per case (None: the verdict must not claim a factor).
EXPECTED = {
    "scrub": {"verdict_scrub": "scrub", "verdict": None},
    "none": {"verdict_scrub": "neither", "verdict": "neither"},
    "both": {"verdict_scrub": "scrub", "verdict": "rate"},
    "intervention": {"verdict_scrub": "intervention", "verdict": "intervention"},
}


def test_the_true_factor_is_named(case):
    """Measured on these seeds (n = 200 each): scrubbing named in 1.0 (scrub) and 0.995 (both)
    of sweeps, the rate in 0.995 (both), the intervention in 1.0 by both verdicts; `neither`
    under the null in 0.965 by each; the rate's verdict claims a factor in 0.015 of the
    scrub-only sweeps (where it should claim none)."""
    name, _, eff = case
    for column, word in EXPECTED[name].items():
        if word is None:
            assert eff[column].isin(CLAIMS).mean() <= 0.04, column
        else:
            assert eff[column].eq(word).mean() >= (0.9 if word == "neither" else 0.95), column


def test_no_effect_is_rarely_claimed():
    """Nothing acts: a sweep with any claim (the rate's verdict or scrubbing's) is rare, since
    the three tests share one Holm family (measured 0.0175, n = 400; both verdicts `neither` in
    0.9525): asserted <= 0.04 (the issue's bound is 0.07)."""
    eff = analyse(TRUTHS["none"], 400, seed=49)
    any_claim = eff["verdict"].isin(CLAIMS) | eff["verdict_scrub"].isin(CLAIMS)
    assert any_claim.mean() <= 0.04
    assert (eff["verdict"].eq("neither") & eff["verdict_scrub"].eq("neither")).mean() >= 0.9


def test_moment_estimate_of_scrubbing_is_unbiased():
    """V_scrub's moment estimate averages to its true value over 400 sweeps; the shares of
    rate and scrubbing and their interaction with one another add up to the subplot's."""
    truth = simulate.Truth(rate_effect=0.1, scrub_effects={"terms": 0.05}, sd_model_rate=0.02, **SD)
    runs = with_design_labels(simulate.simulate_many(DESIGN, {"m": truth}, 400, seed=50))
    got = []
    for _, d in runs.groupby("model"):
        sp = split_plot(d, "m")
        C, R, _ = sp.shape
        z = np.bincount(sp.cell, sp.y, C * R) / sp.counts.reshape(-1)
        sse = np.array([((sp.y - z[sp.cell]) ** 2).sum()])
        ss = sums_of_squares(sp, z.reshape(1, C, R), sse)
        subplot = C * ((z.reshape(C, R).mean(0) - z.mean()) ** 2).sum()
        assert ss["rate"][0] + ss["scrub"][0] + ss["downstream_inter"][0] == pytest.approx(subplot)
        got.append(estimates(sp, ss)["V_scrub"][0])
    want = simulate.true_shares(DESIGN, truth)["V_scrub"]
    assert np.mean(got) == pytest.approx(want, rel=0.05)


def test_scrubbing_not_crossed_with_the_rate_is_a_stratum():
    """Where some (rate, scrub) pair was not run, the effects cannot be separated: each scrub
    value is analysed as a unit of its own, as any unmodelled axis is."""
    runs = simulate.simulate_sweep(DESIGN, {"tpr_gap": TRUTHS["both"]}, np.random.default_rng(0))
    holes = runs[~((runs["rate"] == 0.9) & (runs[simulate.SCRUB] == "terms"))]
    strata, notes = by_strata(holes, [simulate.SCRUB])
    assert set(strata["model"]) == {"tiny-bert · data.scrub=none", "tiny-bert · data.scrub=terms"}
    assert notes and "data.scrub varies" in notes[0]
    crossed, none = by_strata(runs, [simulate.SCRUB])
    assert set(crossed["model"]) == {"tiny-bert"} and none == []


def test_without_scrubbing_nothing_changes():
    """A sweep where data.scrub has one value gives the same numbers as one without the column."""
    truths = {"tpr_gap": TRUTHS["both"]}
    runs = simulate.simulate_sweep(simulate.QUICKSTART, truths, np.random.default_rng(1))
    one = stats.effects_table(runs.assign(**{simulate.SCRUB: "none"}), ["tpr_gap"], n_boot=200)
    plain = stats.effects_table(runs, ["tpr_gap"], n_boot=200)
    pd.testing.assert_frame_equal(one, plain)
