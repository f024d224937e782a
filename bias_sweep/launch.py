"""`bias-sweep launch`: run a sweep's driver on a Slurm allocation or on an existing Ray cluster.

- `launch slurm` renders `launch/slurm/sweep.sbatch` into `<sweep>/launch/slurm-<time>.sbatch` and
  submits it. The job starts Ray over its nodes, runs `bias-sweep run ... --resume-existing` on the
  first one and requeues itself when its time runs out, so a long sweep continues job after job.
- `launch ray` submits the same driver through the Ray Jobs API and follows its logs.
Both write `<sweep>/launch.json`, which `describe` (used by `bias-sweep status`) reads back.

Everything is validated and rendered before anything is written or submitted: bad input is one
`UserError` line and no half-written launch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bias_sweep.errors import UserError

LAUNCH_FILE = "launch.json"
REPO_ROOT = Path(__file__).resolve().parents[1]
# Where the template is looked for: the repository (editable installs and checkouts on shared
# storage), then a copy shipped as package data (`bias_sweep/templates/`) by wheel installs.
SLURM_TEMPLATE_PATHS = (
    REPO_ROOT / "launch" / "slurm" / "sweep.sbatch",
    Path(__file__).resolve().parent / "templates" / "sweep.sbatch",
)
SIGNAL_LEAD_S = 120  # the template's `--signal=B:USR1@120`: the time it leaves to save and requeue
EXIT_INTERRUPTED = 75
# Non-secret settings a Ray job takes from the submitting shell (secrets stay with the cluster).
PASS_ENV = (
    "WANDB_MODE",
    "WANDB_PROJECT",
    "WANDB_ENTITY",
    "WANDB_SILENT",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "BIAS_SWEEP_CACHE",
    "TOKENIZERS_PARALLELISM",
)
# Never uploaded as the Ray job's working_dir: environments, results, VCS, caches.
WORKING_DIR_EXCLUDES = [
    ".venv",
    ".git",
    "runs",
    "bias-sweep-runs",
    "wandb",
    "**/__pycache__",
    "*.egg-info",
    ".pytest_cache",
    ".ruff_cache",
    ".ray*token*",  # a cluster's auth token kept next to the checkout (launch/ray/README.md)
]
# A value that lands on an `#SBATCH` line: no spaces or newlines that could add lines to the script.
_SLURM_WORD = re.compile(r"^[A-Za-z0-9_.,:@+=/%-]+$")
_MEM = re.compile(r"^[0-9]+[KMGT]?$", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# Shared: the sweep, the launch record


def _load(sweep: str | None, overrides: list[str]):  # -> (DictConfig, Path sweep file)
    from bias_sweep.config import load_config

    if sweep is None:
        raise UserError("SWEEP: give a sweep file, e.g. sweeps/quickstart.yaml")
    if "=" in sweep and not Path(sweep).is_file():
        raise UserError(f"SWEEP: '{sweep}' looks like an override; give the sweep file first")
    for word in overrides:
        if "=" not in word:
            raise UserError(f"'{word}': expected key=value (only one sweep file may be given)")
    conf = load_config(sweep, overrides)
    if "://" in str(conf.sweep.storage):
        raise UserError(
            f"sweep.storage: '{conf.sweep.storage}' is a URI; a launched sweep needs a folder on"
            " storage shared by the submitting machine and the cluster's nodes (NFS, EFS, Lustre)"
        )
    return conf, Path(sweep).resolve()


def _driver_args(sweep_file: Path, overrides: list[str], storage: Path) -> list[str]:
    """`bias-sweep run` arguments with the storage made absolute (drivers run in other folders)."""
    kept = [o for o in overrides if o.split("=", 1)[0].strip() != "sweep.storage"]
    return [str(sweep_file), *kept, f"sweep.storage={storage}"]


def _refuse_existing(path: Path, name: str, resume_existing: bool) -> None:
    if (path / "sweep.yaml").exists() and not resume_existing:
        raise UserError(
            f"sweep '{name}' already exists at {path}; pass --resume-existing to continue it"
            " there, or choose another sweep.name"
        )


def _write_record(path: Path, record: dict[str, Any]) -> None:
    """Write launch.json, keeping earlier launches of the same sweep under `history`."""
    from bias_sweep.results import write_json_atomic

    target = path / LAUNCH_FILE
    history: list[dict[str, Any]] = []
    try:
        old = json.loads(target.read_text())
        history = old.pop("history", []) + [old]
    except (OSError, json.JSONDecodeError, AttributeError):
        pass
    write_json_atomic(target, {**record, "history": history[-20:]})


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------
# Slurm


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


def validate_slurm(args: argparse.Namespace, conf: Any, dry_run: bool) -> SlurmSpec:
    """Check every `launch slurm` argument against the sweep and, when reachable, the cluster."""
    if args.nodes < 1:
        raise UserError(f"--nodes: {args.nodes} is not allowed; expected a whole number >= 1")
    if args.gpus_per_node < 0:
        raise UserError(f"--gpus-per-node: {args.gpus_per_node} is not allowed; expected >= 0")
    if args.cpus_per_node < 1:
        raise UserError(f"--cpus-per-node: {args.cpus_per_node} is not allowed; expected >= 1")
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
    for line in args.setup or []:
        if "\n" in line or "\r" in line:
            raise UserError("--setup: one shell line per --setup (repeat the option for more)")
    if args.node_timeout < 10:
        raise UserError(f"--node-timeout: {args.node_timeout} is not allowed; expected >= 10 s")

    # The cluster's own answers, when it can be asked; a dry run renders without them.
    if not dry_run and shutil.which("sbatch") is None:
        raise UserError("sbatch: not found; launch slurm needs Slurm's commands on PATH")
    partition, default = args.partition, None
    found = _slurm_partitions()
    if found is None and not dry_run:
        raise UserError("sinfo: Slurm does not answer (is slurmctld up? `sinfo` to check)")
    if found is not None:
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


def template_text(path: str | None = None) -> tuple[str, Path]:
    if path is not None:
        candidates: tuple[Path, ...] = (Path(path).expanduser(),)
        if not candidates[0].is_file():
            raise UserError(f"--template: '{path}' is not a file")
    else:
        candidates = SLURM_TEMPLATE_PATHS
    for candidate in candidates:
        if candidate.is_file():
            return candidate.read_text(), candidate.resolve()
    raise UserError(
        "--template: launch/slurm/sweep.sbatch not found (non-editable install?); pass"
        " --template PATH to a copy of it"
    )


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
        "log_pattern": str(path / "logs" / "slurm-%j.out"),
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


def cmd_slurm(args: argparse.Namespace) -> int:
    from bias_sweep.config import sweep_dir

    conf, sweep_file = _load(args.sweep, args.overrides)
    path = sweep_dir(conf)
    if any(c.isspace() for c in str(path)):
        raise UserError(
            f"sweep.storage: '{path.parent}' has a space; Slurm's #SBATCH --output cannot take it"
        )
    # The arguments first: what is wrong with the command comes before what is on disk.
    spec = validate_slurm(args, conf, args.dry_run)
    if not args.dry_run:
        _refuse_existing(path, conf.sweep.name, args.resume_existing)
    template, template_path = template_text(args.template)
    run_args = _driver_args(sweep_file, list(args.overrides), path.parent)
    script = render_slurm(spec, run_args, path, template)
    if args.dry_run:
        sys.stdout.write(script)
        return 0

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    script_path = path / "launch" / f"slurm-{stamp}.sbatch"
    # Folders this submission creates (up to the first that exists), removed again on refusal.
    created = [p for p in (path / "launch", path / "logs") if not p.exists()]
    created += [p for p in (path, *path.parents) if not p.exists()]
    for folder in (path / "logs", path / "launch"):
        folder.mkdir(parents=True, exist_ok=True)
    # The script goes in on stdin and is written to disk only once Slurm took it, so a refused
    # submission leaves nothing behind.
    try:
        out = subprocess.run(
            ["sbatch", "--parsable"], input=script, capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        out = subprocess.CompletedProcess([], 1, "", str(exc))
    if out.returncode != 0:
        for folder in created:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        reason = (out.stderr.strip().splitlines() or ["failed"])[-1]
        raise UserError(f"sbatch: {reason}")
    job_id, _, cluster = out.stdout.strip().partition(";")
    script_path.write_text(script)
    log = path / "logs" / f"slurm-{job_id}.out"
    _write_record(
        path,
        {
            "kind": "slurm",
            "job_id": job_id,
            "cluster": cluster or None,
            "submitted": _now(),
            "submit_host": socket.gethostname(),
            "script": str(script_path),
            "template": str(template_path),
            "log": str(log),
            "nodes": spec.nodes,
            "gpus_per_node": spec.gpus_per_node,
            "cpus_per_node": spec.cpus_per_node,
            "partition": spec.partition or spec.default_partition,
            "time": spec.time,
            "command": ["bias-sweep", "run", *run_args, "--resume-existing"],
        },
    )
    print(f"submitted Slurm job {job_id} for sweep '{conf.sweep.name}'")
    print(f"  script: {script_path}")
    print(f"  log:    {log}")
    print(f"  follow: bias-sweep status {path}   (or: tail -f {log})")
    return 0


# ---------------------------------------------------------------------------------------------
# Ray Jobs API


def project_root() -> Path | None:
    """The source tree uploaded as the job's working_dir; None when installed from a wheel."""
    return REPO_ROOT if (REPO_ROOT / "pyproject.toml").is_file() else None


