"""The sweep driver at scale: plan, run, status and report on large grids, without training.

1. plan on 10,000 trials: `make_plan` in-process and `bias-sweep plan` as a subprocess
   (target <= 5 s each);
2. the run's driver overhead: the real driver (`sweep.driver._drive`: lock, Tune with the same
   Tuner settings, progress callback, results table) with the trainable swapped for a trivial one that
   only reports, on a local Ray that declares fake resources (`--fake-cpus` logical CPUs, 64 GPUs)
   so that many trials run at once on 2 real cores. Two sizes are run; the judged figure is the
   marginal driver time per trial, (wall(N) - wall(N_small)) / (N - N_small), which removes Ray's
   fixed start-up, and also wall / N. Driver peak memory is the child driver's own max RSS
   (`resource.getrusage`; Ray's processes excluded). The driver's own CPU time per trial is
   reported beside the wall time: on 2 real cores the wall time also waits for Ray's workers
   to run the trivial trials (actor reset, report), which is not driver work.
   Targets: <= 20 ms per trial, <= 2 GiB;
   10,000 real Tune trials would take too long on 2 CPUs, so N defaults to 1,000;
3. status and report on 10,000 finished trials (report_scale's synthetic result.json fixture):
   `bias-sweep status` and `bias-sweep report` as subprocesses (target <= 30 s each).

    python benchmarks/scale.py [--trials 1000] [--small-trials 200] [--fake-cpus 8] [--skip-run]

Prints figures and ratios to the targets; exits non-zero only on a crash.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _figures import run_child, timed, write_figures  # benchmarks/ on sys.path as a script

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
RESULTS = HERE / "results"
TARGET_PLAN_S = 5.0
TARGET_PER_TRIAL_MS = 20.0
TARGET_MEM_GIB = 2.0
TARGET_STATUS_S = 30.0


def trivial(config: dict, sweep: dict, hooks: object) -> None:
    """Stands in for `sweep.trainable.trainable`: one report, nothing else (defined in
    __main__, so Ray ships it by value to the workers)."""
    from ray import tune

    tune.report({"done": True, "skipped": False})


def _cpu_s() -> float:
    """CPU seconds of this process (all its threads: Tune's controller and Ray's client)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(n: int, root: Path, fake_cpus: int) -> dict:
    """One driver run of n trivial trials; prints its figures as JSON on the last line."""
    import ray

    from bias_sweep.config import load_config
    from bias_sweep.sweep import driver
    from bias_sweep.sweep.plan import make_plan

    conf = load_config(
        None,
        [
            f"sweep.grid.seed=[{','.join(map(str, range(n)))}]",
            "sweep.name=scale-run",
            f"sweep.storage={root}",
            "tracking.mode=disabled",
            "sweep.max_failures=0",
        ],
    )
    t0 = time.perf_counter()
    ray.init(
        address="local",
        num_cpus=fake_cpus,
        num_gpus=64,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        logging_level="ERROR",
    )
    ray_s = time.perf_counter() - t0
    driver._in_worker = trivial  # the driver under test is unchanged; only the work is trivial
    t0 = time.perf_counter()
    plan = make_plan(conf)
    plan.cached_interventions = plan.intervention_keys  # the trivial trainable builds nothing
    plan_s = time.perf_counter() - t0
    cpu0 = _cpu_s()
    t0 = time.perf_counter()
    code = driver._drive(plan, None, None, fresh=True)
    drive_s = time.perf_counter() - t0
    drive_cpu_s = _cpu_s() - cpu0
    ray.shutdown()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {
        "trials": n,
        "exit_code": code,
        "ray_init_s": ray_s,
        "plan_s": plan_s,
        "drive_s": drive_s,
        "drive_cpu_s": drive_cpu_s,
        "peak_rss_gib": rss / 2**30,
    }


