"""`inlp`: iterative nullspace projection removes linearly decodable group information, on
simulated data and from a tiny BERT whose embeddings carry a planted gender direction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy.linalg import orth
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from bias_sweep import models
from bias_sweep.config import load_config, typed
from bias_sweep.errors import UserError
from bias_sweep.interventions import apply_intervention
from bias_sweep.interventions.inlp import InlpSettings, nullspace_directions


def probe_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    """A fresh linear probe's 5-fold cross-validated accuracy on the group."""
    return float(cross_val_score(LogisticRegression(max_iter=3000), x, y, cv=5).mean())


def test_nullspace_directions_remove_a_simulated_group_signal() -> None:
    rng = np.random.default_rng(0)
    d, n = 20, 4000
    signal = 0.35 * rng.normal(size=d)  # a group direction a probe decodes at about 90%

    def draw() -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 2, n)
        return rng.normal(size=(n, d)) + np.outer(2 * y - 1, signal), y

    x, y = draw()
    directions, accuracies = nullspace_directions(x, y, rng.random(n) < 0.5, 8, 0)
    assert directions.shape == (8, d) and len(accuracies) == 8
    assert accuracies[0] > 0.85 and accuracies[-1] < 0.53
    basis = orth(directions.T)
    fresh, y_fresh = draw()  # new data: the removal generalises, it is not fitted to the sample
    assert probe_accuracy(fresh, y_fresh) > 0.85
    assert abs(probe_accuracy(fresh - fresh @ basis @ basis.T, y_fresh) - 0.5) < 0.05


def planted(base: Path, task: Any, out: Path, scale: float = 2.0) -> Path:
    """`base` with +scale u added to the input embedding of every group-A term token and -scale u
    to every group-B one (u: a random unit vector)."""
    model, tokenizer = models.load_masked_lm(base), models.load_tokenizer(base)
    weights = model.get_input_embeddings().weight
    u = torch.randn(weights.shape[1], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for side, sign in ((0, 1.0), (1, -1.0)):
            for pair in task.lexicon.pairs:
                ids = tokenizer(pair[side], add_special_tokens=False)["input_ids"]
                weights[ids] += sign * scale * u / u.norm()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def eval_probe(model_dir: Path, task: Any) -> float:
    """A probe's accuracy on the group from the eval set's sentences (held out of the corpus
    INLP learns from), through the saved model and its re-attached projection."""
    encoder, tokenizer = models.load_encoder(model_dir), models.load_tokenizer(model_dir)
    emb = models.sentence_embeddings(encoder, tokenizer, task.eval["text"].tolist())
    y = (task.eval["group"] == task.lexicon.name_a).to_numpy().astype(int)
    return probe_accuracy(emb.double().numpy(), y)


def test_inlp_removes_a_planted_gender_direction(tiny_bert: Path, task: Any, tmp_path) -> None:
    base = planted(tiny_bert, task, tmp_path / "planted")
    before = eval_probe(base, task)
    after = {}
    for strength in (0.0, 0.5, 1.0):
        icfg = typed(
            load_config(None, ["intervention.method=inlp", f"intervention.strength={strength}"])
        )
        out = tmp_path / f"inlp-{strength}"
        info = apply_intervention(icfg.intervention, base, task, out)
        if strength == 0:  # the control: the unchanged model
            assert info["directions_removed"] == 0
            assert not (out / models.PROJECTION_FILE).exists()
            continue
        assert info["directions_removed"] == round(strength * InlpSettings().inlp_iterations)
        assert info["heldout_accuracy_by_round"][0] > 0.95  # the planted direction, found
        after[strength] = eval_probe(out, task)
    assert before > 0.95
    assert abs(after[1.0] - 0.5) <= 0.05, after  # chance ± 5 points at strength 1
    # At 0.5 (the first half of the rounds: the planted direction first) most of the way down,
    # never below what full strength leaves. How much is left at 0.5 depends on the tiny model
    # (the same key built in two processes gave different weights, float rounding): seen
    # 0.57 and 0.51, with 0.51 and 0.53 at strength 1.
    assert after[1.0] - 0.03 <= after[0.5] < before - 0.2, after


def test_inlp_iterations_must_be_positive() -> None:
    with pytest.raises(UserError, match="intervention.inlp_iterations"):
        load_config(None, ["intervention.inlp_iterations=0"])
