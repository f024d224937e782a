"""One grid point as a Ray Tune function trainable: the thin adapter around `trial.run_trial`.

It adds what Tune runs need and the recipe must not know: a trial that finds its `result.json`
returns at once (nothing finished runs twice); the training state is reported as a Tune
checkpoint after every epoch and a retry (or a later driver run) continues from the newest one;
each trial is one W&B run whose id is its key; a failed attempt leaves `error.txt`.

Fault injection for tests: BIAS_SWEEP_FAULT=after_epoch:N fails each trial once, on its first
attempt, after epoch N's checkpoint; BIAS_SWEEP_FAULT=always fails every attempt before training.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import pandas as pd
import ray
import torch
from omegaconf import DictConfig, OmegaConf
from ray import tune

from bias_sweep.files import write_json_atomic
from bias_sweep.identity import to_dict
from bias_sweep.metrics import INTRINSIC_AFTER, INTRINSIC_BEFORE
from bias_sweep.store import ArtifactStore
from bias_sweep.sweep.grid import axis_columns, point_columns, point_config
from bias_sweep.sweep.layout import (
    CHECKPOINT_FILE,
    ERROR_FILE,
    PREDICTIONS_FILE,
    STATE_FILE,
    SweepFolder,
)
from bias_sweep.sweep.results import read_result
from bias_sweep.tracking import Run
from bias_sweep.training import load_state, save_state
from bias_sweep.trial import TrialHooks, run_trial

FAULT_ENV = "BIAS_SWEEP_FAULT"


class InjectedFault(RuntimeError):
    """Raised by the test-only fault switch (see the module docstring)."""


def _fault() -> tuple[str, int | None]:
    """The fault asked for in the environment: ("", None), ("always", None), ("after_epoch", N)."""
    value = os.environ.get(FAULT_ENV, "")
    kind, _, epoch = value.partition(":")
    return kind, int(epoch) if epoch else None


def wandb_group(conf: DictConfig, point: dict[str, Any]) -> str:
    """The trial's config without its seed, so W&B can average over seeds."""
    rest = {k: v for k, v in axis_columns(point).items() if k != "seed"}
    return conf.sweep.name + ":" + ",".join(f"{k}={v}" for k, v in rest.items())


def wandb_config(conf: DictConfig, point: dict[str, Any]) -> dict[str, Any]:
    """Grid axes as flat top-level keys (for W&B's grouping and parallel plots), config nested."""
    cfg = to_dict(conf)
    return {**point_columns(cfg, point), "sweep": conf.sweep.name, "cfg": cfg}


def _report(metrics: dict[str, Any], checkpoint_dir: str | None = None) -> None:
    checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
    tune.report(metrics, checkpoint=checkpoint)


