"""One grid point as a Ray Tune function trainable: the thin adapter around `trial.run_trial`.

It adds what Tune runs need and the recipe must not know: a trial that finds its `result.json`
returns at once (nothing finished runs twice); the training state is reported as a Tune
checkpoint after every epoch and a retry (or a later driver run) continues from the newest one;
each trial is one W&B run (`sweep.wandb_runs`) that uses its intervened model's artifact; a
failed attempt leaves `error.txt`.

Whoever starts a sweep may pass `AttemptHooks` (tests inject faults with them); the package
ships none.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune

from bias_sweep.caches import Memo
from bias_sweep.config import from_dict
from bias_sweep.errors import first_line
from bias_sweep.files import write_json_atomic
from bias_sweep.store import ArtifactStore
from bias_sweep.sweep.grid import PointConfigs
from bias_sweep.sweep.layout import CHECKPOINT_FILE, ERROR_FILE, STATE_FILE, SweepFolder
from bias_sweep.sweep.rerun import current_result, rerun_mark, supersede
from bias_sweep.sweep.results import write_trial
from bias_sweep.sweep.wandb_runs import trial_run
from bias_sweep.train_state import load_state, save_state
from bias_sweep.trial import TrialHooks, run_trial


@dataclass(frozen=True)
class Attempt:
    """One attempt at a trial: its number (from 1) and the epoch it resumed from, if any."""

    key: str
    number: int
    resumed_from: int | None


@dataclass(frozen=True)
class AttemptHooks:
    """Called in the worker at the start of each attempt and after each epoch's checkpoint
    (picklable: they travel to the workers with the trainable)."""

    on_start: Callable[[Attempt], None] | None = None
    after_epoch: Callable[[Attempt, int], None] | None = None


def trainable(
    config: dict[str, Any], sweep: dict[str, Any], hooks: AttemptHooks | None = None
) -> None:
    """One grid point as a Tune function trainable: resumable from its latest checkpoint."""
    hooks = hooks or AttemptHooks()
    key = config["trial"]
    point = sweep["points"][key]
    folder = SweepFolder(Path(sweep["path"]))
    out = folder.trial(key)
    done = current_result(out)
    if done is not None:  # finished before a kill or preemption: never run it twice
        _report({**done["metrics"], "done": True, "skipped": True})
        return
    torch.set_num_threads(max(1, int(sweep["cpu"])))
    conf = _point_configs(sweep).config(point)
    mark = rerun_mark(out) or {}  # a `rerun`: a fresh run, none of the earlier checkpoints
    rerun = int(mark.get("number", 0))
    resume_state = _resume_state(folder, key, after_run=int(mark.get("after_run", 0)))
    history = (resume_state or {}).get("history", [])
    with (
        attempt_record(out, key, resume_state) as attempt,
        trial_run(conf, key, point, sweep, history, rerun=rerun) as run,
    ):
        if hooks.on_start is not None:
            hooks.on_start(attempt)

        def on_epoch(epoch: int, state: dict[str, Any], metrics: dict[str, Any]) -> None:
            run.log_epoch(epoch, metrics)
            _checkpoint({**state, "history": run.history}, {**metrics, "done": False})
            if hooks.after_epoch is not None:
                hooks.after_epoch(attempt, epoch)

        output = run_trial(
            conf,
            store=ArtifactStore(folder.interventions),
            hooks=TrialHooks(
                resume_state=resume_state,
                on_epoch=on_epoch,
                on_intervention=run.intervention_hook(conf, point, sweep),
            ),
        )
        extra = {"point": point, **_node(), "wandb": run.record()}
        if rerun:
            # The previous result stayed in place (and in the report) until now.
            supersede(out)
            extra["rerun"] = rerun
        result = write_trial(out, output, extra)
        run.complete(result, output.predictions)
    _report({**result["metrics"], "done": True, "skipped": False})


# The sweep's config, typed once per worker and sweep (an OmegaConf merge, 130 ms on 2 loaded
# cores): the trials a reused actor runs in turn share it.
_SWEEP_CONFIGS: Memo[PointConfigs] = Memo(2)


def _point_configs(sweep: dict[str, Any]) -> PointConfigs:
    key = json.dumps(sweep["conf"], sort_keys=True, default=str)
    return _SWEEP_CONFIGS.get_or_make(key, lambda: PointConfigs(from_dict(sweep["conf"])))


def _report(metrics: dict[str, Any]) -> None:
    tune.report(metrics)


def _checkpoint(state: dict[str, Any], metrics: dict[str, Any]) -> None:
    """Report an epoch to Tune with the training state as its checkpoint."""
    with tempfile.TemporaryDirectory() as where:
        save_state(state, Path(where) / CHECKPOINT_FILE)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(where))


def _resume_state(folder: SweepFolder, key: str, after_run: int = 0) -> dict[str, Any] | None:
    """The training state to continue from: this Tune run's checkpoint of the trial (a retry),
    else the newest one an earlier driver run (numbered above `after_run`) left, else None."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as where:
            return load_state(Path(where) / CHECKPOINT_FILE)
    if (folder.trial(key) / STATE_FILE).exists():  # started by an earlier driver run
        return latest_checkpoint_state(folder, key, after_run)
    return None


@contextmanager
def attempt_record(out: Path, key: str, resume_state: dict[str, Any] | None) -> Iterator[Attempt]:
    """The attempt's bookkeeping in the trial folder: state.json counts it; a failure leaves
    error.txt (its first line: the exception's class and message's first line, then the
    traceback), a success removes an earlier one."""
    out.mkdir(parents=True, exist_ok=True)
    resumed_from = None if resume_state is None else resume_state["epoch"]
    attempt = Attempt(key, _bump_attempt(out, resumed_from), resumed_from)
    try:
        yield attempt
    except BaseException as exc:
        (out / ERROR_FILE).write_text(
            f"attempt {attempt.number}: {first_line(exc)}\n\n" + traceback.format_exc()
        )
        raise
    (out / ERROR_FILE).unlink(missing_ok=True)


def _node() -> dict[str, Any]:
    """Where the trial ran: nodes of one machine share a hostname, so the Ray node id too; the
    worker's pid shows which trials shared a worker process (and its imports)."""
    return {
        "node_id": ray.get_runtime_context().get_node_id(),
        "node_ip": ray.util.get_node_ip_address(),
        "worker_pid": os.getpid(),
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


def latest_checkpoint_state(
    folder: SweepFolder, key: str, after_run: int = 0
) -> dict[str, Any] | None:
    """The training state of the trial's furthest checkpoint (of the Tune runs numbered above
    `after_run`); one that cannot be read (cut short by a kill while it was copied) is passed
    over."""
    best = None
    for where in folder.trial_checkpoints(key, after_run):
        try:
            state = load_state(where / CHECKPOINT_FILE)
        except Exception:  # noqa: BLE001 - truncated or missing: an older checkpoint still serves
            continue
        if best is None or int(state["epoch"]) > int(best["epoch"]):
            best = state
    return best
