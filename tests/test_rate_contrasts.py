"""The pre-training contrast and the local slope near r = 0.5 (issue 20) on simulated sweeps
with a known truth: the CI of the difference excludes 0 in >= 90% of sweeps where the slopes
differ and in <= 7% where they do not; the local slope's CI covers the true one in >= 90%."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from bias_sweep.report.statistics.rate_contrasts import local_slope, pretraining_contrast

SWEEPS = 60
RATES = (0.1, 0.4, 0.5, 0.6, 0.9)


def simulate(
    rng: np.random.Generator,
    response: dict[str, Callable[[float], float]],
    models: int = 5,
    seeds: int = 2,
) -> pd.DataFrame:
    """Runs of random-init and cda models: tpr_gap = response[method](rate) + u_model + e."""
    rows = []
    for method, f in response.items():
        for m in range(models):
            u = rng.normal(0, 0.05)
            for r in RATES:
                for s in range(seeds):
                    rows.append(
                        {"method": method, "strength": 0.0 if method == "random-init" else 1.0,
                         "intervention_seed": m, "rate": r, "seed": s,
                         "tpr_gap": f(r) + u + rng.normal(0, 0.05)}
                    )  # fmt: skip
    return pd.DataFrame(rows)


def excludes_zero(ci: tuple[float, float]) -> bool:
    return ci[0] > 0 or ci[1] < 0


@pytest.mark.parametrize(("pretrained_slope", "differs"), [(0.2, True), (0.8, False)])
def test_pretraining_contrast_finds_a_difference_only_where_there_is_one(
    pretrained_slope: float, differs: bool
) -> None:
    rng = np.random.default_rng(7 if differs else 8)
    found = []
    for _ in range(SWEEPS if differs else 8 * SWEEPS):  # a 7% bound on a 5% rate: many sweeps
        runs = simulate(rng, {"random-init": lambda r: 0.8 * (r - 0.5),
                              "cda": lambda r: pretrained_slope * (r - 0.5)})  # fmt: skip
        contrast = pretraining_contrast(runs, "tpr_gap", kind="signed")
        found.append(excludes_zero(contrast.difference_ci))
    share = np.mean(found)
    assert share >= 0.90 if differs else share <= 0.07, share
    assert "without pre-training (5 random-init models)" in contrast.sentence("tpr_gap", "rate")


def test_no_contrast_without_random_init() -> None:
    runs = simulate(np.random.default_rng(0), {"cda": lambda r: r})
    assert pretraining_contrast(runs, "tpr_gap", kind="signed") is None


def test_local_slope_is_the_slope_between_the_rates_nearest_half() -> None:
    def curve(r: float) -> float:
        return 0.6 * (r - 0.5) + 20 * (r - 0.5) ** 3  # steep far out, gentle near 0.5

    truth = (curve(0.6) - curve(0.4)) / 0.2  # the grid rates nearest 0.5 on either side
    rng = np.random.default_rng(3)
    covered = []
    for _ in range(SWEEPS):
        runs = simulate(rng, {"cda": curve}, models=8)
        pair, slope = local_slope(runs, "tpr_gap")
        covered.append(slope.ci[0] <= truth <= slope.ci[1])
    assert pair == (0.4, 0.6)
    assert np.mean(covered) >= 0.90, np.mean(covered)


def test_the_report_gives_the_contrast_and_the_local_slope(tmp_path) -> None:  # noqa: ANN001
    import json

    from bias_sweep.report.build import build_table_report

    runs = simulate(np.random.default_rng(1), {"random-init": lambda r: 0.8 * (r - 0.5),
                                               "cda": lambda r: 0.1 * (r - 0.5)})  # fmt: skip
    runs["model"] = "tiny-bert"
    runs.to_csv(tmp_path / "runs.csv", index=False)
    build_table_report(tmp_path / "runs.csv", tmp_path / "report", n_boot=50, plots=False)
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    contrast, local = summary["rate_contrasts"]
    found = re.search(r"by ([+-][\d.]+) .* by ([+-][\d.]+) .*difference ([+-][\d.]+) \[", contrast)
    assert found, contrast
    without, with_, difference = (float(v) for v in found.groups())
    assert abs(without - 0.8) < 0.1 and abs(with_ - 0.1) < 0.1 and difference > 0.5
    assert "Near r = 0.5 (between rates 0.4 and 0.6)" in local
    assert (
        "Pre-training, slight changes, classes" in (tmp_path / "report" / "report.md").read_text()
    )


def test_skew_scale_is_the_downstream_factor_of_a_multiclass_sweep() -> None:
    from bias_sweep.report.downstream import with_downstream_rate

    trials = pd.DataFrame({"rate": [0.5] * 3, "data.skew_scale": [0.0, 0.5, 1.0]})
    out, notes = with_downstream_rate(trials)
    assert out["rate"].tolist() == [0.5, 0.75, 1.0] and "data.skew_scale" in notes[0]
    binary = pd.DataFrame({"rate": [0.1, 0.9], "data.skew_scale": [1.0, 1.0]})
    assert with_downstream_rate(binary) == (binary, [])