def trainable(config: dict[str, Any], sweep: dict[str, Any]) -> None:
    """One grid point as a Tune function trainable: resumable from its latest checkpoint."""
    key = config["trial"]
    point = sweep["points"][key]
    conf = point_config(OmegaConf.create(sweep["conf"]), point)
    folder = SweepFolder(Path(sweep["path"]))
    out = folder.trial(key)
    done = read_result(out)
    if done is not None:  # finished before a kill or preemption: never run it twice
        _report({**done["metrics"], "done": True, "skipped": True})
        return
    torch.set_num_threads(max(1, int(sweep["cpu"])))
    checkpoint = tune.get_checkpoint()  # this Tune run's retry of the trial
    resume_state = None
    if checkpoint is not None:
        with checkpoint.as_directory() as where:
            resume_state = load_state(Path(where) / CHECKPOINT_FILE)
    elif (out / STATE_FILE).exists():  # started by an earlier driver run: its newest checkpoint
        resume_state = latest_checkpoint_state(folder, key)
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
        directory=folder.root,
        mode=conf.tracking.mode,
    )
    # The epochs logged so far travel in the checkpoint. Offline, a resumed run is a new folder
    # with the same id and `wandb sync` keeps one folder's history per run (wandb/wandb#3841),
    # so the new folder repeats the earlier epochs: the newest folder holds the whole run.
    history: list[dict[str, Any]] = list((resume_state or {}).get("history", []))
    if run.offline:
        for entry in history:
            run.log(entry["values"], step=entry["step"])
    fault, fault_epoch = _fault()

    def on_epoch(epoch: int, state: dict[str, Any], metrics: dict[str, Any]) -> None:
        values = {f"train/{k}": v for k, v in metrics.items()}
        history.append({"step": epoch, "values": values})
        run.log(values, step=epoch)
        with tempfile.TemporaryDirectory() as where:
            save_state({**state, "history": history}, Path(where) / CHECKPOINT_FILE)
            _report({**metrics, "done": False}, checkpoint_dir=where)
        if fault == "after_epoch" and fault_epoch == epoch and resume_state is None:
            raise InjectedFault(
                f"{FAULT_ENV}=after_epoch:{epoch}: failing once after epoch {epoch}"
            )

    try:
        if fault == "always":
            raise InjectedFault(f"{FAULT_ENV}=always: failing before training, on every attempt")
        result = run_trial(
            conf,
            out,
            store=ArtifactStore(folder.interventions),
            hooks=TrialHooks(
                resume_state=resume_state,
                on_epoch=on_epoch,
                extra=_node(),
                on_intervention_built=lambda meta: log_intervention(conf, meta, folder),
            ),
            point=point,
        )
    except BaseException as exc:
        # The first line is what status and the driver show: the class's own name and the
        # message's first line; the traceback follows for whoever opens the file.
        message = str(exc).strip().splitlines()
        first = type(exc).__name__ + (f": {message[0]}" if message else "")
        (out / ERROR_FILE).write_text(f"attempt {attempt}: {first}\n\n" + traceback.format_exc())
        run.finish(exit_code=1)
        raise
    (out / ERROR_FILE).unlink(missing_ok=True)
    run.summarize(summary_values(result))
    if run.active:
        run.log_tables({"predictions": pd.read_parquet(out / PREDICTIONS_FILE)})
    run.finish()
    _report({**result["metrics"], "done": True, "skipped": False})


def summary_values(result: dict[str, Any]) -> dict[str, Any]:
    """A trial's W&B summary: its metrics, each external eval set's as `<set>/<metric>`, the
    realised rate, intrinsic bias and timings."""
    return {
        **result["metrics"],
        **{
            f"{name}/{key}": value
            for name, one in result.get("eval_sets", {}).items()
            for key, value in one["metrics"].items()
        },
        "realised_rate": result["realised_rate"],
        INTRINSIC_BEFORE: result["intrinsic_bias"]["before"]["value"],
        INTRINSIC_AFTER: result["intrinsic_bias"]["after"]["value"],
        **{f"time/{k}": v for k, v in result["timings"].items()},
    }


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


def latest_checkpoint_state(folder: SweepFolder, key: str) -> dict[str, Any] | None:
    """The training state of the trial's furthest checkpoint; one that cannot be read (cut short
    by a kill while it was copied) is passed over."""
    best = None
    for where in folder.trial_checkpoints(key):
        try:
            state = load_state(where / CHECKPOINT_FILE)
        except Exception:  # noqa: BLE001 - truncated or missing: an older checkpoint still serves
            continue
        if best is None or int(state["epoch"]) > int(best["epoch"]):
            best = state
    return best


def log_intervention(conf: DictConfig, meta: dict[str, Any], folder: SweepFolder) -> None:
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
        directory=folder.root,
        mode=conf.tracking.mode,
        beside_active=True,  # the building trial's own run stays open
    )
    run.summarize(
        {
            INTRINSIC_BEFORE: meta[INTRINSIC_BEFORE]["value"],
            INTRINSIC_AFTER: meta[INTRINSIC_AFTER]["value"],
            "intrinsic_kind": meta[INTRINSIC_AFTER]["kind"],
            "built_s": meta["built_s"],
        }
    )
    run.finish()
