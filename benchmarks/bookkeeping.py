"""Bookkeeping overhead of a sweep: N trials whose work is a fixed 1 s, ours beside bare Ray Tune.

The analogue of Ray Tune's own release test (release/tune_tests/scalability_tests/workloads/
test_bookkeeping_overhead.py: 10,000 trials of 1 s each on 16 CPUs, 715 s against 625 s ideal,
about 14% overhead), run as variants side by side, each in a fresh process with its own Ray:

- `bare`: Ray Tune alone, its anchor: a function trainable that sleeps 1 s and reports once,
  `reuse_actors=True`, 1 CPU a trial, no checkpoint, Tune's default callbacks; started on the same
  embedded Ray as ours (`start_local_ray`), so the difference is what our layer adds.
- `ours`: every trial through the real driver (`sweep.driver._drive`: the embedded Ray, the
  Tuner, the driver lock, the progress line, the results table) and the real trainable
  (`sweep.trainable.trainable`: its result.json check, state.json, the W&B run, a checkpoint after
  its one epoch, error handling, the W&B summary); only the science (`trial.run_trial`) is
  replaced, inside each worker, by 1 s of sleep that reports one epoch through the trial's hooks
  and returns a result and predictions, which the trainable writes as for a real trial.
- ablations and Tune settings, as `BASE[:MOD...]`: `ours:no-checkpoint` (the stand-in reports no
  epoch: no training-state save, no Tune checkpoint), `ours:no-callbacks` (the driver's progress
  and JSON-log callbacks swapped for no-ops), and any `KEY=VALUE` (an environment variable set
  before Ray starts, e.g. `ours:TUNE_MAX_PENDING_TRIALS_PG=4`).

    python benchmarks/bookkeeping.py [--n 600] [--tracking disabled|offline]
                                     [--variants bare ours ...] [--rounds 1]

Each trial marks its times on a shared clock (its first line, after its imports, start and end
of the 1 s, its final report), so each variant's overhead splits into: start-up (the run's start
to the first trial's entry: Ray's start, Tune's set-up and the first actor, the actor's imports),
the tail (the last final report to the end: Tune's wind-down, Ray's shutdown), and per trial:
`pre` (entry to the work: config, state.json, the W&B run), `post` (the work's end to the final
report: the epoch's checkpoint, the trial's files, the W&B summary) and `gap` (a final report to
the next trial's first line on that slot: the result's trip to the driver, Tune's processing and
callbacks, the actor's reset). The driver's callbacks are timed too. Targets on 2 CPUs: ours
within 5 points of bare (W&B disabled), within 15 (offline).
Exits non-zero only on a crash.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _figures import run_child, write_figures  # benchmarks/ on sys.path as a script

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
WORK_S = 1.0
TARGETS = {"disabled": 0.05, "offline": 0.15}  # points of overhead beyond bare Ray Tune's
TIMELINE_ENV = "BOOKKEEPING_TIMELINE"  # the folder where every trial marks its times
SKIP_ENV = "BOOKKEEPING_SKIP"  # parts the stand-in leaves out (ablations), comma-separated
MARKS = ("begin", "enter", "work_start", "work_end", "exit")  # a trial's times, in order


def mark(key: str, event: str) -> None:
    """One line per event on the shared wall clock, appended to the worker's own file."""
    folder = os.environ.get(TIMELINE_ENV)
    if folder:
        line = json.dumps({"key": key, "pid": os.getpid(), "event": event, "t": time.time()})
        with open(Path(folder) / f"{os.getpid()}.jsonl", "a") as f:
            f.write(line + "\n")


