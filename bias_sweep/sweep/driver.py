"""The driver: Ray, one Tune experiment per run, signals, and resume from the sweep's own files.

Every driver run (first, `resume`, a grown grid's `run`, `rerun`) is a fresh Tune experiment
(`tune/run-NNN`) over the points without a result, and a trial continues from the newest
checkpoint that any earlier run of it left (a rerun: of the runs after it was asked for).
Tune's experiment state is not written atomically (a SIGKILL during its save leaves a truncated
file, and `Tuner.restore` then runs a broken search state), so resume does not depend on it.
Errored trials get a fresh retry budget.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import ray
from omegaconf import DictConfig, OmegaConf
from ray import tune
from ray.tune.logger import JsonLoggerCallback

from bias_sweep.config import read_saved
from bias_sweep.errors import UserError
from bias_sweep.files import Timeout, file_lock, write_json_atomic
from bias_sweep.identity import to_dict
from bias_sweep.sweep.grow import grown_plan
from bias_sweep.sweep.layout import (
    EXIT_FAILED_TRIALS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    SweepFolder,
)
from bias_sweep.sweep.local_ray import start_local_ray
from bias_sweep.sweep.plan import Plan, describe_plan, make_plan, prepare_new, trial_order
from bias_sweep.sweep.progress import Progress, ProgressCallback
from bias_sweep.sweep.rerun import current_result, mark_reruns, select_trials
from bias_sweep.sweep.results import rebuild_table
from bias_sweep.sweep.stale_ray import clear_mark, new_mark, record_mark, stop_stale
from bias_sweep.sweep.status import driver_running
from bias_sweep.sweep.wandb_runs import wandb_instance
from bias_sweep.tracking import newest_offline_runs, resolved_mode

if TYPE_CHECKING:
    from bias_sweep.sweep.trainable import AttemptHooks  # imports torch: only in the workers

_interrupted = False


def _on_terminate(signum: int, frame: Any) -> None:
    """SIGTERM (preemption) and SIGUSR1 (Slurm's warning): stop gracefully, keep the state."""
    global _interrupted
    first = not _interrupted
    _interrupted = True
    if first:
        print(f"[bias-sweep] signal {signum}: stopping, saving state", file=sys.stderr, flush=True)
    if signum != signal.SIGUSR1:
        # Tune stops gracefully on SIGUSR1 (and saves its experiment state) once fit() runs.
        signal.raise_signal(signal.SIGUSR1)


def _in_worker(config: dict[str, Any], sweep: dict[str, Any], hooks: Any) -> None:
    """What Tune runs in a worker: the trainable, imported there. The driver never trains, so it
    never imports torch and transformers (10 s of its start-up on 2 loaded cores, before Ray)."""
    from bias_sweep.sweep.trainable import trainable

    trainable(config, sweep, hooks)


def _import_trainable() -> None:
    """Ray's setup hook in every worker of the sweep."""
    import bias_sweep.sweep.trainable  # noqa: F401


class _DeliverEarlySignal(tune.Callback):
    """A signal that came after our handler was set but before `fit()` set Tune's own (Ray's
    start, the tuner's set-up) would be lost: hand it to Tune at its first step."""

    delivered = False

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        if _interrupted and not self.delivered:
            self.delivered = True
            signal.raise_signal(signal.SIGUSR1)


@contextlib.contextmanager
def _driver_lock(folder: SweepFolder, name: str) -> Iterator[None]:
    """One driver per sweep: a second `run`/`resume` of the same sweep is refused, not mixed in."""
    try:
        lock = file_lock(folder.driver_lock, timeout=0)
        lock.acquire()
    except Timeout:
        try:
            who = json.loads(folder.driver_file.read_text())
            who = f" (pid {who['pid']} on {who['host']})"
        except (OSError, json.JSONDecodeError, KeyError):
            who = ""
        raise UserError(f"sweep '{name}' is being run by another driver{who}") from None
    try:
        write_json_atomic(
            folder.driver_file,
            {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()},
        )
        yield
    finally:
        lock.release()


def _start_ray(address: str | None) -> bool:
    """Connect to a cluster (address, RAY_ADDRESS) or start an embedded one bound to loopback."""
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    # Workers inherit the driver's environment: a W&B service token left there (e.g. by a
    # notebook's wandb.init) would make every worker share that one service, which refuses a
    # resumed run whose killed predecessor it still holds ("run ID ... is in use").
    os.environ.pop("WANDB_SERVICE", None)
    address = address or os.environ.get("RAY_ADDRESS")
    common = {"log_to_driver": False, "logging_level": "ERROR", "configure_logging": True}
    if address:
        ray.init(address=address, **common)  # a Ray job's own runtime_env stays as submitted
    else:
        # Each worker imports the trainable (torch, transformers) as it starts, while Tune sets
        # up, not when its first trial begins: 6 s less start-up at 200 trials on 2 cores
        # (benchmarks/bookkeeping.py). Every server on loopback, no dashboard.
        hook = {"worker_process_setup_hook": _import_trainable}
        start_local_ray(runtime_env=hook, **common)
    return True


def check_resources(conf: DictConfig) -> None:
    """Fail fast when no node can ever hold one trial, instead of waiting forever for it."""
    res = conf.sweep.resources
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    if any(n.get("CPU", 0) >= res.cpu and n.get("GPU", 0) >= res.gpu for n in nodes):
        return
    total = ray.cluster_resources()
    have = f"CPU={total.get('CPU', 0):g}, GPU={total.get('GPU', 0):g} over {len(nodes)} node(s)"
    if res.wait:
        print(
            f"[bias-sweep] no node has cpu={res.cpu:g} gpu={res.gpu:g} yet ({have});"
            " sweep.resources.wait: waiting for the cluster to add one",
            flush=True,
        )
        return
    short = "gpu" if res.gpu > max((n.get("GPU", 0) for n in nodes), default=0) else "cpu"
    raise UserError(
        f"sweep.resources.{short}: each trial asks for cpu={res.cpu:g} gpu={res.gpu:g}, but no node"
        f" of the Ray cluster has that ({have}); lower it, run where those resources exist, or"
        " set sweep.resources.wait=true on an autoscaling cluster"
    )


def _tuner(plan: Plan, progress: Progress, hooks: AttemptHooks | None, instance: str) -> tune.Tuner:
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    # A failed attempt is one line from ProgressCallback (its traceback is in the trial's
    # error.txt), not Tune's multi-line dump.
    os.environ.setdefault("TUNE_PRINT_ALL_TRIAL_ERRORS", "0")
    conf = plan.conf
    res = conf.sweep.resources
    order = trial_order(plan)
    point_of = dict(zip(plan.keys, plan.points, strict=True))
    # Tune's config is only the trial key: Tune deep-copies the whole grid spec for every trial
    # it generates, so a grid of points costs O(n^2) (4 s at 1,000 trials, minutes at 10,000);
    # the points go to the workers once, through the object store.
    sweep = {
        "conf": to_dict(conf),
        "path": str(plan.folder.root),
        "cpu": res.cpu,
        "points": {key: point_of[key] for key in order},
        "wandb_instance": instance,
    }
    fn = tune.with_resources(
        tune.with_parameters(_in_worker, sweep=sweep, hooks=hooks), {"cpu": res.cpu, "gpu": res.gpu}
    )

    def dirname(trial: Any) -> str:
        return f"{trial.config['trial']}-{trial.trial_id}"

    runs = plan.folder.tune_runs()
    number = (runs[-1] if runs else 0) + 1
    return tune.Tuner(
        fn,
        param_space={"trial": tune.grid_search(order)},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=conf.sweep.max_concurrent_trials or None,
            reuse_actors=True,  # torch/transformers import once per worker, not per trial
            trial_dirname_creator=dirname,
        ),
        run_config=tune.RunConfig(
            name=plan.folder.tune_run(number),  # one Tune experiment per driver run
            storage_path=str(plan.folder.tune),
            failure_config=tune.FailureConfig(max_failures=conf.sweep.max_failures),
            # Keep every checkpoint as far as Tune knows (the progress callback deletes all but a
            # trial's newest): with num_to_keep set, Tune writes and syncs its whole experiment
            # state after every trial checkpoint, O(trials) each time, ~1 s a trial at 600
            # trials (benchmarks/bookkeeping.py). Resume reads the sweep's own files, not that.
            checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
            # Tune's JSON log per trial, not its CSV and TensorBoard copies (an fsync per result
            # each, for files nobody reads: W&B and results.parquet are the record).
            callbacks=[
                ProgressCallback(progress, first_run=number == 1),
                JsonLoggerCallback(),
                _DeliverEarlySignal(),
            ],
            verbose=0,
        ),
    )


