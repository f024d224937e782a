"""A source's labelled pool: its texts that mention exactly one group, each with its twin.

    pool   labelled texts that mention exactly one group (deduplicated by text), or, where the
           source has a gold group column (data.group_column; LabHC/bias_in_bios's gender), the
           rows whose gold group is A or B and whose twin differs from the text; how many rows
           had A, B, both or neither is kept in Pool.counts

Pools are kept per process (a worker's trials, and `plan`'s checks, share them).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from bias_sweep.caches import Memo
from bias_sweep.errors import UserError
from bias_sweep.hashing import stable_hash
from bias_sweep.schema import SAMPLE_ONLY_DATA_KEYS, DataConfig

from .lexicon import Lexicon
from .sources import SOURCES, SourceRows
from .tables import file_version, local_file


@dataclass(frozen=True)
class Pool:
    labelled: pd.DataFrame  # row_id, text, label, group, cf_text
    texts: pd.Series  # every text of the source, with or without a group
    fingerprint: str
    counts: dict[str, Any]
    lexicon: Lexicon
    # (positive-class words, negative-class words) where the source knows them (a generator)
    source_words: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    # data.task=multiclass: the class names, sorted; `label` is the index of one (0..K-1)
    classes: tuple[str, ...] | None = None

    @cached_property
    def class_words(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(positive-class words, negative-class words): the source's own where it has them,
        else the words most associated with each class. Computed when a task first needs them,
        not for `plan`."""
        if self.source_words is not None:
            return self.source_words
        from .class_words import class_words  # scikit-learn takes about a second to import

        labelled = self.labelled
        if self.classes is not None:  # the words of A-leaning classes against the others'
            labelled = labelled.assign(label=a_leaning(labelled, self.lexicon))
        pos, neg = class_words(labelled, self.lexicon)
        return tuple(pos), tuple(neg)


def natural_shares(labelled: pd.DataFrame, lexicon: Lexicon, k: int) -> list[float]:
    """Each class's own share of group A in a (multi-class) pool: natural_c = P(A | y = c)."""
    in_a = (labelled["group"] == lexicon.name_a).astype(float)
    shares = in_a.groupby(labelled["label"]).mean().reindex(range(k))
    return [float(v) for v in shares.fillna(0.5)]


def a_leaning(labelled: pd.DataFrame, lexicon: Lexicon) -> pd.Series:
    """1 where a row's class holds more A than B rows, else 0."""
    k = int(labelled["label"].max()) + 1
    shares = natural_shares(labelled, lexicon, k)
    return labelled["label"].map(lambda c: int(shares[c] > 0.5))


_POOLS: Memo[Pool] = Memo(4)  # per process: a worker's trials share pools


def _pool_key(cfg: DataConfig, lexicon: Lexicon, root: Path) -> tuple:
    """Cheap in-process key of a pool: its settings, plus the file's version so edits are seen."""
    source = SOURCES.get(cfg.source)
    version = None
    if source.reads_path and cfg.path:
        local = local_file(cfg.path, root)  # downloads a URL once
        version = (str(local), *file_version(local))
    settings = {k: v for k, v in asdict(cfg).items() if k not in SAMPLE_ONLY_DATA_KEYS}
    return (json.dumps(settings, sort_keys=True, default=str), version, lexicon)


def _gold_groups(
    cfg: DataConfig, lexicon: Lexicon, rows: SourceRows, distinct: pd.DataFrame
) -> pd.Series | None:
    """name_a / name_b / None per row from the source's gold group column, or None if it has
    none. Values: data.group_values {a: ..., b: ...}; the source's own coding; or the column
    already holds the group names."""
    if "gold_group" not in distinct.columns:
        return None
    column = rows.ident.get("group_column")
    if cfg.group_values:
        a, b = str(cfg.group_values["a"]), str(cfg.group_values["b"])
    elif rows.gold_coding is not None:
        builtin, a, b = rows.gold_coding
        if lexicon.builtin != builtin:
            return None  # the gold column is about another attribute: groups from the lexicon
    else:
        a, b = lexicon.name_a, lexicon.name_b
    gold = distinct["gold_group"]
    if not (gold == a).any() or not (gold == b).any():
        seen = ", ".join(sorted(gold.dropna().astype(str).unique())[:8])
        raise UserError(
            f"data.group_values: column '{column}' needs values for both groups ({a!r} -> "
            f"{lexicon.name_a}, {b!r} -> {lexicon.name_b}); it has {seen or 'no value'}; set "
            "data.group_values: {a: ..., b: ...}"
        )
    return gold.map({a: lexicon.name_a, b: lexicon.name_b}).astype(object)


