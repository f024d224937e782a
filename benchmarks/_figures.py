"""Figures in and out: a benchmark's child processes report them, one JSON file keeps them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Real comments for the throughput benchmarks: ../shared/data beside the clone, as for the tests
# (Conversation AI identity-term templates, Dixon et al. 2018, CC BY 4.0).
TOXICITY_CSV = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "conversationai"
    / "toxicity_nonfuzzed_testset.csv"
)


def write_figures(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=float) + "\n")
    print(f"figures: {path}")


def timed(cmd: list[str], what: str | None = None) -> tuple[float, str]:
    """(wall seconds end to end, stdout) of a command; its output tails and an error if it fails."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stdout[-4000:], proc.stderr[-4000:], sep="\n", file=sys.stderr)
        raise RuntimeError(f"{what or ' '.join(cmd[:4])} exited {proc.returncode}")
    return wall, proc.stdout


def run_child(cmd: list[str], what: str) -> dict[str, Any]:
    """Run a child that prints its figures as JSON on its last line; add its wall time (end to
    end, interpreter start included) as process_wall_s."""
    wall, stdout = timed(cmd, what)
    figs = json.loads(stdout.strip().splitlines()[-1])
    figs["process_wall_s"] = wall
    return figs
