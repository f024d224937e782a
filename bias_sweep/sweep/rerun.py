"""Targeted re-runs (`bias-sweep rerun NAME --where key=value ...`): which trials, and the marks
that make them run again while their previous results stay where they are.

A rerun is asked for by a mark in the trial folder (`rerun.json`, number n); the trial counts as
not done until it holds a result written by that rerun (`rerun`: n in result.json). So the old
result.json stays in place, read by the report, until the new one is written; only then are the
old result files moved into `superseded/<their number>/`. A driver killed at any point leaves a
state the next `resume` finishes: the mark is never removed, so nothing depends on its removal.
A rerun gets a fresh W&B run (its id ends in `-rerun<n>`) and does not continue any checkpoint
left before it was asked for.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bias_sweep.config import yaml_value
from bias_sweep.errors import UserError
from bias_sweep.files import write_json_atomic
from bias_sweep.sweep.grid import AXIS_NAMES
from bias_sweep.sweep.layout import RERUN_FILE, RESULT_FILE, SUPERSEDED_DIR, TRAIN_FILE, SweepFolder
from bias_sweep.sweep.results import read_result

if TYPE_CHECKING:
    from bias_sweep.sweep.plan import Plan

WHERE_FLAG = "--where"


def rerun_mark(trial: Path) -> dict[str, Any] | None:
    """The trial's rerun mark ({number, after_run, ...}); None without one or when unreadable
    (a mark cut short by a kill while it was written counts as not asked for)."""
    try:
        mark = json.loads((Path(trial) / RERUN_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    ok = isinstance(mark, dict) and isinstance(mark.get("number"), int)
    return mark if ok else None


def rerun_number(trial: Path) -> int:
    """The rerun a trial's next result must come from (0: none asked for)."""
    mark = rerun_mark(trial)
    return 0 if mark is None else int(mark["number"])


def current_result(trial: Path) -> dict[str, Any] | None:
    """The trial's result if it is final: written, and by the latest rerun asked for."""
    result = read_result(trial)
    if result is None:
        return None
    asked = rerun_number(trial)
    return result if asked == 0 or _number_of(result) >= asked else None


def _number_of(result: dict[str, Any]) -> int:
    value = result.get("rerun", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def supersede(trial: Path) -> None:
    """Move the trial's previous result files into superseded/<n>/ (n: their rerun number), the
    result.json last, so that a kill half-way leaves it in place to say where the rest went."""
    trial = Path(trial)
    result = read_result(trial)
    if result is None:
        return
    aside = trial / SUPERSEDED_DIR / str(_number_of(result))
    aside.mkdir(parents=True, exist_ok=True)
    data = [p for p in trial.glob("*.parquet") if p.name.startswith(("predictions", TRAIN_FILE))]
    for path in [*sorted(data), trial / RESULT_FILE]:
        if path.exists():
            os.replace(path, aside / path.name)


def superseded(trial: Path) -> list[Path]:
    """The folders of a trial's replaced results, oldest first."""
    found = [p for p in (Path(trial) / SUPERSEDED_DIR).glob("*") if p.name.isdigit()]
    return sorted(found, key=lambda p: int(p.name))


def _match(value: Any, wanted: str) -> bool:
    """A grid value against a `--where` value: numbers as numbers (rate=0.5 matches 0.5 and
    strength=1 matches 1.0), anything else as its text."""
    parsed = yaml_value(wanted)
    if _is_number(value) and _is_number(parsed):
        return float(value) == float(parsed)
    return str(value) == wanted or value == parsed


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _conditions(where: list[str], allowed: list[str]) -> dict[str, list[str]]:
    """`key=value` words as {column: values}; a key given twice takes either value."""
    dotted = {dot: short for dot, short in AXIS_NAMES.items() if short in allowed}
    conditions: dict[str, list[str]] = {}
    for word in where:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise UserError(f"{WHERE_FLAG}: '{word}' is not key=value, e.g. {WHERE_FLAG} seed=1")
        column = dotted.get(key, key)
        if column not in allowed:
            raise UserError(
                f"{WHERE_FLAG}: unknown key '{key}'; expected one of {', '.join(allowed)}"
            )
        conditions.setdefault(column, []).append(value)
    return conditions


def select_trials(plan: Plan, where: list[str]) -> list[str]:
    """The keys of the grid's trials that match every `key=value` of `where` (UserError, one
    line, for a key the grid does not have or conditions that match no trial)."""
    if not where:
        raise UserError(f"{WHERE_FLAG}: give at least one key=value, e.g. {WHERE_FLAG} seed=1")
    rows = [{**c, "trial_key": k} for c, k in zip(plan.columns, plan.keys, strict=True)]
    allowed = list(dict.fromkeys(k for row in rows for k in row))
    conditions = _conditions(where, allowed)
    keys = [
        row["trial_key"]
        for row in rows
        if all(any(_match(row[c], v) for v in values) for c, values in conditions.items())
    ]
    if not keys:
        values = {c: sorted({str(r[c]) for r in rows}) for c in conditions if c != "trial_key"}
        takes = "; ".join(f"{c} takes {', '.join(v[:8])}" for c, v in values.items())
        raise UserError(
            f"{WHERE_FLAG} {' '.join(where)}: matches none of the {len(rows)} trials of the"
            f" grid" + (f" ({takes})" if takes else "")
        )
    return keys


def mark_reruns(folder: SweepFolder, keys: list[str], where: list[str]) -> None:
    """Ask for a fresh run of each trial: its mark's number is one above the latest result's
    or mark's; checkpoints of Tune runs before now are not continued."""
    runs = folder.tune_runs()
    after_run = runs[-1] if runs else 0
    for key in keys:
        trial = folder.trial(key)
        result = read_result(trial)
        number = max(rerun_number(trial), _number_of(result) if result else 0) + 1
        trial.mkdir(parents=True, exist_ok=True)
        write_json_atomic(
            trial / RERUN_FILE,
            {"number": number, "after_run": after_run, "where": where, "asked": time.time()},
        )


def pending_reruns(folder: SweepFolder, keys: list[str]) -> int:
    """Trials of `keys` with a rerun asked for and not yet finished (their old result kept)."""
    return sum(
        1
        for k in keys
        if (folder.trial(k) / RERUN_FILE).exists() and current_result(folder.trial(k)) is None
    )
