"""The manipulation check gates the verdict (issue 18 items 1 and 2), on simulated sweeps with a
known truth: a null manipulation gives `void` whatever the rate does, a working one leaves every
verdict as it was, and the words say which and by how much. Fixed seeds; the analysis runs
many sweeps in one table (sweep i is model `sim{i}`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import simulate

from bias_sweep.report.statistics import effects as stats
from bias_sweep.report.statistics import regressions, verdict
from bias_sweep.report.statistics.analysis import Question, analyse, gated_effects
from bias_sweep.report.statistics.gate import (
    CANNOT_TELL,
    GATE_LEVEL,
    MOVED,
    NOT_MEASURED,
    NOT_MOVED,
    gate_table,
    survival_table,
)
from bias_sweep.report.text.headline import headline

N_BOOT = 100  # the gate does not depend on the bootstrap; the verdicts' own tests use 1000
NULL = simulate.Intrinsic()  # intrinsic bias does not move with the intervention


def gated(case: str, n: int, seed: int, intrinsic: simulate.Intrinsic) -> pd.DataFrame:
    design, truths = simulate.case(case)
    runs = simulate.simulate_many(design, truths, n, seed, intrinsic=intrinsic)
    return gated_effects(
        runs, Question(list(truths), next(iter(truths)), n_boot=N_BOOT, seed=seed)
    )[0]


def test_null_manipulation_with_a_strong_rate_effect_is_void_never_rate():
    """Case a (the rate explains ~65% of the variance) with intrinsic bias that does not move:
    the gate passes a null manipulation in 1 - GATE_LEVEL = 0.1% of sweeps, so `void` in about
    99.9% of them: asserted >= 99% (the issue's bound) on 400 sweeps, where the 95% interval
    of a plain check would give about 95% (20 claims of `rate`)."""
    eff = gated("a", 400, seed=41, intrinsic=NULL)
    assert eff["verdict"].eq("void").mean() >= 0.99
    assert eff["verdict"].eq("rate").mean() <= 0.01
    assert set(eff["manipulation"]) <= {NOT_MOVED, MOVED}


@pytest.mark.parametrize("case", ["b", "c", "d"])
def test_null_manipulation_is_void_whatever_the_rest_does(case):
    """Intervention effect without intrinsic change (b), nothing at all (c), two methods beside
    none (d: each comparison gated on its own method)."""
    eff = gated(case, 100, seed=42, intrinsic=NULL)
    assert eff["verdict"].eq("void").mean() >= 0.99
    if case == "d":
        assert set(eff["comparison"]) == {"cda", "skew"}


@pytest.mark.parametrize("case", ["a", "b", "c", "d", "e"])
def test_working_manipulation_leaves_every_verdict_unchanged(case):
    design, truths = simulate.case(case)
    runs = simulate.simulate_many(design, truths, 60, seed=43, intrinsic=simulate.WORKED)
    eff, gate, _ = gated_effects(
        runs, Question(list(truths), next(iter(truths)), n_boot=N_BOOT, seed=43)
    )
    plain = verdict.add_verdicts(
        stats.effects_table(runs, list(truths), primary_metric=next(iter(truths)), n_boot=N_BOOT,
                            seed=43)
    )  # fmt: skip
    assert eff["manipulation"].eq(MOVED).all() and gate["status"].eq(MOVED).all()
    assert list(eff["verdict"]) == list(plain["verdict"])


def test_gate_level_sets_the_pass_rate_of_a_null_manipulation():
    """The gate's interval is exact: on 1000 null sweeps it passes about 0.1% (asserted <= 0.5%),
    where a 95% interval passes about 5% (asserted >= 3%: the stricter level is what holds)."""
    runs = simulate.simulate_many(simulate.QUICKSTART, {}, 1000, seed=44, intrinsic=NULL)
    gate = gate_table(regressions.manipulation_check(runs)[0], runs)
    assert gate["status"].eq(MOVED).mean() <= 0.005
    assert ((gate["ci_low"] > 0) | (gate["ci_high"] < 0)).mean() >= 0.03
    assert GATE_LEVEL == 0.999


@pytest.mark.parametrize("strengths", [(0, 1), (0, 0.5, 1)])
def test_a_method_that_is_the_pretrained_model_at_0_is_checked_through_it(strengths):
    """projection at strength 0 is the pre-trained model (one intervened model, measured without
    replication noise): the check's slope goes through that value, df = the models at strength >
    0 minus 1, and its 99.9% interval keeps the gate's level on 1000 null sweeps (passes about
    0.1%: asserted <= 0.5%; a 95% interval about 5%: asserted >= 3%); a working manipulation of
    1 per unit strength passes in every sweep."""
    design = simulate.Design(methods={"projection": strengths}, models_per_level=3)
    assert [k for _, s, k in design.levels() if s == 0] == [1]
    runs = simulate.simulate_many(design, {}, 1000, seed=46, intrinsic=NULL)
    check = regressions.manipulation_check(runs)[0]
    assert check["df"].eq(3 * (len(strengths) - 1) - 1).all()
    assert check["note"].str.contains("through the pre-trained model").all()
    gate = gate_table(check, runs)
    assert gate["status"].eq(MOVED).mean() <= 0.005
    assert ((gate["ci_low"] > 0) | (gate["ci_high"] < 0)).mean() >= 0.03
    worked = simulate.simulate_many(design, {}, 200, seed=47, intrinsic=simulate.WORKED)
    assert gate_table(regressions.manipulation_check(worked)[0], worked)["status"].eq(MOVED).all()


def test_one_method_void_the_other_answered():
    """cda moved intrinsic bias, projection did not: only projection's comparison is void, and
    the headline names each comparison; cda's numbers are those of cda and none alone."""
    design = simulate.Design(methods={"none": (), "cda": (0.0, 0.5, 1.0), "projection": (0, 1)})
    truth = simulate.Truth(rate_effect=0.12, sd_model=0.02, sd_seed=0.02)
    intrinsic = simulate.Intrinsic(slopes={"cda": -1.0}, sd_model=0.02, baseline=1.0)
    runs = simulate.simulate_sweep(design, {"tpr_gap": truth}, np.random.default_rng(45),
                                   intrinsic=intrinsic)  # fmt: skip
    eff, gate, _ = gated_effects(runs, Question(["tpr_gap"], "tpr_gap", n_boot=N_BOOT))
    by = eff.set_index("comparison")
    assert by.loc["cda", "verdict"] == "rate" and by.loc["projection", "verdict"] == "void"
    alone = stats.effects_table(runs[runs["method"] != "projection"], ["tpr_gap"], n_boot=N_BOOT)
    assert by.loc["cda", "share_rate"] == pytest.approx(alone["share_rate"].iloc[0])
    text = headline(eff, "tpr_gap", gate)
    assert "For tpr_gap on tiny-bert, cda against the rate, the co-occurrence rate matters" in text
    assert "projection against the rate, there is no verdict (void): projection did not" in text
    # projection at strength 0 is the pre-trained model: one intervened model there, 3 at s = 1
    assert "99.9% CI over 4 intervened models (df = 2) that includes 0" in text
    assert "The manipulation check passed: under cda, intrinsic bias changes by −1" in text
    assert "of the pre-trained model's +1" in text and "another method" in text


