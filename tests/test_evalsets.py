"""External evaluation sets (`eval.sets`): loading, validation, and what a trial records of them."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from bias_sweep.cli import main
from bias_sweep.config import load_config, typed
from bias_sweep.data.eval_sets import load_eval_sets
from bias_sweep.errors import UserError
from bias_sweep.metrics import eval_set_column, eval_set_columns, metric_keys
from bias_sweep.metrics.registry import BINARY
from bias_sweep.schema import GroupsConfig
from bias_sweep.sweep.results import tidy_row
from bias_sweep.sweep.wandb_runs import summary_values

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _cache(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> None:
    monkeypatch.setenv("BIAS_SWEEP_CACHE", str(cache_dir))


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["eval.sets=[{name: Madlibs, path: x.csv}]"], "eval.sets[0].name"),
        (["eval.sets=[{name: tpr@x, path: x.csv}]"], "eval.sets[0].name"),
        (["eval.sets=[{name: a, path: x.csv}, {name: a, path: y.csv}]"], "eval.sets[1].name"),
        (["eval.sets=[{name: a}]"], "eval.sets[0].path"),
        (["eval.sets=[{name: a, path: x.csv, text_column: ''}]"], "eval.sets[0].text_column"),
        (["eval.sets=[{name: a, path: x.csv, group_values: {a: M, b: F}}]"], "group_column"),
        (["eval.sets=[{name: a, path: x.csv, group_values: {m: M}, group_column: g}]"], "group_values"),
        (["eval.sets=[{name: a, path: x.csv, colour: red}]"], "unknown key 'colour' in an item of eval.sets"),
        (["data.eval_method=swapped"], "data.eval_method"),
    ],
)  # fmt: skip
def test_bad_eval_settings_name_the_key(overrides: list[str], named: str) -> None:
    with pytest.raises(UserError) as err:
        load_config(None, overrides)
    assert named in str(err.value) and "\n" not in str(err.value)


def write_set(path: Path) -> Path:
    rows = [
        ("he is awful", "bad", "M", "she is awful"),
        ("she is awful", "bad", "F", "he is awful"),
        ("he is kind", "good", "M", "she is kind"),
        ("she is kind", "good", "F", "he is kind"),
        ("he and she are kind", "good", None, "she and he are kind"),  # both groups
        ("the weather is kind", "good", "X", "the weather is kind"),  # neither
    ]
    frame = pd.DataFrame(rows, columns=["sentence", "verdict", "sex", "other"])
    frame.to_csv(path, index=False)
    return path


def sets_config(path: Path, **extra: object) -> list:
    one = {"name": "mine", "path": str(path), "text_column": "sentence"}
    one.update({"label_column": "verdict", "positive_label": "bad", **extra})
    return typed(load_config(None, [f"eval.sets=[{json.dumps(one)}]"])).eval.sets


def test_groups_and_twins_by_the_lexicon_or_by_columns(tmp_path: Path) -> None:
    path = write_set(tmp_path / "set.csv")
    groups = GroupsConfig()
    (by_lexicon,) = load_eval_sets(sets_config(path), groups, tmp_path)
    assert by_lexicon.counts == {
        "rows": 6, "group_from": "lexicon", "a": 2, "b": 2, "both": 1, "neither": 1,
        "no_twin": 0, "kept": 4,
    }  # fmt: skip
    frame = by_lexicon.frame
    assert list(frame.columns) == ["text", "label", "group", "cf_text"]
    assert frame["label"].tolist() == [1, 1, 0, 0]
    assert frame["group"].tolist() == ["male", "female", "male", "female"]
    assert frame["cf_text"].tolist() == ["she is awful", "he is awful", "she is kind", "he is kind"]

    extra = {"group_column": "sex", "group_values": {"a": "M", "b": "F"}, "cf_text_column": "other"}
    (by_columns,) = load_eval_sets(sets_config(path, **extra), groups, tmp_path)
    assert by_columns.counts["group_from"] == "column sex"
    assert (by_columns.counts["a"], by_columns.counts["b"], by_columns.counts["neither"]) == (
        2,
        2,
        2,
    )
    assert by_columns.frame["cf_text"].tolist() == frame["cf_text"].tolist()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"path": "/no/such/set.csv"}, r"^eval.sets\[0\].path: file '/no/such/set.csv' not found"),
        ({"text_column": "nope"}, r"^eval.sets\[0\].text_column: column 'nope' not in"),
        ({"positive_label": "awful"}, r"^eval.sets\[0\].positive_label: 'awful' is not a value"),
        ({"group_column": "sex", "group_values": {"a": "m", "b": "f"}}, r"^eval.sets\[0\].group_values"),
        ({"cf_text_column": "twin"}, r"^eval.sets\[0\].cf_text_column: column 'twin' not in"),
    ],
)  # fmt: skip
def test_bad_eval_files_name_the_key(tmp_path: Path, extra: dict, message: str) -> None:
    path = write_set(tmp_path / "set.csv")
    sets = sets_config(path, **{k: v for k, v in extra.items() if k != "path"})
    if "path" in extra:
        sets[0].path = extra["path"]
    with pytest.raises(UserError, match=message):
        load_eval_sets(sets, GroupsConfig(), tmp_path)


def test_results_table_and_wandb_name_each_set() -> None:
    metrics = {k: 0.25 for k in metric_keys()}
    result = {
        "trial_key": "k",
        "config": OmegaConf.to_container(load_config(None)),
        "point": {},
        "realised_rate": 0.5,
        "intrinsic_bias": {
            "before": {"value": 0.1},
            "after": {"value": 0.2, "kind": "mlm"},
            "finetuned": {"value": 0.3, "kind": "mlm"},
        },  # fmt: skip
        "metrics": metrics,
        "eval_sets": {"madlibs": {"metrics": {**metrics, "tpr_gap": -0.5}}},
        "timings": {"total_s": 1.0},
    }
    row = tidy_row(result)
    assert row["tpr_gap"] == 0.25 and row["tpr_gap@madlibs"] == -0.5
    assert set(eval_set_columns(["madlibs"])) <= set(row)
    assert eval_set_column("tpr_gap_twin", "madlibs") == "tpr_gap_twin@madlibs"
    summary = summary_values(result)
    # One naming: W&B's summary keys are the results table's columns.
    assert summary["tpr_gap@madlibs"] == -0.5 and summary["tpr_gap"] == 0.25
    assert set(eval_set_columns(["madlibs"])) <= set(summary)
    assert {k for k in summary if k in row} == set(summary)
    assert (row["intrinsic_finetuned"], summary["intrinsic_finetuned"]) == (0.3, 0.3)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Torch on one thread, as the sweep's trainable sets it for cpu=1: on a shared 2-core machine
    two threads score the 27,000 template texts several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_trial_scores_the_templates_of_the_shipped_sweep(
    tmp_path: Path, conversationai_dir: Path, one_thread: None
) -> None:
    """sweeps/conversationai.yaml with the local copies and the tiny model: the in-domain twins
    and the identity-term templates, each set's metrics in result.json and its predictions file."""
    out = tmp_path / "trial"
    args = [
        str(ROOT / "sweeps" / "conversationai.yaml"),
        f"data.path={conversationai_dir / 'toxicity_nonfuzzed_testset.csv'}",
        f"eval.sets.0.path={conversationai_dir / 'bias_madlibs_77k.csv'}",
        "model.name=tiny-bert",
        "model.pretrain_steps=40",
        "intervention.method=none",
        "train.epochs=2",
        "train.max_length=32",
        "data.rate=0.9",
        "--out",
        str(out),
    ]
    assert main(["trial", *args]) == 0
    result = json.loads((out / "result.json").read_text())
    madlibs = result["eval_sets"]["madlibs"]
    assert set(madlibs["metrics"]) == set(metric_keys(BINARY))
    assert madlibs["rows"] == madlibs["group_counts"]["kept"] == 13588
    assert not math.isnan(madlibs["metrics"]["tpr_gap"])
    assert result["group_counts"]["kept"] == 480 and result["group_counts"]["both"] == 101
    assert result["eval_set"]["method"] == "resample" and result["eval_set"]["real"] == 64
    assert result["config"]["data"]["rate_method"] == "counterfactual"
    predictions = pd.read_parquet(out / "predictions.parquet")
    assert list(predictions.columns) == [
        "text", "cf_text", "label", "group", "score", "pred", "cf_score",
    ]  # fmt: skip
    assert (predictions["cf_text"] != predictions["text"]).all()
    templates = pd.read_parquet(out / "predictions@madlibs.parquet")
    assert len(templates) == 13588 and set(templates["group"]) == {"male", "female"}
    assert result["timings"]["eval_sets_s"] > 0