def one_second_trial(cfg, *, store=None, hooks=None):  # noqa: ANN001
    """Stands in for `trial.run_trial`: 1 s of work, one epoch reported through the hooks
    (so the trainable checkpoints it), then what run_trial returns (the trainable writes it)."""
    import pandas as pd
    import torch

    from bias_sweep.identity import to_dict, trial_key
    from bias_sweep.metrics import metric_keys
    from bias_sweep.trial import TrialOutput

    key = trial_key(cfg)
    mark(key, "work_start")
    t0 = time.perf_counter()
    time.sleep(WORK_S)
    mark(key, "work_end")
    state = {"model": {"w": torch.zeros(16)}, "epoch": 1}
    skip = os.environ.get(SKIP_ENV, "").split(",")
    if hooks is not None and hooks.on_epoch is not None and "checkpoint" not in skip:
        hooks.on_epoch(1, state, {"loss": 0.5, "epoch": 1, "samples_per_s": 1.0})
    # The columns of a real predictions table that the W&B run's tables read.
    predictions = pd.DataFrame(
        {
            "text": ["a", "b", "c", "d"],
            "label": [0, 1, 0, 1],
            "score": [0.2, 0.8, 0.3, 0.7],
            "pred": [0, 1, 0, 1],
            "group": ["male", "male", "female", "female"],
        }
    )
    intrinsic = {"kind": "none", "value": 0.0}
    result = {
        "trial_key": key,
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
    value, so the swap happens in the worker that runs it). Its final report (done=True) ends
    the trial at once, so the trial's exit is marked as that report is made."""
    key = config["trial"]
    mark(key, "begin")
    from bias_sweep.sweep import trainable  # its imports (torch, transformers): once per worker

    mark(key, "enter")
    if not hasattr(trainable, "unmarked_report"):  # an actor runs many trials
        trainable.unmarked_report = trainable._report

    def report(metrics: dict) -> None:
        if metrics.get("done"):
            mark(key, "exit")
        trainable.unmarked_report(metrics)

    trainable._report = report
    trainable.run_trial = one_second_trial
    trainable.trainable(config, sweep, hooks)


def bare_trainable(config: dict) -> None:
    """Ray Tune's anchor: sleep 1 s, report once (as Tune's release test does), with the same
    marks as ours (its exit as it reports)."""
    from ray import tune

    key = str(config["i"])
    mark(key, "begin")
    mark(key, "enter")
    mark(key, "work_start")
    time.sleep(WORK_S)
    mark(key, "work_end")
    mark(key, "exit")
    tune.report({"score": 1.0})


