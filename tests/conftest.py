from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
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
