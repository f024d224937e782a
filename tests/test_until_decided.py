"""`run --until-decided` (issue 24 item 4): rounds of a real sweep (local Ray, offline W&B) grown
by the planner until decided or the budget is spent; the grown grid's config; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import QUICKSTART, SMALL, cli

from bias_sweep.config import grid_axes, load_config, read_saved
from bias_sweep.errors import UserError
from bias_sweep.sweep.grid import expand_grid
from bias_sweep.sweep.grow import compare_grids
from bias_sweep.sweep.layout import SweepFolder
from bias_sweep.until_decided import Budget, grown

START = [
    "sweep.grid.intervention.strength=[0,1]",
    "sweep.grid.intervention.seed=[0,1]",
    "sweep.grid.data.rate=[0.1,0.9]",
    "sweep.grid.seed=[0]",
]


def test_grown_grid_adds_values_and_keeps_the_finished_points_keys(tmp_path: Path) -> None:
    """Axes given nested (CLI) or dotted (YAML), ints where the schema has floats: the grown
    config adds the values and every earlier point keeps its trial key (none recomputed)."""
    conf = load_config(QUICKSTART, [*START, f"sweep.storage={tmp_path}", "sweep.name=g"])
    more = grown(conf, {"intervention.seed": [2, 3], "seed": [1]})
    axes = grid_axes(more)
    assert axes["intervention.seed"] == [0, 1, 2, 3] and axes["seed"] == [0, 1]
    assert axes["intervention.strength"] == grid_axes(conf)["intervention.strength"]
    assert len(expand_grid(more)) == 4 * len(expand_grid(conf))
    folder = SweepFolder(tmp_path / "g")
    change = compare_grids(conf, more, folder)
    assert (change.added, change.kept, change.recomputed) == (24, 8, 0)
    fixed = load_config(QUICKSTART, ["sweep.grid.seed=[0]", "intervention.seed=5"])
    fixed.sweep.grid.pop("intervention.seed")
    assert grid_axes(grown(fixed, {"intervention.seed": [6]}))["intervention.seed"] == [5, 6]


@pytest.mark.parametrize(
    ("budget", "named"),
    [(Budget(), "--budget-trials N or --budget-hours H"), (Budget(3, 1.0), "one budget"),
     (Budget(0), "--budget-trials"), (Budget(hours=-1.0), "--budget-hours")],
)  # fmt: skip
def test_a_budget_is_one_positive_number(budget: Budget, named: str) -> None:
    with pytest.raises(UserError, match=named.replace("-", "-")):
        budget.check()


def test_budget_without_until_decided_is_refused(tmp_path: Path, ray_env: dict) -> None:
    proc = cli(["run", str(QUICKSTART), "--budget-trials", "9"], ray_env, tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "--budget-trials/--budget-hours: only with --until-decided" in proc.stderr
    assert not (tmp_path / "bias-sweep-runs").exists()


@pytest.mark.slow
def test_until_decided_grows_the_sweep_in_rounds(tmp_path: Path, ray_env: dict) -> None:
    """8 runs first; each round the planner's values are added to the grid and only the new
    trials run; it ends decided or at the budget, says after how many rounds and runs, records
    each round in rounds.json, and the report quotes them."""
    args = [f"sweep.storage={tmp_path}", "sweep.name=ud", *SMALL, "tracking.mode=offline", *START]
    proc = cli(["run", str(QUICKSTART), *args, "--until-decided", "--budget-trials", "20"],
               ray_env, tmp_path, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    folder = SweepFolder(tmp_path / "ud")
    rounds = json.loads(folder.rounds.read_text())
    last = rounds[-1]
    assert rounds[0]["runs"] == 8 and last["status"] in ("decided", "budget spent")
    assert [r["round"] for r in rounds] == list(range(1, len(rounds) + 1))
    assert all(r["runs"] < s["runs"] for r, s in zip(rounds, rounds[1:], strict=False))
    assert last["runs"] <= 20 and len(list(folder.trials.glob("*/result.json"))) == last["runs"]
    final = proc.stdout.strip().splitlines()[-1]
    plural = "s" * (len(rounds) != 1)
    assert final.endswith(f"after {len(rounds)} round{plural} and {last['runs']} runs"), final
    saved = grid_axes(read_saved(folder.sweep_file))
    for entry in rounds[:-1]:
        for axis, values in entry["added"].items():
            assert set(values) <= set(saved[axis])
    proc = cli(["report", str(folder.root), "--no-plots"], ray_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "design reached by `run --until-decided`" in (folder.report / "report.md").read_text()
