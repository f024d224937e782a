"""The Slurm batch script of a sweep: the `launch slurm` arguments checked against the sweep and
the cluster (`validate_slurm`), and the template (`bias_sweep/templates/sweep.sbatch`) rendered
with them (`render_slurm`). Nothing here writes or submits (`launch.slurm` does).
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig

from bias_sweep.errors import UserError
from bias_sweep.launch.slurm_capacity import check_capacity, partition_nodes
from bias_sweep.sweep.layout import SweepFolder

# The batch script template: package data, so checkouts and wheel installs alike have it.
SLURM_TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "sweep.sbatch"
SIGNAL_LEAD_S = 120  # the template's `--signal=B:USR1@120`: the time it leaves to save and requeue
# A value that lands on an `#SBATCH` line: no spaces or newlines that could add lines to the script.
_SLURM_WORD = re.compile(r"^[A-Za-z0-9_.,:@+=/%-]+$")
_MEM = re.compile(r"^[0-9]+[KMGT]?$", re.IGNORECASE)


@dataclass
class SlurmSpec:
    """Validated `launch slurm` arguments."""

    nodes: int
    gpus_per_node: int
    cpus_per_node: int
    time: str
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    mem: str | None = None
    setup: list[str] = field(default_factory=list)
    sbatch_extra: list[str] = field(default_factory=list)
    node_timeout: int = 300
    job_name: str = "bias-sweep"
    default_partition: str | None = None  # what Slurm picks when partition is None (from sinfo)


def parse_time(text: str) -> int:
    """Seconds in a Slurm time limit: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS."""
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text.strip())
    if not m:
        raise ValueError(text)
    days, a, b, c = m.groups()
    a, b, c = int(a), int(b) if b else None, int(c) if c else None
    if days is not None:  # D-HH[:MM[:SS]]
        h, mi, s = a, b or 0, c or 0
        d = int(days)
    elif c is not None:  # HH:MM:SS
        d, h, mi, s = 0, a, b, c
    elif b is not None:  # MM:SS
        d, h, mi, s = 0, 0, a, b
    else:  # MM
        d, h, mi, s = 0, 0, a, 0
    if (days is not None or c is not None) and mi >= 60 or s >= 60:
        raise ValueError(text)
    return ((d * 24 + h) * 60 + mi) * 60 + s


def _word(value: str | None, option: str, what: str) -> str | None:
    if value is not None and not _SLURM_WORD.match(value):
        raise UserError(f"{option}: '{value}' is not allowed; expected {what} (no spaces)")
    return value


def _slurm_partitions(timeout: float = 10.0) -> tuple[list[str], str | None] | None:
    """(partitions, default) from `sinfo`, or None when sinfo is missing or does not answer."""
    if shutil.which("sinfo") is None:
        return None
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    names, default = [], None
    for line in out.stdout.split():
        name = line.rstrip("*")
        if line.endswith("*"):
            default = name
        if name not in names:
            names.append(name)
    return names, default


def validate_slurm(args: argparse.Namespace, conf: DictConfig, dry_run: bool) -> SlurmSpec:
    """Check every `launch slurm` argument against the sweep and, when reachable, the cluster."""
    _check_sizes(args, conf)
    _check_words(args)
    partition, default = _partition(args.partition, dry_run)
    nodes = partition_nodes(partition) if shutil.which("sinfo") else None
    if nodes is not None:  # sinfo answered: the job must fit on the partition's nodes
        where = f"partition '{partition or default}'"
        check_capacity(nodes, args.nodes, args.cpus_per_node, args.gpus_per_node, args.mem, where)
    return SlurmSpec(
        nodes=args.nodes,
        gpus_per_node=args.gpus_per_node,
        cpus_per_node=args.cpus_per_node,
        time=args.time,
        partition=partition,
        account=args.account,
        qos=args.qos,
        mem=args.mem,
        setup=list(args.setup or []),
        sbatch_extra=list(args.sbatch_extra or []),
        node_timeout=args.node_timeout,
        job_name=f"bs-{conf.sweep.name}"[:64],
        default_partition=default,
    )


def _check_sizes(args: argparse.Namespace, conf: DictConfig) -> None:
    """Nodes, CPUs, GPUs and the time limit: positive, enough for one trial, long enough."""
    for option, value, least in (
        ("--nodes", args.nodes, 1),
        ("--gpus-per-node", args.gpus_per_node, 0),
        ("--cpus-per-node", args.cpus_per_node, 1),
        ("--node-timeout", args.node_timeout, 10),
    ):
        if value < least:
            raise UserError(f"{option}: {value} is not allowed; expected a whole number >= {least}")
    if args.time is None:
        raise UserError("--time: required; the job's time limit, e.g. 04:00:00 or 1-00:00:00")
    try:
        seconds = parse_time(args.time)
    except ValueError:
        raise UserError(
            f"--time: '{args.time}' is not allowed; expected HH:MM:SS, MM, MM:SS, D-HH,"
            " D-HH:MM or D-HH:MM:SS"
        ) from None
    if seconds <= SIGNAL_LEAD_S + 60:
        raise UserError(
            f"--time: '{args.time}' is too short; the job needs more than {SIGNAL_LEAD_S + 60} s"
            f" (it stops the sweep {SIGNAL_LEAD_S} s before the limit to save and requeue)"
        )
    res = conf.sweep.resources
    if res.cpu > args.cpus_per_node:
        raise UserError(
            f"--cpus-per-node: {args.cpus_per_node} is less than one trial's"
            f" sweep.resources.cpu={res.cpu:g}; no trial could ever start"
        )
    if res.gpu > args.gpus_per_node:
        raise UserError(
            f"--gpus-per-node: {args.gpus_per_node} is less than one trial's"
            f" sweep.resources.gpu={res.gpu:g}; give GPUs or set sweep.resources.gpu=0"
        )


def _check_words(args: argparse.Namespace) -> None:
    """What lands in the script as words or lines: no spaces or newlines that add lines to it."""
    _word(args.partition, "--partition", "a partition name")
    _word(args.account, "--account", "an account name")
    _word(args.qos, "--qos", "a QOS name")
    if args.mem is not None and not _MEM.match(args.mem):
        raise UserError(f"--mem: '{args.mem}' is not allowed; expected a size like 64G or 16000M")
    for line in args.sbatch_extra or []:
        if not line.startswith("--") or "\n" in line:
            raise UserError(
                f"--sbatch-extra: '{line}' is not allowed; expected one sbatch option such as"
                " --constraint=a100 (use --sbatch-extra=--opt=value)"
            )
    if any("\n" in line or "\r" in line for line in args.setup or []):
        raise UserError("--setup: one shell line per --setup (repeat the option for more)")


def _partition(partition: str | None, dry_run: bool) -> tuple[str | None, str | None]:
    """(the partition asked for, the cluster's default) checked against `sinfo` when it answers;
    a dry run renders without the cluster."""
    if not dry_run and shutil.which("sbatch") is None:
        raise UserError("sbatch: not found; launch slurm needs Slurm's commands on PATH")
    found = _slurm_partitions()
    if found is None:
        if not dry_run:
            raise UserError("sinfo: Slurm does not answer (is slurmctld up? `sinfo` to check)")
        return partition, None
    names, default = found
    if partition is not None and partition not in names:
        raise UserError(
            f"--partition: '{partition}' is not a partition of this cluster; expected one of "
            + ", ".join(names)
        )
    if partition is None and default is None:
        raise UserError(
            "--partition: required; this cluster has no default partition; choose one of "
            + (", ".join(names) or "(none listed by sinfo)")
        )
    return partition, default


def template_text(path: str | None = None) -> tuple[str, Path]:
    """The batch script template (`--template`, else the package's) and where it is."""
    template = SLURM_TEMPLATE if path is None else Path(path).expanduser()
    if not template.is_file():
        raise UserError(f"--template: '{path}' is not a file")
    return template.read_text(), template.resolve()


def render(template: str, values: dict[str, str]) -> str:
    """Fill `{{ name }}` placeholders; bash's own `$x`/`${x}` are left alone. All must be known."""

    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in values:
            raise UserError(f"--template: unknown placeholder '{{{{ {name} }}}}'")
        return values[name]

    text = re.sub(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", fill, template)
    # A template line that only held an empty block (no --sbatch-extra, say) goes away.
    return re.sub(r"\n{3,}", "\n\n", text)


def bin_dir() -> Path:
    """The folder of this Python's `python`, `ray` and `bias-sweep` (a venv's bin/)."""
    return Path(sys.executable).parent


def render_slurm(spec: SlurmSpec, run_args: list[str], path: Path, template: str) -> str:
    """The batch script for one sweep; paths are absolute, every value shell-quoted."""
    q = shlex.quote
    lines = [
        f"#SBATCH --job-name={spec.job_name}",
        f"#SBATCH --nodes={spec.nodes}",
        f"#SBATCH --cpus-per-task={spec.cpus_per_node}",
        f"#SBATCH --time={spec.time}",
    ]
    if spec.gpus_per_node:
        lines.append(f"#SBATCH --gpus-per-node={spec.gpus_per_node}")
    for option, value in (
        ("partition", spec.partition),
        ("account", spec.account),
        ("qos", spec.qos),
        ("mem", spec.mem),
    ):
        if value:
            lines.append(f"#SBATCH --{option}={value}")
    values = {
        "sbatch_lines": "\n".join(lines),
        "sbatch_extra": "\n".join(f"#SBATCH {x}" for x in spec.sbatch_extra),
        # %j: Slurm's job id; the folder is made before sbatch (Slurm does not create it).
        "log_pattern": str(SweepFolder(path).logs / "slurm-%j.out"),
        "setup": "\n".join(spec.setup) if spec.setup else "# (none)",
        "sweep_dir": q(str(path)),
        "bin_dir": q(str(bin_dir())),
        "nodes": str(spec.nodes),
        "cpus": str(spec.cpus_per_node),
        "gpus": str(spec.gpus_per_node),
        "srun_gpus": f" --gpus-per-task={spec.gpus_per_node}" if spec.gpus_per_node else "",
        "node_timeout": str(spec.node_timeout),
        "run_args": " ".join(q(a) for a in run_args),
    }
    script = render(template, values)
    if not script.startswith("#!"):
        raise UserError("--template: a batch script must start with '#!' (e.g. #!/bin/bash)")
    return script