def test_statuses_where_the_check_cannot_tell_or_was_not_measured():
    design = simulate.Design(methods={"cda": (1.0,)}, models_per_level=3)
    truths = {"tpr_gap": simulate.Truth(rate_effect=0.12, sd_model=0.02)}
    runs = simulate.simulate_sweep(design, truths, np.random.default_rng(46))
    eff, gate, _ = gated_effects(runs, Question(["tpr_gap"], "tpr_gap", n_boot=N_BOOT))
    assert gate["status"].tolist() == [CANNOT_TELL] and eff["verdict"].tolist() == ["void"]
    assert "cannot be told (one strength)" in headline(eff, "tpr_gap", gate)
    # no intrinsic bias in the runs (a --table without intrinsic_after): the verdict stands
    design, truths = simulate.case("a")
    runs = simulate.simulate_sweep(design, truths, np.random.default_rng(46))
    runs = runs.drop(columns="intrinsic_after")
    eff, gate, notes = gated_effects(runs, Question(["tpr_gap"], "tpr_gap", n_boot=N_BOOT))
    assert eff["manipulation"].tolist() == [NOT_MEASURED] and eff["verdict"].tolist() == ["rate"]
    assert "The manipulation was not checked" in headline(eff, "tpr_gap", gate) and notes
    # a sweep of none alone has nothing to gate
    none = runs.assign(method="none", strength=0.0)
    eff, _, _ = gated_effects(none, Question(["tpr_gap"], "tpr_gap", n_boot=N_BOOT))
    assert eff["comparison"].tolist() == ["none"] and eff["manipulation"].tolist() == [""]


