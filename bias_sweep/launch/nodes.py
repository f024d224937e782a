"""Helpers the Slurm batch script calls on its nodes (`python -m bias_sweep.launch ...`):
`wait-nodes` blocks until a Ray cluster has its nodes, `kill-temp-dir` stops one Ray's processes."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import time

import psutil


def _gone(pids: list[int]) -> int | None:
    """The first of pids (the srun steps running Ray) that has exited, if any."""
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            continue
    return None


def wait_nodes(address: str, nodes: int, timeout: float, watch: list[int] | None = None) -> int:
    """Block until `nodes` Ray nodes are alive at address (0); 1 on timeout or when a watched
    process (an srun step starting Ray) exits first, so a failed start is not waited out."""
    watch = watch or []
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        print(f"wait-nodes: '{address}' is not HOST:PORT", flush=True)
        return 1
    deadline = time.monotonic() + timeout
    # A TCP probe first: ray.init against a head that is not up yet blocks for a long time.
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=2):
                break
        except OSError:
            if (pid := _gone(watch)) is not None:
                print(f"wait-nodes: Ray's srun step (pid {pid}) exited", flush=True)
                return 1
            if time.monotonic() > deadline:
                print(f"wait-nodes: nothing listens at {address} after {timeout:g} s", flush=True)
                return 1
            time.sleep(1)
    import ray  # after the probe: ~1 s to import, for a helper that must answer quickly

    ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    try:
        alive = 0
        while time.monotonic() < deadline:
            alive = sum(1 for n in ray.nodes() if n.get("Alive"))
            if alive >= nodes:
                print(f"wait-nodes: {alive} node(s) up at {address}", flush=True)
                return 0
            if (pid := _gone(watch)) is not None:
                print(f"wait-nodes: Ray's srun step (pid {pid}) exited", flush=True)
                return 1
            time.sleep(2)
        print(f"wait-nodes: {alive} of {nodes} node(s) after {timeout:g} s", flush=True)
        return 1
    finally:
        ray.shutdown()


def kill_temp_dir(temp_dir: str, grace_s: float = 10.0) -> int:
    """Stop this user's processes whose command line names temp_dir (one Ray's, nothing else)."""
    me = os.getuid()
    # The temp dir itself or a path under it: /tmp/ray-12 must not match /tmp/ray-123.
    pattern = re.compile(re.escape(temp_dir.rstrip("/")) + r"(?=/|$|[\s'\"=,])")
    found = []
    for proc in psutil.process_iter(["pid", "uids", "cmdline"]):
        try:
            if proc.pid == os.getpid() or proc.info["uids"].real != me:
                continue
            if any(pattern.search(part) for part in proc.info["cmdline"] or []):
                found.append(proc)
        except (psutil.Error, TypeError):
            continue
    for proc in found:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(found, timeout=grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    return len(found)
