"""Multi-class tasks (issue 20): per-class co-occurrence realised exactly, per-class gaps equal to
fairlearn's and scikit-learn's, `plan` naming the class that cannot be filled, a multi-class
trial end to end (synthetic professions, and WinoBias's occupations as classes)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from bias_sweep.cli import main
from bias_sweep.data import load_task
from bias_sweep.data.feasibility import check_data
from bias_sweep.errors import UserError
from bias_sweep.metrics import compute_metrics
from bias_sweep.metrics.per_class import per_class
from bias_sweep.schema import DataConfig

WINOBIAS = ROOT.parent / "shared" / "data" / "winobias"
PROFESSIONS = dict(source="synthetic-professions", task="multiclass", pool_size=8000)
TINY = [
    "model.pretrain_steps=40", "intervention.steps=10", "data.train_size=480",
    "data.eval_size=160", "train.epochs=2",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _cache(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> None:
    monkeypatch.setenv("BIAS_SWEEP_CACHE", str(cache_dir))


def realised_rates(train: pd.DataFrame, a: str = "male") -> pd.Series:
    """P(A | class) recomputed from a train table (train.parquet's columns)."""
    return (train["group"] == a).groupby(train["label"]).mean()


@pytest.mark.parametrize("method", ["resample", "counterfactual"])
@pytest.mark.parametrize("scale", [0.0, 0.5, 1.0, 1.6])
def test_every_class_is_drawn_at_its_scaled_target(method: str, scale: float) -> None:
    cfg = DataConfig(**PROFESSIONS, skew_scale=scale, rate_method=method, train_size=800)
    task = load_task(cfg, seed=3)
    got = realised_rates(task.train)
    assert len(task.train) == 800 and len(got) == len(task.classes) == 8
    for index, name in enumerate(task.classes):
        rates = task.class_rates[name]
        expected = np.clip(0.5 + scale * (rates["natural"] - 0.5), 0, 1)
        assert rates["target"] == pytest.approx(expected)
        assert abs(got[index] - rates["target"]) <= 0.01, name
        assert rates["realised"] == pytest.approx(got[index])
    naturals = [r["natural"] for r in task.class_rates.values()]
    assert max(naturals) - min(naturals) > 0.5  # the source's own skews, surgeons to nurses


def test_explicit_class_rates_and_their_errors() -> None:
    classes = load_task(DataConfig(**PROFESSIONS), seed=0).classes
    targets = {c: round(0.2 + 0.08 * i, 2) for i, c in enumerate(classes)}
    task = load_task(DataConfig(**PROFESSIONS, class_rates=targets, train_size=1000), seed=1)
    got = realised_rates(task.train)
    assert all(abs(got[i] - targets[c]) <= 0.01 for i, c in enumerate(classes))
    with pytest.raises(UserError, match=r"data.class_rates: unknown class 'pilot'"):
        load_task(DataConfig(**PROFESSIONS, class_rates={**targets, "pilot": 0.5}), seed=0)
    with pytest.raises(UserError, match=r"data.class_rates: no rate for 'architect'"):
        load_task(DataConfig(**PROFESSIONS, class_rates={"nurse": 0.5}), seed=0)


def test_plan_names_the_short_class_and_a_size_that_fits() -> None:
    cfg = DataConfig(**PROFESSIONS, skew_scale=1.6, train_size=7000)
    check = check_data(cfg, [0.5])
    problem = check.problem()
    assert problem is not None and "\n" not in problem
    match = re.search(r"class (\w+)\).*largest feasible data.train_size is (\d+)", problem)
    assert match, problem
    largest = int(match.group(2))
    assert 0 < largest < 7000
    task = load_task(DataConfig(**PROFESSIONS, skew_scale=1.6, train_size=largest), seed=0)
    got = realised_rates(task.train)
    assert all(abs(got[i] - r["target"]) <= 0.01 for i, r in enumerate(task.class_rates.values()))


def test_a_small_class_is_nudged_to_an_exact_count_or_refused_not_rounded() -> None:
    # 400 rows give the nurses 47 by proportion, which cannot hold P(A) = 0.5 within 0.01: the
    # class is nudged by a row (the largest class gives it), so every class is exact.
    task = load_task(DataConfig(**PROFESSIONS, skew_scale=0.0, train_size=400), seed=0)
    got = realised_rates(task.train)
    assert len(task.train) == 400
    assert all(abs(got[i] - 0.5) <= 0.01 for i in range(len(task.classes)))
    # Two rows a class at P(A) = 0.3: no nudge of a few rows reaches it, so it is refused.
    rates = {c: 0.3 for c in task.classes}
    with pytest.raises(UserError, match=r"class \w+ gets \d rows, too few to realise P\(A\) = 0.3"):
        load_task(DataConfig(**PROFESSIONS, class_rates=rates, train_size=16), seed=0)


def random_table(rng: np.random.Generator, n: int = 3000) -> pd.DataFrame:
    classes = np.array(["a_job", "b_job", "c_job", "d_job"], dtype=object)
    label = rng.integers(0, 4, n)
    group = np.where(rng.random(n) < 0.5, "male", "female")
    right = rng.random(n) < np.where(group == "male", 0.8, 0.55) + 0.05 * label
    pred = np.where(right, label, rng.integers(0, 4, n))
    cf_pred = np.where(rng.random(n) < 0.9, pred, rng.integers(0, 4, n))
    return pd.DataFrame(
        {
            "label": classes[label], "group": group, "pred": classes[pred],
            "cf_pred": classes[cf_pred], "score": rng.random(n), "cf_score": rng.random(n),
            "train_share": (np.array([0.2, 0.4, 0.6, 0.8]))[label],
        }
    )  # fmt: skip


def fairlearn_gaps(table: pd.DataFrame, cls: str) -> tuple[float, float]:
    from fairlearn.metrics import MetricFrame, false_positive_rate
    from sklearn.metrics import recall_score

    yt, yp = (table["label"] == cls).astype(int), (table["pred"] == cls).astype(int)
    frame = MetricFrame(
        metrics={"tpr": recall_score, "fpr": false_positive_rate},
        y_true=yt, y_pred=yp, sensitive_features=table["group"],
    )  # fmt: skip
    by = frame.by_group
    return by.loc["male", "tpr"] - by.loc["female", "tpr"], by.loc["male", "fpr"] - by.loc[
        "female", "fpr"
    ]


def test_per_class_gaps_equal_fairlearn_and_pooled_metrics_follow() -> None:
    table = random_table(np.random.default_rng(0))
    found = per_class(table, "male", "female")
    assert set(found) == set(table["label"])
    tpr = []
    for cls, one in found.items():
        tpr_gap, fpr_gap = fairlearn_gaps(table, cls)
        assert one["tpr_gap"] == pytest.approx(tpr_gap, abs=1e-12)
        assert one["fpr_gap"] == pytest.approx(fpr_gap, abs=1e-12)
        sub = table[table["group"] == "male"]
        assert one["support"]["male"]["positive"] == int((sub["label"] == cls).sum())
        tpr.append(tpr_gap)
    metrics = compute_metrics(table, "male", "female", "multiclass")
    assert metrics["tpr_gap_rms"] == pytest.approx(np.sqrt(np.mean(np.square(tpr))))
    shares = [0.2, 0.4, 0.6, 0.8]  # classes sorted: a_job .. d_job
    assert metrics["tpr_gap_share_corr"] == pytest.approx(np.corrcoef(tpr, shares)[0, 1])
    # Twin-balanced rows: every text once in each group, the twin with its own prediction.
    ab = table
    twins = pd.concat([ab, ab.assign(group=np.where(ab["group"] == "male", "female", "male"),
                                     pred=ab["cf_pred"])])  # fmt: skip
    twin_rms = np.sqrt(np.mean([fairlearn_gaps(twins, c)[0] ** 2 for c in sorted(found)]))
    assert metrics["tpr_gap_rms_twin"] == pytest.approx(twin_rms)
    assert "tpr_gap" not in metrics  # the binary metrics are not computed on classes


def check_trial_folder(out: Path) -> dict:
    """The acceptance checks of a multi-class trial folder: per-class gaps from its predictions
    (fairlearn), per-class rates from its train rows, labels as class names."""
    result = json.loads((out / "result.json").read_text())
    predictions = pd.read_parquet(out / "predictions.parquet")
    train = pd.read_parquet(out / "train.parquet")
    classes = sorted(result["class_rates"])
    assert set(predictions["label"]) <= set(classes) and set(predictions["pred"]) <= set(classes)
    assert set(train["label"]) == set(classes)
    for cls, one in result["per_class"].items():
        tpr_gap, fpr_gap = fairlearn_gaps(predictions, cls)
        for key, want in (("tpr_gap", tpr_gap), ("fpr_gap", fpr_gap)):
            assert (one[key] is None and np.isnan(want)) or one[key] == pytest.approx(want)
    got = realised_rates(train)
    for cls, rates in result["class_rates"].items():
        assert abs(got[cls] - rates["target"]) <= 0.01, cls
    return result


def test_multiclass_trial_end_to_end(tmp_path: Path) -> None:
    sweep = str(ROOT / "sweeps" / "professions.yaml")
    out = tmp_path / "trial"
    args = [sweep, *TINY, "data.skew_scale=0.5", "data.scrub=terms_and_names"]
    assert main(["trial", *args, "--out", str(out)]) == 0
    result = check_trial_folder(out)
    assert len(result["per_class"]) == 8
    assert {"tpr_gap_rms", "tpr_gap_share_corr", "accuracy", "macro_f1"} <= set(result["metrics"])
    assert result["realised_rate"] is None
    for one in result["per_class"].values():  # the intervened model's per-class intrinsic bias
        assert isinstance(one["intrinsic_before"], float)
        assert isinstance(one["intrinsic_after"], float)
    check_sweep_companions(out, result, tmp_path)


def check_sweep_companions(out: Path, result: dict, tmp_path: Path) -> None:
    """A sweep holding this trial: per_class.parquet (one row per class, the trial's gaps and
    rates) and the trial's W&B run with its per_class table (offline)."""
    from bias_sweep.sweep.layout import SweepFolder
    from bias_sweep.sweep.results import rebuild_table
    from bias_sweep.sweep.wandb_runs import TrialRun
    from bias_sweep.tracking import Run

    folder = SweepFolder(tmp_path / "sweep")
    shutil.copytree(out, folder.trials / result["trial_key"])
    assert len(rebuild_table(folder)) == 1
    long = pd.read_parquet(folder.per_class_table).set_index("class")
    assert sorted(long.index) == sorted(result["per_class"])
    for cls, one in result["per_class"].items():
        assert long.loc[cls, "realised_rate"] == result["class_rates"][cls]["realised"]
        got, want = long.loc[cls, "tpr_gap"], one["tpr_gap"]
        assert (want is None and np.isnan(got)) or got == want
    assert {"intervention_key", "tpr_gap_twin", "support_male_positive"} <= set(long.columns)
    run = Run(name="t", project="p", entity=None, group="g", job_type="finetune", config={},
              directory=tmp_path / "wandb", mode="offline", run_id=result["trial_key"])  # fmt: skip
    TrialRun(run, []).complete(result, pd.read_parquet(out / "predictions.parquet"))
    run.finish()
    assert list((tmp_path / "wandb").rglob("per_class_*.table.json"))


def winobias_table(path: Path) -> pd.DataFrame:
    """WinoBias sentences (MIT, Zhao et al. 2018) with the occupation they are about (the first
    bracketed phrase) as the class, brackets and line numbers removed."""
    rows = []
    for file in sorted(WINOBIAS.glob("*_stereotyped_type*.txt.*")):
        for line in file.read_text().splitlines():
            sentence = line.split(" ", 1)[1]
            first = re.search(r"\[([^\]]+)\]", sentence).group(1).strip().lower()
            occupation = re.sub(r"^(?:the|a|an) ", "", first)
            text = sentence.replace("[", "").replace("]", "")
            rows.append({"text": text, "occupation": occupation})
    table = pd.DataFrame(rows)
    table.to_csv(path, index=False)
    return table


@pytest.mark.slow
def test_winobias_occupations_run_end_to_end_as_classes(tmp_path: Path) -> None:
    if not WINOBIAS.is_dir():
        pytest.skip(f"WinoBias not found at {WINOBIAS} (CI always has it)")
    table = winobias_table(tmp_path / "winobias.csv")
    k = table["occupation"].nunique()
    assert k >= 30
    out = tmp_path / "trial"
    args = [
        str(ROOT / "sweeps" / "professions.yaml"), *TINY, "data.source=file",
        f"data.path={tmp_path / 'winobias.csv'}", "data.label_column=occupation",
        "data.skew_scale=0", f"data.eval_size={4 * k}", "data.train_size=1600",
        "data.rate_method=counterfactual",
    ]  # fmt: skip
    assert main(["plan", args[0], *args[1:]]) == 0
    assert main(["trial", *args, "--out", str(out)]) == 0
    result = check_trial_folder(out)
    assert len(result["per_class"]) == k


def test_bias_in_bios_hub_loader_gives_professions_as_classes(tmp_path: Path) -> None:
    """The real hub loader on a local file in LabHC/bias_in_bios's schema (hard_text, profession
    id, gender 0/1): professions by name, gender from its column, every class at its target."""
    rng = np.random.default_rng(0)
    rows = []
    for job_id, share_male in ((13, 0.1), (21, 0.6), (25, 0.85)):  # nurse, professor, surgeon
        for i in range(400):
            male = rng.random() < share_male
            subject = "He" if male else "She"
            rows.append((f"{subject} works as #{job_id} in city {i} (bio {job_id}-{i}).", job_id,
                         0 if male else 1))  # fmt: skip
    path = tmp_path / "bios.parquet"
    pd.DataFrame(rows, columns=["hard_text", "profession", "gender"]).to_parquet(path)
    cfg = DataConfig(source="hub", hub_dataset="LabHC/bias_in_bios", path=str(path),
                     task="multiclass", skew_scale=0.5, train_size=600, eval_size=120,
                     rate_method="counterfactual")  # fmt: skip
    task = load_task(cfg, seed=0, cache_dir=tmp_path)
    assert task.classes == ("nurse", "professor", "surgeon")
    got = realised_rates(task.train)
    for index, (name, rates) in enumerate(task.class_rates.items()):
        assert abs(got[index] - (0.5 + 0.5 * (rates["natural"] - 0.5))) <= 0.01, name
    assert task.class_rates["nurse"]["natural"] < 0.2 < 0.7 < task.class_rates["surgeon"]["natural"]


@pytest.mark.parametrize(
    ("override", "key"),
    [("data.task=ternary", "data.task"), ("data.scrub=bogus", "data.scrub"),
     ("data.skew_scale=-1", "data.skew_scale"), ("data.class_rates.nurse=1.5", "data.class_rates")],
)  # fmt: skip
def test_bad_multiclass_settings_are_one_line_exit_2(
    override: str, key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = str(ROOT / "sweeps" / "professions.yaml")
    assert main(["plan", sweep, override, f"sweep.storage={tmp_path}"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and key in err, err
    assert not any(tmp_path.iterdir())