def ray_job_spec(
    sweep_file: Path, overrides: list[str], storage: Path, resume_existing: bool
) -> dict[str, Any]:
    """submit_job keyword arguments: entrypoint, runtime_env, metadata."""
    root = project_root()
    sweep_arg = str(sweep_file)
    runtime_env: dict[str, Any] = {}
    if root is not None:
        excludes = list(WORKING_DIR_EXCLUDES)
        if storage.is_relative_to(root):
            excludes.append("/" + str(storage.relative_to(root)))
        runtime_env = {"working_dir": str(root), "excludes": excludes}
        # The job runs in its copy of the tree: a sweep file inside it is found there.
        if sweep_file.is_relative_to(root):
            sweep_arg = str(sweep_file.relative_to(root))
    env = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
    if env:
        runtime_env["env_vars"] = env
    args = [*_driver_args(Path(sweep_arg), overrides, storage), "--address", "auto"]
    if resume_existing:
        args.append("--resume-existing")
    entrypoint = " ".join(shlex.quote(a) for a in ["python", "-m", "bias_sweep.cli", "run", *args])
    return {"entrypoint": entrypoint, "runtime_env": runtime_env}


def _client(address: str):  # -> JobSubmissionClient
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError as exc:
        raise UserError(
            f"--address: the Ray Jobs client needs `pip install 'ray[default]'` ({exc})"
        ) from None
    try:
        return JobSubmissionClient(address)
    except Exception as exc:  # requests' ConnectionError, HTTP 401/403, version mismatch
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"--address: no Ray Jobs API at {address} ({first[:300]})") from None


