"""Ray Tune orchestration: the grid, shared interventions, checkpoints, retries, resume.

The science lives in `trial.py`; this module only decides where and when it runs:
- each grid point is one Tune trial whose function reports every epoch with a checkpoint;
- each unique intervened model is built once, by the first trial that needs it, under the
  store's lock (trials of the same key wait for it); trials are ordered so that the first
  concurrent trials need different keys, so builds run in parallel and training starts as soon
  as a trial's own model is ready, without a stage that waits for every build;
- a trial that finds its own `result.json` returns at once, so nothing finished runs twice;
- the sweep's own files are the state, not Tune's: every driver run (first or `resume`) is a
  fresh Tune experiment over the points without a result, and a trial continues from the newest
  checkpoint that any earlier run of it left. Tune's experiment state is not written atomically
  (a SIGKILL during its save leaves a truncated file, and `Tuner.restore` then runs a broken
  search state), so resume does not depend on it. Errored trials get a fresh retry budget.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from bias_sweep.config import (
    SweepSection,
    axis_columns,
    expand_grid,
    grid_axes,
    load_config,
    sweep_dir,
    to_dict,
    trial_config,
    trial_key,
)
from bias_sweep.errors import UserError
from bias_sweep.results import RESULT_FILE, TABLE_FILE, tidy_row, write_json_atomic
from bias_sweep.store import ArtifactStore
from bias_sweep.tracking import OFFLINE_NOTICE, Run, effective_mode, newest_offline_runs

SWEEP_FILE = "sweep.yaml"
TUNE_DIR = "tune"
TRIALS_DIR = "trials"
ERROR_FILE = "error.txt"
STATE_FILE = "state.json"
DRIVER_FILE = "driver.json"
CHECKPOINT_FILE = "state.pt"
EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: stopped by a signal with its state saved; resume it


def interventions_store(sweep_path: Path) -> ArtifactStore:
    return ArtifactStore(Path(sweep_path) / "artifacts" / "interventions")


def trial_path(sweep_path: Path, key: str) -> Path:
    return Path(sweep_path) / TRIALS_DIR / key


def wandb_group(conf: DictConfig, point: dict[str, Any]) -> str:
    """The trial's config without its seed, so W&B can average over seeds."""
    rest = {k: v for k, v in axis_columns(point).items() if k != "seed"}
    return conf.sweep.name + ":" + ",".join(f"{k}={v}" for k, v in rest.items())


def wandb_config(conf: DictConfig, point: dict[str, Any]) -> dict[str, Any]:
    """Grid axes as flat top-level keys (for W&B's grouping and parallel plots), config nested."""
    flat = {
        "model": conf.model.name,
        "method": conf.intervention.method,
        "strength": conf.intervention.strength,
        "rate": conf.data.rate,
        "seed": conf.seed,
    }
    flat.update(axis_columns(point))
    flat["sweep"] = conf.sweep.name
    flat["cfg"] = to_dict(conf)
    return flat


# ---------------------------------------------------------------------------------------------
# Plan


@dataclass
class Plan:
    conf: DictConfig
    path: Path
    points: list[dict[str, Any]]
    keys: list[str]  # trial keys, one per point
    point_interventions: list[str]  # the intervention key of each point
    done: set[str] = field(default_factory=set)
    cached_interventions: set[str] = field(default_factory=set)

    @property
    def intervention_keys(self) -> set[str]:
        return set(self.point_interventions)

    @property
    def exists(self) -> bool:
        return (self.path / SWEEP_FILE).exists()


def _point_configs(conf: DictConfig) -> Any:
    """point -> the trial's resolved config as a plain dict, equal to
    `to_dict(trial_config(conf, point))`: an OmegaConf config per point costs milliseconds, a
    minute at 10,000 points. Each axis value goes through OmegaConf once, for the schema's types
    (e.g. 0 -> 0.0)."""
    import copy

    from bias_sweep.config import STRENGTHLESS_METHODS

    base = to_dict(conf)
    typed: dict[tuple[str, str], Any] = {}
    field_type: dict[str, type] = {}

    def value(key: str, v: Any) -> Any:
        if field_type.get(key) is type(v) and isinstance(v, (int, float, str)):
            return v  # already of the field's type (e.g. seeds): OmegaConf would keep it as is
        ident = (key, json.dumps(v, sort_keys=True, default=str))
        if ident not in typed:
            one = conf.copy()
            OmegaConf.update(one, key, v, merge=False)
            typed[ident] = OmegaConf.select(one, key)
            if isinstance(typed[ident], (DictConfig, ListConfig)):
                typed[ident] = OmegaConf.to_container(typed[ident], resolve=True)
            if type(typed[ident]) is type(v):
                field_type[key] = type(v)
        return typed[ident]

    def resolved(point: dict[str, Any]) -> dict[str, Any]:
        d = copy.deepcopy(base)
        for key, v in point.items():
            *parents, last = key.split(".")
            node = d
            for part in parents:
                node = node[part]
            node[last] = value(key, v)
        if d["intervention"]["method"] in STRENGTHLESS_METHODS:
            d["intervention"]["strength"] = 0.0
        return d

    return resolved


