"""One grid point end to end, readable top to bottom: data -> intervention -> fine-tune -> evaluate.

This is the science; it imports no Ray. The sweep layer calls `run_trial` inside a Tune trainable
and passes hooks for checkpointing and reporting; `bias-sweep trial` calls it directly.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig

from bias_sweep.config import cache_dir
from bias_sweep.data import TaskData, load_task
from bias_sweep.data.external import load_eval_sets
from bias_sweep.data.intervention_corpus import load_corpus
from bias_sweep.files import atomic_path, write_json_atomic
from bias_sweep.identity import (
    base_key,
    intervention_key,
    intervention_settings,
    to_dict,
    trial_key,
)
from bias_sweep.interventions import apply_intervention
from bias_sweep.metrics.crows_pairs import load_crows_pairs
from bias_sweep.metrics.extrinsic import THRESHOLD, compute_metrics
from bias_sweep.metrics.intrinsic import intrinsic_bias
from bias_sweep.models import load_classifier, load_tokenizer, resolve_model_dir
from bias_sweep.store import ArtifactStore
from bias_sweep.sweep.grid import first_point
from bias_sweep.sweep.layout import PREDICTIONS_FILE, RESULT_FILE, eval_set_predictions_file
from bias_sweep.training import fine_tune, predict_scores, select_device


@dataclass
class TrialHooks:
    """How an orchestrator plugs into a trial without the trial knowing about it."""

    resume_state: dict[str, Any] | None = None  # training state from the latest checkpoint
    # Called after each epoch with (epoch, state, metrics): checkpoint and report from here.
    on_epoch: Callable[[int, dict[str, Any], dict[str, Any]], None] | None = None
    # Extra facts for result.json from the orchestrator (e.g. which Ray node ran the trial).
    extra: dict[str, Any] | None = None
    # Called with the intervention's metadata when this trial is the one that built it.
    on_intervention_built: Callable[[dict[str, Any]], None] | None = None


def build_intervention(
    cfg: DictConfig, task: TaskData, store: ArtifactStore
) -> tuple[Path, dict, bool]:
    """The intervened model of this trial, built once per key and reused by every rate and seed.

    The intrinsic bias of the model before and after the intervention is measured here, once,
    and stored with the artifact: it is the manipulation check of every trial that uses it.
    """

    crows = None
    if cfg.intrinsic.crows_pairs:
        bias_type = cfg.intrinsic.crows_pairs_bias_type
        crows = load_crows_pairs(cfg.intrinsic.crows_pairs, cache_dir(cfg), bias_type=bias_type)

    def build(folder: Path) -> dict[str, Any]:
        base = resolve_model_dir(cfg.model, task, cache_dir(cfg))
        # The pre-trained model's own measure: once per base model, shared by every intervention
        # (in a store beside the interventions', so theirs counts intervened models only).
        _, measured, _ = ArtifactStore(store.root.with_name("pretrained")).get_or_build(
            base_key(cfg),
            lambda _: {"intrinsic": intrinsic_bias(base, task, crows_pairs=crows)},
        )
        icfg = cfg.intervention
        corpus = load_corpus(icfg.corpus, cache_dir(cfg))  # None: the task's own text
        info = apply_intervention(
            icfg.method, icfg.strength, icfg, base, task, folder, seed=icfg.seed, corpus=corpus
        )
        return {
            "settings": intervention_settings(cfg),
            "base_model_dir": str(base),
            "intrinsic_before": measured["intrinsic"],
            "intrinsic_after": intrinsic_bias(folder, task, crows_pairs=crows),
            "info": info,
        }

    return store.get_or_build(intervention_key(cfg), build)


def default_store(cfg: DictConfig) -> ArtifactStore:
    return ArtifactStore(cache_dir(cfg) / "interventions")


def run_trial(
    cfg: DictConfig,
    out_dir: Path,
    *,
    store: ArtifactStore | None = None,
    hooks: TrialHooks | None = None,
    point: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run one grid point and write `result.json` and `predictions.parquet` into out_dir.

    result.json is written last and atomically: its presence means the trial is done.
    """
    hooks = hooks or TrialHooks()
    store = store or default_store(cfg)
    out_dir = Path(out_dir)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    # 1. Data: the fine-tuning set at the requested co-occurrence rate, the balanced eval set,
    # and the external eval sets (read now, so that a bad file fails before any training).
    tick = time.perf_counter()
    task = load_task(cfg.data, cfg.seed, cache_dir=cache_dir(cfg))
    external = load_eval_sets(cfg.eval.sets, cfg.data.groups, cache_dir(cfg))
    timings["data_s"] = time.perf_counter() - tick

    # 2. Intervention on the pre-trained model (shared across rates and seeds through the store).
    tick = time.perf_counter()
    model_dir, intervention, built = build_intervention(cfg, task, store)
    timings["intervention_s"] = time.perf_counter() - tick
    if built and hooks.on_intervention_built is not None:
        hooks.on_intervention_built(intervention)

    # 3. Fine-tuning, checkpointed through the hooks after every epoch.
    tick = time.perf_counter()
    device = select_device()
    tokenizer = load_tokenizer(model_dir)
    model = load_classifier(model_dir, seed=cfg.seed).to(device)

    training = fine_tune(
        model,
        tokenizer,
        task.train,
        cfg.train,
        cfg.seed,
        device,
        resume_state=hooks.resume_state,
        on_epoch=hooks.on_epoch,
    )
    timings["train_s"] = time.perf_counter() - tick

    # 4. Evaluation on the balanced set and on its counterfactual twins, then on each external set.
    tick = time.perf_counter()
    a, b = task.lexicon.name_a, task.lexicon.name_b
    predictions = score_rows(model, tokenizer, task.eval, cfg, device)
    metrics = compute_metrics(predictions, a, b)
    timings["eval_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    external_predictions: dict[str, pd.DataFrame] = {}
    eval_sets: dict[str, Any] = {}
    for one in external:
        table = score_rows(model, tokenizer, one.frame, cfg, device)
        external_predictions[one.name] = table
        set_metrics = compute_metrics(table, a, b)
        eval_sets[one.name] = {
            "path": one.path,
            "rows": len(table),
            "group_counts": one.counts,
            "metrics": {k: float(v) for k, v in set_metrics.items()},
        }
    timings["eval_sets_s"] = time.perf_counter() - tick
    timings["total_s"] = time.perf_counter() - started

    # 5. Results: predictions first, result.json last (its presence marks the trial done).
    with atomic_path(out_dir / PREDICTIONS_FILE) as tmp:
        predictions.to_parquet(tmp, index=False)
    for name, frame in external_predictions.items():
        with atomic_path(out_dir / eval_set_predictions_file(name)) as tmp:
            frame.to_parquet(tmp, index=False)
    result = {
        "trial_key": trial_key(cfg),
        "sweep": cfg.sweep.name,
        "point": point if point is not None else first_point(cfg),
        "config": to_dict(cfg),
        "realised_rate": float(task.realised_rate),
        "group_counts": task.group_counts,
        "eval_set": task.eval_makeup,
        "intrinsic_bias": {
            "before": intervention["intrinsic_before"],
            "after": intervention["intrinsic_after"],
        },
        "intervention_key": intervention["key"],
        "metrics": {k: float(v) for k, v in metrics.items()},
        "eval_sets": eval_sets,
        "training": training,
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "node": socket.gethostname(),
        "device": str(device),
    }
    result.update(hooks.extra or {})
    write_json_atomic(out_dir / RESULT_FILE, result)
    return result


def score_rows(
    model: Any, tokenizer: Any, rows: pd.DataFrame, cfg: DictConfig, device: Any
) -> pd.DataFrame:
    """The predictions table of eval rows (text, label, group, cf_text): each text and its twin
    scored, so every metric can be computed from the table alone (`metrics.extrinsic`)."""
    scores = predict_scores(model, tokenizer, rows["text"].tolist(), cfg.train, device)
    cf_scores = predict_scores(model, tokenizer, rows["cf_text"].tolist(), cfg.train, device)
    return pd.DataFrame(
        {
            "text": rows["text"].to_numpy(),
            "cf_text": rows["cf_text"].to_numpy(),
            "label": rows["label"].astype(int).to_numpy(),
            "group": rows["group"].to_numpy(),
            "score": scores,
            "pred": (scores >= THRESHOLD).astype(int),
            "cf_score": cf_scores,
        }
    )
