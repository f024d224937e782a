"""`bias-sweep status`: which grid cells are done, running, failed or pending, and why."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bias_sweep.config import read_saved
from bias_sweep.files import Timeout, file_lock
from bias_sweep.sweep.layout import ERROR_FILE, RESULT_FILE, STATE_FILE, SweepFolder
from bias_sweep.sweep.plan import make_plan

SYMBOLS = {"done": "D", "running": "R", "failed": "F", "pending": "."}


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
        return json.loads((folder / STATE_FILE).read_text()).get("status") == "running"
    except (OSError, json.JSONDecodeError):
        return False


def trial_states(sweep: SweepFolder) -> pd.DataFrame:
    """One row per grid point: its axes, key, state and latest error line."""
    plan = make_plan(read_saved(sweep.sweep_file))
    live = driver_running(sweep)
    rows = []
    for columns, key in zip(plan.columns, plan.keys, strict=True):
        folder = sweep.trial(key)
        error = ""
        if (folder / RESULT_FILE).exists():
            state = "done"
        elif (folder / ERROR_FILE).exists() and not (live and _is_running(folder)):
            state = "failed"
            error = (folder / ERROR_FILE).read_text().splitlines()[0]
        elif live and _is_running(folder):
            state = "running"
        else:
            state = "pending"
        rows.append({**columns, "trial_key": key, "state": state, "error": error})
    return pd.DataFrame(rows)


def status_lines(sweep: SweepFolder, errors: int = 20) -> list[str]:
    states = trial_states(sweep)
    counts = states["state"].value_counts()
    lines = [
        f"sweep at {sweep.root}: "
        + ", ".join(f"{counts.get(s, 0)} {s}" for s in SYMBOLS)
        + f" of {len(states)} trials"
        + (" (driver running)" if driver_running(sweep) else "")
    ]
    cell_axes = [c for c in states.columns if c not in ("seed", "trial_key", "state", "error")]
    cells = (
        states.assign(mark=states["state"].map(SYMBOLS))
        .groupby(cell_axes, sort=False, dropna=False)["mark"]
        .agg("".join)
        .reset_index()
        .rename(columns={"mark": "seeds"})
    )
    lines.append("cells (per seed: D done, R running, F failed, . pending):")
    lines += ["  " + line for line in cells.to_string(index=False).splitlines()]
    failed = states[states["state"] == "failed"]
    for _, row in failed.head(errors).iterrows():
        lines.append(f"  failed {row['trial_key']}: {row['error']}")
    if len(failed) > errors:
        lines.append(f"  ... and {len(failed) - errors} more failed trials")
    return lines
