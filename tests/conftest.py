from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "sweeps" / "quickstart.yaml"
FAULTY_CLI = Path(__file__).with_name("faulty_cli.py")
SHARED_DATA = ROOT.parent / "shared" / "data" / "conversationai"

# Small enough for 2 CPUs, large enough to train and measure something.
SMALL = [
    "model.pretrain_steps=40",
    "intervention.steps=10",
    "data.pool_size=1500",
    "data.train_size=160",
    "data.eval_size=80",
    "train.epochs=2",
]
# Launch tests: two trials, each long enough (several epochs) to be caught mid-run.
LAUNCH_TINY = [
    "sweep.grid.data.rate=[0.1,0.9]",
    "sweep.grid.seed=[0]",
    "sweep.grid.intervention.strength=[0.5]",
    "sweep.grid.intervention.seed=[0]",
    "train.epochs=2",
    "data.train_size=200",
    "data.eval_size=100",
    "model.pretrain_steps=50",
    "intervention.steps=20",
    "tracking.mode=offline",
]

# Tests never reach a hub or W&B's servers.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def conversationai_dir() -> Path:
    """The Conversation AI files (CC BY 4.0, Dixon et al. 2018), read from ../shared/data."""
    if not (SHARED_DATA / "bias_madlibs_77k.csv").exists():
        pytest.skip(f"Conversation AI data not found at {SHARED_DATA} (CI always has it)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of upstream artifacts (pre-trained tiny models) shared by the whole test session."""
    path = os.environ.get("BIAS_SWEEP_TEST_CACHE")
    return Path(path) if path else tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def task():  # -> bias_sweep.data.TaskData
    """The default synthetic task (seed 0), shared by the model and intervention tests."""

    from bias_sweep.data import load_task
    from bias_sweep.schema import DataConfig

    return load_task(DataConfig(), seed=0)


@pytest.fixture(scope="session")
def tiny_bert(task, cache_dir: Path) -> Path:
    """The built-in tiny BERT, pre-trained on the default task (built once, cached)."""

    from bias_sweep import models
    from bias_sweep.schema import ModelConfig

    return models.resolve_model_dir(ModelConfig(), task, cache_dir)


def ray_processes_of(ray_tmp: str) -> list[int]:
    out = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(ray_tmp in part for part in proc.info["cmdline"] or []):
                out.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out


@pytest.fixture
def ray_env(tmp_path: Path, cache_dir: Path) -> Iterator[dict[str, str]]:
    """Environment for a CLI subprocess with its own short Ray temp dir; kills what it left."""
    ray_tmp = tempfile.mkdtemp(prefix="bsr-", dir="/tmp")  # unix socket paths must stay short
    env = dict(os.environ)
    env.update(RAY_TMPDIR=ray_tmp, BIAS_SWEEP_CACHE=str(cache_dir), WANDB_MODE="offline")
    env.pop("RAY_ADDRESS", None)
    # A W&B service token in the caller's environment (a notebook's, another test's in-process
    # run) must not reach the workers: the driver drops it. A stale one proves that it does.
    env["WANDB_SERVICE"] = "stale-token-of-another-process"
    yield env
    leftovers = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(ray_tmp in part for part in proc.info["cmdline"] or []):
                leftovers.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    for proc in leftovers:
        proc.kill()
    shutil.rmtree(ray_tmp, ignore_errors=True)


def cli(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 300, fault: str | None = None
):
    """The CLI in a subprocess; `fault`: injected into every trial attempt (tests/faulty_cli.py)."""
    command = ["-m", "bias_sweep.cli"] if fault is None else [str(FAULTY_CLI), fault]
    return subprocess.run(
        [sys.executable, *command, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