def test_mixed_kinds_pass_only_if_every_kind_moved():
    design, truths = simulate.case("a")
    runs = simulate.simulate_sweep(design, truths, np.random.default_rng(47),
                                   intrinsic=simulate.WORKED)  # fmt: skip
    runs["intrinsic_kind"] = "mlm_logprob_gap"
    seat = runs.assign(model="tiny-bert", intrinsic_kind="seat_effect_size", intrinsic_after=0.3)
    seat["intrinsic_after"] += np.random.default_rng(0).normal(0, 0.05, len(seat))
    both = pd.concat([runs[runs["intervention_seed"] != 2], seat[seat["intervention_seed"] == 2]])
    eff, gate, _ = gated_effects(both, Question(["tpr_gap"], "tpr_gap", n_boot=N_BOOT))
    assert set(gate["intrinsic_kind"]) == {"mlm_logprob_gap", "seat_effect_size"}
    assert eff["verdict"].tolist() == ["void"]


@pytest.mark.parametrize(
    ("retained", "word", "rate"),
    [(1.0, "survived", 0.95), (0.0, "did not survive", 0.90), (-1.0, "reversed", 0.95)],
)
def test_survival_through_fine_tuning(retained, word, rate):
    """Intrinsic bias measured on the fine-tuned encoders keeps all (retained 1), none (0) or the
    opposite (-1) of the intervention's effect: `survived` in >= 95%, `did not survive` in >= 90%
    (a 95% CI that includes a true 0: about 95%), `reversed` in >= 95% of 100 sweeps."""
    intrinsic = simulate.Intrinsic(slopes={"cda": -1.0}, sd_model=0.02, baseline=1.0,
                                   retained=retained, sd_finetuned=0.05)  # fmt: skip
    runs = simulate.simulate_many(simulate.QUICKSTART, {}, 100, seed=48, intrinsic=intrinsic)
    check, _ = regressions.manipulation_check(runs)
    finetuned, _ = regressions.manipulation_check(runs, "intrinsic_finetuned")
    kind = {"intrinsic_kind": "kind not given"}
    survival = survival_table(gate_table(check.assign(**kind), runs), finetuned.assign(**kind))
    assert len(survival) == 100 and survival["survival"].eq(word).mean() >= rate


def test_report_says_it_survived_or_not():
    intrinsic = simulate.Intrinsic(slopes={"cda": -1.0}, sd_model=0.02, retained=0.5)
    runs = simulate.simulate_sweep(simulate.QUICKSTART, {"tpr_gap": simulate.Truth()},
                                   np.random.default_rng(49), intrinsic=intrinsic)  # fmt: skip
    analysis = analyse(runs, Question(["tpr_gap"], "tpr_gap", n_boot=N_BOOT))
    row = analysis.survival.iloc[0]
    assert row["survival"] == "survived" and row["after_n_models"] == 9
    assert row["after_estimate"] == pytest.approx(0.5 * row["estimate"], rel=0.2)