async def _tail(client: Any, job_id: str) -> None:
    async for chunk in client.tail_job_logs(job_id):
        sys.stdout.write(chunk)
        sys.stdout.flush()


def _job_exit_code(client: Any, job_id: str, wait_s: float = 30.0) -> int:
    """The driver's exit code once the job is terminal (0 done, 1 failed trials, 75 stopped)."""
    from ray.job_submission import JobStatus

    deadline = time.monotonic() + wait_s
    while True:
        info = client.get_job_info(job_id)
        if info.status.is_terminal() or time.monotonic() > deadline:
            break
        time.sleep(1)
    if info.driver_exit_code is not None:
        return int(info.driver_exit_code)
    if info.status == JobStatus.SUCCEEDED:
        return 0
    if info.status == JobStatus.STOPPED:
        return EXIT_INTERRUPTED
    print(f"[bias-sweep] job {job_id}: {info.status.value} {info.message or ''}", file=sys.stderr)
    return 1


def cmd_ray(args: argparse.Namespace) -> int:
    import asyncio

    from bias_sweep.config import sweep_dir

    address = args.address or os.environ.get("RAY_API_SERVER_ADDRESS")
    if not address:
        raise UserError("--address: required; the Ray dashboard's URL, e.g. http://HEAD:8265")
    if not re.match(r"^https?://[^\s/]+", address):
        raise UserError(f"--address: '{address}' is not allowed; expected http(s)://HOST:PORT")
    conf, sweep_file = _load(args.sweep, args.overrides)
    path = sweep_dir(conf)
    _refuse_existing(path, conf.sweep.name, args.resume_existing)
    spec = ray_job_spec(sweep_file, list(args.overrides), path.parent, args.resume_existing)
    client = _client(address)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    submission_id = f"bias-sweep-{conf.sweep.name}-{stamp}"
    # A head that has just started answers HTTP before its job agent is up ("No available agent
    # to submit job, please try again later"): that one answer is retried for a while.
    deadline = time.monotonic() + 60
    while True:
        try:
            job_id = client.submit_job(
                submission_id=submission_id,
                metadata={"bias_sweep": conf.sweep.name, "sweep_dir": str(path)},
                **spec,
            )
            break
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if "try again later" in first and time.monotonic() < deadline:
                time.sleep(2)
                continue
            raise UserError(f"--address: {address} refused the job ({first[:300]})") from None
    record = {
        "kind": "ray",
        "job_id": job_id,
        "address": address,
        "submitted": _now(),
        "submit_host": socket.gethostname(),
        "entrypoint": spec["entrypoint"],
        "working_dir": spec["runtime_env"].get("working_dir"),
    }
    # The storage is meant to be shared with the cluster; from a laptop it may not be mounted.
    if path.parent.exists() or path.parent.parent.exists():
        path.mkdir(parents=True, exist_ok=True)
        _write_record(path, record)
    else:
        print(f"note: {path.parent} is not on this machine; no {LAUNCH_FILE} written")
    print(f"submitted Ray job {job_id} for sweep '{conf.sweep.name}' to {address}")
    if args.no_follow:
        print(f"  follow: ray job logs -f {job_id} --address {address}")
        print(f"  stop:   ray job stop {job_id} --address {address}")
        return 0
    try:
        asyncio.run(_tail(client, job_id))
    except KeyboardInterrupt:
        print(f"\nstopped following; the job goes on (ray job stop {job_id} --address {address})")
        return 130
    except RuntimeError as exc:  # the log stream broke; the job's status still tells the outcome
        print(f"[bias-sweep] log stream ended: {exc}", file=sys.stderr)
    return _job_exit_code(client, job_id)


