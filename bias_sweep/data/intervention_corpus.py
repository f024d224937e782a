"""`intervention.corpus`: the text an intervention learns from, separate from the fine-tuning task.

`cda` and `skew` continue pre-training on it, and `projection` takes its counterfactual pairs
from it (the bias direction is a property of the encoder's language, not of the task; a corpus
larger than projection's sample also makes `intervention.seed` draw independent directions).
Not set (no path, no hub_dataset): the task's own text, and for `cda` on tiny-bert the text
the tiny model was pre-trained on, as before this setting existed.

- `path`: a local file or an http(s)/file URL (downloaded once into `<cache_dir>/downloads`),
  CSV/TSV/JSONL/JSON/parquet with a `text_column`, or `.txt` with one text per line;
- `hub_dataset`: a Hugging Face dataset at a pinned `revision`, its `split` and `text_column`,
  read with `datasets.load_dataset(..., revision=..., streaming=True)` so that only the first
  `max_rows` rows are fetched; the texts are kept in `<cache_dir>/corpora/` so that workers
  without hub access reuse what `plan` fetched.

`max_rows` keeps the first rows in the stored order (empty texts dropped first): deterministic,
so a corpus at a pinned revision is the same text on every node.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import pandas as pd

from bias_sweep.data import tables
from bias_sweep.errors import UserError
from bias_sweep.files import atomic_path
from bias_sweep.hashing import stable_hash
from bias_sweep.schema import CORPUS_KEY as KEY
from bias_sweep.schema import CorpusConfig

TEXT_SUFFIX = ".txt"


@dataclass(frozen=True)
class Corpus:
    texts: list[str]
    source: str  # where the texts come from, in words (plan, the intervened model's metadata)


def is_text_file(path: str) -> bool:
    """A `.txt` file or URL: one text per line."""
    name = urlparse(path).path if tables.is_url(path) else path
    return PurePosixPath(name).suffix.lower() == TEXT_SUFFIX


def supported_path(path: str) -> bool:
    """Whether the file type of `path` can be read as a corpus (checked before anything runs)."""
    name = urlparse(path).path if tables.is_url(path) else path
    return is_text_file(path) or tables.table_format(name) is not None


def load_corpus(ccfg: CorpusConfig | None, root: Path) -> Corpus | None:
    """The configured corpus (at most `max_rows` non-empty texts), or None when none is set."""
    if ccfg is None or not ccfg.is_set():
        return None
    if ccfg.path:
        texts, source = _file_texts(ccfg, root)
    else:
        texts, source = _hub_texts(ccfg, root)
    if not texts:
        raise UserError(f"{KEY}: {source} holds no non-empty text")
    return Corpus(texts, source)


def _capped(texts: pd.Series, max_rows: int | None) -> list[str]:
    texts = texts.dropna().astype(str)
    texts = texts[texts.str.strip() != ""]
    return texts.head(max_rows).tolist() if max_rows else texts.tolist()


def _file_texts(ccfg: CorpusConfig, root: Path) -> tuple[list[str], str]:
    path, key = str(ccfg.path), f"{KEY}.path"
    cap = f", first {ccfg.max_rows} rows" if ccfg.max_rows else ""
    if not supported_path(path):
        raise UserError(
            f"{key}: '{path}' is not a supported file type (expected .csv, .tsv, .jsonl, .json"
            " or .parquet, optionally compressed as .gz, or .txt with one text per line)"
        )
    if is_text_file(path):
        local = tables.download(path, root, key) if tables.is_url(path) else Path(path)
        if not local.expanduser().is_file():
            raise UserError(f"{key}: file '{path}' not found")
        try:
            lines = local.expanduser().read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{key}: could not read '{path}' as UTF-8 text ({exc})") from None
        return _capped(pd.Series(lines, dtype=object), ccfg.max_rows), f"{path} (lines{cap})"
    df, shown = tables.read_table(path, root, key)
    column = tables.column(df, ccfg.text_column, f"{KEY}.text_column", shown)
    return _capped(column, ccfg.max_rows), f"{shown} (column {ccfg.text_column}{cap})"


def _hub_texts(ccfg: CorpusConfig, root: Path) -> tuple[list[str], str]:
    name, column, cap = ccfg.hub_dataset, ccfg.text_column, ccfg.max_rows
    where = f"{name}@{ccfg.revision}" + (f" ({ccfg.hub_config})" if ccfg.hub_config else "")
    source = f"hub dataset {where}, split {ccfg.split}, column {column}"
    source += f", first {cap} rows" if cap else ""
    settings = {k: getattr(ccfg, k) for k in ("hub_dataset", "hub_config", "revision", "split")}
    cached = root / "corpora" / f"{stable_hash({**settings, 'column': column, 'cap': cap})}.parquet"
    if cached.is_file():
        return pd.read_parquet(cached)["text"].tolist(), source
    texts = _stream(ccfg, where)
    with atomic_path(cached) as tmp:
        pd.DataFrame({"text": texts}).to_parquet(tmp, index=False)
    return texts, source


def _stream(ccfg: CorpusConfig, where: str) -> list[str]:
    """The first `max_rows` non-empty texts of the split, fetched row by row from the hub."""
    import datasets  # ~1 s, and only a hub corpus needs it

    column, cap = ccfg.text_column, ccfg.max_rows
    quiet = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # `plan` reports in one line
    texts: list[str] = []
    try:
        ds = datasets.load_dataset(
            ccfg.hub_dataset,
            ccfg.hub_config,
            revision=ccfg.revision,
            split=ccfg.split,
            streaming=True,
        )
        for row in ds:
            if column not in row:
                columns = ", ".join(map(str, row))
                raise UserError(
                    f"{KEY}.text_column: column '{column}' not in {where} (columns: {columns})"
                )
            text = row[column]
            if text is not None and str(text).strip():
                texts.append(str(text))
                if cap and len(texts) >= cap:
                    break
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"{KEY}.hub_dataset: could not load {where}, split {ccfg.split} "
            f"({tables.one_line(exc)}); set {KEY}.path to a local copy to work offline"
        ) from None
    finally:
        if not quiet:
            datasets.enable_progress_bars()
    return texts
