"""A new intervention method and a new metric, each declared in this module alone (no edit of the
package), go through `plan` and a trial: the README's "Extending" recipe, run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL

from bias_sweep.checks import positive
from bias_sweep.cli import main
from bias_sweep.interventions import METHODS, InterventionJob, Method, register_method
from bias_sweep.metrics import GROUPS, METRICS, SIGNED, metric, metric_keys
from bias_sweep.schema import CorpusConfig
from bias_sweep.sweep.results import tidy_row

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = str(ROOT / "sweeps" / "quickstart.yaml")
NAME = "embedding-noise"


@dataclass
class EmbeddingNoise:
    """The method's own config section: `intervention.noise`."""

    noise: float = 0.05  # the standard deviation of the noise at strength 1

    def check(self) -> None:
        positive(self.noise, "intervention.noise")


def add_noise(job: InterventionJob) -> dict[str, Any]:
    """Gaussian noise (seeded) of std strength x noise added to the input embeddings."""
    import torch

    from bias_sweep import models

    model = models.load_masked_lm(job.base_dir)
    generator = torch.Generator().manual_seed(job.seed)
    weights = model.get_input_embeddings().weight
    with torch.no_grad():
        noise = torch.randn(weights.shape, generator=generator) * job.strength
        weights += noise * job.settings.noise
    model.save_pretrained(job.out_dir)
    models.load_tokenizer(job.base_dir).save_pretrained(job.out_dir)
    return {"noise_std": job.strength * job.settings.noise}


def mean_score_gap(y_score: np.ndarray, *, groups: np.ndarray, a: str, b: str) -> float:
    """Mean P(y=1) of group A minus that of group B."""
    return float(y_score[groups == a].mean() - y_score[groups == b].mean())


@pytest.fixture
def extended(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> Iterator[None]:
    monkeypatch.setenv("BIAS_SWEEP_CACHE", str(cache_dir))
    register_method(Method(NAME, add_noise, settings=EmbeddingNoise))
    metric("mean score gap, A − B", kind=SIGNED, rows=GROUPS, twin=True)(mean_score_gap)
    yield
    METHODS.unregister(NAME)
    METRICS.unregister("mean_score_gap")


def test_a_method_and_a_metric_from_outside_the_package(
    extended: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "mean_score_gap_twin" in metric_keys()
    sweep = [QUICKSTART, *SMALL, f"sweep.storage={tmp_path / 'runs'}"]
    ours = [f"intervention.method={NAME}", "intervention.noise=0.02"]
    assert main(["plan", *sweep, *ours, "report.primary_metric=mean_score_gap"]) == 0
    out = capsys.readouterr().out
    assert "intervention jobs: 9 unique" in out  # 3 strengths x 3 seeds: its settings, its keys

    # Its own setting is checked where the config is loaded, with the project's wording.
    assert main(["plan", *sweep, f"intervention.method={NAME}", "intervention.noise=-1"]) == 2
    assert "key 'intervention.noise': -1.0 is not allowed" in capsys.readouterr().err

    folder = tmp_path / "trial"
    args = [*sweep, *ours, "intervention.strength=1.0", "--out", str(folder)]
    assert main(["trial", *args]) == 0
    result = json.loads((folder / "result.json").read_text())
    expected = {
        "method": NAME, "strength": 1.0, "seed": 0, "noise": 0.02,
        "steps": 10, "batch_size": 32, "lr": 1e-4, "term_mask_prob": 1.0,
        "corpus": asdict(CorpusConfig()),
    }  # fmt: skip
    # (the other methods' own settings are there too, at their defaults)
    assert {k: result["config"]["intervention"][k] for k in expected} == expected
    predictions = pd.read_parquet(folder / "predictions.parquet")
    ab = predictions[predictions["group"].isin(["male", "female"])]
    expected = mean_score_gap(ab["score"].to_numpy(dtype=float), groups=ab["group"].to_numpy(),
                              a="male", b="female")  # fmt: skip
    assert result["metrics"]["mean_score_gap"] == pytest.approx(expected, abs=1e-12)
    assert np.isfinite(result["metrics"]["mean_score_gap_twin"])
    assert tidy_row(result)["mean_score_gap"] == result["metrics"]["mean_score_gap"]
    # The intervened model: built by our method, keyed by the settings it uses only.
    meta = _intervention_meta(result["intervention_key"])
    assert meta["info"] == {"method": NAME, "strength": 1.0, "seed": 0, "noise_std": 0.02}
    assert meta["settings"]["intervention"] == {
        "method": NAME, "strength": 1.0, "seed": 0, "noise": 0.02,
    }  # fmt: skip


def _intervention_meta(key: str) -> dict[str, Any]:
    from bias_sweep.caches import cache_root

    return json.loads((cache_root() / "interventions" / key / "meta.json").read_text())
