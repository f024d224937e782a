"""`data.source=hub`: a dataset of the Hugging Face hub (`data.hub_dataset`), or a local copy in
its schema (`data.path`: csv, tsv, jsonl, json or parquet), read through `datasets`.

Each supported dataset registers a `HubDataset` (its own module here): its text column, the
column its labels come from and how, and its gold group column where it has one. The hub's text
and label columns are fixed: data.text_column and data.label_column do not apply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bias_sweep.caches import Memo
from bias_sweep.checks import one_of
from bias_sweep.data.sources.registry import Source, SourceRows, register_source
from bias_sweep.data.tables import file_version, labelled_frame, local_file, table_format
from bias_sweep.errors import UserError
from bias_sweep.registry import Registry
from bias_sweep.schema import DataConfig


@dataclass(frozen=True)
class HubDataset:
    name: str  # the hub id (data.hub_dataset)
    text_column: str
    label_column: str  # the column the labels are computed from
    # (label column, data config) -> labels 0/1 and what identifies the rule (e.g. a threshold)
    labels: Callable[[pd.Series, DataConfig], tuple[pd.Series, dict[str, Any]]]
    # A gold group column: (column, the built-in lexicon it is about, value of A, value of B)
    gold_group: tuple[str, str, str, str] | None = None
    check: Callable[[DataConfig], None] | None = None  # what it needs of the data config


HUB_DATASETS: Registry[HubDataset] = Registry("data.hub_dataset")
_DATASETS: Memo[Any] = Memo(8)  # datasets.Dataset by hub id or local file version


def register_hub_dataset(spec: HubDataset) -> HubDataset:
    return HUB_DATASETS.register(spec)


def _from_hub(name: str) -> Any:
    import datasets  # ~1 s, and only hub sources need it

    try:
        return datasets.load_dataset(name, split="train")
    except Exception:
        raise UserError(
            f"data.hub_dataset: could not load '{name}' from the Hugging Face hub (offline?); "
            "set data.path to a local copy in the same schema"
        ) from None


def _from_file(path: Path, shown: str, cache: Path) -> Any:
    import datasets  # ~1 s, and only hub sources need it

    fmt = table_format(path.name)
    builder = {"csv": "csv", "tsv": "csv", "jsonl": "json", "json": "json"}.get(fmt, "parquet")
    kwargs = {"sep": "\t"} if fmt == "tsv" else {}
    quiet = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # converting a local file: no bars (`plan` says one line)
    try:
        # Arrow conversions of local files go to our cache, not the user's hub cache.
        return datasets.load_dataset(
            builder, data_files=str(path), split="train", cache_dir=str(cache), **kwargs
        )
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise UserError(
            f"data.path: could not read '{shown}' as {fmt} ({type(exc).__name__}: {first})"
        ) from None
    finally:
        if not quiet:
            datasets.enable_progress_bars()


def _dataset(cfg: DataConfig, root: Path) -> tuple[Any, str]:
    """The dataset of cfg.hub_dataset (from cfg.path if set) and the name to show for it."""
    if cfg.path:
        local = local_file(cfg.path, root)
        ident = (str(local), *file_version(local))
        dataset = _DATASETS.get_or_make(
            ident, lambda: _from_file(local, cfg.path, root / "hf-datasets")
        )
        return dataset, cfg.path
    name = cfg.hub_dataset
    return _DATASETS.get_or_make(name, lambda: _from_hub(name)), f"hub dataset '{name}'"


def load(cfg: DataConfig, root: Path) -> SourceRows:
    spec = HUB_DATASETS.get(cfg.hub_dataset)
    ds, shown = _dataset(cfg, root)
    for column in (spec.text_column, spec.label_column):
        if column not in ds.column_names:
            cols = ", ".join(ds.column_names)
            raise UserError(
                f"data.path: column '{column}' (schema of {spec.name}) not in {shown} (columns:"
                f" {cols})"
            )
    columns = [spec.text_column, spec.label_column]
    # A local copy without the gold column: groups from the lexicon.
    gold = spec.gold_group if spec.gold_group and spec.gold_group[0] in ds.column_names else None
    if gold is not None:
        columns.append(gold[0])
    df = ds.select_columns(columns).to_pandas().dropna(subset=columns[:2])
    label, rule = spec.labels(df[spec.label_column], cfg)
    if label.nunique() < 2:
        key = "data.path" if cfg.path else "data.hub_dataset"
        raise UserError(
            f"{key}: {shown} has one class only for {spec.name}; a classifier needs both"
        )
    ident: dict[str, Any] = {"hub": spec.name, **rule}
    if gold is not None:
        ident["group_column"] = gold[0]
    frame = labelled_frame(df[spec.text_column], label, df[gold[0]] if gold else None)
    return SourceRows(frame, ident, gold_coding=gold[1:] if gold else None)


def describe(cfg: DataConfig) -> str:
    return f"{cfg.hub_dataset} ({cfg.path})" if cfg.path else cfg.hub_dataset


def check_config(cfg: DataConfig) -> None:
    one_of(cfg.hub_dataset, "data.hub_dataset", HUB_DATASETS.names())
    spec = HUB_DATASETS.get(cfg.hub_dataset)
    if spec.check is not None:
        spec.check(cfg)


register_source(Source("hub", load, describe, check_config, reads_path=True, gold_groups=True))
