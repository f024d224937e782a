"""`bias-sweep launch ray`: submit a sweep's driver to a running Ray cluster through the Jobs API
(`ray.job_submission.JobSubmissionClient`), follow its logs, and ask for its state. Ray's Jobs
client (about a second to import) is imported when a job is submitted or asked about."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import socket
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from bias_sweep.errors import UserError
from bias_sweep.launch.common import REPO_ROOT, driver_args, refuse_existing, shared_storage
from bias_sweep.launch.record import now, write_record
from bias_sweep.launch.registry import Launcher, SweepLoader, register_launcher
from bias_sweep.sweep.layout import EXIT_INTERRUPTED, SweepFolder

# Non-secret settings a Ray job takes from the submitting shell (secrets stay with the cluster):
# W&B's own variables win over the sweep file, on the cluster as here.
PASS_ENV = (
    "WANDB_MODE",
    "WANDB_DISABLED",
    "WANDB_BASE_URL",
    "WANDB_INIT_TIMEOUT",
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


def project_root() -> Path | None:
    """The source tree uploaded as the job's working_dir; None when installed from a wheel."""
    return REPO_ROOT if (REPO_ROOT / "pyproject.toml").is_file() else None


def ray_job_spec(
    sweep_file: Path,
    overrides: list[str],
    storage: Path,
    resume_existing: bool,
    recompute: bool = False,
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
    args = [*driver_args(Path(sweep_arg), overrides, storage), "--address", "auto"]
    if resume_existing:
        args.append("--resume-existing")
    if recompute:
        args.append("--recompute")
    entrypoint = " ".join(shlex.quote(a) for a in ["python", "-m", "bias_sweep.cli", "run", *args])
    return {"entrypoint": entrypoint, "runtime_env": runtime_env}


def _client(address: str) -> Any:
    from ray.job_submission import JobSubmissionClient

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


def jobs_address(given: str | None) -> str:
    """The Jobs API URL: --address, else $RAY_API_SERVER_ADDRESS."""
    address = given or os.environ.get("RAY_API_SERVER_ADDRESS")
    if not address:
        raise UserError("--address: required; the Ray dashboard's URL, e.g. http://HEAD:8265")
    if not re.match(r"^https?://[^\s/]+", address):
        raise UserError(f"--address: '{address}' is not allowed; expected http(s)://HOST:PORT")
    return address


def submit(
    address: str,
    conf: DictConfig,
    sweep_file: Path,
    overrides: list[str],
    *,
    resume_existing: bool,
    follow: bool,
    recompute: bool = False,
) -> int:
    """`bias-sweep launch ray`: submit the driver as a Ray job, then follow its logs."""
    folder = shared_storage(conf)
    path = folder.root
    refuse_existing(folder, conf.sweep.name, resume_existing, conf, recompute)
    spec = ray_job_spec(sweep_file, list(overrides), path.parent, resume_existing, recompute)
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
        "submitted": now(),
        "submit_host": socket.gethostname(),
        "entrypoint": spec["entrypoint"],
        "working_dir": spec["runtime_env"].get("working_dir"),
    }
    # The storage is meant to be shared with the cluster; from a laptop it may not be mounted.
    if path.parent.exists() or path.parent.parent.exists():
        path.mkdir(parents=True, exist_ok=True)
        write_record(folder, record)
    else:
        print(f"note: {path.parent} is not on this machine; no {folder.launch_file.name} written")
    print(f"submitted Ray job {job_id} for sweep '{conf.sweep.name}' to {address}")
    if not follow:
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


def job_state(address: str, job_id: str, timeout_s: float = 5.0) -> str:
    """The job's status from the Jobs API, briefly: `status` must not hang on a cluster that is
    gone (JobSubmissionClient's requests have no timeout, so the call runs in a daemon thread)."""
    from ray.job_submission import JobSubmissionClient

    answer: list[str] = []

    def ask() -> None:
        try:
            info = JobSubmissionClient(address).get_job_info(job_id)
            code = info.driver_exit_code
            answer.append(info.status.value + ("" if code is None else f" (exit {code})"))
        except Exception as exc:  # noqa: BLE001 - any failure is "unknown", with its kind
            answer.append(f"unknown ({address} not reachable: {type(exc).__name__})")

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return answer[0] if answer else f"unknown ({address} did not answer in {timeout_s:g} s)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--address",
        metavar="URL",
        help="Jobs API URL, e.g. http://HEAD:8265 (default: $RAY_API_SERVER_ADDRESS)",
    )
    p.add_argument("--no-follow", action="store_true", help="return once submitted")


def submit_command(args: argparse.Namespace, load: SweepLoader) -> int:
    """`bias-sweep launch ray` from its arguments: the address is checked before the sweep."""
    address = jobs_address(args.address)
    conf, sweep_file = load()
    return submit(
        address,
        conf,
        sweep_file,
        list(args.overrides),
        resume_existing=args.resume_existing,
        follow=not args.no_follow,
        recompute=args.recompute,
    )


def describe(rec: dict[str, Any], folder: SweepFolder) -> list[str]:
    """`status` lines of a Ray Jobs launch: the job, its state from the Jobs API, its logs."""
    job, address = rec.get("job_id"), rec.get("address")
    return [
        f"launch: Ray job {job} on {address}, submitted {rec.get('submitted')}"
        f" from {rec.get('submit_host')}",
        f"  state:  {job_state(address, job)}",
        f"  logs:   ray job logs {job} --address {address}",
    ]


HELP = "submit the driver to a running Ray cluster through its Jobs API"
DESCRIPTION = "Submit `bias-sweep run` as a Ray job (the project folder is its working_dir)."
register_launcher(Launcher("ray", HELP, DESCRIPTION, add_arguments, submit_command, describe))