def make_plan(conf: DictConfig) -> Plan:
    from bias_sweep.trial import intervention_key

    path = sweep_dir(conf)
    points = expand_grid(conf) or [{}]
    keys, ikeys = [], []
    resolved = _point_configs(conf)
    for point in points:
        d = resolved(point)
        keys.append(trial_key(d))
        ikeys.append(intervention_key(d))
    plan = Plan(conf, path, points, keys, ikeys)
    plan.done = {k for k in keys if (trial_path(path, k) / RESULT_FILE).exists()}
    store = interventions_store(path)
    plan.cached_interventions = {k for k in plan.intervention_keys if store.has(k)}
    return plan


def describe_plan(plan: Plan) -> list[str]:
    conf = plan.conf
    axes = grid_axes(conf)
    res = conf.sweep.resources
    lines = [f"sweep '{conf.sweep.name}' at {plan.path}"]
    for key, values in axes.items():
        lines.append(f"  axis {key:<24} {len(values):>4} values: {_short(values)}")
    lines += [
        f"  grid points (fine-tuning trials): {len(plan.points)}"
        + (f" ({len(plan.done)} done)" if plan.exists else ""),
        f"  intervention jobs: {len(plan.intervention_keys)} unique"
        f" ({len(plan.cached_interventions)} cached)",
        f"  resources per trial: cpu={res.cpu:g} gpu={res.gpu:g};"
        f" max concurrent: {conf.sweep.max_concurrent_trials or 'as resources allow'};"
        f" retries per trial: {conf.sweep.max_failures}",
        f"  tracking: W&B {_mode_text(conf.tracking.mode)} (project {conf.tracking.project})",
    ]
    return lines


def _mode_text(mode: str) -> str:
    effective = effective_mode(mode)
    return effective if effective == mode else f"{effective} ({mode} asked, no credentials)"


def _short(values: list[Any], most: int = 8) -> str:
    text = ", ".join(str(v) for v in values[:most])
    return text + (f", ... (+{len(values) - most})" if len(values) > most else "")


# ---------------------------------------------------------------------------------------------
# The Tune trainable (runs on Ray workers)


def _report(metrics: dict[str, Any], checkpoint_dir: str | None = None) -> None:
    from ray import tune

    checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
    tune.report(metrics, checkpoint=checkpoint)


