"""`bias-sweep status`: which grid cells are done, running, failed or pending, and why."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

import pandas as pd

from bias_sweep.config import axis_columns, load_config
from bias_sweep.results import RESULT_FILE
from bias_sweep.sweep import (
    ERROR_FILE,
    STATE_FILE,
    SWEEP_FILE,
    make_plan,
    trial_path,
)

SYMBOLS = {"done": "D", "running": "R", "failed": "F", "pending": "."}


def driver_running(sweep_path: Path) -> bool:
    """True while a driver holds the sweep's lock (works across hosts on a shared filesystem)."""
    lock = Path(sweep_path) / ".driver.lock"
    if not lock.exists():
        return False
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def trial_states(sweep_path: Path) -> pd.DataFrame:
    """One row per grid point: its axes, key, state and latest error line."""
    conf = load_config(Path(sweep_path) / SWEEP_FILE)
    plan = make_plan(conf)
    live = driver_running(sweep_path)
    # The usual axes are always columns, also when a sweep keeps one of them fixed.
    base = {
        "model": conf.model.name,
        "method": conf.intervention.method,
        "strength": conf.intervention.strength,
        "rate": conf.data.rate,
        "seed": conf.seed,
    }
    rows = []
    for point, key in zip(plan.points, plan.keys, strict=True):
        folder = trial_path(sweep_path, key)
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
        rows.append(
            {**base, **axis_columns(point), "trial_key": key, "state": state, "error": error}
        )
    return pd.DataFrame(rows)


def _is_running(folder: Path) -> bool:
    try:
        return json.loads((folder / STATE_FILE).read_text()).get("status") == "running"
    except (OSError, json.JSONDecodeError):
        return False


def status_lines(sweep_path: Path, errors: int = 20) -> list[str]:
    states = trial_states(sweep_path)
    counts = states["state"].value_counts()
    total = len(states)
    lines = [
        f"sweep at {sweep_path}: "
        + ", ".join(f"{counts.get(s, 0)} {s}" for s in SYMBOLS)
        + f" of {total} trials"
        + (" (driver running)" if driver_running(sweep_path) else "")
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
    try:
        from bias_sweep.launch import describe
    except ImportError:
        describe = None
    if describe is not None:
        lines += describe(Path(sweep_path))
    return lines
