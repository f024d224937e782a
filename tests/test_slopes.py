"""The rate's slope per intervention level and its change (issue 26), on simulated sweeps with a
known truth: an intervention that halves the rate's slope (and has no main effect) is reported
as such, with a CI over intervened models, and one without that effect gets no such claim."""

from __future__ import annotations

import re

import numpy as np
import pytest
import simulate
from scipy import stats as sps

from bias_sweep.report.statistics import slopes
from bias_sweep.report.statistics.analysis import Question, gated_effects
from bias_sweep.report.text.headline import headline

N_BOOT = 50  # the interaction test and the slopes do not depend on the bootstrap
# The rate's slope is 0.8 per unit of r at strength 0 and 0.4 at strength 1: -50%.
HALVING = simulate.Truth(rate_effect=0.8, interaction=-0.4, sd_model=0.02, sd_model_rate=0.03,
                         sd_seed=0.03)  # fmt: skip
SENTENCE = re.compile(r"cda at strength 1 changed the rate's slope \(tpr_gap per unit of r\) from")


def sweeps(truth: simulate.Truth, n: int, seed: int):
    runs = simulate.simulate_many(simulate.QUICKSTART, {"tpr_gap": truth}, n, seed,
                                  intrinsic=simulate.WORKED)  # fmt: skip
    eff, gate, _ = gated_effects(runs, Question(["tpr_gap"], "tpr_gap", n_boot=N_BOOT, seed=seed))
    table = slopes.slope_table(runs, ["tpr_gap"])
    text = headline(eff, "tpr_gap", gate, table)  # one paragraph per sweep (model `sim{i}`)
    parts = re.split(r"(?=For tpr_gap on sim\d{4})", text)
    heads = {p.split()[3].rstrip(","): p for p in parts if p}
    assert len(heads) == n
    change = table[table["quantity"] == slopes.CHANGE].set_index("model")
    return change, heads


def test_halving_the_slope_is_reported_with_its_ci():
    """Measured on 400 sweeps: the 95% Fieller interval of the relative change covers the true
    -50% in 96.0% (an exact interval: its coverage is 95% up to sampling error, s.e. 1.1%:
    asserted >= 93%), and the sentence is in the headline in 100% (asserted >= 99%)."""
    shares = simulate.true_shares(simulate.QUICKSTART, HALVING)
    assert shares["share_intervention"] == pytest.approx(0.0, abs=1e-12)  # no main effect
    change, heads = sweeps(HALVING, 400, seed=51)
    covered = (change["relative_ci_low"] <= -0.5) & (change["relative_ci_high"] >= -0.5)
    assert covered.mean() >= 0.93
    assert ((change["ci_low"] <= -0.4) & (change["ci_high"] >= -0.4)).mean() >= 0.93
    assert change["relative"].median() == pytest.approx(-0.5, abs=0.02)
    said = [bool(SENTENCE.search(h)) for h in heads.values()]
    assert np.mean(said) >= 0.99
    first = heads["sim0000"]
    assert re.search(r"from \+0\.\d+ to \+0\.\d+ \(−\d+% \[−\d+%, −\d+%\]\)\.", first), first


@pytest.mark.parametrize(
    "truth",
    [
        simulate.Truth(rate_effect=0.12, sd_model=0.02, sd_seed=0.02),  # case a: the rate only
        simulate.Truth(rate_effect=0.1, slopes={"cda": -0.1}, sd_model=0.02, sd_model_rate=0.01),
    ],
    ids=["rate only", "rate and a main effect"],
)
def test_no_slope_change_no_claim(truth):
    """Without an interaction the sentence appears only when the interaction test rejects by
    chance (its level, 5%): no such claim in >= 93% of 300 sweeps (measured 95.7% and 96.3%)."""
    change, heads = sweeps(truth, 300, seed=52)
    assert np.mean([not SENTENCE.search(h) for h in heads.values()]) >= 0.93
    assert ((change["ci_low"] <= 0) & (change["ci_high"] >= 0)).mean() >= 0.93


