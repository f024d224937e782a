"""The build-once store of upstream artifacts (intervened models, pre-trained tiny models, the
pre-trained models' intrinsic measures), shared by trials and nodes.

An artifact is a folder named by the hash of the settings that determine it. It is built in a
temporary folder beside its final place and renamed into place, so a crash never leaves a partial
artifact. A lock file per key (`files.file_lock`) makes sure that two workers, on one node or
several, never build the same key: the second waits and then reuses the first one's result.
Every build is appended to `builds.jsonl`, which is how "computed exactly once" is counted rather
than assumed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bias_sweep.files import atomic_dir, file_lock

META_FILE = "meta.json"
BUILD_LOG = "builds.jsonl"


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key

    def meta(self, key: str) -> dict[str, Any] | None:
        """The artifact's metadata if it is complete, else None."""
        try:
            return json.loads((self.path(key) / META_FILE).read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def has(self, key: str) -> bool:
        return self.meta(key) is not None

    def get_or_build(
        self, key: str, build: Callable[[Path], dict[str, Any]]
    ) -> tuple[Path, dict[str, Any], bool]:
        """Return (folder, metadata, built_now); build(tmp_folder) -> metadata runs at most once."""
        meta = self.meta(key)
        if meta is not None:
            return self.path(key), meta, False
        with file_lock(self.root / f".{key}.lock"):
            meta = self.meta(key)  # someone else may have built it while we waited
            if meta is not None:
                return self.path(key), meta, False
            final = self.path(key)
            if final.exists():  # an incomplete artifact (no meta.json), e.g. put there by hand
                shutil.rmtree(final)
            started = time.time()
            with atomic_dir(final) as tmp:
                meta = dict(build(tmp))
                meta.update(key=key, built_s=round(time.time() - started, 3))
                (tmp / META_FILE).write_text(
                    json.dumps(meta, indent=2, sort_keys=True, default=str)
                )
            record = {"key": key, "host": socket.gethostname(), "pid": os.getpid(), "t": started}
            with open(self.root / BUILD_LOG, "a") as log:
                log.write(json.dumps(record) + "\n")
            return final, meta, True

    def builds(self) -> list[dict[str, Any]]:
        """Every build ever done in this store, in order."""
        try:
            lines = (self.root / BUILD_LOG).read_text().splitlines()
        except OSError:
            return []
        return [json.loads(line) for line in lines if line.strip()]
