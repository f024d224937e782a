"""Bookkeeping overhead of a sweep: N trials whose work is a fixed 1 s, through the product's path.

The analogue of Ray Tune's own release test (release/tune_tests/scalability_tests/workloads/
test_bookkeeping_overhead.py: 10,000 trials of 1 s each on 16 CPUs, 715 s against 625 s ideal,
about 14% overhead). Here every trial goes through the real driver (`sweep.driver._drive`: the
embedded Ray, the Tuner, the driver lock, the progress line, the results table) and the real
trainable (`sweep.trainable.trainable`: its result.json check, state.json, the W&B run, a
checkpoint after its one epoch, error handling, the W&B summary); only the science
(`trial.run_trial`) is replaced, inside each worker, by 1 s of sleep that reports one epoch
through the trial's hooks and writes result.json and predictions.parquet as a trial does.

    python benchmarks/bookkeeping.py [--n 600] [--tracking disabled|offline]

Prints the wall time, the ideal (N x 1 s / concurrent slots), overhead = wall / ideal - 1, the
same without the driver's fixed start-up, and how many worker processes ran the N trials (each
pays torch's and transformers' imports once). Targets on 2 CPUs with N = 600: overhead <= 10%
without W&B, <= 20% with W&B offline. Exits non-zero only on a crash.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _figures import run_child, write_figures  # benchmarks/ on sys.path as a script

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
WORK_S = 1.0
TARGETS = {"disabled": 0.10, "offline": 0.20}


def one_second_trial(cfg, *, store=None, hooks=None):  # noqa: ANN001
    """Stands in for `trial.run_trial`: 1 s of work, one epoch reported through the hooks
    (so the trainable checkpoints it), then what run_trial returns (the trainable writes it)."""
    import pandas as pd
    import torch

    from bias_sweep.identity import to_dict, trial_key
    from bias_sweep.metrics import metric_keys
    from bias_sweep.trial import TrialOutput

    t0 = time.perf_counter()
    time.sleep(WORK_S)
    state = {"model": {"w": torch.zeros(16)}, "epoch": 1}
    if hooks is not None and hooks.on_epoch is not None:
        hooks.on_epoch(1, state, {"loss": 0.5, "epoch": 1, "samples_per_s": 1.0})
    predictions = pd.DataFrame({"text": ["a", "b"], "label": [0, 1], "score": [0.2, 0.8]})
    intrinsic = {"kind": "none", "value": 0.0}
    result = {
        "trial_key": trial_key(cfg),
        "sweep": cfg.sweep.name,
        "config": to_dict(cfg),
        "realised_rate": cfg.data.rate,
        "intrinsic_bias": {"before": intrinsic, "after": intrinsic},
        "intervention_key": "none",
        "metrics": dict.fromkeys(metric_keys(), 0.0),
        "timings": {"total_s": time.perf_counter() - t0},
    }
    return TrialOutput(result, predictions)


def bookkeeping_trainable(config: dict, sweep: dict, hooks: object) -> None:
    """The real trainable with the science swapped out (defined in __main__: Ray ships it by
    value, so the swap happens in the worker that runs it)."""
    from bias_sweep.sweep import trainable

    trainable.run_trial = one_second_trial
    trainable.trainable(config, sweep, hooks)


def child(n: int, root: Path, tracking: str) -> dict:
    """One driver run of n one-second trials; prints its figures as JSON on the last line."""
    t_start = time.perf_counter()
    from bias_sweep.config import load_config
    from bias_sweep.sweep import driver
    from bias_sweep.sweep.plan import make_plan

    conf = load_config(
        None,
        [
            f"sweep.grid.seed=[{','.join(map(str, range(n)))}]",
            "sweep.name=bookkeeping",
            f"sweep.storage={root}",
            f"tracking.mode={tracking}",
            "sweep.max_failures=0",
        ],
    )
    driver._in_worker = bookkeeping_trainable  # the driver itself is unchanged
    plan = make_plan(conf)
    plan.cached_interventions = plan.intervention_keys  # nothing to build
    import ray  # started by the driver itself (its _start_ray), like a real run

    t0 = time.perf_counter()
    code = driver._drive(plan, None, None, fresh=True)
    drive_s = time.perf_counter() - t0
    assert not ray.is_initialized()
    trials = (root / "bookkeeping" / "trials").glob("*/result.json")
    results = [json.loads(p.read_text()) for p in trials]
    pids = {r["worker_pid"] for r in results}  # every trial records the process that ran it
    return {
        "trials": n,
        "done": len(results),
        "exit_code": code,
        "drive_s": drive_s,
        "child_s": time.perf_counter() - t_start,
        "worker_processes": len(pids),
    }


def first_start(root: Path) -> float:
    """Seconds from the driver's start (driver.json) to the first trial's start (state.json)."""
    folder = root / "bookkeeping"
    started = json.loads((folder / "driver.json").read_text())["started"]
    starts = [json.loads(p.read_text())["since"] for p in folder.glob("trials/*/state.json")]
    return min(starts) - started if starts else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--tracking", choices=sorted(TARGETS), default="disabled")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.n, args.root, args.tracking)))
        return 0

    root = Path(tempfile.mkdtemp(prefix="bench-bk-"))
    try:
        cmd = [sys.executable, __file__, "--child", "--n", str(args.n), "--root", str(root)]
        figs = run_child([*cmd, "--tracking", args.tracking], "child")
        slots = os.cpu_count() or 1  # the embedded Ray's CPUs; sweep.resources.cpu = 1 per trial
        ideal = args.n * WORK_S / slots
        startup = first_start(root)
        overhead = figs["drive_s"] / ideal - 1
        running = (figs["drive_s"] - startup) / ideal - 1
        target = TARGETS[args.tracking]
        print(
            f"{args.n} trials of {WORK_S:g} s, tracking {args.tracking}, {slots} slots:"
            f" wall {figs['drive_s']:.1f} s (driver run; {figs['process_wall_s']:.1f} s with the"
            f" interpreter), ideal {ideal:.1f} s; start-up to the first trial {startup:.1f} s;"
            f" {figs['done']}/{args.n} done, exit {figs['exit_code']}"
        )
        print(
            f"RATIO overhead = wall / ideal - 1 = {overhead:.1%} (target <= {target:.0%});"
            f" without the fixed start-up {running:.1%}; per trial"
            f" {(figs['drive_s'] - ideal) * slots / args.n * 1000:.0f} ms of slot time"
        )
        print(
            f"worker processes: {figs['worker_processes']} for {figs['done']} trials"
            " (torch and transformers imported once per worker)"
        )
        record = {
            "benchmark": "bookkeeping",
            "when": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}),"
            f" load average {os.getloadavg()[0]:.1f} at the end",
            "tracking": args.tracking,
            "slots": slots,
            "ideal_s": ideal,
            "startup_s": round(startup, 2),
            "overhead": round(overhead, 4),
            "overhead_after_startup": round(running, 4),
            "target": target,
            **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in figs.items()},
        }
        write_figures(args.json or RESULTS / f"bookkeeping-{args.tracking}.json", record)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
