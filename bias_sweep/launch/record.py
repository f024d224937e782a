"""The launch record (`launch.json`): how and where a sweep was launched, read back by status."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from bias_sweep.files import write_json_atomic
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


def _squeue(job_id: str) -> str:
    if shutil.which("squeue") is None:
        return "unknown (squeue not available here)"
    try:
        out = subprocess.run(
            ["squeue", "-h", "-j", job_id, "-o", "%T|%M|%R"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (squeue did not answer)"
    line = out.stdout.strip().splitlines()
    if out.returncode != 0 or not line:
        # squeue forgets jobs MinJobAge after they end; "Invalid job id" is that case too.
        return "not in the queue (ended; see the log)"
    state, elapsed, reason = (line[0].split("|") + ["", ""])[:3]
    return f"{state} ({'elapsed ' + elapsed if state == 'RUNNING' else reason})"


def find_launched(name_or_dir: str, storage: str | None = None) -> Path | None:
    """A launched sweep whose driver has not started yet (only launch.json exists), or None."""
    candidate = Path(name_or_dir).expanduser()
    root = Path(storage or DEFAULT_STORAGE).expanduser()
    for path in (candidate, root / name_or_dir):
        if SweepFolder(path).launch_file.is_file():
            return path.resolve()
    return None


def describe(sweep_path: Path) -> list[str]:
    """Lines about the sweep's latest launch, from its launch.json; [] if never launched."""
    folder = SweepFolder(Path(sweep_path))
    try:
        rec = json.loads(folder.launch_file.read_text())
    except (OSError, json.JSONDecodeError):
        return []
    lines: list[str] = []
    if rec.get("kind") == "slurm":
        job = str(rec.get("job_id"))
        lines.append(
            f"launch: Slurm job {job} ({rec.get('nodes')} node(s) x {rec.get('cpus_per_node')}"
            f" CPUs, {rec.get('gpus_per_node')} GPUs; partition {rec.get('partition') or 'default'},"
            f" time {rec.get('time')}), submitted {rec.get('submitted')} from {rec.get('submit_host')}"
        )
        lines.append(f"  state:  {_squeue(job)}")
        lines.append(f"  log:    {rec.get('log')}")
        lines.append(f"  script: {rec.get('script')}")
        runtime_file = folder.launch_dir / f"slurm-{job}.runtime.json"
        try:
            rt = json.loads(runtime_file.read_text())
            port = rt["dashboard_port"]
            lines.append(
                f"  ray:    head {rt['head_node']} ({rt['head_ip']}:{rt['gcs_port']}), attempt"
                f" {rt['attempt']} started {rt['started']}; dashboard on the head's loopback:"
                f" ssh -L {port}:127.0.0.1:{port} {rt['head_node']}, then http://127.0.0.1:{port}"
                f" (token: {folder.launch_dir / f'.ray-token-{job}'}, while the job runs)"
            )
        except (OSError, json.JSONDecodeError, KeyError):
            pass
    elif rec.get("kind") == "ray":
        job, address = rec.get("job_id"), rec.get("address")
        lines.append(
            f"launch: Ray job {job} on {address}, submitted {rec.get('submitted')}"
            f" from {rec.get('submit_host')}"
        )
        # Ray's Jobs client (~1 s to import) only for a sweep launched through it.
        from bias_sweep.launch.ray_jobs import job_state

        lines.append(f"  state:  {job_state(address, job)}")
        lines.append(f"  logs:   ray job logs {job} --address {address}")
    earlier = len(rec.get("history", []))
    if lines and earlier:
        lines.append(f"  ({earlier} earlier launch(es) in {folder.launch_file})")
    return lines
