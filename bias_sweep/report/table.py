"""A table of runs from anywhere (`bias-sweep report --table FILE`): read, checked, as SweepData.

One row per fine-tuning run, CSV or parquet, e.g. exported from W&B or another tool. Required
columns: model, method, strength, intervention_seed, rate, seed; then one column per metric.
Optional: realised_rate (the co-occurrence the data reached; Steed's regression falls back to the
nominal rate), intrinsic_after (the intervened model's intrinsic bias: the manipulation check, its
gate of the verdict and Steed's regression need it; without it the headline says that the
manipulation was not checked), intrinsic_before (the pre-trained model's: the manipulation's
relative size), intrinsic_finetuned (the fine-tuned encoder's: did the effect survive), intrinsic_kind (what intrinsic_after measures), intervention_key (an
id of each intervened model; without it an intervened model is its (model, method, strength,
intervention_seed), `none` being one model whatever its seed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bias_sweep.data.tables import check_header
from bias_sweep.errors import UserError
from bias_sweep.metrics import INTRINSIC_AFTER, INTRINSIC_BEFORE, INTRINSIC_FINETUNED, known_metric
from bias_sweep.report.load import SweepData
from bias_sweep.report.statistics.effects import OPTIONAL_COLUMNS, TABLE_COLUMNS
from bias_sweep.sweep.grid import USUAL_AXES

READERS = {".csv": "CSV", ".parquet": "parquet", ".pq": "parquet"}
NUMERIC = ("strength", "rate", "realised_rate", INTRINSIC_BEFORE, INTRINSIC_AFTER,
           INTRINSIC_FINETUNED)  # fmt: skip
SEEDS = ("seed", "intervention_seed")
UNIT = ("strength", "rate", "realised_rate")  # shares and rates: in [0, 1]
OPTIONAL_NOTES = {
    "realised_rate": "no realised_rate column: Steed's regression uses the nominal rate",
    INTRINSIC_AFTER: (
        f"no {INTRINSIC_AFTER} column: no manipulation check (the verdict is not gated) and no "
        "Steed's regression"
    ),
}


def _read(path: Path) -> pd.DataFrame:
    fmt = READERS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(
            f"--table '{path}': unknown format '{path.suffix}'; expected .csv or .parquet"
        )
    if fmt == "CSV":
        check_header(str(path), str(path), "--table")
    try:
        return pd.read_csv(path) if fmt == "CSV" else pd.read_parquet(path)
    except Exception as exc:  # any reader failure is a bad input file, said in one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"--table '{path}': cannot be read as {fmt} ({first})") from None


def _numbers(column: pd.Series, what: str, unit: bool) -> pd.Series:
    """A column as finite floats (empty cells stay NaN), in [0, 1] if `unit`; else UserError."""
    values = pd.to_numeric(column, errors="coerce").astype(float)
    bad = column[(values.isna() & column.notna()) | np.isinf(values)]
    if unit:
        bad = pd.concat([bad, column[(values < 0) | (values > 1)]])
    if len(bad):
        allowed = "numbers in [0, 1]" if unit else "finite numbers"
        raise UserError(f"{what} must hold {allowed} ({len(bad)} do not, e.g. {bad.iloc[0]!r})")
    return values


def read_table(path: Path) -> SweepData:
    """The runs of a table file, checked: a missing required column or a non-numeric strength or
    rate is a UserError naming it; a missing optional column becomes a note."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--table '{path}' not found")
    runs = _read(path)
    runs.columns = [str(c) for c in runs.columns]
    missing = [c for c in TABLE_COLUMNS if c not in runs.columns]
    if missing:
        names = ", ".join(f"'{c}'" for c in missing)
        raise UserError(
            f"--table '{path}': missing required column{'s' if len(missing) > 1 else ''} "
            f"{names} (required: {', '.join(TABLE_COLUMNS)})"
        )
    notes = [OPTIONAL_NOTES[c] for c in OPTIONAL_COLUMNS if c not in runs.columns]
    if runs.empty:
        raise UserError(f"--table '{path}': no rows; expected one row per run")
    for col in dict.fromkeys([*NUMERIC, *SEEDS, *(c for c in runs.columns if known_metric(c))]):
        if col not in runs.columns:
            runs[col] = float("nan")
            continue
        values = _numbers(runs[col], f"--table '{path}': column '{col}'", col in UNIT)
        if col not in SEEDS:  # seeds stay as they are: labels of runs, checked only
            runs[col] = values
    runs["model"] = runs["model"].astype(str)
    runs["method"] = runs["method"].astype(str)
    if "intrinsic_kind" not in runs.columns:
        runs["intrinsic_kind"] = pd.Series(pd.NA, index=runs.index, dtype=object)
    runs = runs.sort_values(list(TABLE_COLUMNS), kind="stable").reset_index(drop=True)
    grid = runs[[c for c in USUAL_AXES if c in runs.columns]].drop_duplicates()
    grid = grid.reset_index(drop=True)
    n = len(runs)
    cell_keys = ["model", "method", "strength", "intervention_seed", "rate"]
    return SweepData(
        path.stem, path, None, runs, grid, cell_keys, n, n, 0, 0, source="table", notes=notes
    )
