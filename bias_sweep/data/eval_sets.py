"""External evaluation sets (`eval.sets`): labelled files that every trial scores besides its
in-domain eval set, e.g. identity-term templates for a model fine-tuned on real comments.

Each set is read like a data file (a local path or an http(s) URL, downloaded once into the
cache), its labels like data.label_column / data.positive_label. A row's group comes from
`group_column` where the set has one (values `group_values: {a: ..., b: ...}`, or the groups'
own names), else from the lexicon of data.groups, and its twin from `cf_text_column` or the
lexicon. Rows without exactly one group, and rows whose lexicon twin is the text itself (nothing
to swap), are dropped and counted: `EvalSet.counts`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bias_sweep.caches import Memo
from bias_sweep.errors import UserError
from bias_sweep.schema import EvalSetConfig, GroupsConfig

from . import tables
from .lexicon import Lexicon, get_lexicon

_SETS: Memo[EvalSet] = Memo(8)  # per process: a worker's trials share them


@dataclass(frozen=True)
class EvalSet:
    name: str
    path: str
    frame: pd.DataFrame  # text, label (0/1), group (name_a | name_b), cf_text
    counts: dict[str, Any]  # rows; group_from; a, b, both, neither; no_twin; kept
    groups: tuple[str, str]  # the names of groups A and B


def _groups(
    one: EvalSetConfig, key: str, raw: pd.Series, lexicon: Lexicon, shown: str
) -> pd.Series:
    """name_a / name_b / None per row from the set's group column."""
    values = tables.as_text(raw)
    if one.group_values:
        mapping = {
            str(one.group_values["a"]): lexicon.name_a,
            str(one.group_values["b"]): lexicon.name_b,
        }
    else:
        mapping = {lexicon.name_a: lexicon.name_a, lexicon.name_b: lexicon.name_b}
    groups = values.map(mapping)
    if not (groups == lexicon.name_a).any() or not (groups == lexicon.name_b).any():
        seen = ", ".join(sorted(values.dropna().astype(str).unique())[:8])
        raise UserError(
            f"{key}.group_values: column '{one.group_column}' of {shown} needs values of both "
            f"groups ({', '.join(mapping)}); it has {seen or 'no value'}"
        )
    return groups.astype(object).where(groups.notna(), None)


def _build(one: EvalSetConfig, key: str, lexicon: Lexicon, root: Path) -> EvalSet:
    df, shown = tables.read_table(one.path, root, key=f"{key}.path")
    text = tables.column(df, one.text_column, f"{key}.text_column", shown)
    raw_label = tables.column(df, one.label_column, f"{key}.label_column", shown)
    keep = text.notna() & raw_label.notna()
    df, text = df[keep], text[keep].astype(str)
    label = tables.binary_labels(raw_label[keep], one.positive_label, one.label_column, shown, key)
    scans = lexicon.scan_column(text.reset_index(drop=True))
    counts: dict[str, Any] = {"rows": len(df)}
    if one.group_column:
        raw = tables.column(df, one.group_column, f"{key}.group_column", shown)
        group = _groups(one, key, raw.reset_index(drop=True), lexicon, shown)
        counts.update(lexicon.column_counts(group, one.group_column))
    else:
        group = lexicon.group_column_from(scans)
        counts.update(group_from="lexicon", **lexicon.side_counts(scans))
    if one.cf_text_column:
        twin = tables.column(df, one.cf_text_column, f"{key}.cf_text_column", shown)
        cf_text = twin.astype(str).reset_index(drop=True)
        no_twin = np.zeros(len(df), dtype=bool)
    else:
        cf_text = scans["cf_text"].reset_index(drop=True)
        no_twin = (cf_text == scans["text"].reset_index(drop=True)).to_numpy()
    has_group = group.notna().to_numpy()
    counts["no_twin"] = int((has_group & no_twin).sum())
    kept = has_group & ~no_twin
    counts["kept"] = int(kept.sum())
    if not kept.any():
        raise UserError(
            f"{key}: no row of {shown} has exactly one group ({lexicon.name_a}/{lexicon.name_b}) "
            "and a twin; set its group_column or choose data.groups whose terms occur in it"
        )
    frame = pd.DataFrame(
        {
            "text": scans["text"].to_numpy()[kept],
            "label": label.to_numpy()[kept],
            "group": group.to_numpy()[kept],
            "cf_text": cf_text.to_numpy()[kept],
        }
    )
    return EvalSet(one.name, one.path, frame, counts, (lexicon.name_a, lexicon.name_b))


def load_eval_sets(sets: list[EvalSetConfig], groups: GroupsConfig, root: Path) -> list[EvalSet]:
    """The eval sets of an `eval.sets` config, with groups and twins from `groups`'s lexicon
    (kept per process and file version; `root`: the cache folder for downloads)."""
    lexicon = get_lexicon(groups)
    out = []
    for i, one in enumerate(sets):
        key = f"eval.sets[{i}]"
        local = tables.local_file(one.path, root, key=f"{key}.path")
        settings = json.dumps(asdict(one), sort_keys=True, default=str)
        ident = (settings, str(local), *tables.file_version(local), lexicon)
        out.append(
            _SETS.get_or_make(ident, lambda one=one, key=key: _build(one, key, lexicon, root))
        )
    return out
