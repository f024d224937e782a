"""`bias-sweep run SWEEP --until-decided`: run the sweep, ask the planner (`bias-sweep next`,
`report.statistics.planner`) whether the primary metric's verdict is decided, and if not grow the
grid by the round it asks for (new `intervention.seed` and `seed` values) and run again, within a
budget of runs or hours. Each round is appended to the sweep's `rounds.json`, which the report
quotes (how the design was reached and by which stopping rule).

Above both the sweep and the report layers (it drives one and reads the other), so that neither
imports the other.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from bias_sweep.config import grid_axes
from bias_sweep.errors import UserError
from bias_sweep.report.load import load_sweep, read_rounds
from bias_sweep.report.statistics.planner import TARGET_WIDTH, Step, next_step
from bias_sweep.sweep.cost import BUILD, TOTAL, local_slots
from bias_sweep.sweep.driver import run_sweep
from bias_sweep.sweep.layout import SweepFolder
from bias_sweep.sweep.plan import make_plan

STOPPING_RULE = "the CI width of the share difference (alpha is not spent across rounds)"


@dataclass(frozen=True)
class Budget:
    """At most `trials` runs in all, or `hours` of wall time for the whole loop."""

    trials: int | None = None
    hours: float | None = None

    def check(self) -> None:
        if (self.trials is None) == (self.hours is None):
            raise UserError(
                "--until-decided needs one budget: --budget-trials N or --budget-hours H"
            )
        if self.trials is not None and self.trials < 1:
            raise UserError(f"--budget-trials: {self.trials} is not a positive number of runs")
        if self.hours is not None and not self.hours > 0:
            raise UserError(f"--budget-hours: {self.hours} is not a positive number of hours")

    def as_trials(self, trials: Any, started: float, slots: int) -> int:
        """The budget in runs: as given, or the runs done plus what the hours left allow at the
        measured time of a run (with its share of the builds) on the local slots."""
        if self.trials is not None:
            return self.trials
        seconds = float(np.median(trials[TOTAL])) if TOTAL in trials.columns else math.inf
        left = self.hours * 3600 - (time.monotonic() - started)
        return len(trials) + max(0, int(left * slots / max(seconds, 1e-9)))


def measured_build_cost(trials: Any) -> float:
    """An intervened model's build in units of one run's own time (the planner's c_build)."""
    if not {TOTAL, BUILD, "intervention_key"} <= set(trials.columns):
        return 1.0
    own = float(np.median((trials[TOTAL] - trials[BUILD]).clip(lower=0)))
    build = float(np.median(trials.groupby("intervention_key")[BUILD].max()))
    return build / own if own > 0 else 1.0


def grown(conf: DictConfig, add: dict[str, list[int]]) -> DictConfig:
    """The config with the round's values added to its grid axes (an axis is created from the
    fixed value where the sweep had none). Only the grown axes are rewritten, each as one dotted
    key (its nested spelling, which `config.grid_axes` would let win, removed), so that every
    other axis keeps the values, and types, that its finished trials' keys were hashed from."""
    axes = grid_axes(conf)
    out = conf.copy()  # keeps the schema: values typed as the trials' keys were (0 -> 0.0)
    for axis, values in add.items():
        before = axes.get(axis, [OmegaConf.select(conf, axis)])
        out.sweep.grid.pop(axis, None)
        *parents, leaf = axis.split(".")
        node = OmegaConf.select(out.sweep.grid, ".".join(parents)) if parents else None
        if isinstance(node, DictConfig):
            node.pop(leaf, None)
        out.sweep.grid[axis] = sorted({*before, *values})
    return out


def _record(folder: SweepFolder, entry: dict[str, Any]) -> None:
    rounds = read_rounds(folder)
    rounds.append(entry)
    tmp = folder.rounds.with_suffix(".tmp")
    tmp.write_text(json.dumps(rounds, indent=2))
    tmp.replace(folder.rounds)


def run_until_decided(
    conf: DictConfig,
    budget: Budget,
    metric: str | None = None,
    target_width: float | None = None,
    **run: Any,
) -> int:
    """Rounds of `run_sweep` (run: its keyword arguments) until the planner says decided or the
    budget is spent; prints one line per round and the outcome."""
    budget.check()
    width = TARGET_WIDTH if target_width is None else target_width
    if not 0 < width <= 2:
        raise UserError(f"--target-width: {width} is not in (0, 2] (a width of a share difference)")
    metric = metric or conf.report.primary_metric
    folder = SweepFolder.of(conf)
    started, round_no = time.monotonic(), len(read_rounds(folder))
    run = {**run, "resume_existing": True}  # a sweep that exists continues its rounds
    before = -1
    while True:
        code = run_sweep(conf, **run)
        if code != 0:
            return code
        run = {**run, "recompute": False, "overwrite": False}
        trials = load_sweep(folder.root).trials
        slots = local_slots(make_plan(conf, folder))
        step = next_step(
            trials, budget.as_trials(trials, started, slots), metric, width,
            build_cost=measured_build_cost(trials),
        )  # fmt: skip
        if step.runs <= before:  # a round that ran nothing new would repeat for ever
            print(f"bias-sweep: round {round_no} added no finished runs ({step.runs}); stopping")
            return 1
        before = step.runs
        round_no += 1
        _record(folder, _entry(round_no, step, metric, width))
        print(f"round {round_no}: {step.runs} runs; {_said(step)}", flush=True)
        if step.status != "next":
            rounds = f"{round_no} round{'s' * (round_no != 1)}"
            print(f"{step.status}: {step.verdict_text()} after {rounds} and {step.runs} runs")
            return 0
        conf = grown(conf, step.add)


def _said(step: Step) -> str:
    if step.status != "next":
        return step.text()
    added = ", ".join(f"{axis} + {values}" for axis, values in step.add.items())
    return f"undecided ({step.verdict_text()}): adding {added} ({step.runs_added} runs)"


def _entry(round_no: int, step: Step, metric: str, width: float) -> dict[str, Any]:
    return {
        "round": round_no, "runs": step.runs, "status": step.status, "metric": metric,
        "verdicts": step.verdicts, "ci_widths": step.widths, "target_width": width,
        "added": step.add, "stopping_rule": STOPPING_RULE,
    }  # fmt: skip
