"""Tasks: a labelled pool (synthetic, a file or a hub dataset), one shared eval set, and a train
sample with a controlled group/label co-occurrence rate.

    pool   labelled texts that mention exactly one group (deduplicated by text)
    eval   fixed per pool: balanced labels, P(A | y) = 0.5, with each row's counterfactual twin
           (real rows; where a cell of the pool is too small, swapped twins fill it in)
    train  drawn from the pool minus eval and its twins, at data.rate, for one seed

The eval set depends only on the pool (a fixed internal seed), so every grid point of a sweep is
measured on the same rows; the train sample depends on (rate, seed).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bias_sweep.config import cache_root
from bias_sweep.errors import UserError
from bias_sweep.identity import stable_hash

from . import sources, synthetic
from .lexicons import Lexicon, get_lexicon
from .sampling import cooccurrence_sample
from .words import class_words

__all__ = [
    "Lexicon",
    "TaskData",
    "cooccurrence_sample",
    "get_lexicon",
    "load_task",
]

EVAL_SEED = 20220522  # fixed: every trial of every sweep on a pool shares one eval set
SYNTHETIC_SEED = 0
SYNTHETIC_VERSION = 1  # bump when the generator changes, so caches keyed by fingerprint refresh


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


@dataclass(frozen=True)
class _Pool:
    labelled: pd.DataFrame  # text, label, group, cf_text
    texts: pd.Series  # every text of the source, with or without a group
    fingerprint: str
    positive_words: tuple[str, ...]
    negative_words: tuple[str, ...]


_POOLS: OrderedDict[tuple, _Pool] = OrderedDict()  # per process: a worker's trials share pools
_MAX_POOLS = 4


def _raw(cfg: Any, lexicon: Lexicon, root: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(text, label) rows of the source and what identifies them besides their content."""
    if cfg.source == "synthetic":
        frame = synthetic.synthetic_pool(lexicon, int(cfg.pool_size), SYNTHETIC_SEED)
        ident = {"pool_size": int(cfg.pool_size), "version": SYNTHETIC_VERSION}
        return frame[["text", "label"]], ident
    if cfg.source == "file":
        return sources.load_file(cfg, root)
    if cfg.source == "hub":
        return sources.load_hub(cfg, root)
    raise UserError(f"data.source: {cfg.source!r}; expected synthetic, file or hub")


def _source_key(cfg: Any, lexicon: Lexicon, root: Path) -> tuple:
    """Cheap in-process key of a pool: the settings, plus the file's stat so edits are seen."""
    if cfg.source == "file" and not cfg.path:
        raise UserError("data.path: a file path or URL is needed when data.source=file")
    stat = None
    if cfg.source in ("file", "hub") and cfg.path:
        local = sources.local_file(cfg.path, root)  # downloads a URL once
        st = local.stat()
        stat = (str(local), st.st_mtime_ns, st.st_size)
    settings = (cfg.text_column, cfg.label_column, cfg.positive_label, cfg.hub_dataset)
    size = int(cfg.pool_size) if cfg.source == "synthetic" else None
    return (cfg.source, cfg.path, stat, settings, size, lexicon)


def _pool(cfg: Any, lexicon: Lexicon, root: Path) -> _Pool:
    key = _source_key(cfg, lexicon, root)
    if key in _POOLS:
        _POOLS.move_to_end(key)
        return _POOLS[key]
    raw, ident = _raw(cfg, lexicon, root)
    # A content hash rather than the path: the same data fingerprints alike on every node.
    content = pd.util.hash_pandas_object(raw, index=False).to_numpy().tobytes()
    ident = {
        "source": cfg.source,
        **ident,
        "content": hashlib.sha256(content).hexdigest(),
        "lexicon": lexicon.describe(),
    }
    labelled = raw.drop_duplicates("text").copy()
    labelled["group"] = lexicon.group_column(labelled["text"])
    labelled = labelled[labelled["group"].notna()].reset_index(drop=True)
    if labelled.empty:
        where = cfg.path or cfg.hub_dataset or "the synthetic pool"
        terms = ", ".join((*lexicon.terms_a[:4], *lexicon.terms_b[:4]))
        raise UserError(
            f"data.groups: no row of {where} mentions exactly one group of the lexicon "
            f"({lexicon.name_a}/{lexicon.name_b}: {terms}, ...); choose data.groups.lexicon "
            "or data.groups.pairs whose terms occur in the text"
        )
    labelled["label"] = labelled["label"].astype("int64")
    labelled["cf_text"] = lexicon.swap_column(labelled["text"])
    if cfg.source == "synthetic":
        words = (synthetic.POSITIVE_WORDS, synthetic.NEGATIVE_WORDS)
    else:
        pos, neg = class_words(labelled, lexicon)
        words = (tuple(pos), tuple(neg))
    pool = _Pool(labelled, raw["text"], stable_hash(ident, length=16), *words)
    _POOLS[key] = pool
    while len(_POOLS) > _MAX_POOLS:
        _POOLS.popitem(last=False)
    return pool


def _eval_set(labelled: pd.DataFrame, n: int, lexicon: Lexicon) -> pd.DataFrame:
    """Balanced eval rows from real text; counterfactual twins fill in where a cell is short."""
    try:
        ev, _ = cooccurrence_sample(
            labelled, 0.5, n, "resample", lexicon, np.random.default_rng(EVAL_SEED),
            size_key="data.eval_size",
        )  # fmt: skip
    except UserError:
        ev, _ = cooccurrence_sample(
            labelled, 0.5, n, "counterfactual", lexicon, np.random.default_rng(EVAL_SEED),
            size_key="data.eval_size",
        )  # fmt: skip
    ev = ev[["text", "label", "group"]].copy()
    ev["cf_text"] = lexicon.swap_column(ev["text"])
    return ev


def load_task(cfg: Any, seed: int, *, cache_dir: str | Path | None = None) -> TaskData:
    """The task of a `data` config (DataConfig or DictConfig) for one seed.

    cache_dir: where URL downloads go (`<cache_dir>/downloads`); default as
    `bias_sweep.config.cache_root` (pass `bias_sweep.config.cache_dir(conf)` to follow the config).
    """
    lexicon = get_lexicon(cfg.groups)
    pool = _pool(cfg, lexicon, cache_root(cache_dir))
    ev = _eval_set(pool.labelled, int(cfg.eval_size), lexicon)
    # Hold out eval rows and their twins, so that no train text (swapped or not) is an eval text.
    held = pd.concat([ev["text"], ev["cf_text"]]).unique()
    lab = pool.labelled
    train_pool = lab[~lab["text"].isin(held) & ~lab["cf_text"].isin(held)]
    train_pool = train_pool[["text", "label", "group"]].reset_index(drop=True)
    train, realised = cooccurrence_sample(
        train_pool, float(cfg.rate), int(cfg.train_size), cfg.rate_method, lexicon,
        np.random.default_rng(seed),
    )  # fmt: skip
    corpus = pool.texts[~pool.texts.isin(held)].tolist()
    if cfg.attribute_words:
        attribute_words = [str(w) for w in cfg.attribute_words]
    else:
        attribute_words = list(pool.positive_words)
    return TaskData(
        train=train,
        eval=ev.reset_index(drop=True),
        corpus=corpus,
        lexicon=lexicon,
        attribute_words=attribute_words,
        negative_words=list(pool.negative_words),
        realised_rate=realised,
        fingerprint=pool.fingerprint,
        pool=train_pool,
    )