def run_driver_child(n: int, root: Path, fake_cpus: int) -> dict:
    cmd = [sys.executable, __file__, "--child", str(n), "--root", str(root)]
    return run_child([*cmd, "--fake-cpus", str(fake_cpus)], "driver child")


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 - linear script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--small-trials", type=int, default=200)
    parser.add_argument("--fake-cpus", type=int, default=8)
    parser.add_argument("--skip-run", action="store_true", help="only plan/status/report")
    parser.add_argument("--json", type=Path, default=RESULTS / "scale.json")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        figs = child(args.child, args.root, args.fake_cpus)
        print(json.dumps(figs))
        return 0

    from report_scale import write_fixture

    from bias_sweep.config import load_config
    from bias_sweep.sweep.plan import make_plan

    cli = [sys.executable, "-m", "bias_sweep.cli"]
    record: dict = {
        "benchmark": "scale",
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}),"
        " shared with other jobs",
    }
    root = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        # 1 and 3: a 10,000-trial sweep folder with every trial finished (synthetic results).
        t0 = time.perf_counter()
        folder = write_fixture(root / "fixture", 50)
        print(f"fixture: 10,000-trial sweep folder in {time.perf_counter() - t0:.1f} s")
        conf = load_config(str(folder / "sweep.yaml"), [])
        t0 = time.perf_counter()
        plan = make_plan(conf)
        plan_s = time.perf_counter() - t0
        plan_cli_s, _ = timed([*cli, "plan", str(folder / "sweep.yaml")])
        n_plan = len(plan.keys)
        print(
            f"plan on {n_plan} trials: make_plan {plan_s:.2f} s, `bias-sweep plan` {plan_cli_s:.2f} s"
            f" (RATIO to the {TARGET_PLAN_S:.0f} s target: {plan_s / TARGET_PLAN_S:.2f},"
            f" {plan_cli_s / TARGET_PLAN_S:.2f})"
        )
        status_s, _ = timed([*cli, "status", str(folder)])
        (folder / "results.parquet").unlink(missing_ok=True)
        report_s, _ = timed([*cli, "report", str(folder)])
        print(
            f"status on 10,000 finished trials: {status_s:.1f} s; report (cold table):"
            f" {report_s:.1f} s (RATIO to the {TARGET_STATUS_S:.0f} s target:"
            f" {status_s / TARGET_STATUS_S:.2f}, {report_s / TARGET_STATUS_S:.2f})"
        )
        record.update(
            plan_trials=n_plan,
            make_plan_s=round(plan_s, 3),
            plan_cli_s=round(plan_cli_s, 3),
            status_cli_s=round(status_s, 3),
            report_cli_s=round(report_s, 3),
            target_plan_s=TARGET_PLAN_S,
            target_status_report_s=TARGET_STATUS_S,
        )
        shutil.rmtree(root / "fixture", ignore_errors=True)

        # 2: the driver on trivial trials, two sizes.
        if not args.skip_run:
            runs = {}
            for n in (args.small_trials, args.trials):
                runs[n] = run_driver_child(n, root / f"run-{n}", args.fake_cpus)
                r = runs[n]
                print(
                    f"driver, {n} trivial trials on {args.fake_cpus} fake CPUs: drive"
                    f" {r['drive_s']:.1f} s ({1000 * r['drive_s'] / n:.1f} ms/trial), driver CPU"
                    f" {r['drive_cpu_s']:.1f} s ({1000 * r['drive_cpu_s'] / n:.1f} ms/trial), ray.init"
                    f" {r['ray_init_s']:.1f} s, make_plan {r['plan_s']:.2f} s, peak driver RSS"
                    f" {r['peak_rss_gib']:.2f} GiB, exit {r['exit_code']}"
                )
            a, b = runs[args.small_trials], runs[args.trials]
            marginal_ms = 1000 * (b["drive_s"] - a["drive_s"]) / (args.trials - args.small_trials)
            cpu_ms = (
                1000 * (b["drive_cpu_s"] - a["drive_cpu_s"]) / (args.trials - args.small_trials)
            )
            mem = max(r["peak_rss_gib"] for r in runs.values())
            print(
                f"RATIO driver overhead per trial (marginal) = {marginal_ms:.1f} ms /"
                f" {TARGET_PER_TRIAL_MS:.0f} ms target = {marginal_ms / TARGET_PER_TRIAL_MS:.2f};"
                f" amortized over {args.trials}: {1000 * b['drive_s'] / args.trials:.1f} ms"
            )
            print(
                f"RATIO driver CPU per trial (marginal) = {cpu_ms:.1f} ms /"
                f" {TARGET_PER_TRIAL_MS:.0f} ms target = {cpu_ms / TARGET_PER_TRIAL_MS:.2f}"
                " (the driver's own work; the wall figure above also waits for Ray's workers"
                f" to run the trivial trials on {os.cpu_count()} real cores)"
            )
            print(
                f"RATIO driver peak memory = {mem:.2f} GiB / {TARGET_MEM_GIB:.0f} GiB ="
                f" {mem / TARGET_MEM_GIB:.2f}"
            )
            record.update(
                driver_runs={
                    str(k): {kk: round(v, 4) for kk, v in r.items()} for k, r in runs.items()
                },
                fake_cpus=args.fake_cpus,
                driver_marginal_ms_per_trial=round(marginal_ms, 2),
                driver_amortized_ms_per_trial=round(1000 * b["drive_s"] / args.trials, 2),
                driver_cpu_marginal_ms_per_trial=round(cpu_ms, 2),
                driver_peak_rss_gib=round(mem, 3),
                target_ms_per_trial=TARGET_PER_TRIAL_MS,
                target_mem_gib=TARGET_MEM_GIB,
            )
        write_figures(args.json, record)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
