"""The W&B runs of a sweep: one per trial (resumed by a retry), one per intervened model (opened
by the trial that built it, which logs the model as an artifact that every trial using it
`use`s), and one report run; their ids, names, groups and configs.

W&B ids are unique to one instance of a sweep: each `run` (and `run --overwrite`) draws a random
id, kept in the sweep folder for `resume`, and every run id starts with it. So a re-run, or a
second copy of the sweep name run elsewhere into the same project, never continues old runs.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bias_sweep.errors import first_line
from bias_sweep.identity import intervention_key, to_dict
from bias_sweep.metrics import (
    INTRINSIC_AFTER,
    INTRINSIC_BEFORE,
    INTRINSIC_FINETUNED,
    eval_set_column,
)
from bias_sweep.metrics.table import group_rates
from bias_sweep.schema import Config
from bias_sweep.sweep.grid import AXIS_NAMES, point_columns
from bias_sweep.sweep.layout import SweepFolder
from bias_sweep.sweep.results import class_rows
from bias_sweep.tracking import Run, folder_artifact, newest_offline_runs, sync_offline

STEP = "epoch"  # the step metric of every per-epoch key


def wandb_instance(folder: SweepFolder, renew: bool = False) -> str:
    """The sweep instance's id (8 hex digits): drawn when the sweep starts or starts over
    (`renew`), then read back; a sweep from before these ids gets one on its next run."""
    path = folder.wandb_instance
    if not renew and path.exists():
        return path.read_text().strip()
    instance = secrets.token_hex(4)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(instance + "\n")
    return instance


def flat_key(key: str) -> str:
    """A config key W&B's filters and grouping handle: no dots (`train.lr` -> `train_lr`)."""
    return key.replace(".", "_")


def run_name(cfg: dict[str, Any], point: dict[str, Any], intervention_only: bool = False) -> str:
    """A readable run name, `cda-s0.5-iv1-r0.9-seed0` (the model first when it is an axis, other
    axes last); an intervention run's stops after the intervention seed."""
    cols = point_columns(cfg, point)
    parts = [cols["model"]] if "model.name" in point else []
    parts += [cols["method"], f"s{cols['strength']:g}", f"iv{cols['intervention_seed']}"]
    if intervention_only:
        return "-".join(parts)
    parts += [f"r{cols['rate']:g}", f"seed{cols['seed']}"]
    usual = set(AXIS_NAMES.values())
    return "-".join([*parts, *(f"{flat_key(k)}{v}" for k, v in cols.items() if k not in usual)])


def wandb_group(conf: Config, instance: str) -> str:
    """Every run of one sweep instance (group by config keys in W&B for cells and seeds)."""
    return f"{conf.sweep.name}-{instance}"


def wandb_config(conf: Config, point: dict[str, Any], instance: str) -> dict[str, Any]:
    """Every axis as a flat top-level key without dots (for W&B's filters, grouping and
    parallel plots), the intervened model's key, and the whole config nested under `cfg`."""
    cfg = to_dict(conf)
    axes = {flat_key(k): v for k, v in point_columns(cfg, point).items()}
    return {
        **axes,
        "intervention_key": intervention_key(cfg),
        "sweep": conf.sweep.name,
        "sweep_instance": instance,
        "cfg": cfg,
    }


def model_artifact(conf: Config, model_dir: Path) -> Any:
    """The intervened model as an artifact; its maker and its users build it alike (so they meet
    on one artifact version in W&B's lineage)."""
    cfg = to_dict(conf)
    key = intervention_key(cfg)
    cols = point_columns(cfg, {})
    metadata = {k: cols[k] for k in ("model", "method", "strength", "intervention_seed")}
    return folder_artifact(
        f"intervened-model-{key}",
        "model",
        model_dir,
        upload=conf.tracking.upload_models,
        metadata={**metadata, "intervention_key": key},
    )


class TrialRun:
    """A trial's W&B run and the epochs it logged (they travel in the trial's checkpoints)."""

    def __init__(self, run: Run, history: list[dict[str, Any]]) -> None:
        self.run = run
        self.history = history

    def log_epoch(self, epoch: int, metrics: dict[str, Any]) -> None:
        values = {STEP: epoch, **{f"train/{k}": v for k, v in metrics.items()}}
        self.history.append({"step": epoch, "values": values})
        self.run.log(values, step=epoch)

    def record(self) -> dict[str, Any]:
        """What result.json keeps of the run: its mode, and why it went offline if it did."""
        return {"mode": self.run.mode, "fallback": self.run.fallback}

    def intervention_hook(
        self, conf: Config, point: dict[str, Any], sweep: dict[str, Any]
    ) -> Callable[[Path, dict[str, Any], bool], None]:
        """`TrialHooks.on_intervention`: the building trial logs the intervened model from its
        intervention run; every trial uses it."""

        def on_intervention(model_dir: Path, meta: dict[str, Any], built: bool) -> None:
            if built:
                log_intervention(conf, point, meta, model_dir, sweep)
            self.run.use_artifact(model_artifact(conf, model_dir))

        return on_intervention

    def complete(self, result: dict[str, Any], predictions: Any) -> None:
        """A finished trial: its summary, its predictions and its per-group rates as tables (and,
        for a multi-class task, its per-class gaps and rates: `per_class`, one row per class)."""
        self.run.summarize(summary_values(result))
        if self.run.active:
            tables = {"predictions": predictions}
            per_class = class_rows(result)
            if per_class:  # a multi-class task: the per-group rates are per class there
                import pandas as pd

                tables["per_class"] = pd.DataFrame(per_class)
            else:
                tables["by_group"] = group_rates(predictions)
            self.run.log_tables(tables)


