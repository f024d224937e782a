"""Whether a Slurm partition has nodes that can run a `launch slurm` job, from `sinfo`, before
it is submitted: a job that asks for more CPUs, GPUs or memory per node than any node has
pends forever (Slurm takes it and says nothing)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from bias_sweep.errors import UserError

_UNITS = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
_GPUS = re.compile(r"gpu(?::[^:,(]+)?:(\d+)")


@dataclass(frozen=True)
class Node:
    name: str
    cpus: int
    mem_mb: int
    gpus: int


def mem_mb(text: str) -> float:
    """Slurm's --mem (`64G`, `8000M`, `8000`: megabytes by default) in megabytes."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)B?", text.strip().upper())
    if match is None:
        raise UserError(f"--mem: '{text}' is not allowed; expected a size such as 64G or 8000M")
    return float(match.group(1)) * _UNITS[match.group(2) or "M"]


def partition_nodes(partition: str | None, timeout: float = 10.0) -> list[Node] | None:
    """The nodes of a partition (the default one when None) as sinfo lists them; None when
    sinfo does not answer in that form (then nothing is checked)."""
    command = ["sinfo", "-h", "-N", "-o", "%N|%c|%m|%G"]
    if partition:
        command += ["-p", partition]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    nodes = {}
    for line in out.stdout.splitlines():
        parts = line.strip().split("|")
        if out.returncode != 0 or len(parts) != 4 or not parts[1].isdigit():
            return None
        name, cpus, mem, gres = parts
        gpus = sum(int(n) for n in _GPUS.findall(gres))
        mem_value = int(mem.rstrip("+")) if mem.rstrip("+").isdigit() else 0
        nodes[name] = Node(name, int(cpus), mem_value, gpus)
    return list(nodes.values()) or None


def check_capacity(
    nodes: list[Node], count: int, cpus: int, gpus: int, mem: str | None, where: str
) -> None:
    """UserError (one line) unless `count` nodes each have the CPUs, GPUs and memory asked."""
    need_mb = mem_mb(mem) if mem else 0.0
    fit = [n for n in nodes if n.cpus >= cpus and n.gpus >= gpus and n.mem_mb >= need_mb]
    if len(fit) >= count:
        return
    most = max(nodes, key=lambda n: (n.cpus, n.gpus, n.mem_mb))
    short = _short(nodes, cpus, gpus, need_mb)
    raise UserError(
        f"{short}: {where} has {len(fit)} node(s) with {cpus} CPUs, {gpus} GPUs and"
        f" {mem or 'any'} memory, the job needs {count} (largest node: {most.name},"
        f" {most.cpus} CPUs, {most.gpus} GPUs, {most.mem_mb} MB); it would pend forever"
    )


def _short(nodes: list[Node], cpus: int, gpus: int, need_mb: float) -> str:
    """The option to change: the first that no node has enough of, else the node count."""
    for option, asked, most in (
        ("--cpus-per-node", cpus, max(n.cpus for n in nodes)),
        ("--gpus-per-node", gpus, max(n.gpus for n in nodes)),
        ("--mem", need_mb, max(n.mem_mb for n in nodes)),
    ):
        if asked > most:
            return option
    return "--nodes"