def source_counts(
    rows: int,
    scans: pd.DataFrame,
    gold: pd.Series | None,
    gold_column: str | None,
    kept: int,
    lexicon: Lexicon,
) -> dict[str, Any]:
    """Rows of a source by group: a, b (one group), both, neither, and the share kept.

    Counted on distinct texts (`duplicates` rows of the source repeat a text); kept_share is
    kept / distinct texts. With a gold group column, a and b count its values, neither the rows
    with another or no value, and no_twin the rows dropped because no lexicon term was found to
    swap; lexicon_agreement is the share of rows with a gold group and a lexicon group where the
    two agree.
    """
    counts: dict[str, Any] = {"group_from": "lexicon", "rows": rows}
    counts["duplicates"] = rows - len(scans)
    if gold is None:
        counts.update(lexicon.side_counts(scans))
    else:
        g = gold.to_numpy()
        known = gold.notna().to_numpy()
        lex = lexicon.group_column_from(scans).to_numpy()
        both_known = known & pd.notna(lex)
        counts.update(
            **lexicon.column_counts(gold, gold_column),
            no_twin=int((known & (scans["cf_text"] == scans["text"]).to_numpy()).sum()),
            lexicon_agreement=float((g[both_known] == lex[both_known]).mean())
            if both_known.any()
            else None,
        )
    counts["kept"] = kept
    counts["kept_share"] = kept / len(scans) if len(scans) else 0.0
    return counts


def load_pool(cfg: DataConfig, lexicon: Lexicon, root: Path) -> Pool:
    """The pool of a data config (kept per process, re-read when its file changes)."""
    key = _pool_key(cfg, lexicon, root)
    return _POOLS.get_or_make(key, lambda: _build(cfg, lexicon, root))


def _build(cfg: DataConfig, lexicon: Lexicon, root: Path) -> Pool:
    rows = SOURCES.get(cfg.source).load(cfg, root)
    raw = rows.frame
    # A content hash rather than the path: the same data fingerprints alike on every node.
    content = pd.util.hash_pandas_object(raw, index=False).to_numpy().tobytes()
    ident = {
        "source": cfg.source,
        **rows.ident,
        "content": hashlib.sha256(content).hexdigest(),
        "lexicon": lexicon.describe(),
    }
    distinct = raw.drop_duplicates("text").reset_index(drop=True)
    gold = _gold_groups(cfg, lexicon, rows, distinct)
    if gold is not None:
        ident["group_values"] = [lexicon.name_a, lexicon.name_b]
    scans = lexicon.scan_column(distinct["text"])
    labelled = distinct[["text", "label"]].copy()
    labelled["cf_text"] = scans["cf_text"].to_numpy()
    if gold is None:
        labelled["group"] = lexicon.group_column_from(scans)
        keep = labelled["group"].notna()
    else:
        labelled["group"] = gold.to_numpy()
        keep = labelled["group"].notna() & (labelled["cf_text"] != labelled["text"])
    labelled["row_id"] = range(len(labelled))  # the distinct text's place in the source
    labelled = labelled[keep].reset_index(drop=True)
    labelled = labelled[["row_id", "text", "label", "group", "cf_text"]]
    if labelled.empty:
        where = describe_source(cfg)
        terms = ", ".join((*lexicon.terms_a[:4], *lexicon.terms_b[:4]))
        raise UserError(
            f"data.groups: no row of {where} mentions exactly one group of the lexicon "
            f"({lexicon.name_a}/{lexicon.name_b}: {terms}, ...); choose data.groups.lexicon "
            "or data.groups.pairs whose terms occur in the text"
        )
    classes = None
    if cfg.task == "multiclass":  # class names -> 0..K-1, the classifier's label ids
        classes = tuple(sorted(labelled["label"].astype(str).unique()))
        labelled["label"] = labelled["label"].astype(str).map({c: i for i, c in enumerate(classes)})
    labelled["label"] = labelled["label"].astype("int64")
    column = ident.get("group_column")
    counts = source_counts(len(raw), scans, gold, column, len(labelled), lexicon)
    counts["unusable"] = rows.unusable
    fingerprint = stable_hash(ident, length=16)
    words = rows.class_words
    return Pool(labelled, raw["text"], fingerprint, counts, lexicon, words, classes)


def describe_source(cfg: DataConfig) -> str:
    """The source of a `data` config in a few words, for messages and `plan`."""
    return SOURCES.get(cfg.source).describe(cfg)
