"""`bias-sweep plan --pilot`: one trial of a new grid's first point, with its intervened model's
build, in a child process capped in time and in a temporary folder (the sweep is not touched);
its timings cost the whole grid (`cost.pilot_estimate`)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bias_sweep.errors import UserError
from bias_sweep.sweep.cost import local_slots, pilot_estimate
from bias_sweep.sweep.plan import Plan


def pilot_lines(plan: Plan, words: list[str], seconds: float) -> list[str]:
    """Run the pilot (`words`: the sweep file and its overrides) and say what the grid costs."""
    point = [f"{k}={v}" for k, v in plan.points[0].items()]
    with tempfile.TemporaryDirectory(prefix="bias-sweep-pilot-") as tmp:
        command = [sys.executable, "-m", "bias_sweep.cli", "trial", *words, *point, "--out", tmp]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=seconds)
        except subprocess.TimeoutExpired:
            return [f"  pilot: one trial (with its build) takes more than {seconds:g} s"]
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"--pilot: the pilot trial failed: {tail}")
        timings = json.loads((Path(tmp) / "result.json").read_text())["timings"]
    cost = pilot_estimate(plan, timings)
    line = cost.line(local_slots(plan)).replace("(from 1 finished trials", "(from the pilot")
    return [
        f"  pilot: one trial {timings['total_s']:.1f} s, its build {timings['intervention_s']:.1f} s",
        "  " + line,
    ]