def trainable(config: dict[str, Any], sweep: dict[str, Any]) -> None:
    """One grid point as a Tune function trainable: resumable from its latest checkpoint."""
    import torch
    from ray import tune

    from bias_sweep.training import load_state, save_state
    from bias_sweep.trial import TrialHooks, run_trial

    key = config["trial"]
    point = sweep["points"][key]
    conf = trial_config(OmegaConf.create(sweep["conf"]), point)
    sweep_path = Path(sweep["path"])
    out = trial_path(sweep_path, key)
    done_file = out / RESULT_FILE
    if done_file.exists():  # finished before a kill or preemption: never run it twice
        result = json.loads(done_file.read_text())
        _report({**result["metrics"], "done": True, "skipped": True})
        return
    torch.set_num_threads(max(1, int(sweep["cpu"])))
    checkpoint = tune.get_checkpoint()  # this Tune run's retry of the trial
    resume_state = None
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            resume_state = load_state(Path(folder) / CHECKPOINT_FILE)
    elif (out / STATE_FILE).exists():  # started by an earlier driver run: its newest checkpoint
        resume_state = latest_checkpoint_state(sweep_path, key)
    out.mkdir(parents=True, exist_ok=True)
    attempt = _bump_attempt(
        out, resumed_from=None if resume_state is None else resume_state["epoch"]
    )
    run = Run(
        run_id=key,
        name=f"{conf.sweep.name}-{key}",
        project=conf.tracking.project,
        entity=conf.tracking.entity,
        group=wandb_group(conf, point),
        job_type="finetune",
        tags=[conf.sweep.name],
        config=wandb_config(conf, point),
        directory=sweep_path,
        mode=conf.tracking.mode,
    )
    # The epochs logged so far travel in the checkpoint. Offline, a resumed run is a new folder
    # with the same id and `wandb sync` keeps one folder's history per run (wandb/wandb#3841),
    # so the new folder repeats the earlier epochs: the newest folder holds the whole run.
    history: list[dict[str, Any]] = list((resume_state or {}).get("history", []))
    if run.offline:
        for entry in history:
            run.log(entry["values"], step=entry["step"])

    def on_epoch(epoch: int, state: dict[str, Any], metrics: dict[str, Any]) -> None:
        values = {f"train/{k}": v for k, v in metrics.items()}
        history.append({"step": epoch, "values": values})
        run.log(values, step=epoch)
        with tempfile.TemporaryDirectory() as folder:
            save_state({**state, "history": history}, Path(folder) / CHECKPOINT_FILE)
            _report({**metrics, "done": False}, checkpoint_dir=folder)

    try:
        result = run_trial(
            conf,
            out,
            store=interventions_store(sweep_path),
            hooks=TrialHooks(
                resume_state=resume_state,
                on_epoch=on_epoch,
                extra=_node(),
                on_intervention_built=lambda meta: log_intervention(conf, meta, sweep_path),
            ),
            point=point,
        )
    except BaseException as exc:
        lines = traceback.format_exception_only(type(exc), exc)
        (out / ERROR_FILE).write_text(
            f"attempt {attempt}: {lines[-1].strip()}\n\n" + traceback.format_exc()
        )
        run.finish(exit_code=1)
        raise
    (out / ERROR_FILE).unlink(missing_ok=True)
    summary = {
        **result["metrics"],
        "realised_rate": result["realised_rate"],
        "intrinsic_before": result["intrinsic_bias"]["before"]["value"],
        "intrinsic_after": result["intrinsic_bias"]["after"]["value"],
        **{f"time/{k}": v for k, v in result["timings"].items()},
    }
    run.summarize(summary)
    if run.active:
        import pandas as pd

        run.log_table("predictions", pd.read_parquet(out / "predictions.parquet"))
    run.finish()
    _report({**result["metrics"], "done": True, "skipped": False})


def _node() -> dict[str, Any]:
    """Where the trial ran: nodes of one machine share a hostname, so the Ray node id too."""
    import ray

    return {
        "node_id": ray.get_runtime_context().get_node_id(),
        "node_ip": ray.util.get_node_ip_address(),
    }


def _bump_attempt(out: Path, resumed_from: int | None) -> int:
    state_path = out / STATE_FILE
    try:
        state = json.loads(state_path.read_text())
    except (OSError, json.JSONDecodeError):
        state = {"attempts": 0}
    state["attempts"] += 1
    state.update(status="running", host=socket.gethostname(), since=time.time())
    state["resumed_from_epoch"] = resumed_from
    write_json_atomic(state_path, state)
    return state["attempts"]


def trial_checkpoints(sweep_path: Path, key: str) -> list[Path]:
    """Every checkpoint folder that any driver run of the sweep left for one trial."""
    return sorted(Path(sweep_path, TUNE_DIR).glob(f"*/{key}-*/checkpoint_*"))


def latest_checkpoint_state(sweep_path: Path, key: str) -> dict[str, Any] | None:
    """The training state of the trial's furthest checkpoint; one that cannot be read (cut short
    by a kill while it was copied) is passed over."""
    from bias_sweep.training import load_state

    best = None
    for folder in trial_checkpoints(sweep_path, key):
        try:
            state = load_state(folder / CHECKPOINT_FILE)
        except Exception:  # noqa: BLE001 - truncated or missing: an older checkpoint still serves
            continue
        if best is None or int(state["epoch"]) > int(best["epoch"]):
            best = state
    return best


def log_intervention(conf: DictConfig, meta: dict[str, Any], sweep_path: Path) -> None:
    """A W&B run for an intervened model, by the trial that built it (so exactly one per key)."""
    run = Run(
        run_id=f"iv-{meta['key']}",
        name=f"{conf.sweep.name}-intervention-{meta['key'][:8]}",
        project=conf.tracking.project,
        entity=conf.tracking.entity,
        group=f"{conf.sweep.name}:interventions",
        job_type="intervention",
        tags=[conf.sweep.name],
        config={
            "model": conf.model.name,
            "method": conf.intervention.method,
            "strength": conf.intervention.strength,
            "cfg": meta["settings"],
        },
        directory=Path(sweep_path),
        mode=conf.tracking.mode,
        beside_active=True,  # the building trial's own run stays open
    )
    run.summarize(
        {
            "intrinsic_before": meta["intrinsic_before"]["value"],
            "intrinsic_after": meta["intrinsic_after"]["value"],
            "intrinsic_kind": meta["intrinsic_after"]["kind"],
            "built_s": meta["built_s"],
        }
    )
    run.finish()


