"""The W&B runs of a sweep: one per trial (its id the trial's key, resumed by a retry) and one
per intervened model (opened by the trial that built it), with their names, groups and configs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bias_sweep.identity import to_dict
from bias_sweep.metrics import INTRINSIC_AFTER, INTRINSIC_BEFORE
from bias_sweep.schema import Config
from bias_sweep.sweep.grid import axis_columns, point_columns
from bias_sweep.sweep.layout import SweepFolder
from bias_sweep.tracking import Run


def wandb_group(conf: Config, point: dict[str, Any]) -> str:
    """The trial's config without its seed, so W&B can average over seeds."""
    rest = {k: v for k, v in axis_columns(point).items() if k != "seed"}
    return conf.sweep.name + ":" + ",".join(f"{k}={v}" for k, v in rest.items())


def wandb_config(conf: Config, point: dict[str, Any]) -> dict[str, Any]:
    """Grid axes as flat top-level keys (for W&B's grouping and parallel plots), config nested."""
    cfg = to_dict(conf)
    return {**point_columns(cfg, point), "sweep": conf.sweep.name, "cfg": cfg}


class TrialRun:
    """A trial's W&B run and the epochs it logged (they travel in the trial's checkpoints)."""

    def __init__(self, run: Run, history: list[dict[str, Any]]) -> None:
        self.run = run
        self.history = history

    def log_epoch(self, epoch: int, metrics: dict[str, Any]) -> None:
        values = {f"train/{k}": v for k, v in metrics.items()}
        self.history.append({"step": epoch, "values": values})
        self.run.log(values, step=epoch)

    def complete(self, result: dict[str, Any], predictions: Any) -> None:
        """A finished trial: its summary, and its predictions as a table."""
        self.run.summarize(summary_values(result))
        if self.run.active:
            self.run.log_tables({"predictions": predictions})


@contextmanager
def trial_run(
    conf: Config, key: str, point: dict[str, Any], folder: SweepFolder, history: list[dict]
) -> Iterator[TrialRun]:
    """The trial's W&B run, finished when the block ends (exit code 1 if it raised).

    Offline, a resumed run is a new folder with the same id and `wandb sync` keeps one folder's
    history per run (wandb/wandb#3841), so the new folder repeats the epochs of `history` (those
    of the checkpoint it resumes from): the newest folder holds the whole run.
    """
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
    if run.offline:
        for entry in history:
            run.log(entry["values"], step=entry["step"])
    try:
        yield TrialRun(run, list(history))
    except BaseException:
        run.finish(exit_code=1)
        raise
    run.finish()


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
        "trainable_parameters": result.get("adaptation", {}).get("trainable_parameters"),
        INTRINSIC_BEFORE: result["intrinsic_bias"]["before"]["value"],
        INTRINSIC_AFTER: result["intrinsic_bias"]["after"]["value"],
        **{f"time/{k}": v for k, v in result["timings"].items()},
    }


def log_intervention(conf: Config, meta: dict[str, Any], folder: SweepFolder) -> None:
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
