"""Read an offline W&B run's transaction log (`run-<id>.wandb`) in tests.

Hand-written because wandb 0.31 ships no Python reader for it (the Go core writes it). The
format is LevelDB's log: a 7-byte header (":W&B", a 2-byte magic, a version byte), then 32 KiB
blocks of records, each with a 7-byte header (CRC-32C, little-endian length, type: 1 full,
2 first, 3 middle, 4 last), whose payloads are `wandb_internal_pb2.Record` messages.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BLOCK = 32 * 1024
FILE_HEADER = 7
RECORD_HEADER = 7


def records(path: Path) -> Iterator[Any]:
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    pos, pending = FILE_HEADER, b""
    while pos + RECORD_HEADER <= len(data):
        if BLOCK - pos % BLOCK < RECORD_HEADER:  # the block's tail is padding
            pos += BLOCK - pos % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + RECORD_HEADER])
        payload = data[pos + RECORD_HEADER : pos + RECORD_HEADER + length]
        pos += RECORD_HEADER + length
        if kind == 0:  # zero padding up to the block's end
            pos += BLOCK - pos % BLOCK if pos % BLOCK else 0
            continue
        pending = payload if kind in (1, 2) else pending + payload
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def history(run_folder: Path) -> dict[int, dict[str, Any]]:
    """step -> {key: value} of the run's logged history."""
    (log,) = Path(run_folder).glob("run-*.wandb")
    steps: dict[int, dict[str, Any]] = {}
    for record in records(log):
        if record.WhichOneof("record_type") == "history":
            items = {
                item.key or "/".join(item.nested_key): json.loads(item.value_json)
                for item in record.history.item
            }
            steps.setdefault(int(record.history.step.num), {}).update(items)
    return steps


def run_log(run_folder: Path) -> dict[str, Any]:
    """What an offline run's log holds: its id, name, group, job type, tags, top-level config
    keys (with their values), summary, and artifacts (name, type, digest, whether used rather than
    made: `use_after_commit`, and the manifest's references)."""
    (log,) = Path(run_folder).glob("run-*.wandb")
    out: dict[str, Any] = {"config": {}, "summary": {}, "artifacts": []}
    for record in records(log):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            out.update(id=run.run_id, name=run.display_name, group=run.run_group)
            out.update(job_type=run.job_type, tags=list(run.tags))
            out["config"].update({i.key: json.loads(i.value_json) for i in run.config.update})
        elif kind == "config":
            out["config"].update({i.key: json.loads(i.value_json) for i in record.config.update})
        elif kind == "summary":
            items = record.summary.update
            out["summary"].update({i.key: json.loads(i.value_json) for i in items if i.key})
        elif kind == "artifact":
            art = record.artifact
            refs = [entry.ref for entry in art.manifest.contents]
            out["artifacts"].append(
                {
                    "name": art.name,
                    "type": art.type,
                    "digest": art.digest,
                    "used": art.use_after_commit,
                    "refs": refs,
                }
            )
    out["config"].pop("_wandb", None)
    return out
