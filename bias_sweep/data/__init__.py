"""Tasks: a labelled pool (synthetic, a file or a hub dataset), one shared eval set, and a train
sample with a controlled group/label co-occurrence rate.

    pool   labelled texts that mention exactly one group, each with its twin (`pool`); how many
           rows had A, B, both or neither is kept in TaskData.group_counts
    eval   fixed per pool and data.eval_size / data.eval_method: balanced labels, P(A | y) = 0.5,
           each row with its counterfactual twin (`split`); its make-up is TaskData.eval_makeup
    train  drawn from the pool minus eval and its twins, at data.rate, for one seed

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

from bias_sweep.config import cache_root

from . import sources, synthetic
from .lexicons import Lexicon, get_lexicon, group_counts
from .pool import _POOLS as _POOLS  # re-exported: tests clear the per-process pool cache
from .pool import describe_source, load_pool
from .sampling import cooccurrence_sample
from .split import EVAL_SEED, eval_method, split_pool

__all__ = [
    "EVAL_SEED",
    "Lexicon",
    "TaskData",
    "cooccurrence_sample",
    "get_lexicon",
    "group_counts",
    "load_task",
    "pool_group_counts",
    "sources",
    "synthetic",
]


@dataclass
class TaskData:
    train: pd.DataFrame  # text, label (0/1), group (name_a | name_b); data.train_size rows
    eval: pd.DataFrame  # text, label, group, cf_text; data.eval_size rows, balanced
    corpus: list[str]  # unlabeled texts of the pool (any group or none), eval texts left out
    lexicon: Lexicon
    attribute_words: list[str]  # words of the positive class (y=1)
    negative_words: list[str]  # words of the negative class (y=0)
    realised_rate: float  # on train: (#A with y=1) / (#y=1)
    fingerprint: str  # identity of the pool (not of the sample): a cache key for upstream work
    # What train is drawn from (text, label, group): labelled single-group rows minus eval and
    # its twins. Interventions draw skewed corpora from it with cooccurrence_sample.
    pool: pd.DataFrame = field(default_factory=pd.DataFrame)
    # Rows of the source by group (see pool.source_counts): for `plan` and result.json.
    group_counts: dict[str, Any] = field(default_factory=dict)
    # What the eval set holds (split.Split.makeup): for result.json.
    eval_makeup: dict[str, Any] = field(default_factory=dict)


def pool_group_counts(cfg: Any, *, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """The source's rows by group (TaskData.group_counts) without drawing a sample: for `plan`,
    which can print them even where the sizes asked for do not fit the pool."""
    lexicon = get_lexicon(cfg.groups)
    return dict(load_pool(cfg, lexicon, cache_root(cache_dir)).counts)


def load_task(cfg: Any, seed: int, *, cache_dir: str | Path | None = None) -> TaskData:
    """The task of a `data` config (DataConfig or DictConfig) for one seed.

    cache_dir: where URL downloads go (`<cache_dir>/downloads`); default as
    `bias_sweep.config.cache_root` (pass `bias_sweep.config.cache_dir(conf)` to follow the config).
    """
    lexicon = get_lexicon(cfg.groups)
    pool = load_pool(cfg, lexicon, cache_root(cache_dir))
    split = split_pool(pool, int(cfg.eval_size), eval_method(cfg), lexicon, describe_source(cfg))
    ev, train_pool = split.eval.copy(), split.train_pool.copy()
    train, realised = cooccurrence_sample(
        train_pool, float(cfg.rate), int(cfg.train_size), cfg.rate_method, lexicon,
        np.random.default_rng(seed),
    )  # fmt: skip
    held = pd.concat([ev["text"], ev["cf_text"]]).unique()
    corpus = pool.texts[~pool.texts.isin(held)].tolist()
    positive_words, negative_words = pool.class_words
    if cfg.attribute_words:
        attribute_words = [str(w) for w in cfg.attribute_words]
    else:
        attribute_words = list(positive_words)
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
    )
