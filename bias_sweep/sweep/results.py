"""The sweep's results store: one `result.json` per trial, and a tidy table of finished trials.

The trial folders are the source of truth, each result.json checked whenever it is read (a
damaged one is kept aside and its trial reruns); `results.parquet` is derived: appended to while
a sweep runs, rebuilt from the trial folders whenever it is loaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bias_sweep.files import atomic_path, write_json_atomic
from bias_sweep.metrics import (
    INTRINSIC_AFTER,
    INTRINSIC_BEFORE,
    INTRINSIC_FINETUNED,
    eval_set_column,
    metric_keys,
)
from bias_sweep.sweep.grid import AXIS_NAMES, point_columns
from bias_sweep.sweep.layout import (
    DAMAGED_RESULT,
    ERROR_FILE,
    PREDICTIONS_FILE,
    RESULT_FILE,
    TRAIN_FILE,
    SweepFolder,
    eval_set_predictions_file,
)

if TYPE_CHECKING:
    from bias_sweep.trial import TrialOutput  # the recipe imports torch; the driver must not


def tidy_row(result: dict[str, Any]) -> dict[str, Any]:
    """One trial's result.json as a flat row: axes, realised rate, intrinsic bias, metrics (the
    in-domain ones, then `<metric>@<set>` for each external eval set), timings."""
    row: dict[str, Any] = {"trial_key": result["trial_key"], "sweep": result.get("sweep")}
    row.update(point_columns(result["config"], result.get("point", {})))
    row["realised_rate"] = result.get("realised_rate")
    row["trainable_parameters"] = result.get("adaptation", {}).get("trainable_parameters")
    intrinsic = result.get("intrinsic_bias", {})
    row["intrinsic_kind"] = (intrinsic.get("after") or {}).get("kind")
    row[INTRINSIC_BEFORE] = (intrinsic.get("before") or {}).get("value")
    row[INTRINSIC_AFTER] = (intrinsic.get("after") or {}).get("value")
    row[INTRINSIC_FINETUNED] = (intrinsic.get("finetuned") or {}).get("value")
    keys = metric_keys()
    for key in keys:
        row[key] = result.get("metrics", {}).get(key)
    for name, one in result.get("eval_sets", {}).items():
        for key in keys:
            row[eval_set_column(key, name)] = one.get("metrics", {}).get(key)
    for key, value in result.get("timings", {}).items():
        row[f"time_{key}"] = value
    row["node"] = result.get("node")
    row["node_id"] = result.get("node_id")
    row["intervention_key"] = result.get("intervention_key")
    return row


def write_trial(folder: Path, output: TrialOutput, extra: dict[str, Any]) -> dict[str, Any]:
    """Write a trial's files into its folder: the predictions first, result.json (the trial's
    result and the caller's `extra` facts, e.g. its grid point) last and atomically, since its
    presence means the trial is done. Returns what result.json holds."""
    with atomic_path(folder / PREDICTIONS_FILE) as tmp:
        output.predictions.to_parquet(tmp, index=False)
    with atomic_path(folder / TRAIN_FILE) as tmp:
        output.train.to_parquet(tmp, index=False)
    for name, frame in output.eval_set_predictions.items():
        with atomic_path(folder / eval_set_predictions_file(name)) as tmp:
            frame.to_parquet(tmp, index=False)
    result = {**output.result, **extra}
    write_json_atomic(folder / RESULT_FILE, result)
    return result


def read_result(folder: Path) -> dict[str, Any] | None:
    """A trial folder's result, or None while it has none. A result.json that is not a finished
    trial's result (cut short, emptied, wrong types, another trial's) is moved aside, kept, and
    the trial counts as not done: the next `resume` reruns it."""
    path = Path(folder) / RESULT_FILE
    try:
        result = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # ValueError: bad JSON or bad UTF-8
        problem = f"unreadable ({type(exc).__name__})"
    else:
        problem = result_problem(result, path.parent.name)
    if problem is None:
        return result
    _set_aside(path, problem)
    return None


AXES_ADDED_LATER = ("adaptation",)  # short names (grid.AXIS_NAMES) of axes older results lack

# The fields every finished trial writes, and their JSON types.
RESULT_FIELDS = {
    "trial_key": str,
    "config": dict,
    "point": dict,
    "metrics": dict,
    "intrinsic_bias": dict,
    "realised_rate": (int, float, type(None)),  # None: a multi-class trial's rates are per class
}


def _missing_axis(row: dict[str, Any]) -> str | None:
    """The first axis a trial's config has had from the start that its tidied row lacks (a
    result written before a later axis, train.adaptation, existed still loads: that column is
    empty)."""
    for dotted, short in AXIS_NAMES.items():
        if short not in AXES_ADDED_LATER and row[short] is None:
            return dotted
    return None


def result_problem(result: Any, key: str) -> str | None:
    """Why a parsed result.json is not the finished result of trial `key` (None: it is)."""
    if not isinstance(result, dict):
        return "not a JSON object"
    for name, kind in RESULT_FIELDS.items():
        if (
            name not in result
            or not isinstance(result[name], kind)
            or isinstance(result[name], bool)
        ):
            return f"field '{name}' missing or of the wrong type"
    if result["realised_rate"] is None and not result.get("per_class"):
        return (
            "field 'realised_rate' is null in a binary trial (only multi-class ones rate per class)"
        )
    if result["trial_key"] != key:
        return f"trial_key '{result['trial_key']}' is not its folder's"
    try:
        row = tidy_row(result)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        return f"cannot be tabulated ({type(exc).__name__}: {exc})"
    missing = _missing_axis(row)
    if missing is not None:
        return f"its config lacks '{missing}'"
    numeric = [INTRINSIC_BEFORE, INTRINSIC_AFTER, "realised_rate", *metric_keys()]
    for column in numeric + [c for c in row if "@" in c]:
        value = row.get(column)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            return f"'{column}' is not a number"
    return None


def _set_aside(path: Path, problem: str) -> None:
    aside = path.with_name(f"{DAMAGED_RESULT}{time.time_ns()}")
    try:
        os.replace(path, aside)
    except FileNotFoundError:  # another reader set it aside first
        return
    except OSError:  # a read-only folder: it stays, and still counts as not done
        aside = path
    print(
        f"[bias-sweep] trial {path.parent.name}: damaged {RESULT_FILE} ({problem}), kept as"
        f" {aside.name}; the trial counts as not done and reruns on resume",
        file=sys.stderr,
        flush=True,
    )


def damaged_copies(folder: Path) -> list[Path]:
    """The damaged result.json files of a trial folder that were set aside."""
    return sorted(Path(folder).glob(f"{DAMAGED_RESULT}*"))


def error_line(folder: Path) -> str | None:
    """The first line of a trial's error.txt (None without one); any bytes, even none, read."""
    try:
        text = (Path(folder) / ERROR_FILE).read_text(errors="replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"error.txt unreadable ({type(exc).__name__})"
    lines = text.strip().splitlines()
    return lines[0] if lines else "error.txt is empty"


def read_results(sweep: SweepFolder) -> list[dict[str, Any]]:
    found = (read_result(p.parent) for p in sorted(sweep.trials.glob(f"*/{RESULT_FILE}")))
    return [r for r in found if r is not None]


def class_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A multi-class trial's rows of `per_class.parquet`: one per class, with the trial's axes,
    its intervened model, the class's natural, target and realised P(A | class), its train rows,
    gaps (natural and twin-balanced) and each group's support; none for a binary trial."""
    rates = result.get("class_rates") or {}
    base = {"trial_key": result["trial_key"], "intervention_key": result.get("intervention_key")}
    base.update(point_columns(result["config"], result.get("point", {})))
    rows = []
    for name, one in (result.get("per_class") or {}).items():
        row = {**base, "class": name}
        rate = rates.get(name, {})
        row.update({f"{k}_rate" if k != "rows" else "train_rows": v for k, v in rate.items()})
        row.update({k: v for k, v in one.items() if k != "support"})
        for group, support in one.get("support", {}).items():
            row[f"support_{group}_positive"] = support["positive"]
            row[f"support_{group}_negative"] = support["negative"]
        rows.append(row)
    return rows


def write_table(sweep: SweepFolder, table: pd.DataFrame) -> None:
    with atomic_path(sweep.table) as tmp:
        table.to_parquet(tmp, index=False)


def _tidy_table(results: list[dict[str, Any]]) -> pd.DataFrame:
    table = pd.DataFrame([tidy_row(r) for r in results])
    return table.sort_values("trial_key").reset_index(drop=True) if not table.empty else table


def rebuild_table(sweep: SweepFolder) -> pd.DataFrame:
    """Rebuild `results.parquet` (and, for multi-class trials, `per_class.parquet`) from the
    trial folders (the source of truth) and return the first."""
    results = read_results(sweep)
    table = _tidy_table(results)
    write_table(sweep, table)
    per_class = pd.DataFrame([row for r in results for row in class_rows(r)])
    if not per_class.empty:
        with atomic_path(sweep.per_class_table) as tmp:
            per_class.sort_values(["trial_key", "class"]).to_parquet(tmp, index=False)
    return table


def append_rows(sweep: SweepFolder, rows: list[dict[str, Any]]) -> None:
    """Add (or replace) rows of the table without re-reading every trial folder: cheap on grids
    of thousands of trials, while the sweep runs. A table that cannot be read is rebuilt."""
    new = pd.DataFrame(rows)
    try:
        old = pd.read_parquet(sweep.table) if sweep.table.exists() else None
        if old is not None and not old.empty:
            new = pd.concat([old[~old["trial_key"].isin(new["trial_key"])], new])
        write_table(sweep, new)
    except Exception:  # noqa: BLE001 - a damaged table, whatever pyarrow or pandas call it
        rebuild_table(sweep)


def load_trials(sweep: SweepFolder) -> pd.DataFrame:
    """The tidy table of finished trials, always from the trial folders (each result checked):
    results.parquet is derived, rewritten from them, never trusted over them."""
    table = _tidy_table(read_results(sweep))
    with contextlib.suppress(OSError):  # a read-only copy of a sweep can still be reported
        write_table(sweep, table)
    return table


def realised_text(result: dict[str, Any]) -> str:
    """The realised rate, or a multi-class trial's largest miss of a class's target."""
    if result.get("realised_rate") is not None:
        return f"realised rate {result['realised_rate']:.3f}"
    rates = result.get("class_rates", {}).values()
    miss = max(abs(r["realised"] - r["target"]) for r in rates)
    return f"{len(rates)} classes, realised rates within {miss:.3f} of their targets"