@contextmanager
def trial_run(
    conf: Config,
    key: str,
    point: dict[str, Any],
    sweep: dict[str, Any],
    history: list[dict],
    rerun: int = 0,
) -> Iterator[TrialRun]:
    """The trial's W&B run, finished when the block ends (exit code 1 and the error's first
    line in its summary if it raised). A `rerun` (its number) is a run of its own, beside the
    trial's earlier ones: `<instance>-<key>-rerun<n>`.

    Offline, a resumed run is a new folder with the same id and `wandb sync` keeps one folder's
    history per run (wandb/wandb#3841), so the new folder repeats the epochs of `history` (those
    of the checkpoint it resumes from): the newest folder holds the whole run.
    """
    instance = sweep["wandb_instance"]
    suffix = f"-rerun{rerun}" if rerun else ""
    run = Run(
        run_id=f"{instance}-{key}{suffix}",
        name=run_name(to_dict(conf), point) + suffix,
        project=conf.tracking.project,
        entity=conf.tracking.entity,
        group=wandb_group(conf, instance),
        job_type="finetune",
        tags=[conf.sweep.name],
        config={**wandb_config(conf, point, instance), **({"rerun": rerun} if rerun else {})},
        directory=Path(sweep["path"]),
        mode=conf.tracking.mode,
        on_error=conf.tracking.on_error,
    )
    run.step_metric(STEP, "train/*")
    if run.offline:
        for entry in history:
            run.log(entry["values"], step=entry["step"])
    try:
        yield TrialRun(run, list(history))
    except BaseException as exc:
        run.summarize({"error": first_line(exc)})
        run.finish(exit_code=1)
        raise
    run.finish()


def summary_values(result: dict[str, Any]) -> dict[str, Any]:
    """A trial's W&B summary, named as in results.parquet: its metrics, each external eval
    set's as `<metric>@<set>`, the realised rate, intrinsic bias (before and after the
    intervention, after fine-tuning) and timings."""
    summary = {
        **result["metrics"],
        **{
            eval_set_column(key, name): value
            for name, one in result.get("eval_sets", {}).items()
            for key, value in one["metrics"].items()
        },
        "realised_rate": result["realised_rate"],  # None in a multi-class trial (per class)
        "trainable_parameters": result.get("adaptation", {}).get("trainable_parameters"),
        INTRINSIC_BEFORE: result["intrinsic_bias"]["before"]["value"],
        INTRINSIC_AFTER: result["intrinsic_bias"]["after"]["value"],
        **{f"time_{k}": v for k, v in result["timings"].items()},
    }
    finetuned = result["intrinsic_bias"].get("finetuned")  # none in results from before it
    if finetuned is not None:
        summary[INTRINSIC_FINETUNED] = finetuned["value"]
    return summary


def log_intervention(
    conf: Config, point: dict[str, Any], meta: dict[str, Any], model_dir: Path, sweep: dict
) -> None:
    """A W&B run for an intervened model, by the trial that built it (so exactly one per key),
    which logs the model as an artifact."""
    instance = sweep["wandb_instance"]
    cfg = to_dict(conf)
    usual = point_columns(cfg, {})
    run = Run(
        run_id=f"{instance}-iv-{meta['key']}",
        name=run_name(cfg, point, intervention_only=True),
        project=conf.tracking.project,
        entity=conf.tracking.entity,
        group=wandb_group(conf, instance),
        job_type="intervention",
        tags=[conf.sweep.name],
        config={
            **{k: usual[k] for k in ("model", "method", "strength", "intervention_seed")},
            "intervention_key": meta["key"],
            "sweep": conf.sweep.name,
            "sweep_instance": instance,
            "cfg": meta["settings"],
        },
        directory=Path(sweep["path"]),
        mode=conf.tracking.mode,
        on_error=conf.tracking.on_error,
        beside_active=True,  # the building trial's own run stays open
    )
    run.log_artifact(model_artifact(conf, model_dir))
    run.summarize(
        {
            INTRINSIC_BEFORE: meta[INTRINSIC_BEFORE]["value"],
            INTRINSIC_AFTER: meta[INTRINSIC_AFTER]["value"],
            "intrinsic_kind": meta[INTRINSIC_AFTER]["kind"],
            "built_s": meta["built_s"],
        }
    )
    run.finish()


def report_run_id(folder: SweepFolder) -> str:
    """The sweep instance's one report run: each report updates it."""
    return f"{wandb_instance(folder)}-report"


def sync_sweep(folder: SweepFolder) -> int:
    """`bias-sweep sync`: the newest folder of each offline run (it holds the whole run), the
    intervention runs first, so that each model artifact is made by its intervention run
    before the trials that use it are uploaded."""
    runs = newest_offline_runs(folder.wandb)
    return sync_offline(sorted(runs, key=lambda p: "-iv-" not in p.name))
