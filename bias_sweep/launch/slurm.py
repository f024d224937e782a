"""`bias-sweep launch slurm`: run a sweep's driver as a Slurm batch job that requeues itself.

The job starts Ray over its nodes, runs `bias-sweep run ... --resume-existing` on the first one
and requeues itself when its time runs out, so a long sweep continues job after job. Everything is
validated and rendered (`slurm_script`) before anything is written or submitted: bad input is one
`UserError` line and no half-written launch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import subprocess
import sys
from datetime import datetime
from typing import Any

from bias_sweep.errors import UserError
from bias_sweep.launch.common import driver_args, refuse_existing, shared_storage
from bias_sweep.launch.record import now, write_record
from bias_sweep.launch.registry import Launcher, SweepLoader, register_launcher
from bias_sweep.launch.slurm_script import render_slurm, template_text, validate_slurm
from bias_sweep.sweep.layout import SweepFolder


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nodes", type=_int, default=1, metavar="N", help="nodes (default 1)")
    p.add_argument(
        "--gpus-per-node", type=_int, default=0, metavar="G", help="GPUs per node (default 0)"
    )
    p.add_argument(
        "--cpus-per-node", type=_int, required=True, metavar="C", help="CPUs per node for Ray"
    )
    p.add_argument(
        "--time", metavar="HH:MM:SS", help="time limit, e.g. 04:00:00 (the job requeues near it)"
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
        "--template", metavar="PATH", help="batch script template (default: the package's)"
    )
    p.add_argument(
        "--node-timeout",
        type=_int,
        default=300,
        metavar="S",
        help="seconds to wait for all Ray nodes to join (default 300)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the batch script; submit nothing")


def submit(args: argparse.Namespace, load: SweepLoader) -> int:
    """`bias-sweep launch slurm`: render the batch script and submit it (or print it)."""
    conf, sweep_file = load()
    folder = shared_storage(conf)
    path = folder.root
    if any(c.isspace() for c in str(path)):
        raise UserError(
            f"sweep.storage: '{path.parent}' has a space; Slurm's #SBATCH --output cannot take it"
        )
    # The arguments first: what is wrong with the command comes before what is on disk.
    spec = validate_slurm(args, conf, args.dry_run)
    if not args.dry_run:
        refuse_existing(folder, conf.sweep.name, args.resume_existing, conf, args.recompute)
    template, template_path = template_text(args.template)
    run_args = driver_args(sweep_file, list(args.overrides), path.parent)
    if args.recompute:  # the driver (every requeued run of it) accepts the same edit
        run_args.append("--recompute")
    script = render_slurm(spec, run_args, path, template)
    if args.dry_run:
        sys.stdout.write(script)
        return 0

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    script_path = folder.launch_dir / f"slurm-{stamp}.sbatch"
    # Folders this submission creates (up to the first that exists), removed again on refusal.
    created = [p for p in (folder.launch_dir, folder.logs) if not p.exists()]
    created += [p for p in (path, *path.parents) if not p.exists()]
    for made in (folder.logs, folder.launch_dir):
        made.mkdir(parents=True, exist_ok=True)
    # The script goes in on stdin and is written to disk only once Slurm took it, so a refused
    # submission leaves nothing behind.
    try:
        out = subprocess.run(
            ["sbatch", "--parsable"], input=script, capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        out = subprocess.CompletedProcess([], 1, "", str(exc))
    if out.returncode != 0:
        for made in created:  # deepest first
            with contextlib.suppress(OSError):
                made.rmdir()
        reason = (out.stderr.strip().splitlines() or ["failed"])[-1]
        raise UserError(f"sbatch: {reason}")
    job_id, _, cluster = out.stdout.strip().partition(";")
    script_path.write_text(script)
    log = folder.logs / f"slurm-{job_id}.out"
    write_record(
        folder,
        {
            "kind": "slurm",
            "job_id": job_id,
            "cluster": cluster or None,
            "submitted": now(),
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


def describe(rec: dict[str, Any], folder: SweepFolder) -> list[str]:
    """`status` lines of a Slurm launch: the job, its queue state, its log, and the Ray head."""
    job = str(rec.get("job_id"))
    lines = [
        f"launch: Slurm job {job} ({rec.get('nodes')} node(s) x {rec.get('cpus_per_node')}"
        f" CPUs, {rec.get('gpus_per_node')} GPUs; partition {rec.get('partition') or 'default'},"
        f" time {rec.get('time')}), submitted {rec.get('submitted')} from {rec.get('submit_host')}",
        f"  state:  {_squeue(job)}",
        f"  log:    {rec.get('log')}",
        f"  script: {rec.get('script')}",
    ]
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
    return lines


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


HELP = "submit a batch job: Ray over its nodes, the driver on the first; requeues itself"
DESCRIPTION = "Render the batch script template for this sweep and submit it with sbatch."
register_launcher(Launcher("slurm", HELP, DESCRIPTION, add_arguments, submit, describe))
