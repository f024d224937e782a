"""What Ray Tune orchestration costs: `bias-sweep run` vs the same trials in a plain Python loop.

The quickstart grid (18 trials; `--small` for 4) is run three ways, one after another, with the
model and data cache warmed first so that no variant pays for building the tiny model:

- sweep: `bias-sweep run` in a subprocess, fresh storage (Ray start-up, Tune trials that build
  each intervened model once and share it, W&B offline runs, a checkpoint per epoch, results
  table);
- loop: `run_trial` for each grid point in a fresh Python process, no Ray, no W&B, torch
  single-threaded as a Ray worker is, one ArtifactStore for all trials (each unique intervention
  built once). Both sides are timed end to end as commands, interpreter start and imports
  included; the loop's time after its imports is reported beside it;
- naive loop (reported, not judged): the same loop with a fresh store per trial, so every trial
  builds its own intervened model.

It checks that the sweep and the loop give the same metrics for every trial key, and reports the
per-trial overhead of the sweep outside useful work (each trial's own steps and each
intervention build once; waiting for another trial's build is not useful work):
    overhead/trial = (sweep wall x slots - sum(total_s - intervention_s) - sum(built_s)) / n
plus the part of it inside Tune trials (Tune's time_total_s of a trial - its run_trial total_s:
actor start-up, W&B, checkpoints) and the driver's fixed cost (Ray start-up and shutdown).

    python benchmarks/orchestration.py [--small] [--no-naive] [--json PATH] [key=value ...]

Targets (2 CPUs): sweep wall <= 0.75 x loop wall; overhead per trial <= 1 s.
Prints the figures and ratios; exits non-zero only on a crash.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from _figures import run_child, write_figures  # benchmarks/ is on sys.path as a script

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parents[1]
SWEEP_FILE = ROOT / "sweeps" / "quickstart.yaml"
SMALL = [
    "sweep.grid.intervention.strength=[0.0,1.0]",
    "sweep.grid.intervention.seed=[0]",
    "sweep.grid.data.rate=[0.1,0.9]",
    "sweep.grid.seed=[0]",
]
TARGET_RATIO = 0.75
TARGET_OVERHEAD_S = 1.0
RESULTS = Path(__file__).resolve().parent / "results"


def _conf(overrides: list[str], storage: Path):
    from bias_sweep.config import load_config

    return load_config(str(SWEEP_FILE), [*overrides, f"sweep.storage={storage}"])


def warm_cache(conf) -> None:
    """Build (or find) the tiny model and the task data once, outside every timing."""
    from bias_sweep.caches import cache_root
    from bias_sweep.data import load_task
    from bias_sweep.models import resolve_model_dir
    from bias_sweep.sweep.grid import expand_grid, point_config

    cfg = point_config(conf, expand_grid(conf)[0])
    task = load_task(cfg.data, cfg.seed, cache_dir=cache_root(cfg.cache_dir))
    resolve_model_dir(cfg.model, task, cache_root(cfg.cache_dir))


def run_sweep(overrides: list[str], storage: Path) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "bias_sweep.cli",
        "run",
        str(SWEEP_FILE),
        *overrides,
        f"sweep.storage={storage}",
    ]
    # Ray's temp folder of its own: its session folder's name is when ray.init began
    env = dict(os.environ, PYTHONUNBUFFERED="1", RAY_TMPDIR=str(storage.with_name("ray")))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stdout[-4000:], proc.stderr[-4000:], sep="\n", file=sys.stderr)
        raise RuntimeError(f"bias-sweep run exited {proc.returncode}")
    return {"wall_s": wall, "t_start": time.time() - wall}


def startup_split(folder: Path, ray_tmp: Path, t_start: float) -> dict:
    """Launch to the first trial, split by the times the run leaves in files: Ray's session
    folder (named when ray.init began), driver.json (written once Ray is up) and the first
    trial's state.json (its attempt, early in the trainable). Tune's params.json is no marker of
    the actor's start: its logger callback writes it on the driver, seen 6.8 s after the first
    trial had begun (Ray 2.60, with the worker setup hook)."""
    (session,) = (ray_tmp / "ray").glob("session_2*")
    stamp = session.name.removeprefix("session_").rsplit("_", 1)[0]
    ray_start = datetime.strptime(stamp, "%Y-%m-%d_%H-%M-%S_%f").timestamp()
    ray_up = json.loads((folder / "driver.json").read_text())["started"]
    trial = min(json.loads(p.read_text())["since"] for p in folder.glob("trials/*/state.json"))
    return {
        "cli_and_plan_s": ray_start - t_start,  # interpreter, imports, config, plan, data check
        "ray_init_s": ray_up - ray_start,
        # Tune's set-up, the first actor and its imports, Tune's first call into the trainable
        "tune_to_first_trial_s": trial - ray_up,
    }


def sweep_figures(folder: Path, wall: float, t_start: float, slots: int) -> dict:
    """Per-trial figures from the sweep folder: result.json timings, Tune's progress, builds."""
    from bias_sweep.store import ArtifactStore

    results, starts = {}, []
    for f in (folder / "trials").glob("*/result.json"):
        r = json.loads(f.read_text())
        results[r["trial_key"]] = r
        starts.append(json.loads((f.parent / "state.json").read_text())["since"])
    store = ArtifactStore(folder / "artifacts" / "interventions")
    sum_built = sum(float((store.meta(b["key"]) or {}).get("built_s", 0.0)) for b in store.builds())
    tune_total = {}  # trial key -> Tune's time_total_s of its last report
    for progress in (folder / "tune").glob("*/*/result.json"):
        rows = [json.loads(x) for x in progress.read_text().splitlines() if x.strip()]
        tune_total[progress.parent.name.split("-")[0]] = rows[-1]["time_total_s"]
    n = len(results)
    sum_total = sum(r["timings"]["total_s"] for r in results.values())
    # Useful work: each trial's own steps plus each intervention build once. A trial's
    # intervention_s is its build, or its wait for another trial's build (not useful).
    useful = sum_total - sum(r["timings"]["intervention_s"] for r in results.values()) + sum_built
    first_start = min(starts)
    last_done = max((folder / "trials" / k / "result.json").stat().st_mtime for k in results)
    in_trial = [
        tune_total[k] - results[k]["timings"]["total_s"] for k in results if k in tune_total
    ]
    return {
        "trials": n,
        "slots": slots,
        "sum_trial_total_s": sum_total,
        "intervention_builds": len(store.builds()),
        "sum_built_s": sum_built,
        "useful_s": useful,
        "overhead_per_trial_s": (wall * slots - useful) / n,
        "tune_minus_trial_mean_s": sum(in_trial) / max(len(in_trial), 1),
        "tune_minus_trial_worst_s": max(in_trial, default=0.0),
        "tune_minus_trial_median_s": sorted(in_trial)[len(in_trial) // 2] if in_trial else 0.0,
        "overhead_per_trial_in_trials_phase_s": ((last_done - first_start) * slots - useful) / n,
        "driver_before_first_trial_s": first_start - t_start,
        "trials_phase_s": last_done - first_start,
        "driver_after_last_trial_s": t_start + wall - last_done,
        "metrics": {k: r["metrics"] for k, r in results.items()},
    }


def run_loop(conf, storage: Path, shared_store: bool) -> dict:
    import torch

    from bias_sweep.identity import trial_key
    from bias_sweep.store import ArtifactStore
    from bias_sweep.sweep.grid import expand_grid, point_config
    from bias_sweep.sweep.results import write_trial
    from bias_sweep.trial import run_trial

    torch.set_num_threads(1)  # as in a Ray worker with cpu=1: same floats as the sweep
    points = expand_grid(conf)
    store = ArtifactStore(storage / "artifacts")
    builds = 0
    sum_built = 0.0
    metrics, sum_total = {}, 0.0
    phases: dict[str, float] = {}  # each timing of result.json summed over the trials
    t0, cpu0 = time.perf_counter(), time.process_time()
    for i, point in enumerate(points):
        cfg = point_config(conf, point)
        trial_store = store if shared_store else ArtifactStore(storage / f"artifacts-{i}")
        output = run_trial(cfg, store=trial_store)
        out = storage / "trials" / trial_key(cfg)
        out.mkdir(parents=True, exist_ok=True)
        result = write_trial(out, output, {"point": point})
        metrics[result["trial_key"]] = result["metrics"]
        sum_total += result["timings"]["total_s"]
        for phase, seconds in result["timings"].items():
            phases[phase] = phases.get(phase, 0.0) + seconds
        if not shared_store:
            builds += len(trial_store.builds())
            sum_built += (trial_store.meta(result["intervention_key"]) or {}).get("built_s", 0.0)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if shared_store:
        builds = len(store.builds())
        sum_built = sum((store.meta(b["key"]) or {}).get("built_s", 0.0) for b in store.builds())
    return {
        "wall_s": wall,
        "cpu_s": cpu,  # this process, all its threads: less moved by other jobs than wall
        "phases_s": phases,
        "trials": len(points),
        "intervention_builds": builds,
        "sum_built_s": sum_built,
        "sum_trial_total_s": sum_total,
        "metrics": metrics,
    }


def run_loop_process(overrides: list[str], storage: Path, shared_store: bool) -> dict:
    """The loop as a researcher would run it: a fresh Python process, imports included."""
    cmd = [sys.executable, __file__, "--loop-child", str(storage)]
    cmd += ["--naive"] if not shared_store else []
    return run_child([*cmd, *overrides], "loop process")


def compare(a: dict, b: dict) -> dict:
    common = sorted(set(a) & set(b))
    diffs = [abs(a[k][m] - b[k][m]) for k in common for m in a[k] if m in b[k]]
    equal = sum(a[k] == b[k] for k in common)
    return {
        "trials_compared": len(common),
        "trials_equal": equal,
        "max_abs_diff": max(diffs, default=0.0),
        "missing": len(set(a) ^ set(b)),
    }


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 - linear script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a 4-trial grid: " + " ".join(SMALL))
    parser.add_argument("--no-naive", action="store_true", help="skip the rebuild-per-trial loop")
    parser.add_argument("--json", type=Path, help="write figures here (default results/...)")
    parser.add_argument("overrides", nargs="*", help="extra key=value overrides of the sweep")
    parser.add_argument("--loop-child", type=Path, help=argparse.SUPPRESS)  # storage folder
    parser.add_argument("--naive", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.loop_child:
        loop = run_loop(_conf(args.overrides, args.loop_child), args.loop_child, not args.naive)
        print(json.dumps(loop))
        return 0
    overrides = ([*SMALL] if args.small else []) + args.overrides
    out_json = args.json or RESULTS / f"orchestration{'-small' if args.small else ''}.json"

    root = Path(tempfile.mkdtemp(prefix="bench-orch-"))
    try:
        conf = _conf(overrides, root / "sweep")
        t0 = time.perf_counter()
        warm_cache(conf)
        print(f"cache warm in {time.perf_counter() - t0:.1f} s")
        slots = max(1, int((os.cpu_count() or 1) // float(conf.sweep.resources.cpu)))
        if conf.sweep.max_concurrent_trials:
            slots = min(slots, int(conf.sweep.max_concurrent_trials))

        sweep = run_sweep(overrides, root / "sweep")
        folder = root / "sweep" / conf.sweep.name
        figs = sweep_figures(folder, sweep["wall_s"], sweep["t_start"], slots)
        figs["startup"] = startup_split(folder, root / "ray", sweep["t_start"])
        n = figs["trials"]
        print(
            f"sweep: {n} trials in {sweep['wall_s']:.1f} s wall on {slots} slots;"
            f" {figs['intervention_builds']} intervention builds ({figs['sum_built_s']:.1f} s),"
            f" sum of trial total_s {figs['sum_trial_total_s']:.1f} s"
        )
        print(
            f"  phases: until the first trial starts {figs['driver_before_first_trial_s']:.1f} s"
            f" (CLI, Ray and Tune start-up), trials {figs['trials_phase_s']:.1f} s,"
            f" after the last trial {figs['driver_after_last_trial_s']:.1f} s"
        )
        print(
            "  until the first trial: "
            + ", ".join(f"{k.removesuffix('_s')} {v:.1f} s" for k, v in figs["startup"].items())
        )
        print(
            f"  inside a Tune trial, beyond run_trial: mean {figs['tune_minus_trial_mean_s']:.2f} s,"
            f" median {figs['tune_minus_trial_median_s']:.2f} s,"
            f" worst {figs['tune_minus_trial_worst_s']:.2f} s (actor start-up);"
            f" trials phase x slots - useful work, per trial:"
            f" {figs['overhead_per_trial_in_trials_phase_s']:.2f} s"
        )

        loop = run_loop_process(overrides, root / "loop", shared_store=True)
        print(
            f"loop (no Ray, shared store): {loop['trials']} trials; process {loop['process_wall_s']:.1f} s"
            f" end to end, {loop['wall_s']:.1f} s in the loop after imports;"
            f" {loop['intervention_builds']} intervention builds ({loop['sum_built_s']:.1f} s)"
        )
        print(
            f"  loop CPU {loop['cpu_s']:.1f} s; trials' phases summed: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in loop["phases_s"].items())
        )
        naive = None
        if not args.no_naive:
            naive = run_loop_process(overrides, root / "naive", shared_store=False)
            print(
                f"naive loop (store per trial): {naive['trials']} trials in"
                f" {naive['process_wall_s']:.1f} s; {naive['intervention_builds']} intervention builds"
            )

        same = compare(figs["metrics"], loop["metrics"])
        # Both sides end to end as commands (interpreter start and imports included); the loop's
        # time after its imports is shown beside it.
        ratio = sweep["wall_s"] / loop["process_wall_s"]
        ratio_in_loop = sweep["wall_s"] / loop["wall_s"]
        overhead = figs["overhead_per_trial_s"]
        print(
            f"same results: {same['trials_equal']}/{same['trials_compared']} trials with equal"
            f" metrics (max |diff| {same['max_abs_diff']:.3g}, {same['missing']} missing)"
        )
        print(
            f"RATIO sweep wall / loop wall (both end to end) = {ratio:.2f}"
            f" (target <= {TARGET_RATIO}); {'OK' if ratio <= TARGET_RATIO else 'MISSED'}"
        )
        print(f"  sweep wall / loop time after its imports = {ratio_in_loop:.2f}")
        if naive:
            print(
                f"  sweep wall / naive loop wall = {sweep['wall_s'] / naive['process_wall_s']:.2f}"
            )
        print(
            f"OVERHEAD per trial outside useful work = {overhead:.2f} s"
            f" (target <= {TARGET_OVERHEAD_S} s); {'OK' if overhead <= TARGET_OVERHEAD_S else 'MISSED'}"
        )
        figs.pop("metrics")
        startup = figs.pop("startup")
        record = {
            "benchmark": "orchestration",
            "when": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}),"
            " shared with other jobs",
            "overrides": overrides,
            "sweep_wall_s": round(sweep["wall_s"], 2),
            "loop_process_wall_s": round(loop["process_wall_s"], 2),
            "loop_wall_after_imports_s": round(loop["wall_s"], 2),
            "loop_cpu_s": round(loop["cpu_s"], 2),
            "loop_phases_s": {k: round(v, 2) for k, v in loop["phases_s"].items()},
            "naive_loop_wall_s": round(naive["process_wall_s"], 2) if naive else None,
            "naive_intervention_builds": naive["intervention_builds"] if naive else None,
            "loop_intervention_builds": loop["intervention_builds"],
            "ratio_sweep_over_loop": round(ratio, 3),
            "ratio_sweep_over_loop_after_imports": round(ratio_in_loop, 3),
            "target_ratio": TARGET_RATIO,
            "overhead_per_trial_s": round(overhead, 3),
            "target_overhead_s": TARGET_OVERHEAD_S,
            "same_results": same,
            "sweep": {k: round(v, 3) if isinstance(v, float) else v for k, v in figs.items()},
            "startup_split_s": {k: round(v, 2) for k, v in startup.items()},
        }
        write_figures(out_json, record)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