def run_sweep(
    conf: DictConfig,
    *,
    address: str | None = None,
    overwrite: bool = False,
    resume_existing: bool = False,
    recompute: bool = False,
    hooks: AttemptHooks | None = None,
) -> int:
    """`bias-sweep run`: start a new sweep, or grow an existing one to the edited grid (the new
    points run; finished trials are kept; a change of what existing trials compute is refused
    unless `recompute`); an unchanged existing sweep is continued with `resume_existing`, else
    refused. `hooks` are called in the workers at each trial attempt (tests inject faults)."""
    folder = SweepFolder.of(conf)
    if folder.exists and not overwrite:
        # Everything checked (an identity change refused) before anything is written. The
        # grown grid's new points run in a new Tune experiment beside the earlier ones; the W&B
        # instance is kept, so the finished trials' runs stay the sweep's, never duplicated.
        grown = grown_plan(conf, folder, resume_existing, recompute)
        if grown is None:  # the same config, and resume_existing
            return resume_sweep(folder, address=address, hooks=hooks)
        return _drive(grown, address, hooks, fresh=False)
    plan = prepare_new(conf, overwrite=overwrite)
    return _drive(plan, address, hooks, fresh=True, overwrite=overwrite)


def resume_sweep(
    folder: SweepFolder, *, address: str | None = None, hooks: AttemptHooks | None = None
) -> int:
    """`bias-sweep resume`: continue a stopped, killed or partly failed sweep, in the folder it
    is in now (a moved or copied sweep works where it is, whatever its sweep.storage says)."""
    return _drive(make_plan(read_saved(folder.sweep_file), folder), address, hooks, fresh=False)


