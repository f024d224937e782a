"""Stable hashes of plain data: the keys of trials, intervened models, pools and cached models."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def stable_hash(obj: Any, length: int = 12) -> str:
    """The first `length` hex digits of the SHA-256 of `obj` as canonical JSON (sorted keys)."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]
