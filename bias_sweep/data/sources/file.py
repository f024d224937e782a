"""`data.source=file`: a labelled table from a local path or an http(s) URL (downloaded once
into the cache): data.path, data.text_column, data.label_column, data.positive_label (the value
meaning y=1; without it the labels must be 0/1 or booleans; with data.task=multiclass every value
is a class), and optionally data.group_column
(a gold group per row, values data.group_values or the groups' own names)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bias_sweep.checks import check
from bias_sweep.data.sources.registry import Source, SourceRows, register_source
from bias_sweep.data.tables import column, labelled_frame, read_table, task_labels
from bias_sweep.schema import DataConfig


def load(cfg: DataConfig, root: Path) -> SourceRows:
    df, shown = read_table(cfg.path, root)
    text = column(df, cfg.text_column, "data.text_column", shown)
    raw = column(df, cfg.label_column, "data.label_column", shown)
    keep = text.notna() & (text.astype(str).str.strip() != "") & raw.notna()
    label = task_labels(raw[keep], cfg.task, cfg.positive_label, cfg.label_column, shown)
    ident: dict[str, Any] = {
        "columns": [cfg.text_column, cfg.label_column],
        "positive_label": cfg.positive_label,
        "task": cfg.task,
    }
    group = None
    if cfg.group_column:
        group = column(df, cfg.group_column, "data.group_column", shown)[keep]
        ident["group_column"] = cfg.group_column
    unusable = int((~keep).sum())
    return SourceRows(labelled_frame(text[keep], label, group), ident, unusable=unusable)


def describe(cfg: DataConfig) -> str:
    return f"file {cfg.path}"


def check_config(cfg: DataConfig) -> None:
    check(bool(cfg.path), "data.path", "a file path or URL when data.source=file", cfg.path)


register_source(Source("file", load, describe, check_config, reads_path=True))
