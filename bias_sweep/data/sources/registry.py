"""The data source registry: every source of labelled texts declares, where it is defined, how
it loads, how it describes itself and what it needs of the `data` config.

`data.source` chooses one by name (the schema's choices are this registry's names). A source's
`load` returns every (text, label) row it has, labels 0/1, plus a `gold_group` column where the
source knows each row's group; the pool (`data.pool`) finds the groups and twins, and everything
after it (eval split, co-occurrence sampling, feasibility) is the same for every source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bias_sweep.registry import Registry

if TYPE_CHECKING:
    import pandas as pd

    from bias_sweep.schema import DataConfig


@dataclass(frozen=True)
class SourceRows:
    """What a source's `load` returns."""

    frame: pd.DataFrame  # text (str), label (0/1)[, gold_group (str or None)]
    ident: dict[str, Any]  # what identifies the rows besides their content (part of the pool's key)
    # The gold group column's coding where the source knows it: (the built-in lexicon it is
    # about, value of group A, value of group B); None: data.group_values or the groups' names.
    gold_coding: tuple[str, str, str] | None = None
    # (positive-class words, negative-class words) where the source knows them (a generator);
    # None: derived from the labelled rows.
    class_words: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    unusable: int = 0  # rows of the source left out before `frame`: no text, or no label


@dataclass(frozen=True)
class Source:
    name: str
    load: Callable[[DataConfig, Path], SourceRows]  # (data config, cache folder) -> its rows
    describe: Callable[[DataConfig], str]  # the source in a few words, for messages and `plan`
    # What it needs of the data config (a UserError naming the key), checked when a config is
    # loaded, for every grid point: e.g. data.path for a file.
    check: Callable[[DataConfig], None] | None = None
    reads_path: bool = False  # data.path names a file it reads (re-read when the file changes)
    # It can tell each row's group itself (so data.group_values needs no data.group_column).
    gold_groups: bool = False


SOURCES: Registry[Source] = Registry("data.source")


def register_source(spec: Source) -> Source:
    return SOURCES.register(spec)