def rerun_sweep(
    folder: SweepFolder,
    where: list[str],
    *,
    address: str | None = None,
    hooks: AttemptHooks | None = None,
) -> int:
    """`bias-sweep rerun`: run the grid's trials that match `where` again, with fresh W&B runs;
    their previous results stay in place until the new ones are written (`sweep.rerun`)."""
    plan = make_plan(read_saved(folder.sweep_file), folder)
    keys = select_trials(plan, where)  # a bad --where: one line, before anything starts

    def mark(plan: Plan) -> Plan:
        mark_reruns(plan.folder, keys, where)
        print(
            f"[bias-sweep] rerun: {len(keys)} trials match {' '.join(where)}; their previous"
            " results stay until the new ones are written (then in trials/<key>/superseded/)",
            flush=True,
        )
        return make_plan(plan.conf, plan.folder)

    return _drive(plan, address, hooks, fresh=False, before=mark)


def _drive(
    plan: Plan,
    address: str | None,
    hooks: AttemptHooks | None,
    fresh: bool,
    overwrite: bool = False,
    before: Callable[[Plan], Plan] | None = None,
) -> int:
    """Run a plan's unfinished trials; `before`: what to do under the driver's lock first (a
    rerun's marks), returning the plan to run."""
    conf = plan.conf
    stop_signals = (signal.SIGTERM, signal.SIGUSR1)
    previous = {s: signal.signal(s, _on_terminate) for s in stop_signals}
    started_ray = False
    mark = None
    try:
        if plan.folder.exists and not driver_running(plan.folder):
            _stop_stale(plan.folder)
        if not (address or os.environ.get("RAY_ADDRESS")):
            mark = new_mark()
        started_ray = _start_ray(address)
        # ray.init sets its own SIGTERM handler (exit at once): a preemption must stop us cleanly.
        signal.signal(signal.SIGTERM, _on_terminate)
        check_resources(conf)
        with _driver_lock(plan.folder, conf.sweep.name):
            if mark is not None and started_ray:
                record_mark(plan.folder, mark)
            if fresh and overwrite:
                for sub in plan.folder.outputs:
                    shutil.rmtree(sub, ignore_errors=True)
                checked = plan
                plan = make_plan(conf)
                plan.data_checks, plan.eval_sets = checked.data_checks, checked.eval_sets
            if before is not None:
                plan = before(plan)
            OmegaConf.save(conf, plan.folder.sweep_file)
            # A new W&B id for a new sweep or one started over: never the old runs' ids.
            instance = wandb_instance(plan.folder, renew=fresh)
            return _execute(plan, hooks, instance)
    finally:
        if started_ray:
            ray.shutdown()
        clear_mark()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_stale(folder: SweepFolder) -> None:
    pids = stop_stale(folder)
    if pids:
        print(
            f"[bias-sweep] stopped {len(pids)} Ray processes that a killed driver of this sweep"
            f" left running (pids {', '.join(map(str, pids))})",
            flush=True,
        )


