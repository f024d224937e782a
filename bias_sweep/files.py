"""Files that others read while they are written, and locks shared by processes on any node.

Every file or folder that another process may read at the same time (results, predictions,
checkpoints, tables, built models) is written beside its target and renamed into place, so a
reader sees the old version or the new one and a crash leaves no half-written file. Locks are
`filelock.FileLock`: flock on local disks, NFSv4 and Lustre mounted with `flock`, and filelock's
own soft lock where a filesystem has no flock.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

__all__ = [
    "FileLock",
    "Timeout",
    "atomic_dir",
    "atomic_path",
    "file_lock",
    "unwritable",
    "write_json_atomic",
]


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside `target`; renamed onto it when the block ends without an error."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """A temporary folder beside `target`; renamed onto it (which must not exist) on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        yield tmp
        os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone after the rename; a leftover on failure


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never half of one."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))


def file_lock(path: Path, timeout: float = -1) -> FileLock:
    """An exclusive lock on `path` (made with its folder); timeout=0 tries once (Timeout if held)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(path, timeout=timeout)


def unwritable(folder: Path) -> str | None:
    """Why files cannot be made in `folder` (or the nearest folder above it that exists, where
    it would be made), found by writing a file there and removing it: permission bits say
    nothing about root, read-only mounts or full disks. None when they can."""
    probe = Path(folder)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return f"'{probe}' is not a folder"
    try:
        fd, name = tempfile.mkstemp(dir=probe, prefix=".bias-sweep-write-test.")
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        return f"cannot write in '{probe}' ({exc.strerror or type(exc).__name__})"
    return None