# ---------------------------------------------------------------------------------------------
# The driver


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


@contextlib.contextmanager
def _driver_lock(path: Path, name: str) -> Iterator[None]:
    """One driver per sweep: a second `run`/`resume` of the same sweep is refused, not mixed in."""
    path.mkdir(parents=True, exist_ok=True)
    with open(path / ".driver.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                who = json.loads((path / DRIVER_FILE).read_text())
                who = f" (pid {who['pid']} on {who['host']})"
            except (OSError, json.JSONDecodeError, KeyError):
                who = ""
            raise UserError(f"sweep '{name}' is being run by another driver{who}") from None
        write_json_atomic(
            path / DRIVER_FILE,
            {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()},
        )
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _start_ray(address: str | None) -> bool:
    """Connect to a cluster (address, RAY_ADDRESS) or start an embedded one bound to loopback."""
    import ray

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
        ray.init(address=address, **common)
    else:
        # Secure by default: no dashboard, every port on 127.0.0.1.
        # address="local": always a new cluster, never one that happens to run on this machine.
        ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1", **common)
    return True


def check_resources(conf: DictConfig) -> None:
    """Fail fast when no node can ever hold one trial, instead of waiting forever for it."""
    import ray

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


def trial_order(plan: Plan) -> list[str]:
    """The keys of the trials without a result, taking intervention keys in turn (a, b, c, a, b,
    c, ...): the first concurrent trials build different models in parallel, not one after another."""
    by_key: dict[str, list[str]] = {}
    for key, ikey in zip(plan.keys, plan.point_interventions, strict=True):
        if key not in plan.done:
            by_key.setdefault(ikey, []).append(key)
    queues = sorted(by_key.items(), key=lambda kv: kv[0] in plan.cached_interventions)
    order: list[str] = []
    for i in range(max((len(q) for _, q in queues), default=0)):
        order += [q[i] for _, q in queues if i < len(q)]
    return order


class _Progress:
    """A live line per sweep: done/total, running, failed, elapsed, ETA; plain text off a TTY."""

    def __init__(self, plan: Plan, stream: Any = sys.stdout) -> None:
        self.plan = plan
        self.stream = stream
        self.tty = stream.isatty()
        self.done = set(plan.done)
        self.started = time.time()
        self.done_at_start = len(self.done)
        self.rows = {}
        self.last_line = ""
        self.last_print = 0.0
        self.last_table = 0.0

    def complete(self, key: str) -> None:
        self.done.add(key)
        try:
            result = json.loads((trial_path(self.plan.path, key) / RESULT_FILE).read_text())
            self.rows[key] = tidy_row(result)
        except (OSError, json.JSONDecodeError):
            pass

    def line(self, running: int, failed: int) -> str:
        total = len(self.plan.keys)
        elapsed = time.time() - self.started
        new = len(self.done) - self.done_at_start
        left = total - len(self.done) - failed
        eta = f"{_hms(elapsed / new * left)}" if new and left > 0 else "-"
        return (
            f"[{self.plan.conf.sweep.name}] {len(self.done)}/{total} done, {running} running,"
            f" {failed} failed, elapsed {_hms(elapsed)}, ETA {eta}"
        )

    def show(self, running: int, failed: int, force: bool = False) -> None:
        text = self.line(running, failed)
        now = time.time()
        # Only a change in done/failed is news; the running count flickers between trials.
        changed = _counts_of(text) != _counts_of(self.last_line)
        if not (force or changed or now - self.last_print > 30):
            return
        if self.tty:
            self.stream.write("\r" + text.ljust(len(self.last_line)))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.last_line, self.last_print = text, now

    def write_table(self) -> None:
        """Keep results.parquet current as trials finish (throttled; rebuilt in full at the end).

        Appending the new rows to the table, rather than re-reading every trial folder, keeps this
        cheap on grids of thousands of trials.
        """
        if not self.rows or time.time() - self.last_table < 5:
            return
        import pandas as pd

        self.last_table = time.time()
        target = self.plan.path / TABLE_FILE
        new = pd.DataFrame(list(self.rows.values()))
        if target.exists():
            old = pd.read_parquet(target)
            if not old.empty:
                new = pd.concat([old[~old["trial_key"].isin(new["trial_key"])], new])
        fd, tmp = tempfile.mkstemp(dir=self.plan.path, prefix=".results.", suffix=".parquet")
        os.close(fd)
        new.to_parquet(tmp, index=False)
        os.replace(tmp, target)
        self.rows.clear()


def _counts_of(line: str) -> tuple[str, str]:
    parts = line.split(", ")
    return (parts[0], parts[2]) if len(parts) > 2 else ("", "")


def _hms(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def _drop_checkpoints(sweep_path: Path, key: str, trial_dir: str, this_run_only: bool) -> None:
    """A finished trial's checkpoints: its result is final, so they are only disk now."""
    if not (trial_path(sweep_path, key) / RESULT_FILE).exists():
        return
    # An earlier driver run may have left some too (a resumed trial); looking for those scans
    # every run's folder, so only on a resume.
    found = (
        Path(trial_dir).glob("checkpoint_*")
        if this_run_only
        else trial_checkpoints(sweep_path, key)
    )
    for folder in list(found):
        shutil.rmtree(folder, ignore_errors=True)


def _tune_callback(progress: _Progress, first_run: bool) -> Any:
    from ray import tune
    from ray.tune.experiment import Trial

    class ProgressCallback(tune.Callback):
        """Counts kept from Tune's events: a step costs nothing, whatever the grid's size."""

        def __init__(self) -> None:
            self.running: set[str] = set()
            self.failed: set[str] = set()

        def show(self, force: bool = False) -> None:
            progress.show(len(self.running), len(self.failed), force=force)

        def on_trial_start(self, iteration: int, trials: list, trial: Trial, **info: Any) -> None:
            self.running.add(trial.trial_id)

        def on_trial_recover(self, iteration: int, trials: list, trial: Trial, **info: Any) -> None:
            self.running.discard(trial.trial_id)  # pending again, for its retry

        def on_trial_complete(
            self, iteration: int, trials: list, trial: Trial, **info: Any
        ) -> None:
            self.running.discard(trial.trial_id)
            key = trial.config["trial"]
            progress.complete(key)
            if not progress.plan.conf.sweep.keep_checkpoints:
                _drop_checkpoints(progress.plan.path, key, trial.path, this_run_only=first_run)
            progress.write_table()
            self.show()

        def on_trial_error(self, iteration: int, trials: list, trial: Trial, **info: Any) -> None:
            self.running.discard(trial.trial_id)
            self.failed.add(trial.trial_id)
            self.show(force=True)

        def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
            self.show()

    return ProgressCallback()


def _tuner(plan: Plan, progress: _Progress) -> Any:
    from ray import tune
    from ray.tune.logger import JsonLoggerCallback

    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")

    conf = plan.conf
    res = conf.sweep.resources
    order = trial_order(plan)
    point_of = dict(zip(plan.keys, plan.points, strict=True))
    # Tune's config is only the trial key: Tune deep-copies the whole grid spec for every trial
    # it generates, so a grid of points costs O(n^2) (4 s at 1,000 trials, minutes at 10,000);
    # the points go to the workers once, through the object store.
    sweep = {
        "conf": to_dict(conf),
        "path": str(plan.path),
        "cpu": res.cpu,
        "points": {key: point_of[key] for key in order},
    }
    fn = tune.with_resources(
        tune.with_parameters(trainable, sweep=sweep), {"cpu": res.cpu, "gpu": res.gpu}
    )

    def dirname(trial: Any) -> str:
        return f"{trial.config['trial']}-{trial.trial_id}"

    tune_root = plan.path / TUNE_DIR
    last_run = max(
        (int(p.name[4:]) for p in tune_root.glob("run-[0-9]*") if p.name[4:].isdigit()), default=0
    )
    return tune.Tuner(
        fn,
        param_space={"trial": tune.grid_search(order)},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=conf.sweep.max_concurrent_trials or None,
            reuse_actors=True,  # torch/transformers import once per worker, not per trial
            trial_dirname_creator=dirname,
        ),
        run_config=tune.RunConfig(
            name=f"run-{last_run + 1:03d}",  # one Tune experiment per driver run (see the docstring)
            storage_path=str(tune_root),
            failure_config=tune.FailureConfig(max_failures=conf.sweep.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            # Tune's JSON log per trial, not its CSV and TensorBoard copies (an fsync per result
            # each, for files nobody reads: W&B and results.parquet are the record).
            callbacks=[_tune_callback(progress, first_run=last_run == 0), JsonLoggerCallback()],
            verbose=0,
        ),
    )


def prepare_new(conf: DictConfig, overwrite: bool = False) -> Plan:
    """Validate that the sweep can start in its storage; write nothing yet."""
    path = sweep_dir(conf)
    if (path / SWEEP_FILE).exists() and not overwrite:
        raise UserError(
            f"sweep '{conf.sweep.name}' already exists at {path}; continue it with "
            f"`bias-sweep resume {conf.sweep.name}` or start over with --overwrite"
        )
    parent = path.parent
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise UserError(f"sweep.storage: '{conf.sweep.storage}' is not writable ({probe})")
    return make_plan(conf)


def run_sweep(
    conf: DictConfig,
    *,
    address: str | None = None,
    overwrite: bool = False,
    resume_existing: bool = False,
) -> int:
    """`bias-sweep run`: start a new sweep (or continue it with resume_existing)."""
    path = sweep_dir(conf)
    if resume_existing and (path / SWEEP_FILE).exists():
        return resume_sweep(path, address=address)
    plan = prepare_new(conf, overwrite=overwrite)
    return _drive(plan, address, fresh=True, overwrite=overwrite)


def resume_sweep(path: Path, *, address: str | None = None) -> int:
    """`bias-sweep resume`: continue a stopped, killed or partly failed sweep."""
    conf = load_config(path / SWEEP_FILE)
    return _drive(make_plan(conf), address, fresh=False)


def find_sweep(name_or_dir: str, storage: str | None = None) -> Path:
    """A sweep's folder from its name (under storage, default ./bias-sweep-runs) or its path."""
    candidate = Path(name_or_dir).expanduser()
    if (candidate / SWEEP_FILE).exists():
        return candidate.resolve()
    root = Path(storage or SweepSection().storage).expanduser().resolve()
    path = root / name_or_dir
    if not (path / SWEEP_FILE).exists():
        raise UserError(f"no sweep named '{name_or_dir}' under {root} (give --storage or a path)")
    return path


def _drive(plan: Plan, address: str | None, fresh: bool, overwrite: bool = False) -> int:
    conf = plan.conf
    started_ray = _start_ray(address)
    try:
        check_resources(conf)
        with _driver_lock(plan.path, conf.sweep.name):
            if fresh and overwrite:
                for sub in (TUNE_DIR, TRIALS_DIR, "wandb", "artifacts"):
                    shutil.rmtree(plan.path / sub, ignore_errors=True)
                plan = make_plan(conf)
            OmegaConf.save(conf, plan.path / SWEEP_FILE)
            return _execute(plan)
    finally:
        if started_ray:
            import ray

            ray.shutdown()


def _execute(plan: Plan) -> int:
    conf = plan.conf
    mode = effective_mode(conf.tracking.mode)
    if conf.tracking.mode == "online" and mode == "offline":
        print(OFFLINE_NOTICE.format(name=conf.sweep.name), flush=True)
    for line in describe_plan(plan):
        print(line, flush=True)
    previous = {s: signal.signal(s, _on_terminate) for s in (signal.SIGTERM, signal.SIGUSR1)}
    try:
        progress = _Progress(plan)
        remaining = len(plan.keys) - len(plan.done)
        errored: set[str] = set()
        if remaining and not _interrupted:
            tuner = _tuner(plan, progress)
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
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    from bias_sweep.results import rebuild_table

    table = rebuild_table(plan.path)
    done = len(table)
    total = len(plan.keys)
    print(f"[bias-sweep] {done}/{total} trials done, {len(errored)} failed", flush=True)
    print(
        f"  results:  {plan.path / 'results.parquet'} (trial folders in {plan.path / TRIALS_DIR})"
    )
    if mode != "disabled":
        runs = newest_offline_runs(plan.path)
        where = plan.path / "wandb"
        hint = f" (upload: bias-sweep sync {conf.sweep.name})" if mode == "offline" else ""
        print(f"  W&B:      {where} ({len(runs)} offline runs){hint}")
    print(f"  status:   bias-sweep status {plan.path}")
    print(f"  report:   bias-sweep report {plan.path}", flush=True)
    if _interrupted or (done < total and len(errored) < total - done):
        return EXIT_INTERRUPTED
    return 1 if errored else 0
