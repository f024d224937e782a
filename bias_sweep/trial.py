"""One grid point end to end, readable top to bottom: data -> intervention -> adapt and fine-tune ->
evaluate.

This is the science; it imports no Ray and knows no sweep. It takes a typed config and hooks and
returns what the trial found (`TrialOutput`); the caller decides where that goes (the sweep's
trainable and `bias-sweep trial` write it with `sweep.results.write_trial`).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bias_sweep.adaptation import adapt, for_eval
from bias_sweep.caches import cache_root
from bias_sweep.data import TaskData, load_task
from bias_sweep.data.eval_sets import load_eval_sets
from bias_sweep.identity import (
    base_key,
    intervention_key,
    intervention_settings,
    to_dict,
    trial_key,
)
from bias_sweep.interventions import apply_intervention
from bias_sweep.metrics import INTRINSIC_AFTER, INTRINSIC_BEFORE, THRESHOLD, compute_metrics
from bias_sweep.models import load_classifier, load_tokenizer, resolve_model_dir
from bias_sweep.probes import intrinsic_bias, load_crows_pairs
from bias_sweep.schema import Config, TrainConfig
from bias_sweep.store import ArtifactStore
from bias_sweep.training import fine_tune, predict_scores, select_device


@dataclass
class TrialHooks:
    """How an orchestrator plugs into a trial without the trial knowing about it."""

    resume_state: dict[str, Any] | None = None  # training state from the latest checkpoint
    # Called after each epoch with (epoch, state, metrics): checkpoint and report from here.
    on_epoch: Callable[[int, dict[str, Any], dict[str, Any]], None] | None = None
    # Called with the intervention's metadata when this trial is the one that built it.
    on_intervention_built: Callable[[dict[str, Any]], None] | None = None


@dataclass
class TrialOutput:
    result: dict[str, Any]  # what result.json holds
    predictions: pd.DataFrame  # the eval set's rows and scores (`score_rows`)
    eval_set_predictions: dict[str, pd.DataFrame] = field(default_factory=dict)  # by set name


def build_intervention(
    cfg: Config, task: TaskData, store: ArtifactStore
) -> tuple[Path, dict[str, Any], bool]:
    """The intervened model of this trial, built once per key and reused by every rate and seed.

    The intrinsic bias of the model before and after the intervention is measured here, once,
    and stored with the artifact: it is the manipulation check of every trial that uses it.
    """
    root = cache_root(cfg.cache_dir)
    crows = None
    if cfg.intrinsic.crows_pairs:
        bias_type = cfg.intrinsic.crows_pairs_bias_type
        crows = load_crows_pairs(cfg.intrinsic.crows_pairs, root, bias_type=bias_type)

    def build(folder: Path) -> dict[str, Any]:
        base = resolve_model_dir(cfg.model, task, root)
        # The pre-trained model's own measure: once per base model, shared by every intervention
        # (in a store beside the interventions', so theirs counts intervened models only).
        _, measured, _ = ArtifactStore(store.root.with_name("pretrained")).get_or_build(
            base_key(cfg),
            lambda _: {"intrinsic": intrinsic_bias(base, task, crows_pairs=crows)},
        )
        info = apply_intervention(cfg.intervention, base, task, folder)
        return {
            "settings": intervention_settings(cfg),
            "base_model_dir": str(base),
            INTRINSIC_BEFORE: measured["intrinsic"],
            INTRINSIC_AFTER: intrinsic_bias(folder, task, crows_pairs=crows),
            "info": info,
        }

    return store.get_or_build(intervention_key(cfg), build)


def default_store(cfg: Config) -> ArtifactStore:
    return ArtifactStore(cache_root(cfg.cache_dir) / "interventions")


def run_trial(
    cfg: Config, *, store: ArtifactStore | None = None, hooks: TrialHooks | None = None
) -> TrialOutput:
    """Run one grid point: its result and its predictions tables."""
    hooks = hooks or TrialHooks()
    store = store or default_store(cfg)
    root = cache_root(cfg.cache_dir)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    # 1. Data: the fine-tuning set at the requested co-occurrence rate, the balanced eval set,
    # and the external eval sets (read now, so that a bad file fails before any training).
    tick = time.perf_counter()
    task = load_task(cfg.data, cfg.seed, cache_dir=root)
    external = load_eval_sets(cfg.eval.sets, cfg.data.groups, root)
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
    model, adapted = adapt(load_classifier(model_dir, seed=cfg.seed), cfg.train)
    model = model.to(device)
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
    model = for_eval(model, cfg.train)

    # 4. Evaluation on the balanced set and on its counterfactual twins, then on each external set.
    tick = time.perf_counter()
    a, b = task.lexicon.name_a, task.lexicon.name_b
    predictions = score_rows(model, tokenizer, task.eval, cfg.train, device)
    metrics = compute_metrics(predictions, a, b)
    timings["eval_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    external_predictions: dict[str, pd.DataFrame] = {}
    eval_sets: dict[str, Any] = {}
    for one in external:
        table = score_rows(model, tokenizer, one.frame, cfg.train, device)
        external_predictions[one.name] = table
        eval_sets[one.name] = {
            "path": one.path,
            "rows": len(table),
            "group_counts": one.counts,
            "metrics": compute_metrics(table, a, b),
        }
    timings["eval_sets_s"] = time.perf_counter() - tick
    timings["total_s"] = time.perf_counter() - started

    # 5. What it found.
    result = {
        "trial_key": trial_key(cfg),
        "sweep": cfg.sweep.name,
        "config": to_dict(cfg),
        "realised_rate": task.realised_rate,
        "group_counts": task.group_counts,
        "eval_set": task.eval_makeup,
        "intrinsic_bias": {
            "before": intervention[INTRINSIC_BEFORE],
            "after": intervention[INTRINSIC_AFTER],
        },
        "intervention_key": intervention["key"],
        "metrics": metrics,
        "eval_sets": eval_sets,
        "training": training,
        "adaptation": adapted,
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "node": socket.gethostname(),
        "device": str(device),
    }
    return TrialOutput(result, predictions, external_predictions)


def score_rows(
    model: Any, tokenizer: Any, rows: pd.DataFrame, tcfg: TrainConfig, device: Any
) -> pd.DataFrame:
    """The predictions table of eval rows (text, label, group, cf_text): each text and its twin
    scored, so every metric can be computed from the table alone (`bias_sweep.metrics`)."""
    scores = predict_scores(model, tokenizer, rows["text"].tolist(), tcfg, device)
    cf_scores = predict_scores(model, tokenizer, rows["cf_text"].tolist(), tcfg, device)
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