class CallbackClock:
    """Seconds the driver spends in each callback hook (the driver is this process)."""

    spent: dict[str, float] = {}

    @classmethod
    def timed(cls, base: type) -> type:
        """A subclass of the callback class `base` whose on_* hooks add up their time."""

        def wrap(name: str, fn):  # noqa: ANN001, ANN202
            def hook(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
                t0 = time.perf_counter()
                try:
                    return fn(self, *args, **kwargs)
                finally:
                    label = f"{base.__name__}.{name}"
                    cls.spent[label] = cls.spent.get(label, 0.0) + time.perf_counter() - t0

            return hook

        hooks = {n: wrap(n, getattr(base, n)) for n in dir(base) if n.startswith("on_")}
        return type(f"Timed{base.__name__}", (base,), hooks)


def run_ours(n: int, root: Path, tracking: str, mods: list[str]) -> dict:
    from ray import tune

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
    ray_init = {}
    start_ray = driver._start_ray

    def timed_start_ray(address: str | None) -> bool:
        t0 = time.time()
        try:
            return start_ray(address)
        finally:
            ray_init["s"] = time.time() - t0

    driver._start_ray = timed_start_ray
    if "no-callbacks" in mods:
        driver.ProgressCallback = lambda progress, first_run: tune.Callback()
        driver.JsonLoggerCallback = tune.Callback
    else:
        driver.ProgressCallback = CallbackClock.timed(driver.ProgressCallback)
        driver.JsonLoggerCallback = CallbackClock.timed(driver.JsonLoggerCallback)
    plan = make_plan(conf)
    plan.cached_interventions = plan.intervention_keys  # nothing to build
    t0 = time.time()
    code = driver._drive(
        plan, None, None, fresh=True
    )  # starts and stops its own Ray, as a run does
    done = len(list((root / "bookkeeping" / "trials").glob("*/result.json")))
    return {
        "start": t0,
        "end": time.time(),
        "done": done,
        "exit_code": code,
        "ray_init_s": ray_init["s"],
    }


def run_bare(n: int, root: Path) -> dict:
    import ray
    from ray import tune

    from bias_sweep.sweep.local_ray import start_local_ray

    t0 = time.time()
    start_local_ray(log_to_driver=False, logging_level="ERROR", configure_logging=True)
    ray_s = time.time() - t0
    tuner = tune.Tuner(
        tune.with_resources(bare_trainable, {"cpu": 1}),
        param_space={"i": tune.grid_search(list(range(n)))},
        tune_config=tune.TuneConfig(reuse_actors=True),
        run_config=tune.RunConfig(name="bare", storage_path=str(root / "tune"), verbose=0),
    )
    grid = tuner.fit()
    done = sum(r.error is None for r in grid)
    ray.shutdown()
    return {"start": t0, "end": time.time(), "done": done, "exit_code": 0, "ray_init_s": ray_s}


def child(variant: str, n: int, root: Path, tracking: str) -> dict:
    """One run of a variant; prints its figures as JSON on the last line."""
    # W&B's environment wins over tracking.mode (issue 22): the caller's WANDB_MODE (CI sets
    # offline) would otherwise time another variant than the one named.
    os.environ["WANDB_MODE"] = tracking
    base, *mods = variant.split(":")
    for mod in mods:
        if "=" in mod:  # set before Ray starts: its workers inherit it
            key, value = mod.split("=", 1)
            os.environ[key] = value
    os.environ[TIMELINE_ENV] = str(root / "timeline")
    os.environ[SKIP_ENV] = ",".join(m.removeprefix("no-") for m in mods if m.startswith("no-"))
    (root / "timeline").mkdir(parents=True)
    run = run_bare(n, root) if base == "bare" else run_ours(n, root, tracking, mods)
    return {**run, **timeline_figures(root / "timeline", run), "callbacks_s": CallbackClock.spent}


def timeline_figures(folder: Path, run: dict) -> dict:
    """Start-up (split), tail and the per-trial split (pre, post, gap) from the trials' marks."""
    events: dict[str, dict[str, float]] = {}
    pid_of: dict[str, int] = {}
    for f in folder.glob("*.jsonl"):
        for line in f.read_text().splitlines():
            e = json.loads(line)
            events.setdefault(e["key"], {})[e["event"]] = e["t"]
            pid_of[e["key"]] = e["pid"]
    by_pid: dict[int, list[dict[str, float]]] = {}
    for key, e in events.items():
        if set(e) == set(MARKS):
            by_pid.setdefault(pid_of[key], []).append(e)
    trials = [e for runs in by_pid.values() for e in runs]
    gaps = []
    for runs in by_pid.values():
        runs.sort(key=lambda e: e["enter"])
        gaps += [b["begin"] - a["exit"] for a, b in zip(runs, runs[1:], strict=False)]
    first = min(trials, key=lambda e: e["begin"])
    last = max(e["exit"] for e in trials)

    def mean(values: list[float]) -> float:
        return statistics.fmean(values) if values else float("nan")

    return {
        "wall_s": run["end"] - run["start"],
        "startup_s": first["enter"] - run["start"],
        # of which: Ray's start, then Tune's set-up and the first actor, then its imports
        "startup_ray_s": run["ray_init_s"],
        "startup_tune_s": first["begin"] - run["start"] - run["ray_init_s"],
        "startup_imports_s": first["enter"] - first["begin"],
        "tail_s": run["end"] - last,
        "trials_s": last - first["enter"],
        "pre_s": mean([e["work_start"] - e["enter"] for e in trials]),
        "post_s": mean([e["exit"] - e["work_end"] for e in trials]),
        "gap_s": mean(gaps),
        "worker_processes": len(by_pid),
        "marked": len(trials),
    }


PARTS = ("startup", "per_trial", "tail")  # overhead = the sum of these, in points of the ideal


def summarize(figs: dict, n: int, slots: int) -> dict:
    """Overhead against the ideal N x 1 s / slots, split exactly into start-up (to the first
    trial's entry), per trial (slot time beyond 1 s, from the first entry to the last exit) and
    tail (to the end)."""
    ideal = n * WORK_S / slots
    per_trial = figs["trials_s"] * slots / n - WORK_S
    return {
        "ideal_s": ideal,
        "overhead": figs["wall_s"] / ideal - 1,
        "startup": figs["startup_s"] / ideal,
        "per_trial": per_trial / WORK_S,
        "tail": figs["tail_s"] / ideal,
        "per_trial_s": per_trial,
    }


def report(name: str, figs: dict, s: dict, n: int) -> None:
    callbacks = sum(figs["callbacks_s"].values())
    known = figs["pre_s"] + figs["post_s"] + figs["gap_s"]
    print(
        f"{name:34s} wall {figs['wall_s']:6.1f} s, overhead {s['overhead']:6.1%};"
        f" start-up {figs['startup_s']:4.1f} s (Ray {figs['startup_ray_s']:.1f} + Tune and"
        f" first actor {figs['startup_tune_s']:.1f} + imports {figs['startup_imports_s']:.1f}),"
        f" tail {figs['tail_s']:.1f} s; per trial {s['per_trial_s'] * 1000:4.0f} ms of slot time"
        f" beyond the work: pre {figs['pre_s'] * 1000:.0f} + post {figs['post_s'] * 1000:.0f}"
        f" + gap {figs['gap_s'] * 1000:.0f} + rest {(s['per_trial_s'] - known) * 1000:.0f} ms;"
        f" {figs['done']}/{n} done, {figs['worker_processes']} workers; driver callbacks"
        f" {callbacks:.2f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--tracking", choices=sorted(TARGETS), default="disabled")
    parser.add_argument("--variants", nargs="+", default=["bare", "ours"])
    parser.add_argument("--rounds", type=int, default=1, help="repeat the variants, interleaved")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.n, args.root, args.tracking)))
        return 0

    slots = os.cpu_count() or 1  # the embedded Ray's CPUs; 1 CPU per trial on both sides
    runs: dict[str, list[dict]] = {v: [] for v in args.variants}
    for _ in range(args.rounds):  # interleaved, so a slow spell of the machine hits all alike
        for variant in args.variants:
            root = Path(tempfile.mkdtemp(prefix="bench-bk-"))
            try:
                cmd = [sys.executable, __file__, "--child", variant, "--n", str(args.n)]
                cmd += ["--root", str(root), "--tracking", args.tracking]
                figs = run_child(cmd, variant)
            finally:
                shutil.rmtree(root, ignore_errors=True)
            figs["summary"] = summarize(figs, args.n, slots)
            runs[variant].append(figs)
            report(variant, figs, figs["summary"], args.n)
    median = {
        v: {k: statistics.median(r["summary"][k] for r in rs) for k in ("overhead", *PARTS)}
        for v, rs in runs.items()
    }
    print(
        f"{args.n} trials of {WORK_S:g} s on {slots} slots, tracking {args.tracking} (ours);"
        f" medians of {args.rounds} round(s), points of the ideal {args.n * WORK_S / slots:g} s:"
    )
    for variant, m in median.items():
        print(
            f"  {variant:34s} overhead {m['overhead']:6.1%} = start-up {m['startup'] * 100:.1f}"
            f" + per trial {m['per_trial'] * 100:.1f} + tail {m['tail'] * 100:.1f}"
        )
    target = TARGETS[args.tracking]
    if "bare" in median and "ours" in median:
        ours, bare = median["ours"], median["bare"]
        diff = ours["overhead"] - bare["overhead"]
        parts = ", ".join(f"{k.replace('_', ' ')} {(ours[k] - bare[k]) * 100:+.1f}" for k in PARTS)
        print(
            f"RATIO overhead ours - bare = {diff * 100:+.1f} points (target <= {target * 100:.0f}):"
            f" {parts}; {'OK' if diff <= target else 'MISSED'}"
        )
    record = {
        "benchmark": "bookkeeping",
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}),"
        f" load average {os.getloadavg()[0]:.1f} at the end",
        "trials": args.n,
        "tracking": args.tracking,
        "slots": slots,
        "target_points_over_bare": target,
        "median": {v: {k: round(x, 4) for k, x in m.items()} for v, m in median.items()},
        "runs": runs,
    }
    write_figures(args.json or RESULTS / f"bookkeeping-{args.tracking}.json", record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
