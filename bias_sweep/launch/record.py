"""The launch record (`launch.json`): how and where a sweep was launched, read back by status."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from bias_sweep.files import write_json_atomic
from bias_sweep.launch.registry import LAUNCHERS
from bias_sweep.sweep.layout import DEFAULT_STORAGE, SweepFolder


def write_record(folder: SweepFolder, record: dict[str, Any]) -> None:
    """Write launch.json, keeping earlier launches of the same sweep under `history`."""
    target = folder.launch_file
    history: list[dict[str, Any]] = []
    try:
        old = json.loads(target.read_text())
        history = old.pop("history", []) + [old]
    except (OSError, json.JSONDecodeError, AttributeError):
        pass
    write_json_atomic(target, {**record, "history": history[-20:]})


def now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def find_launched(name_or_dir: str, storage: str | None = None) -> Path | None:
    """A launched sweep whose driver has not started yet (only launch.json exists), or None."""
    candidate = Path(name_or_dir).expanduser()
    root = Path(storage or DEFAULT_STORAGE).expanduser()
    for path in (candidate, root / name_or_dir):
        if SweepFolder(path).launch_file.is_file():
            return path.resolve()
    return None


def describe(sweep_path: Path) -> list[str]:
    """Lines about the sweep's latest launch, from its launch.json (its launcher says what they
    are); [] if never launched."""
    folder = SweepFolder(Path(sweep_path))
    try:
        rec = json.loads(folder.launch_file.read_text())
    except (OSError, json.JSONDecodeError):
        return []
    if rec.get("kind") not in LAUNCHERS:
        return []
    lines = LAUNCHERS.get(rec["kind"]).describe(rec, folder)
    earlier = len(rec.get("history", []))
    if lines and earlier:
        lines.append(f"  ({earlier} earlier launch(es) in {folder.launch_file})")
    return lines