def _execute(plan: Plan, hooks: AttemptHooks | None, instance: str) -> int:
    conf = plan.conf
    mode = resolved_mode(conf.tracking.mode)
    for line in describe_plan(plan):
        print(line, flush=True)
    progress = Progress(plan)
    remaining = len(plan.keys) - len(plan.done)
    errored: set[str] = set()
    if remaining and not _interrupted:
        tuner = _tuner(plan, progress, hooks, instance)
        try:
            grid = tuner.fit()
        except Exception:
            if not _interrupted:
                raise
            grid = []  # preempted: Slurm stopped Ray under us; the saved state is what counts
        for result in grid:
            if result.error is not None and result.config:
                errored.add(result.config["trial"])
    progress.show(0, len(errored), force=True)
    if progress.tty:
        print()
    return _summary(plan, mode, errored)


def _summary(plan: Plan, mode: str, errored: set[str]) -> int:
    """Print where everything went; the exit code (0 done, 1 failed trials, 75 to be resumed)."""
    folder = plan.folder
    rebuild_table(folder)
    # Of this grid only: a grown sweep keeps finished trials of points no longer in it.
    done = sum(1 for key in plan.keys if current_result(folder.trial(key)) is not None)
    total = len(plan.keys)
    aside = f"; {plan.set_aside} set aside (outside the grid)" if plan.set_aside else ""
    print(f"[bias-sweep] {done}/{total} trials done, {len(errored)} failed{aside}", flush=True)
    print(f"  results:  {folder.table} (trial folders in {folder.trials})")
    if mode != "disabled":
        runs = newest_offline_runs(folder.wandb)
        hint = f" (upload: bias-sweep sync {plan.conf.sweep.name})" if mode == "offline" else ""
        print(f"  W&B:      {folder.wandb} ({len(runs)} offline runs){hint}")
    print(f"  status:   bias-sweep status {folder.root}")
    print(f"  report:   bias-sweep report {folder.root}", flush=True)
    if _interrupted or (done < total and len(errored) < total - done):
        return EXIT_INTERRUPTED
    return EXIT_FAILED_TRIALS if errored else EXIT_OK
