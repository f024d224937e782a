"""`dropout` (Webster et al. 2020): continued pre-training with raised dropout, saved with the
base's rates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from bias_sweep import models
from bias_sweep.config import load_config, typed
from bias_sweep.errors import UserError
from bias_sweep.interventions import apply_intervention
from bias_sweep.interventions.dropout import raised_dropout


def test_dropout_trains_with_raised_rates_and_saves_the_base_ones(
    tiny_bert: Path, task: Any, tmp_path: Path
) -> None:
    base = json.loads((tiny_bert / "config.json").read_text())
    infos, weights = {}, {}
    for strength in (0.0, 1.0):
        overrides = ["intervention.method=dropout", f"intervention.strength={strength}",
                     "intervention.steps=25", "intervention.dropout_increase=0.3"]  # fmt: skip
        out = tmp_path / f"s{strength}"
        infos[strength] = apply_intervention(typed(load_config(None, overrides)).intervention,
                                             tiny_bert, task, out)  # fmt: skip
        saved = json.loads((out / "config.json").read_text())
        assert saved["hidden_dropout_prob"] == base["hidden_dropout_prob"]
        assert saved["attention_probs_dropout_prob"] == base["attention_probs_dropout_prob"]
        weights[strength] = models.load_masked_lm(out).state_dict()
    raised = infos[1.0]["dropout_while_training"]
    assert raised["hidden_dropout_prob"] == pytest.approx(base["hidden_dropout_prob"] + 0.3)
    assert (
        infos[0.0]["dropout_while_training"]["hidden_dropout_prob"] == base["hidden_dropout_prob"]
    )
    # The raised dropout acted: the same steps, seed and batches end at a higher MLM loss, and
    # in other weights.
    assert infos[1.0]["mlm_loss_end"] > infos[0.0]["mlm_loss_end"]
    assert any(not torch.equal(weights[0.0][k], weights[1.0][k]) for k in weights[0.0])


def test_the_raised_rates_and_a_config_without_any() -> None:
    from transformers import BertConfig, DistilBertConfig, GPT2Config

    bert = raised_dropout(BertConfig(), 0.1)
    assert bert == pytest.approx({"hidden_dropout_prob": 0.2, "attention_probs_dropout_prob": 0.2})
    assert set(raised_dropout(DistilBertConfig(), 0.1)) == {"dropout", "attention_dropout"}
    with pytest.raises(UserError, match="dropout"):
        raised_dropout(GPT2Config(), 0.1)
    with pytest.raises(UserError, match="intervention.dropout_increase"):
        load_config(None, ["intervention.dropout_increase=1.5"])


def test_every_method_declares_its_persistence() -> None:
    from bias_sweep.interventions import persistence

    assert persistence("projection") == persistence("inlp") == "persists through fine-tuning"
    for undoable in ("cda", "skew", "dropout", "random-init"):
        assert persistence(undoable) == "fine-tuning can undo it"
