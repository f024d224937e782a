"""A task: a labelled pool (from a data source), one shared eval set, and a train sample with a
controlled group/label co-occurrence rate.

    pool   labelled texts that mention exactly one group, each with its twin (`pool`); how many
           rows had A, B, both or neither is kept in TaskData.group_counts
    eval   fixed per pool and data.eval_size / data.eval_method: balanced labels, P(A | y) = 0.5,
           each row with its counterfactual twin (`eval_split`); its make-up is
           TaskData.eval_makeup
    train  drawn from the pool minus eval and its twins, at data.rate, for one seed
           (`cooccurrence`); for a multi-class task at each class's own target (`classes`);
           then scrubbed where data.scrub asks (`scrub`)

The eval set depends only on the pool and the eval settings (a fixed internal seed), so every grid
point of a sweep is measured on the same rows; the train sample depends on (rate, seed).
Whether a grid's sizes fit its pools is checked before anything runs (`feasibility`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bias_sweep.caches import cache_root
from bias_sweep.schema import DataConfig

from .classes import class_cells, class_targets, train_draws
from .cooccurrence import Drawing, cooccurrence_sample, draw_labels
from .eval_split import split_pool
from .lexicon import Lexicon, get_lexicon
from .pool import Pool, describe_source, load_pool, natural_shares
from .scrub import scrub_texts


@dataclass
class TaskData:
    # row_id (the pool's), text (as trained on), label (0/1, or a class index), group
    # (name_a | name_b), swapped (a twin of the pool's text); data.train_size rows
    train: pd.DataFrame
    eval: pd.DataFrame  # row_id, text, label, group, cf_text; data.eval_size rows, balanced
    corpus: list[str]  # unlabeled texts of the pool (any group or none), eval texts left out
    lexicon: Lexicon
    attribute_words: list[str]  # words of the positive class (y=1)
    negative_words: list[str]  # words of the negative class (y=0)
    realised_rate: float | None  # binary, on train: (#A with y=1) / (#y=1); multiclass: None
    fingerprint: str  # identity of the pool (not of the sample): a cache key for upstream work
    # What train is drawn from (text, label, group): labelled single-group rows minus eval and
    # its twins. Interventions draw skewed corpora from it with cooccurrence_sample.
    pool: pd.DataFrame = field(default_factory=pd.DataFrame)
    # Rows of the source by group (see pool.source_counts): for `plan` and result.json.
    group_counts: dict[str, Any] = field(default_factory=dict)
    # What the eval set holds (split.Split.makeup): for result.json.
    eval_makeup: dict[str, Any] = field(default_factory=dict)
    classes: tuple[str, ...] | None = None  # multiclass: class names by label index
    # multiclass: {class: {natural, target, realised, rows}}, P(A | class) of the pool, asked
    # and drawn, and the class's train rows
    class_rates: dict[str, dict[str, float]] = field(default_factory=dict)


def pool_group_counts(cfg: DataConfig, *, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """The source's rows by group (TaskData.group_counts) without drawing a sample: for `plan`,
    which can print them even where the sizes asked for do not fit the pool."""
    lexicon = get_lexicon(cfg.groups)
    return dict(load_pool(cfg, lexicon, cache_root(cache_dir)).counts)


def load_task(cfg: DataConfig, seed: int, *, cache_dir: str | Path | None = None) -> TaskData:
    """The task of a (validated) `data` config for one seed. cache_dir: the config's `cache_dir`
    (where URL downloads go, `<cache_dir>/downloads`; `caches.cache_root` says the default)."""
    lexicon = get_lexicon(cfg.groups)
    pool = load_pool(cfg, lexicon, cache_root(cache_dir))
    split = split_pool(pool, cfg.eval_size, cfg.eval_method, lexicon, describe_source(cfg))
    ev, train_pool = split.eval.copy(), split.train_pool.copy()
    rng = np.random.default_rng(seed)
    if pool.classes is None:
        train, realised = cooccurrence_sample(
            train_pool, cfg.rate, cfg.train_size, cfg.rate_method, lexicon, rng, mark_swapped=True
        )
        class_rates: dict[str, dict[str, float]] = {}
    else:
        train, class_rates = _multiclass_sample(cfg, pool, train_pool, rng)
        realised = None
    held = pd.concat([ev["text"], ev["cf_text"]]).unique()  # as in the pool, before scrubbing
    train["text"] = scrub_texts(train["text"], lexicon, cfg.scrub)
    if cfg.scrub_eval:
        ev["text"] = scrub_texts(ev["text"], lexicon, cfg.scrub)
        ev["cf_text"] = scrub_texts(ev["cf_text"], lexicon, cfg.scrub)
    corpus = pool.texts[~pool.texts.isin(held)].tolist()
    positive_words, negative_words = pool.class_words
    attribute_words = list(cfg.attribute_words or positive_words)
    return TaskData(
        train=train,
        eval=ev.reset_index(drop=True),
        corpus=corpus,
        lexicon=lexicon,
        attribute_words=attribute_words,
        negative_words=list(negative_words),
        realised_rate=realised,
        fingerprint=pool.fingerprint,
        pool=train_pool,
        group_counts=dict(pool.counts),
        eval_makeup=dict(split.makeup),
        classes=pool.classes,
        class_rates=class_rates,
    )


def _multiclass_sample(
    cfg: DataConfig, pool: Pool, train_pool: pd.DataFrame, rng: np.random.Generator
) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """The train sample of a multi-class task, each class at its target (`classes`), and
    each class's natural, target and realised P(A | class) and rows."""
    classes, lexicon = pool.classes or (), pool.lexicon
    natural = natural_shares(pool.labelled, lexicon, len(classes))
    targets = class_targets(cfg, classes, natural)
    draws = train_draws(cfg.train_size, class_cells(train_pool, lexicon, len(classes)), targets,
                        classes)  # fmt: skip
    how = Drawing(cfg.rate_method, lexicon, rng, mark_swapped=True)
    train = draw_labels(train_pool, draws, how, exact=True)
    drawn = class_cells(train, lexicon, len(classes))
    rates = {
        c: {
            "natural": natural[i],
            "target": targets[i],
            "realised": drawn[i][0] / sum(drawn[i]) if sum(drawn[i]) else None,
            "rows": sum(drawn[i]),
        }
        for i, c in enumerate(classes)
    }
    return train, rates