# ---------------------------------------------------------------------------------------------
# `bias-sweep status`: where and how the sweep was launched


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


def _ray_job_state(address: str, job_id: str) -> str:
    """Ask the Jobs API, briefly: status must not hang on a cluster that is gone."""
    try:
        import requests
        from ray._private.authentication.http_token_authentication import (
            get_auth_headers_if_auth_enabled,
        )

        headers = get_auth_headers_if_auth_enabled({})
        r = requests.get(f"{address}/api/jobs/{job_id}", headers=headers, timeout=3)
        if r.status_code != 200:
            return f"unknown (Jobs API answered {r.status_code})"
        info = r.json()
        exit_code = info.get("driver_exit_code")
        return info.get("status", "?") + ("" if exit_code is None else f" (exit {exit_code})")
    except Exception as exc:
        return f"unknown ({address} not reachable: {type(exc).__name__})"


def find_launched(name_or_dir: str, storage: str | None = None) -> Path | None:
    """A launched sweep whose driver has not started yet (only launch.json exists), or None."""
    from bias_sweep.config import SweepSection

    candidate = Path(name_or_dir).expanduser()
    root = Path(storage or SweepSection().storage).expanduser()
    for path in (candidate, root / name_or_dir):
        if (path / LAUNCH_FILE).is_file():
            return path.resolve()
    return None


def describe(sweep_path: Path) -> list[str]:
    """Lines about the sweep's latest launch, from its launch.json; [] if never launched."""
    try:
        rec = json.loads((Path(sweep_path) / LAUNCH_FILE).read_text())
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
        runtime_file = Path(sweep_path) / "launch" / f"slurm-{job}.runtime.json"
        try:
            rt = json.loads(runtime_file.read_text())
            port = rt["dashboard_port"]
            lines.append(
                f"  ray:    head {rt['head_node']} ({rt['head_ip']}:{rt['gcs_port']}), attempt"
                f" {rt['attempt']} started {rt['started']}; dashboard on the head's loopback:"
                f" ssh -L {port}:127.0.0.1:{port} {rt['head_node']}, then http://127.0.0.1:{port}"
                f" (token: {Path(sweep_path) / 'launch' / f'.ray-token-{job}'}, while the job runs)"
            )
        except (OSError, json.JSONDecodeError, KeyError):
            pass
    elif rec.get("kind") == "ray":
        job, address = rec.get("job_id"), rec.get("address")
        lines.append(
            f"launch: Ray job {job} on {address}, submitted {rec.get('submitted')}"
            f" from {rec.get('submit_host')}"
        )
        lines.append(f"  state:  {_ray_job_state(address, job)}")
        lines.append(f"  logs:   ray job logs {job} --address {address}")
    earlier = len(rec.get("history", []))
    if lines and earlier:
        lines.append(f"  ({earlier} earlier launch(es) in {Path(sweep_path) / LAUNCH_FILE})")
    return lines


