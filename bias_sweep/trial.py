"""One grid point end to end, readable top to bottom: data -> intervention -> adapt and fine-tune ->
evaluate (extrinsic bias, and intrinsic bias of the fine-tuned encoder).

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

import numpy as np
import pandas as pd

from bias_sweep.adaptation import adapt, for_eval, plain_model
from bias_sweep.caches import cache_root
from bias_sweep.data import TaskData, load_task
from bias_sweep.data.eval_sets import load_eval_sets
from bias_sweep.data.intervention_corpus import load_corpus
from bias_sweep.devices import select_device
from bias_sweep.identity import (
    base_key,
    intervention_key,
    intervention_settings,
    to_dict,
    trial_key,
)
from bias_sweep.interventions import apply_intervention, configured_corpus
from bias_sweep.metrics import INTRINSIC_AFTER, INTRINSIC_BEFORE, THRESHOLD, compute_metrics
from bias_sweep.metrics.per_class import per_class
from bias_sweep.models import load_classifier, load_tokenizer, resolve_model_dir
from bias_sweep.probes import finetuned_intrinsic_bias, intrinsic_bias, load_crows_pairs
from bias_sweep.probes.class_intrinsic import class_intrinsic
from bias_sweep.schema import Config, TrainConfig
from bias_sweep.store import ArtifactStore
from bias_sweep.training import fine_tune, predict_probs


@dataclass
class TrialHooks:
    """How an orchestrator plugs into a trial without the trial knowing about it."""

    resume_state: dict[str, Any] | None = None  # training state from the latest checkpoint
    # Called after each epoch with (epoch, state, metrics): checkpoint and report from here.
    on_epoch: Callable[[int, dict[str, Any], dict[str, Any]], None] | None = None
    # Called with the intervened model's folder, its metadata and whether this trial built it.
    on_intervention: Callable[[Path, dict[str, Any], bool], None] | None = None


@dataclass
class TrialOutput:
    result: dict[str, Any]  # what result.json holds
    predictions: pd.DataFrame  # the eval set's rows and scores (`score_rows`)
    eval_set_predictions: dict[str, pd.DataFrame] = field(default_factory=dict)  # by set name
    # The rows it fine-tuned on: row_id, text (as trained on), label, group, swapped
    train: pd.DataFrame = field(default_factory=pd.DataFrame)


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
            lambda _: {
                "intrinsic": intrinsic_bias(base, task, crows_pairs=crows),
                "class_intrinsic": class_intrinsic(base, task),
            },
        )
        corpus = load_corpus(configured_corpus(cfg.intervention), root)  # None: the task's text
        info = apply_intervention(cfg.intervention, base, task, folder, corpus)
        return {
            "settings": intervention_settings(cfg),
            "base_model_dir": str(base),
            INTRINSIC_BEFORE: measured["intrinsic"],
            INTRINSIC_AFTER: intrinsic_bias(folder, task, crows_pairs=crows),
            # Multi-class tasks: each class's association with group A, before and after.
            "class_intrinsic": {
                "before": measured.get("class_intrinsic", {}),
                "after": class_intrinsic(folder, task),
            },
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
    if hooks.on_intervention is not None:
        hooks.on_intervention(model_dir, intervention, built)

    # 3. Fine-tuning, checkpointed through the hooks after every epoch.
    tick = time.perf_counter()
    device = select_device()
    tokenizer = load_tokenizer(model_dir)
    classes = task.classes
    model = load_classifier(model_dir, seed=cfg.seed, num_labels=len(classes or (0, 1)))
    model, adapted = adapt(model, cfg.train)
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
    if classes is None:
        predictions = score_rows(model, tokenizer, task.eval, cfg.train, device)
    else:
        shares = {c: r["realised"] for c, r in task.class_rates.items()}
        predictions = score_class_rows(model, tokenizer, task.eval, cfg.train, device, classes)
        predictions["train_share"] = predictions["label"].map(shares).astype(float)
    metrics = compute_metrics(predictions, a, b, cfg.data.task)
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

    # 5. Intrinsic bias of the fine-tuned encoder, in its intervened model's kind: did the
    # intervention's effect on intrinsic bias survive fine-tuning?
    tick = time.perf_counter()
    kind = intervention[INTRINSIC_AFTER]["kind"]
    finetuned = finetuned_intrinsic_bias(plain_model(model), model_dir, task, kind)
    timings["intrinsic_finetuned_s"] = time.perf_counter() - tick
    timings["total_s"] = time.perf_counter() - started

    # 6. What it found.
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
            "finetuned": finetuned,
        },
        "intervention_key": intervention["key"],
        "metrics": metrics,
        "eval_sets": eval_sets,
        **_per_class_result(task, predictions, intervention.get("class_intrinsic", {})),
        "training": training,
        "adaptation": adapted,
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "node": socket.gethostname(),
        "device": str(device),
    }
    return TrialOutput(result, predictions, external_predictions, trained_rows(task))


def _per_class_result(
    task: TaskData, predictions: pd.DataFrame, intrinsic: dict[str, Any]
) -> dict[str, Any]:
    """A multi-class trial's `class_rates` (natural, target and realised P(A | class), rows) and
    `per_class` gaps, supports (`metrics.per_class`) and the intervened model's intrinsic bias
    per class before and after the intervention; nothing for a binary one."""
    if task.classes is None:
        return {}
    a, b = task.lexicon.name_a, task.lexicon.name_b
    gaps = per_class(predictions, a, b)
    for name, one in gaps.items():
        for when in ("before", "after"):
            value = intrinsic.get(when, {}).get(name)
            one[f"intrinsic_{when}"] = None if value is None else value["value"]
    return {"class_rates": task.class_rates, "per_class": gaps}


def trained_rows(task: TaskData) -> pd.DataFrame:
    """train.parquet: the rows fine-tuned on, labels as class names in a multi-class task."""
    rows = task.train[["row_id", "text", "label", "group", "swapped"]].copy()
    if task.classes is not None:
        rows["label"] = [task.classes[i] for i in rows["label"]]
    return rows.reset_index(drop=True)


def score_class_rows(
    model: Any,
    tokenizer: Any,
    rows: pd.DataFrame,
    tcfg: TrainConfig,
    device: Any,
    classes: tuple[str, ...],
) -> pd.DataFrame:
    """The predictions table of a multi-class task (`metrics.table`): label, pred and cf_pred as
    class names, score and cf_score the true class's probability for the text and its twin."""
    probs = predict_probs(model, tokenizer, rows["text"].tolist(), tcfg, device)
    cf_probs = predict_probs(model, tokenizer, rows["cf_text"].tolist(), tcfg, device)
    names, label = np.array(classes, dtype=object), rows["label"].astype(int).to_numpy()
    at = np.arange(len(label))
    return pd.DataFrame(
        {
            "text": rows["text"].to_numpy(),
            "cf_text": rows["cf_text"].to_numpy(),
            "label": names[label],
            "group": rows["group"].to_numpy(),
            "score": probs[at, label],
            "pred": names[probs.argmax(1)],
            "cf_score": cf_probs[at, label],
            "cf_pred": names[cf_probs.argmax(1)],
        }
    )


def score_rows(
    model: Any, tokenizer: Any, rows: pd.DataFrame, tcfg: TrainConfig, device: Any
) -> pd.DataFrame:
    """The predictions table of eval rows (text, label, group, cf_text): each text and its twin
    scored, so every metric can be computed from the table alone (`bias_sweep.metrics`)."""
    # P(y=1 | text): the positive class's column
    scores = predict_probs(model, tokenizer, rows["text"].tolist(), tcfg, device)[:, 1]
    cf_scores = predict_probs(model, tokenizer, rows["cf_text"].tolist(), tcfg, device)[:, 1]
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
