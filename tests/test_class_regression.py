"""The class-level regression (issue 20) on simulated per-class sweeps with a known truth: the
true factor is named in >= 90% of sweeps, and under the null no factor is claimed in > 7%."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.formula.api as smf
from simulate_classes import simulate_class_runs

from bias_sweep.report.statistics.class_regression import class_regression

SWEEPS = 60
CLAIMS = ("cooccurrence", "intrinsic")


def verdicts(cooc_coef: float, intrinsic_coef: float, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(SWEEPS):
        runs = simulate_class_runs(rng, cooc_coef=cooc_coef, intrinsic_coef=intrinsic_coef)
        fit = class_regression(
            runs, gap="tpr_gap", cooccurrence="realised_rate", intrinsic="intrinsic",
            cluster="intervention_key", n_boot=200, seed=i,
        )  # fmt: skip
        out.append(fit.verdict)
    return out


@pytest.mark.parametrize(
    ("cooc", "intrinsic", "truth"), [(0.3, 0.0, "cooccurrence"), (0.0, 0.5, "intrinsic")]
)
def test_the_true_factor_is_named(cooc: float, intrinsic: float, truth: str) -> None:
    found = verdicts(cooc, intrinsic, seed=1)
    assert found.count(truth) / SWEEPS >= 0.90, found


def test_under_the_null_no_factor_is_claimed() -> None:
    found = verdicts(0.0, 0.0, seed=2)
    assert sum(v in CLAIMS for v in found) / SWEEPS <= 0.07, found


def test_standardised_coefficients_are_statsmodels_and_the_sentence_says_so() -> None:
    runs = simulate_class_runs(np.random.default_rng(5), cooc_coef=0.3, intrinsic_coef=0.2)
    fit = class_regression(
        runs, gap="tpr_gap", cooccurrence="realised_rate", intrinsic="intrinsic",
        cluster="intervention_key", n_boot=100,
    )  # fmt: skip
    z = runs[["tpr_gap", "realised_rate", "intrinsic"]]
    z = (z - z.mean()) / z.std()
    want = smf.ols("tpr_gap ~ realised_rate + intrinsic", data=z).fit().params
    assert fit.coef["cooccurrence"] == pytest.approx(want["realised_rate"])
    assert fit.coef["intrinsic"] == pytest.approx(want["intrinsic"])
    assert fit.n_models == 12 and fit.n_rows == len(runs)
    assert "12 intervened models" in fit.sentence("tpr_gap")


def test_the_report_sentence_comes_from_a_sweeps_per_class_rows() -> None:
    from bias_sweep.report.text.contrasts import class_sentences

    runs = simulate_class_runs(np.random.default_rng(6), cooc_coef=0.3, intrinsic_coef=0.0)
    rows = runs.rename(columns={"intrinsic": "intrinsic_after"})
    (sentence,) = class_sentences(rows)
    assert sentence.startswith("Class level (tpr_gap): a class's co-occurrence explains more")
    assert class_sentences(rows.drop(columns="intrinsic_after")) == []
    assert class_sentences(None) == []
