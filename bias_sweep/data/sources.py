"""Labelled texts from local files, URLs and the Hugging Face hub, as (text, label) frames.

Every reader returns a frame with a str `text` column and an int 0/1 `label` column, or raises
UserError with a one-line message naming the config key and the file.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import urllib.request
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from bias_sweep.errors import UserError

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
COMPRESSIONS = {".gz", ".bz2", ".xz", ".zst", ".zip"}
URL_SCHEMES = ("http", "https", "file")

# The schema of each supported hub dataset: (text column, label source column).
HUB_SCHEMAS = {
    "google/civil_comments": ("text", "toxicity"),
    "LabHC/bias_in_bios": ("hard_text", "profession"),
}
TOXICITY_THRESHOLD = 0.5
# LabHC/bias_in_bios `profession` ids, from its dataset card. The default positive class is nurse:
# the canonical gender-skewed profession of De-Arteaga et al. (2019), with enough bios of both
# genders (about 12k nurses, 9% men) for resampling at any rate.
BIOS_PROFESSIONS = (
    "accountant", "architect", "attorney", "chiropractor", "comedian", "composer", "dentist",
    "dietitian", "dj", "filmmaker", "interior_designer", "journalist", "model", "nurse", "painter",
    "paralegal", "pastor", "personal_trainer", "photographer", "physician", "poet", "professor",
    "psychologist", "rapper", "software_engineer", "surgeon", "teacher", "yoga_teacher",
)  # fmt: skip
DEFAULT_PROFESSION = "nurse"


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """Shared cache folder: the argument, else $BIAS_SWEEP_CACHE, else ~/.cache/bias-sweep."""
    root = cache_dir or os.environ.get("BIAS_SWEEP_CACHE") or "~/.cache/bias-sweep"
    return Path(root).expanduser().resolve()


def table_format(name: str) -> str | None:
    """csv, tsv, jsonl, json or parquet from a file name (compression suffixes skipped)."""
    suffixes = [s.lower() for s in PurePosixPath(name).suffixes]
    while suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes.pop()
    return FORMATS.get(suffixes[-1]) if suffixes else None


def is_url(path: str) -> bool:
    return urlparse(path).scheme in URL_SCHEMES


def download(url: str, root: Path, key: str = "data.path") -> Path:
    """The URL's file in `<root>/downloads`, fetched once (atomic write, keyed by URL hash);
    `key` is the config key that errors name."""
    name = PurePosixPath(urlparse(url).path).name or "data"
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    target = root / "downloads" / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}-{safe}"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{safe}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            shutil.copyfileobj(response, out)
        os.replace(tmp, target)  # readers see no file or the whole file, never a partial one
    except Exception as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"{key}: could not download '{url}' ({_one_line(exc)})") from None
    return target


def local_file(path: str, root: Path, key: str = "data.path") -> Path:
    """A local path for the file at `path` (a URL is downloaded into the cache first); `key` is
    the config key that errors name."""
    if is_url(path):
        if table_format(urlparse(path).path) is None:
            raise _unsupported(path, key)
        return download(path, root, key)
    local = Path(path).expanduser()
    if not local.is_file():
        raise UserError(f"{key}: file '{path}' not found")
    if table_format(local.name) is None:
        raise _unsupported(path, key)
    return local.resolve()


def _unsupported(path: str, key: str) -> UserError:
    return UserError(
        f"{key}: '{path}' is not a supported file type "
        "(expected .csv, .tsv, .jsonl, .json or .parquet, optionally compressed as .gz)"
    )


@lru_cache(maxsize=16)
def _read(path: str, shown: str, mtime_ns: int, size: int) -> pd.DataFrame:
    # mtime and size are in the key so that an edited file is read again.
    fmt = table_format(path)
    try:
        if fmt in ("csv", "tsv"):
            return pd.read_csv(path, sep="\t" if fmt == "tsv" else ",")
        if fmt == "jsonl":
            return pd.read_json(path, lines=True)
        if fmt == "json":
            try:
                return pd.read_json(path)
            except ValueError:
                return pd.read_json(path, lines=True)
        return pd.read_parquet(path)
    except Exception as exc:
        raise UserError(
            f"data.path: could not read '{shown}' as {fmt} ({_one_line(exc)})"
        ) from None


def read_table(path: str, root: Path) -> tuple[pd.DataFrame, str]:
    """The table at a local path or URL (parsed once per process) and the name to show for it."""
    local = local_file(path, root)
    stat = local.stat()
    return _read(str(local), path, stat.st_mtime_ns, stat.st_size), path


def _column(df: pd.DataFrame, column: str, key: str, shown: str) -> pd.Series:
    if column not in df.columns:
        cols = ", ".join(map(str, df.columns))
        raise UserError(f"{key}: column '{column}' not in {shown} (columns: {cols})")
    return df[column]


def _values(series: pd.Series, limit: int = 8) -> str:
    values = sorted(series.astype(str).unique())
    more = f", ... ({len(values)} values)" if len(values) > limit else ""
    return ", ".join(values[:limit]) + more


def binary_labels(raw: pd.Series, positive_label: str | None, column: str, shown: str) -> pd.Series:
    """0/1 labels: 1 where the value is `positive_label` (compared as text, or as a number when
    both are numbers); without one, the values must already be 0/1 or booleans."""
    if positive_label is not None:
        positive = str(positive_label)
        y = raw.astype(str) == positive
        if not y.any():
            number = pd.to_numeric(pd.Series([positive]), errors="coerce").iloc[0]
            if pd.notna(number):  # "1" against a column of 1.0
                y = pd.to_numeric(raw, errors="coerce") == number
        if not y.any():
            raise UserError(
                f"data.positive_label: '{positive}' is not a value of column '{column}' in "
                f"{shown} (values: {_values(raw)})"
            )
    elif pd.api.types.is_bool_dtype(raw):
        y = raw.astype(bool)
    else:
        text = raw.astype(str).str.strip().str.lower()
        mapped = text.map({"0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1})
        if mapped.isna().any():
            raise UserError(
                f"data.label_column: column '{column}' in {shown} has values {_values(raw)}; "
                "set data.positive_label to the value meaning y=1"
            )
        y = mapped == 1
    y = y.astype("int64")
    if y.nunique() < 2:
        raise UserError(
            f"data.label_column: column '{column}' in {shown} has one class only "
            f"(values: {_values(raw)}); a classifier needs both"
        )
    return y


def _frame(text: pd.Series, label: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"text": text.astype(str).to_numpy(), "label": label.to_numpy()})


def load_file(cfg: Any, root: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """`data.source=file`: (text, label) rows of cfg.path and what identifies them."""
    df, shown = read_table(cfg.path, root)
    text = _column(df, cfg.text_column, "data.text_column", shown)
    raw = _column(df, cfg.label_column, "data.label_column", shown)
    keep = text.notna() & raw.notna()
    label = binary_labels(raw[keep], cfg.positive_label, cfg.label_column, shown)
    ident = {
        "columns": [cfg.text_column, cfg.label_column],
        "positive_label": cfg.positive_label,
    }
    return _frame(text[keep], label), ident


def _hub_unreachable(name: str) -> UserError:
    return UserError(
        f"data.hub_dataset: could not load '{name}' from the Hugging Face hub (offline?); "
        "set data.path to a local copy in the same schema"
    )


@lru_cache(maxsize=4)
def _hub_dataset(name: str) -> Any:
    import datasets

    try:
        return datasets.load_dataset(name, split="train")
    except Exception:
        raise _hub_unreachable(name) from None


@lru_cache(maxsize=8)
def _local_dataset(path: str, shown: str, mtime_ns: int, size: int, cache: str) -> Any:
    import datasets

    fmt = table_format(path)
    builder = {"csv": "csv", "tsv": "csv", "jsonl": "json", "json": "json"}.get(fmt, "parquet")
    kwargs = {"sep": "\t"} if fmt == "tsv" else {}
    try:
        # Arrow conversions of local files go to our cache, not the user's hub cache.
        return datasets.load_dataset(
            builder, data_files=path, split="train", cache_dir=cache, **kwargs
        )
    except Exception as exc:
        raise UserError(
            f"data.path: could not read '{shown}' as {fmt} ({_one_line(exc)})"
        ) from None


def bios_profession(positive_label: str | None) -> int:
    """The bias_in_bios profession id meaning y=1, from an id or a name (default nurse)."""
    value = DEFAULT_PROFESSION if positive_label is None else str(positive_label).strip().lower()
    if value.isdigit() and int(value) < len(BIOS_PROFESSIONS):
        return int(value)
    value = value.replace(" ", "_")
    if value not in BIOS_PROFESSIONS:
        raise UserError(
            f"data.positive_label: '{positive_label}' is not a LabHC/bias_in_bios profession "
            f"(an id 0-27 or one of {', '.join(BIOS_PROFESSIONS)})"
        )
    return BIOS_PROFESSIONS.index(value)


def load_hub(cfg: Any, root: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """`data.source=hub`: the train split of cfg.hub_dataset, or cfg.path in the same schema.

    google/civil_comments: label = toxicity >= 0.5 (data.positive_label is not used).
    LabHC/bias_in_bios: text = hard_text, label = profession == data.positive_label (an id or a
    name; default nurse). The hub's text and label columns are fixed: data.text_column and
    data.label_column do not apply.
    """
    name = cfg.hub_dataset
    if name not in HUB_SCHEMAS:
        raise UserError(f"data.hub_dataset: {name!r} is not one of {', '.join(HUB_SCHEMAS)}")
    if name == "google/civil_comments" and cfg.positive_label is not None:
        raise UserError(
            "data.positive_label: not used with google/civil_comments "
            f"(label = toxicity >= {TOXICITY_THRESHOLD}); set it to null"
        )
    text_col, label_col = HUB_SCHEMAS[name]
    if cfg.path:
        local = local_file(cfg.path, root)
        stat = local.stat()
        shown = cfg.path
        ds = _local_dataset(
            str(local), shown, stat.st_mtime_ns, stat.st_size, str(root / "hf-datasets")
        )
    else:
        shown = f"hub dataset '{name}'"
        ds = _hub_dataset(name)
    for column in (text_col, label_col):
        if column not in ds.column_names:
            cols = ", ".join(ds.column_names)
            raise UserError(
                f"data.path: column '{column}' (schema of {name}) not in {shown} (columns: {cols})"
            )
    df = ds.select_columns([text_col, label_col]).to_pandas().dropna()
    if name == "google/civil_comments":
        label = (df[label_col].astype(float) >= TOXICITY_THRESHOLD).astype("int64")
        ident: dict[str, Any] = {"threshold": TOXICITY_THRESHOLD}
    else:
        profession = bios_profession(cfg.positive_label)
        label = (df[label_col].astype("int64") == profession).astype("int64")
        ident = {"profession": profession}
    if label.nunique() < 2:
        key = "data.path" if cfg.path else "data.hub_dataset"
        raise UserError(f"{key}: {shown} has one class only for {name}; a classifier needs both")
    return _frame(df[text_col], label), {"hub": name, **ident}
