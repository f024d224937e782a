"""`checkpoint`: a published debiased model from a local folder or the hub cache (files in the
hub's format; nothing is downloaded in tests), and one-line refusals of a missing one."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import SMALL

from bias_sweep import models
from bias_sweep.cli import main
from bias_sweep.config import load_config, typed
from bias_sweep.interventions import METHODS, apply_intervention

ROOT = Path(__file__).resolve().parents[1]
SWEEP = str(ROOT / "sweeps" / "quickstart.yaml")
REVISION = "0123456789abcdef0123456789abcdef01234567"


def published(tiny_bert: Path, out: Path, tokenizer: bool = True) -> Path:
    """A 'debiased' model in the hub's format: config.json and model.safetensors (weights that
    differ from the base's), with or without its tokenizer files."""
    model = models.load_masked_lm(tiny_bert)
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(0.5)
    model.save_pretrained(out)
    if tokenizer:
        models.load_tokenizer(tiny_bert).save_pretrained(out)
    return out


def icfg(*overrides: str) -> Any:
    return typed(load_config(None, ["intervention.method=checkpoint", *overrides])).intervention


def test_a_local_folder_joins_as_the_intervened_model(tiny_bert: Path, task: Any, tmp_path) -> None:
    folder = published(tiny_bert, tmp_path / "zari-like", tokenizer=False)
    info = apply_intervention(icfg(f"intervention.checkpoint={folder}"), tiny_bert, task,
                              tmp_path / "out")  # fmt: skip
    assert info["tokenizer"] == "the base's" and info["resolved_folder"] == str(folder)
    loaded = models.load_masked_lm(tmp_path / "out").get_input_embeddings().weight
    base = models.load_masked_lm(tiny_bert).get_input_embeddings().weight
    torch.testing.assert_close(loaded, base * 0.5)
    assert models.load_tokenizer(tmp_path / "out")("he is here")["input_ids"]
    method = METHODS.get("checkpoint")
    assert not method.strength and not method.seeded and not method.persistent


def test_a_hub_id_at_a_pinned_revision_from_the_hub_cache(
    tiny_bert: Path, task: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub's cache layout (models--ORG--NAME/snapshots/<commit>), read offline."""
    from huggingface_hub import constants

    repo = tmp_path / "hub" / "models--debias-org--tiny-cda"
    published(tiny_bert, repo / "snapshots" / REVISION)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REVISION)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    pinned = ["intervention.checkpoint=debias-org/tiny-cda",
              f"intervention.checkpoint_revision={REVISION}"]  # fmt: skip
    info = apply_intervention(icfg(*pinned), tiny_bert, task, tmp_path / "out")
    assert info["revision"] == REVISION and info["tokenizer"] == "its own"
    assert models.load_classifier(tmp_path / "out") is not None
    # Another revision is not in the cache: one line naming the key, no traceback.
    from bias_sweep.errors import UserError

    other = ["intervention.checkpoint=debias-org/tiny-cda", "intervention.checkpoint_revision=v2"]
    with pytest.raises(UserError, match=r"^intervention.checkpoint: 'debias-org/tiny-cda' at "):
        apply_intervention(icfg(*other), tiny_bert, task, tmp_path / "out2")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("", "needs a folder or a hub id"),
        ("intervention.checkpoint=/no/such/zari", "does not exist"),
        ("intervention.checkpoint=debias-org/zari-cda", "needs a pinned"),
    ],
)
def test_a_missing_checkpoint_is_refused_in_one_line(
    setting: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    storage = tmp_path / "runs"
    args = [SWEEP, "intervention.method=checkpoint", f"sweep.storage={storage}"]
    assert main(["plan", *args, *([setting] if setting else [])]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "intervention.checkpoint" in err
    assert not storage.exists()  # nothing written


def test_a_folder_without_a_model_is_refused(tmp_path: Path) -> None:
    from bias_sweep.errors import UserError

    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="has no config.json"):
        load_config(None, ["intervention.method=checkpoint",
                           f"intervention.checkpoint={tmp_path / 'empty'}"])  # fmt: skip


def test_a_trial_and_a_plan_with_a_checkpoint(
    tiny_bert: Path, tmp_path: Path, cache_dir: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("BIAS_SWEEP_CACHE", str(cache_dir))
    folder = published(tiny_bert, tmp_path / "zari-like")
    ours = ["intervention.method=checkpoint", f"intervention.checkpoint={folder}"]
    assert main(["plan", SWEEP, *ours, f"sweep.storage={tmp_path / 'runs'}"]) == 0
    assert "intervention jobs: 1 unique" in capsys.readouterr().out  # no strength, no seed
    assert main(["trial", SWEEP, *SMALL, *ours, "--out", str(tmp_path / "t")]) == 0
    shutil.rmtree(folder)  # gone now: a new config naming it is refused
    assert main(["plan", SWEEP, *ours]) == 2
