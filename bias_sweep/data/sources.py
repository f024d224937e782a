"""Labelled texts from local files, URLs and the Hugging Face hub, as (text, label) frames.

Every reader returns a frame with a str `text` column and an int 0/1 `label` column, plus a str
`gold_group` column where the source has a gold group column (data.group_column, or
LabHC/bias_in_bios's `gender`), or raises UserError with a one-line message naming the config
key and the file.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import urllib.request
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from bias_sweep.errors import UserError
from bias_sweep.files import atomic_path

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
# Gold group columns of hub datasets, for the built-in lexicon they match: (column, value of
# group A, value of group B). LabHC/bias_in_bios `gender`: 0 = male, 1 = female (dataset card).
HUB_GROUPS = {"LabHC/bias_in_bios": ("gender", "gender", "0", "1")}


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


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
    try:
        # Readers see no file or the whole file, never a partial one.
        with (
            urllib.request.urlopen(url, timeout=60) as response,
            atomic_path(target) as tmp,
            open(tmp, "wb") as out,
        ):
            shutil.copyfileobj(response, out)
    except Exception as exc:
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
def _read(path: str, shown: str, mtime_ns: int, size: int, key: str) -> pd.DataFrame:
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
        raise UserError(f"{key}: could not read '{shown}' as {fmt} ({_one_line(exc)})") from None


def read_table(path: str, root: Path, key: str = "data.path") -> tuple[pd.DataFrame, str]:
    """The table at a local path or URL (parsed once per process) and the name to show for it."""
    local = local_file(path, root, key)
    stat = local.stat()
    return _read(str(local), path, stat.st_mtime_ns, stat.st_size, key), path


def column(df: pd.DataFrame, name: str, key: str, shown: str) -> pd.Series:
    """Column `name` of a table read from `shown`, or UserError naming the setting `key`."""
    if name not in df.columns:
        cols = ", ".join(map(str, df.columns))
        raise UserError(f"{key}: column '{name}' not in {shown} (columns: {cols})")
    return df[name]


def _values(series: pd.Series, limit: int = 8) -> str:
    values = sorted(series.astype(str).unique())
    more = f", ... ({len(values)} values)" if len(values) > limit else ""
    return ", ".join(values[:limit]) + more


def binary_labels(
    raw: pd.Series, positive_label: str | None, column: str, shown: str, prefix: str = "data"
) -> pd.Series:
    """0/1 labels: 1 where the value is `positive_label` (compared as text, or as a number when
    both are numbers); without one, the values must already be 0/1 or booleans. `prefix` is the
    config section named in messages."""
    if positive_label is not None:
        positive = str(positive_label)
        y = raw.astype(str) == positive
        if not y.any():
            number = pd.to_numeric(pd.Series([positive]), errors="coerce").iloc[0]
            if pd.notna(number):  # "1" against a column of 1.0
                y = pd.to_numeric(raw, errors="coerce") == number
        if not y.any():
            raise UserError(
                f"{prefix}.positive_label: '{positive}' is not a value of column '{column}' in "
                f"{shown} (values: {_values(raw)})"
            )
    elif pd.api.types.is_bool_dtype(raw):
        y = raw.astype(bool)
    else:
        text = raw.astype(str).str.strip().str.lower()
        mapped = text.map({"0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1})
        if mapped.isna().any():
            raise UserError(
                f"{prefix}.label_column: column '{column}' in {shown} has values {_values(raw)}; "
                f"set {prefix}.positive_label to the value meaning y=1"
            )
        y = mapped == 1
    y = y.astype("int64")
    if y.nunique() < 2:
        raise UserError(
            f"{prefix}.label_column: column '{column}' in {shown} has one class only "
            f"(values: {_values(raw)}); a classifier needs both"
        )
    return y


def _frame(text: pd.Series, label: pd.Series, group: pd.Series | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({"text": text.astype(str).to_numpy(), "label": label.to_numpy()})
    if group is not None:
        frame["gold_group"] = as_text(group).to_numpy()
    return frame


def as_text(values: pd.Series) -> pd.Series:
    """Values as text, 1.0 read as "1" (a CSV column of 0/1 with gaps parses as floats)."""
    numbers = pd.to_numeric(values, errors="coerce")
    whole = numbers.notna() & (numbers == numbers.round())
    out = values.astype(object).where(values.notna(), None)
    out = out.map(lambda v: None if v is None else str(v))
    out[whole] = numbers[whole].astype("int64").astype(str)
    return out


def load_file(cfg: Any, root: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """`data.source=file`: (text, label) rows of cfg.path and what identifies them."""
    df, shown = read_table(cfg.path, root)
    text = column(df, cfg.text_column, "data.text_column", shown)
    raw = column(df, cfg.label_column, "data.label_column", shown)
    keep = text.notna() & raw.notna()
    label = binary_labels(raw[keep], cfg.positive_label, cfg.label_column, shown)
    ident: dict[str, Any] = {
        "columns": [cfg.text_column, cfg.label_column],
        "positive_label": cfg.positive_label,
    }
    group_column = getattr(cfg, "group_column", None)
    group = None
    if group_column:
        group = column(df, group_column, "data.group_column", shown)[keep]
        ident["group_column"] = group_column
    return _frame(text[keep], label, group), ident


def _hub_unreachable(name: str) -> UserError:
    return UserError(
        f"data.hub_dataset: could not load '{name}' from the Hugging Face hub (offline?); "
        "set data.path to a local copy in the same schema"
    )


@lru_cache(maxsize=4)
def _hub_dataset(name: str) -> Any:
    import datasets  # ~1 s, and only hub sources need it

    try:
        return datasets.load_dataset(name, split="train")
    except Exception:
        raise _hub_unreachable(name) from None


@lru_cache(maxsize=8)
def _local_dataset(path: str, shown: str, mtime_ns: int, size: int, cache: str) -> Any:
    import datasets  # ~1 s, and only hub sources need it

    fmt = table_format(path)
    builder = {"csv": "csv", "tsv": "csv", "jsonl": "json", "json": "json"}.get(fmt, "parquet")
    kwargs = {"sep": "\t"} if fmt == "tsv" else {}
    quiet = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # converting a local file: no bars (`plan` says one line)
    try:
        # Arrow conversions of local files go to our cache, not the user's hub cache.
        return datasets.load_dataset(
            builder, data_files=path, split="train", cache_dir=cache, **kwargs
        )
    except Exception as exc:
        raise UserError(
            f"data.path: could not read '{shown}' as {fmt} ({_one_line(exc)})"
        ) from None
    finally:
        if not quiet:
            datasets.enable_progress_bars()


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
    group_col = HUB_GROUPS[name][0] if name in HUB_GROUPS else None
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
    columns = [text_col, label_col]
    if group_col is not None and group_col in ds.column_names:
        columns.append(group_col)
    else:
        group_col = None  # a local copy without the gold column: groups from the lexicon
    df = ds.select_columns(columns).to_pandas().dropna(subset=[text_col, label_col])
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
    group = df[group_col] if group_col is not None else None
    if group is not None:
        ident["group_column"] = group_col
    return _frame(df[text_col], label, group), {"hub": name, **ident}
