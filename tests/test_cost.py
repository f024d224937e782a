"""The estimate of what is left of a sweep (issue 24 item 3), from finished trials' timings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bias_sweep.sweep.cost import BUILD, TOTAL, estimate


def finished_trials() -> pd.DataFrame:
    """cda on tiny-bert: trials of 10/20/30 s of their own; its two intervened models took 100
    and 200 s to build (their other trials loaded them in 1 s). none: 5 s trials, 1 s loads."""
    rows = []
    for key, build in (("k1", 100.0), ("k2", 200.0)):
        for i, own in enumerate((10.0, 20.0, 30.0)):
            b = build if i == 0 else 1.0
            rows.append(("tiny-bert", "cda", key, own + b, b))
    rows += [("tiny-bert", "none", "k0", 5.0 + 1.0, 1.0)] * 3
    return pd.DataFrame(rows, columns=["model", "method", "intervention_key", TOTAL, BUILD])


def left(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["model", "method", "intervention_key"])


def test_each_method_is_costed_from_its_own_trials_and_builds() -> None:
    pending = left([("tiny-bert", "cda", "k3")] * 4 + [("tiny-bert", "none", "k0")] * 2)
    builds = left([("tiny-bert", "cda", "k3")])
    got = estimate(finished_trials(), pending, builds, cpu_per_trial=2, gpu_per_trial=0)
    own = np.quantile([10, 20, 30, 10, 20, 30], [0.25, 0.5, 0.75])
    build = np.quantile([100, 200], [0.25, 0.5, 0.75])
    want = 4 * own + 2 * 5.0 + build
    assert got.work_s == pytest.approx(tuple(want))
    assert got.trials_left == 6 and got.builds_left == 1 and got.finished == 9
    assert got.hours(2) == pytest.approx(tuple(2 * w / 3600 for w in want))
    line = got.line(slots=2)
    assert line.startswith("estimate: 6 trials and 1 intervened-model builds left, about ")
    assert "CPU-hours" in line and "GPU-hours" not in line and "costed from all" not in line


def test_a_method_without_finished_trials_is_costed_from_all_and_said() -> None:
    pending = left([("tiny-bert", "skew", "k9")])
    got = estimate(finished_trials(), pending, left([]), cpu_per_trial=1, gpu_per_trial=1)
    everything = (finished_trials()[TOTAL] - finished_trials()[BUILD]).to_numpy()
    assert got.work_s == pytest.approx(tuple(np.quantile(everything, [0.25, 0.5, 0.75])))
    assert got.fallbacks == ["skew on tiny-bert"]
    assert "GPU-hours" in got.line(1) and "skew on tiny-bert costed from all" in got.line(1)


def test_no_finished_trial_no_estimate() -> None:
    assert estimate(finished_trials().iloc[:0], left([]), left([]), 1, 0) is None


def test_plan_pilot_costs_the_whole_grid_from_one_trial(tmp_path, ray_env) -> None:  # noqa: ANN001
    """`plan --pilot` runs one trial with its build in a child process, writes nothing into the
    sweep, and costs the grid (4 trials, 2 intervened models) from its timings."""
    from conftest import QUICKSTART, SMALL, cli

    grid = ["sweep.grid.intervention.strength=[0.5]", "sweep.grid.intervention.seed=[0,1]",
            "sweep.grid.data.rate=[0.1,0.9]", "sweep.grid.seed=[0]"]  # fmt: skip
    args = [f"sweep.storage={tmp_path}", "sweep.name=pilot", *SMALL, *grid]
    proc = cli(["plan", str(QUICKSTART), *args, "--pilot", "300"], ray_env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "  pilot: one trial " in proc.stdout
    assert "estimate: 4 trials and 2 intervened-model builds left" in proc.stdout
    assert "(from the pilot)" in proc.stdout and not (tmp_path / "pilot").exists()
    proc = cli(["plan", str(QUICKSTART), *args, "--pilot", "0"], ray_env, tmp_path)
    assert proc.returncode == 2 and "--pilot: 0" in proc.stderr
