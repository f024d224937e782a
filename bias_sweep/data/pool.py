"""A source's labelled pool: its texts that mention exactly one group, each with its twin.

    pool   labelled texts that mention exactly one group (deduplicated by text), or, where the
           source has a gold group column (data.group_column; LabHC/bias_in_bios's gender), the
           rows whose gold group is A or B and whose twin differs from the text; how many rows
           had A, B, both or neither is kept in Pool.counts

Pools are cached per process (a worker's trials, and `plan`'s checks, share them).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from bias_sweep.errors import UserError
from bias_sweep.identity import stable_hash

from . import sources, synthetic
from .lexicons import Lexicon

SYNTHETIC_SEED = 0
SYNTHETIC_VERSION = 1  # bump when the generator changes, so caches keyed by fingerprint refresh


@dataclass(frozen=True)
class Pool:
    labelled: pd.DataFrame  # text, label, group, cf_text
    texts: pd.Series  # every text of the source, with or without a group
    fingerprint: str
    counts: dict[str, Any]
    lexicon: Lexicon
    synthetic: bool

    @cached_property
    def class_words(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(positive-class words, negative-class words): the generator's own for the synthetic
        pool, else the words most associated with each class. Computed when a task first
        needs them, not for `plan`."""
        if self.synthetic:
            return synthetic.POSITIVE_WORDS, synthetic.NEGATIVE_WORDS
        from .words import class_words  # scikit-learn takes about a second to import

        pos, neg = class_words(self.labelled, self.lexicon)
        return tuple(pos), tuple(neg)


_POOLS: OrderedDict[tuple, Pool] = OrderedDict()  # per process: a worker's trials share pools
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
    settings = (
        cfg.text_column,
        cfg.label_column,
        cfg.positive_label,
        cfg.hub_dataset,
        getattr(cfg, "group_column", None),
        str(dict(getattr(cfg, "group_values", None) or {})),
    )
    size = int(cfg.pool_size) if cfg.source == "synthetic" else None
    return (cfg.source, cfg.path, stat, settings, size, lexicon)


def _gold_groups(cfg: Any, lexicon: Lexicon, raw: pd.DataFrame) -> pd.Series | None:
    """name_a / name_b / None per row from the source's gold group column, or None if it has
    none. Values: data.group_values {a: ..., b: ...}; a hub dataset's own coding; or the
    column already holds the group names."""
    if "gold_group" not in raw.columns:
        return None
    values = getattr(cfg, "group_values", None)
    column = getattr(cfg, "group_column", None)
    if values:
        a, b = str(values["a"]), str(values["b"])
    elif cfg.source == "hub" and cfg.hub_dataset in sources.HUB_GROUPS:
        column, builtin, a, b = sources.HUB_GROUPS[cfg.hub_dataset]
        if lexicon.builtin != builtin:
            return None  # the gold column is about another attribute: groups from the lexicon
    else:
        a, b = lexicon.name_a, lexicon.name_b
    gold = raw["gold_group"]
    if not (gold == a).any() or not (gold == b).any():
        seen = ", ".join(sorted(gold.dropna().astype(str).unique())[:8])
        raise UserError(
            f"data.group_values: column '{column}' needs values for both groups ({a!r} -> "
            f"{lexicon.name_a}, {b!r} -> {lexicon.name_b}); it has {seen or 'no value'}; set "
            "data.group_values: {a: ..., b: ...}"
        )
    return gold.map({a: lexicon.name_a, b: lexicon.name_b}).astype(object)


def source_counts(
    raw: pd.DataFrame,
    scans: pd.DataFrame,
    gold: pd.Series | None,
    gold_column: str | None,
    kept: int,
    lexicon: Lexicon,
) -> dict[str, Any]:
    """Rows of a source by group: a, b (one group), both, neither, and the share kept.

    Counted on distinct texts (`duplicates` rows of the source repeat a text); kept_share is
    kept / distinct texts. With a gold group
    column, a and b count its values, neither the rows with another or no value, and no_twin
    the rows dropped because no lexicon term was found to swap; lexicon_agreement is the share
    of rows with a gold group and a lexicon group where the two agree.
    """
    has_a, has_b = scans["has_a"].to_numpy(), scans["has_b"].to_numpy()
    counts: dict[str, Any] = {"group_from": "lexicon", "rows": len(raw)}
    counts["duplicates"] = len(raw) - len(scans)
    if gold is None:
        counts.update(
            a=int((has_a & ~has_b).sum()),
            b=int((has_b & ~has_a).sum()),
            both=int((has_a & has_b).sum()),
            neither=int((~has_a & ~has_b).sum()),
        )
    else:
        g = gold.to_numpy()
        known = gold.notna().to_numpy()
        lex = lexicon.group_column_from(scans).to_numpy()
        both_known = known & pd.notna(lex)
        counts.update(
            group_from=f"column {gold_column}",
            a=int((g == lexicon.name_a).sum()),
            b=int((g == lexicon.name_b).sum()),
            both=0,
            neither=int((~known).sum()),
            no_twin=int((known & (scans["cf_text"] == scans["text"]).to_numpy()).sum()),
            lexicon_agreement=float((g[both_known] == lex[both_known]).mean())
            if both_known.any()
            else None,
        )
    counts["kept"] = kept
    counts["kept_share"] = kept / len(scans) if len(scans) else 0.0
    return counts


def load_pool(cfg: Any, lexicon: Lexicon, root: Path) -> Pool:
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
    distinct = raw.drop_duplicates("text").reset_index(drop=True)
    gold = _gold_groups(cfg, lexicon, distinct)
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
    labelled = labelled[keep].reset_index(drop=True)[["text", "label", "group", "cf_text"]]
    if labelled.empty:
        where = describe_source(cfg)
        terms = ", ".join((*lexicon.terms_a[:4], *lexicon.terms_b[:4]))
        raise UserError(
            f"data.groups: no row of {where} mentions exactly one group of the lexicon "
            f"({lexicon.name_a}/{lexicon.name_b}: {terms}, ...); choose data.groups.lexicon "
            "or data.groups.pairs whose terms occur in the text"
        )
    labelled["label"] = labelled["label"].astype("int64")
    counts = source_counts(raw, scans, gold, ident.get("group_column"), len(labelled), lexicon)
    fingerprint = stable_hash(ident, length=16)
    pool = Pool(labelled, raw["text"], fingerprint, counts, lexicon, cfg.source == "synthetic")
    _POOLS[key] = pool
    while len(_POOLS) > _MAX_POOLS:
        _POOLS.popitem(last=False)
    return pool


def describe_source(cfg: Any) -> str:
    """The source of a `data` config in a few words, for messages and `plan`."""
    if cfg.source == "synthetic":
        return f"the synthetic pool ({int(cfg.pool_size)} rows)"
    if cfg.source == "hub":
        return f"{cfg.hub_dataset} ({cfg.path})" if cfg.path else str(cfg.hub_dataset)
    return f"file {cfg.path}"
