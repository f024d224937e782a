"""Where every benchmark leaves its figures: one JSON file, its path printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_figures(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=float) + "\n")
    print(f"figures: {path}")