def test_slope_table_per_level_kind_and_method():
    design = simulate.Design(methods={"none": (), "random-init": (), "cda": (0.0, 1.0)})
    truths = {
        "tpr_gap": simulate.Truth(rate_effect=0.8, interaction=-0.4, contrasts={"random-init": 0}),
        "flip_rate": simulate.Truth(kind="unsigned", rate_effect=0.4, sd_seed=0.01),
        "accuracy": simulate.Truth(),
    }
    runs = simulate.simulate_sweep(design, truths, np.random.default_rng(53))
    table = slopes.slope_table(runs, [*truths, "intrinsic_after"])
    assert set(table["metric"]) == {"tpr_gap", "flip_rate"}  # no slope for utility or intrinsic
    assert set(table.loc[table["metric"] == "flip_rate", "rate_form"]) == {"|r - 0.5|"}
    tpr = table[table["metric"] == "tpr_gap"]
    levels = tpr[tpr["quantity"] == slopes.LEVEL]
    assert set(zip(levels["method"], levels["level"], strict=True)) == {
        ("cda", "cda:0"), ("cda", "cda:1"), ("cda", "none"),
        ("random-init", "random-init"), ("random-init", "none"),
    }  # fmt: skip
    cda = levels[(levels["method"] == "cda") & (levels["level"] == "cda:0")].iloc[0]
    assert cda["n_models"] == 3 and cda["df"] == 4  # 7 models, 3 levels: over intervened models
    assert cda["ci_low"] < 0.8 < cda["ci_high"]
    change = tpr[tpr["quantity"] == slopes.CHANGE].iloc[0]
    assert change["method"] == "cda" and change["df"] == 4 and change["at_strength"] == 1
    ri = tpr[tpr["quantity"] == slopes.DIFFERENCE].iloc[0]
    assert ri["method"] == "random-init" and ri["ci_low"] < 0 < ri["ci_high"]


def test_fieller_interval():
    """The defining property at both ends, and unbounded where the denominator is not told
    from 0; with a precise denominator it nears the delta method's interval."""
    t = sps.t.ppf(0.975, 10)
    num, den, v_num, v_den, cov = -0.4, 0.8, 0.01, 0.004, -0.002
    lo, hi = slopes.fieller(num, den, v_num, v_den, cov, t)
    for q in (lo, hi):
        assert (num - q * den) ** 2 == pytest.approx(t * t * (v_num - 2 * q * cov + q * q * v_den))
    assert lo < num / den < hi
    assert np.isnan(slopes.fieller(0.1, 0.05, 0.01, 0.01, 0.0, t)).all()
    lo, hi = slopes.fieller(num, den, 1e-6, 1e-8, 0.0, 1.96)
    half = 1.96 * np.sqrt(1e-6 / den**2 + num**2 * 1e-8 / den**4)
    assert (lo, hi) == pytest.approx((num / den - half, num / den + half), rel=1e-3)


def test_slopes_that_do_not_vary_get_no_interval():
    """Every intervened model's slope exactly the same (a metric of a few discrete values on a
    small eval set): no interval and a note, never a zero-width CI with p ~ 0."""
    design = simulate.Design(methods={"cda": (0.0, 1.0)}, models_per_level=3)
    runs = simulate.simulate_sweep(design, {}, np.random.default_rng(0))
    runs["fpr_gap"] = np.where(runs["strength"] > 0, 0.5, 0.8) * (runs["rate"] - 0.5)
    table = slopes.slope_table(runs, ["fpr_gap"])
    assert len(table) == 3 and table["ci_low"].isna().all() and table["p"].isna().all()
    assert table["note"].eq(slopes.NO_SPREAD).all()
    runs["fpr_gap"] += np.random.default_rng(1).normal(0, 0.01, len(runs))
    assert slopes.slope_table(runs, ["fpr_gap"])["ci_low"].notna().all()