# ---------------------------------------------------------------------------------------------
# CLI


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None


def register(subparsers: Any) -> None:
    """Add `bias-sweep launch slurm|ray` to the CLI's subcommands."""
    launch = subparsers.add_parser(
        "launch", help="run a sweep's driver on Slurm or on a Ray cluster (see launch/)"
    )

    class Parser(type(launch)):  # the CLI's own parser class: one-line errors
        """Takes key=value words after options too: `launch ray x.yaml --address U a=1`."""

        def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
            ns, extras = super().parse_known_args(args, namespace)
            words = [w for w in extras if "=" in w and not w.startswith("-")]
            if words and hasattr(ns, "overrides"):
                ns.overrides = [*(ns.overrides or []), *words]
                extras = [w for w in extras if w not in words]
            return ns, extras

    kinds = launch.add_subparsers(
        dest="launch_kind", required=True, metavar="{slurm,ray}", parser_class=Parser
    )

    def sweep_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("sweep", nargs="?", metavar="SWEEP", help="sweep YAML, e.g. sweeps/x.yaml")
        p.add_argument("overrides", nargs="*", metavar="key=value")
        p.add_argument(
            "--resume-existing",
            action="store_true",
            help="continue the sweep if it already exists (default: refuse)",
        )

    p = kinds.add_parser(
        "slurm",
        help="submit a batch job: Ray over its nodes, the driver on the first; requeues itself",
        description="Render launch/slurm/sweep.sbatch for this sweep and submit it with sbatch.",
    )
    sweep_args(p)
    p.add_argument("--nodes", type=_int, default=1, metavar="N", help="nodes (default 1)")
    p.add_argument(
        "--gpus-per-node", type=_int, default=0, metavar="G", help="GPUs per node (default 0)"
    )
    p.add_argument(
        "--cpus-per-node", type=_int, required=True, metavar="C", help="CPUs per node for Ray"
    )
    p.add_argument(
        "--time",
        metavar="HH:MM:SS",
        help="time limit, e.g. 04:00:00 (the job requeues itself near it)",
    )
    p.add_argument(
        "--partition", metavar="P", help="partition (default: the cluster's default partition)"
    )
    p.add_argument("--account", metavar="A", help="account to charge")
    p.add_argument("--qos", metavar="Q", help="quality of service")
    p.add_argument("--mem", metavar="M", help="memory per node, e.g. 64G")
    p.add_argument(
        "--setup",
        action="append",
        metavar="LINE",
        help="shell line run first on the head node, e.g. 'module load cuda' (repeatable)",
    )
    p.add_argument(
        "--sbatch-extra",
        action="append",
        metavar="OPTION",
        help="extra #SBATCH option, e.g. --sbatch-extra=--constraint=a100 (repeatable)",
    )
    p.add_argument(
        "--template",
        metavar="PATH",
        help="batch script template (default: launch/slurm/sweep.sbatch)",
    )
    p.add_argument(
        "--node-timeout",
        type=_int,
        default=300,
        metavar="S",
        help="seconds to wait for all Ray nodes to join (default 300)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the batch script; submit nothing")
    p.set_defaults(func=cmd_slurm)

    p = kinds.add_parser(
        "ray",
        help="submit the driver to a running Ray cluster through its Jobs API",
        description="Submit `bias-sweep run` as a Ray job (the project folder is its working_dir).",
    )
    sweep_args(p)
    p.add_argument(
        "--address",
        metavar="URL",
        help="Jobs API URL, e.g. http://HEAD:8265 (default: $RAY_API_SERVER_ADDRESS)",
    )
    p.add_argument("--no-follow", action="store_true", help="return once submitted")
    p.set_defaults(func=cmd_ray)


# ---------------------------------------------------------------------------------------------
# Helpers the batch script calls: `python -m bias_sweep.launch wait-nodes|kill-temp-dir ...`


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
    import ray

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
    import psutil

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


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bias_sweep.launch")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("wait-nodes")
    p.add_argument("--address", required=True)
    p.add_argument("--nodes", type=int, required=True)
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--watch", type=int, action="append", help="give up when this pid exits")
    p = sub.add_parser("kill-temp-dir")
    p.add_argument("temp_dir")
    args = parser.parse_args(argv)
    if args.cmd == "wait-nodes":
        return wait_nodes(args.address, args.nodes, args.timeout, args.watch)
    n = kill_temp_dir(args.temp_dir)
    print(f"kill-temp-dir: {n} process(es) stopped")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
