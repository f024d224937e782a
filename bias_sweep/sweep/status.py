"""`bias-sweep status`: which grid cells are done, running, failed or pending, and why."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bias_sweep.config import read_saved
from bias_sweep.files import Timeout, file_lock
from bias_sweep.sweep.cost import local_slots, plan_estimate
from bias_sweep.sweep.layout import RESULT_FILE, STATE_FILE, SweepFolder
from bias_sweep.sweep.plan import Plan, make_plan
from bias_sweep.sweep.results import damaged_copies, error_line
from bias_sweep.sweep.stale_ray import stale_processes

SYMBOLS = {"done": "D", "running": "R", "failed": "F", "damaged": "X", "pending": "."}


def driver_running(sweep: SweepFolder) -> bool:
    """True while a driver holds the sweep's lock (works across hosts on a shared filesystem)."""
    if not sweep.driver_lock.exists():
        return False
    try:
        with file_lock(sweep.driver_lock, timeout=0):
            return False
    except Timeout:
        return True


def _is_running(folder: Path) -> bool:
    try:
        state = json.loads((folder / STATE_FILE).read_bytes())
    except (OSError, ValueError):  # ValueError: bad JSON or bad UTF-8
        return False
    return isinstance(state, dict) and state.get("status") == "running"


def _state(folder: Path, done: bool, live: bool) -> tuple[str, str]:
    """A trial's state and its error line (`done`: it has a valid result)."""
    if done:
        return "done", ""
    running = live and _is_running(folder)
    error = error_line(folder)
    if error is not None and not running:
        return "failed", error
    if running:
        return "running", ""
    damaged = damaged_copies(folder)
    if damaged:
        return "damaged", f"damaged {RESULT_FILE} kept aside as {damaged[-1].name}"
    return "pending", ""


def trial_states(sweep: SweepFolder, plan: Plan | None = None) -> pd.DataFrame:
    """One row per grid point: its axes, key, state and latest error line (a trial that a
    `rerun` asked for again is not done until its new result is written)."""
    plan = plan or make_plan(read_saved(sweep.sweep_file), sweep)
    live = driver_running(sweep)
    rows = []
    for columns, key in zip(plan.columns, plan.keys, strict=True):
        state, error = _state(sweep.trial(key), key in plan.done, live)
        rows.append({**columns, "trial_key": key, "state": state, "error": error})
    return pd.DataFrame(rows)


def status_lines(sweep: SweepFolder, errors: int = 20) -> list[str]:
    plan = make_plan(read_saved(sweep.sweep_file), sweep)
    states = trial_states(sweep, plan)
    counts = states["state"].value_counts()
    lines = [
        f"sweep at {sweep.root}: "
        + ", ".join(f"{counts.get(s, 0)} {s}" for s in SYMBOLS)
        + f" of {len(states)} trials"
        + (" (driver running)" if driver_running(sweep) else "")
    ]
    cost = plan_estimate(plan)
    if cost is not None and cost.trials_left:
        lines.append("  " + cost.line(local_slots(plan)))
    if plan.reruns:
        lines.append(
            f"  {plan.reruns} trials asked to rerun: their previous results stay in place (and"
            " in the report) until the new ones are written; `bias-sweep resume` runs them"
        )
    if plan.set_aside:
        lines.append(
            f"  {plan.set_aside} finished trials set aside: outside the current grid (an edit"
            " dropped their points or changed their settings); kept on disk in trials/, left"
            " out of status and the report"
        )
    cell_axes = [c for c in states.columns if c not in ("seed", "trial_key", "state", "error")]
    cells = (
        states.assign(mark=states["state"].map(SYMBOLS))
        .groupby(cell_axes, sort=False, dropna=False)["mark"]
        .agg("".join)
        .reset_index()
        .rename(columns={"mark": "seeds"})
    )
    stale = [] if driver_running(sweep) else stale_processes(sweep)
    if stale:
        lines.append(
            f"  {len(stale)} Ray processes of a killed driver still run (pids"
            f" {', '.join(str(p.pid) for p in stale)}); the next run or resume stops them"
        )
    lines.append("cells (per seed: D done, R running, F failed, X damaged, . pending):")
    lines += ["  " + line for line in cells.to_string(index=False).splitlines()]
    for state, rerun in (("failed", ""), ("damaged", " (resume reruns it)")):
        bad = states[states["state"] == state]
        for _, row in bad.head(errors).iterrows():
            lines.append(f"  {state} {row['trial_key']}: {row['error']}{rerun}")
        if len(bad) > errors:
            lines.append(f"  ... and {len(bad) - errors} more {state} trials")
    return lines
