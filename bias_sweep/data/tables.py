"""Tables from local files and URLs (csv, tsv, jsonl, json, parquet, optionally compressed):
reading them once per process, downloading a URL once into the cache, and their columns and
labels, each failure a one-line UserError naming the config key and the file.

Read by the file and hub data sources, the external eval sets and CrowS-Pairs.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import re
import shutil
import urllib.request
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import pandas as pd

from bias_sweep.caches import Memo
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
_TABLES: Memo[pd.DataFrame] = Memo(16)  # parsed tables, by file version


def one_line(exc: BaseException) -> str:
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
        raise UserError(f"{key}: could not download '{url}' ({one_line(exc)})") from None
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


# A header line longer than this is not a table of texts: pandas parses a 4 MB one (half a
# million columns) for minutes, so it is refused before pandas sees it.
MAX_HEADER_BYTES = 64 * 1024
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def check_header(path: str, shown: str, key: str) -> None:
    """A CSV/TSV file's first line is short enough to be a header (UserError naming `key`)."""
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in COMPRESSIONS and suffix not in _OPENERS:
        return  # .zst, .zip: pandas' own readers only
    with _OPENERS.get(suffix, open)(path, "rb") as f:
        header = f.readline(MAX_HEADER_BYTES + 1)
    if len(header) > MAX_HEADER_BYTES:
        raise UserError(
            f"{key}: the first line of '{shown}' is longer than {MAX_HEADER_BYTES // 1024} KiB;"
            " expected a line of column names, then one row per line"
        )


def _read(path: str, shown: str, key: str) -> pd.DataFrame:
    fmt = table_format(path)
    if fmt in ("csv", "tsv"):
        check_header(path, shown, key)
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
        raise UserError(f"{key}: could not read '{shown}' as {fmt} ({one_line(exc)})") from None


def read_table(path: str, root: Path, key: str = "data.path") -> tuple[pd.DataFrame, str]:
    """The table at a local path or URL (parsed once per process) and the name to show for it."""
    local = local_file(path, root, key)
    # mtime and size are in the key so that an edited file is read again.
    ident = (str(local), *file_version(local), key)
    return _TABLES.get_or_make(ident, lambda: _read(str(local), path, key)), path


def file_version(path: Path) -> tuple[int, int]:
    """(mtime, size) of a file: what tells a memo that it changed."""
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


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


def task_labels(
    raw: pd.Series, cfg_task: str, positive_label: str | None, column: str, shown: str
) -> pd.Series:
    """A source's labels for data.task: 0/1 (`binary_labels`), or every value a class, as text
    (multiclass: at least two classes)."""
    if cfg_task != "multiclass":
        return binary_labels(raw, positive_label, column, shown)
    labels = as_text(raw).str.strip()
    if labels.nunique() < 2:
        raise UserError(
            f"data.label_column: column '{column}' in {shown} has one class only "
            f"(values: {_values(raw)}); a classifier needs two or more"
        )
    return labels


def as_text(values: pd.Series) -> pd.Series:
    """Values as text, 1.0 read as "1" (a CSV column of 0/1 with gaps parses as floats)."""
    numbers = pd.to_numeric(values, errors="coerce")
    whole = numbers.notna() & (numbers == numbers.round())
    out = values.astype(object).where(values.notna(), None)
    out = out.map(lambda v: None if v is None else str(v))
    out[whole] = numbers[whole].astype("int64").astype(str)
    return out


def labelled_frame(
    text: pd.Series, label: pd.Series, group: pd.Series | None = None
) -> pd.DataFrame:
    """A source's rows: text (str), label (0/1, or a class name) and, where it has one,
    gold_group (str)."""
    frame = pd.DataFrame({"text": text.astype(str).to_numpy(), "label": label.to_numpy()})
    if group is not None:
        frame["gold_group"] = as_text(group).to_numpy()
    return frame
