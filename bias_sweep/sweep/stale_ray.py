"""The embedded Ray processes that a driver killed hard (SIGKILL, OOM) left running, found and
stopped by the next `run`/`resume` of its sweep, and shown by `status`.

A SIGKILLed driver cannot stop its Ray: its raylet and workers die with it, but the dashboard and
runtime-env agents stay, listening on loopback. Their command lines are rewritten (`ray::...`)
and their parent is gone, so neither names them; their environment does: the driver puts a mark
in its own environment before it starts Ray, every Ray process inherits it, and the sweep folder
keeps the mark (`ray.json`). Processes are stopped by PID, and only those with the mark.
"""

from __future__ import annotations

import json
import os
import socket
import time

import psutil

from bias_sweep.files import write_json_atomic
from bias_sweep.sweep.layout import SweepFolder

MARK = "BIAS_SWEEP_RAY_MARK"


def new_mark() -> str:
    """A mark for the Ray about to start, set in this process' environment (which Ray's
    processes inherit)."""
    mark = f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
    os.environ[MARK] = mark
    return mark


def record_mark(folder: SweepFolder, mark: str) -> None:
    write_json_atomic(folder.ray_file, {"host": socket.gethostname(), "mark": mark})


def clear_mark() -> None:
    os.environ.pop(MARK, None)


def stale_processes(folder: SweepFolder) -> list[psutil.Process]:
    """Live processes on this host that carry the mark of the sweep's last embedded Ray (call it
    when no driver of the sweep runs: a running driver's Ray carries it too)."""
    try:
        recorded = json.loads(folder.ray_file.read_bytes())
        host, mark = recorded["host"], recorded["mark"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if host != socket.gethostname():
        return []
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            if proc.environ().get(MARK) == mark:
                found.append(proc)
        except psutil.Error:  # gone, a zombie, or another user's
            continue
    return found


def stop_stale(folder: SweepFolder) -> list[int]:
    """Kill the stale Ray processes of the sweep; their PIDs."""
    found = stale_processes(folder)
    for proc in found:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(found, timeout=10)
    return [p.pid for p in found]
