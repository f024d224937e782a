"""Reports of synthetic sweep folders: files, cell statistics, ANOVA, plots, HTML, coverage."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from PIL import Image
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm

from bias_sweep.config import load_config
from bias_sweep.identity import to_dict, trial_key
from bias_sweep.metrics.names import DEFAULT_REPORT_METRICS as DEFAULT_METRICS
from bias_sweep.metrics.names import METRIC_KEYS
from bias_sweep.report import build_report, compare
from bias_sweep.sweep.grid import expand_grid, point_config

GRID = [
    "sweep.grid.intervention.method=[cda]",
    "sweep.grid.intervention.strength=[0,0.5,1]",
    "sweep.grid.data.rate=[0.1,0.5,0.9]",
    "sweep.grid.seed=[0,1]",
]


def write_sweep(root: Path, overrides: list[str] = GRID, name: str = "toy", seed: int = 0) -> Path:
    """A sweep folder as the sweep layer leaves it: sweep.yaml and one result.json per trial.

    Metrics depend mostly on the rate and a little on the strength, plus noise.
    """
    conf = load_config(None, [*overrides, f"sweep.name={name}", f"sweep.storage={root}"])
    folder = root / name
    folder.mkdir(parents=True)
    OmegaConf.save(conf, folder / "sweep.yaml")
    rng = np.random.default_rng(seed)
    for point in expand_grid(conf):
        trial = point_config(conf, point)
        rate, strength = float(trial.data.rate), float(trial.intervention.strength)
        intrinsic = 0.8 - 0.5 * strength + rng.normal(0, 0.05)
        metrics = {k: float(rng.uniform(0.4, 0.9)) for k in METRIC_KEYS}
        metrics["tpr_gap"] = 0.8 * (rate - 0.5) - 0.05 * strength + rng.normal(0, 0.03)
        metrics["fpr_gap"] = -0.6 * (rate - 0.5) + rng.normal(0, 0.03)
        metrics["flip_rate"] = 0.1 + 0.2 * abs(rate - 0.5) + rng.normal(0, 0.01)
        metrics["accuracy"] = 0.85 - 0.05 * strength + rng.normal(0, 0.01)
        key = trial_key(trial)
        result = {
            "trial_key": key,
            "sweep": name,
            "point": point,
            "config": to_dict(trial),
            "realised_rate": rate + rng.normal(0, 0.01),
            "intrinsic_bias": {
                "before": {"kind": "seat_effect_size", "value": 0.8},
                "after": {"kind": "seat_effect_size", "value": intrinsic},
            },
            "metrics": metrics,
            "timings": {"intervention": 1.0, "train": 10.0, "eval": 2.0},
            "node": "node-0",
            "intervention_key": f"iv-{strength}",
        }
        (folder / "trials" / key).mkdir(parents=True)
        (folder / "trials" / key / "result.json").write_text(json.dumps(result))
    return folder


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    return write_sweep(tmp_path / "runs")


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, float_precision="round_trip")


def test_every_file_written_and_full_coverage(sweep: Path) -> None:
    summary = build_report(sweep)
    out = sweep / "report"
    assert summary.out_dir == out
    assert summary.coverage == (18, 18)
    for name in ("trials.csv", "trials.parquet", "cells.csv", "effects.csv", "report.md"):
        assert (out / name).is_file(), name
    assert all(p.is_file() and p.stat().st_size > 0 for p in summary.files)
    assert len(read_csv(out / "trials.csv")) == 18
    assert len(pd.read_parquet(out / "trials.parquet")) == 18
    md = (out / "report.md").read_text()
    assert "18 of 18 grid points finished; 0 failed" in md
    # The verdict comes before coverage, tables and plots.
    assert md.index("co-occurrence rate explains") < md.index("## Coverage")
    assert any(
        v.startswith("tiny-bert, tpr_gap: co-occurrence rate explains") for v in summary.verdicts
    )
    tpr = next(v for v in summary.verdicts if v.startswith("tiny-bert, tpr_gap"))
    assert "the co-occurrence rate matters more" in tpr


def test_cells_equal_pandas_groupby_of_trials_csv(sweep: Path) -> None:
    build_report(sweep)
    trials = read_csv(sweep / "report" / "trials.csv")
    cells = read_csv(sweep / "report" / "cells.csv")
    keys = ["model", "method", "strength", "rate"]
    g = trials.groupby(keys)
    assert len(cells) == g.ngroups == 9
    for metric in DEFAULT_METRICS:
        want = pd.DataFrame(
            {"mean": g[metric].mean(), "std": g[metric].std(), "n": g[metric].count()}
        ).reset_index()
        merged = cells.merge(want, on=keys)
        assert len(merged) == 9
        np.testing.assert_allclose(merged[f"{metric}_mean"], merged["mean"], rtol=1e-12)
        np.testing.assert_allclose(merged[f"{metric}_std"], merged["std"], rtol=1e-12)
        assert (merged[f"{metric}_n"] == merged["n"]).all()
        # 95% t-interval with n - 1 = 1 degree of freedom: t = 12.706204736...
        half = 12.706204736174698 * merged["std"] / np.sqrt(2)
        np.testing.assert_allclose(merged[f"{metric}_ci_high"], merged["mean"] + half, rtol=1e-9)
        np.testing.assert_allclose(merged[f"{metric}_ci_low"], merged["mean"] - half, rtol=1e-9)


def test_eta_squared_equals_statsmodels_anova(sweep: Path) -> None:
    build_report(sweep)
    trials = read_csv(sweep / "report" / "trials.csv")
    effects = read_csv(sweep / "report" / "effects.csv")
    for metric in ("tpr_gap", "fpr_gap", "accuracy", "intrinsic_after"):
        data = trials.rename(columns={metric: "y"})
        table = anova_lm(ols("y ~ C(strength) * C(rate)", data=data).fit(), typ=2)
        ss_total = ((data["y"] - data["y"].mean()) ** 2).sum()
        row = effects[(effects["model"] == "tiny-bert") & (effects["metric"] == metric)].iloc[0]
        assert row["strength_factor"] == "strength"
        assert row["eta2_strength"] == pytest.approx(
            table.loc["C(strength)", "sum_sq"] / ss_total, rel=1e-9
        )
        assert row["eta2_rate"] == pytest.approx(
            table.loc["C(rate)", "sum_sq"] / ss_total, rel=1e-9
        )
        inter = table.loc["C(strength):C(rate)", "sum_sq"] / ss_total
        assert row["eta2_interaction"] == pytest.approx(inter, rel=1e-9)
    tpr = effects[effects["metric"] == "tpr_gap"].iloc[0]
    assert tpr["eta2_rate"] > 0.8 > tpr["eta2_strength"]
    assert tpr["slope_rate_ci_low"] < tpr["slope_rate"] < tpr["slope_rate_ci_high"]
    assert tpr["slope_rate"] > 0.8
    # The synthetic intervention lowers intrinsic bias: the manipulation check sees it.
    assert tpr["intrinsic_on_strength_slope"] < 0 and tpr["intrinsic_moved"] == 1


def test_plots_are_valid_labelled_pngs(sweep: Path) -> None:
    summary = build_report(sweep, metrics=["tpr_gap", "accuracy", "f1", "intrinsic_after"])
    pngs = [p for p in summary.files if p.suffix == ".png"]
    # One heatmap and one line plot per metric, plus the scatter and the utility figure.
    assert len(pngs) == 2 * 4 + 2
    for path in pngs:
        with Image.open(path) as img:
            img.verify()
        assert path.stat().st_size > 5000
    assert {f.path for f in summary.figures} == set(pngs)
    for fig in summary.figures:
        assert fig.panels
        for panel in fig.panels:
            assert panel["title"] and panel["xlabel"] and panel["ylabel"], (fig.path, panel)
    heat = next(f for f in summary.figures if f.path.name == "heatmap_tpr_gap.png")
    # Every one of the 3 x 3 cells carries its value.
    assert sum(bool(re.fullmatch(r"−?-?\d\.\d\d", t)) for t in heat.panels[0]["texts"]) == 9
    lines = next(f for f in summary.figures if f.path.name == "lines_tpr_gap.png")
    assert {"s=0", "s=0.5", "s=1"} <= set(lines.panels[0]["texts"])  # lines labelled directly


def test_html_is_self_contained(sweep: Path) -> None:
    build_report(sweep, metrics=["tpr_gap", "accuracy"])
    text = (sweep / "report" / "report.html").read_text()
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text.lower() and "<link" not in text.lower()
    srcs = re.findall(r'(?:src|href)="([^"]*)"', text)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert text.index("co-occurrence rate explains") < text.index("grid points finished")


def test_partial_sweep_states_coverage_and_writes(sweep: Path) -> None:
    trial_dirs = sorted((sweep / "trials").iterdir())
    # Lose a whole cell's worth and then some: five trials unfinished, two of them failed.
    for d in trial_dirs[:5]:
        (d / "result.json").unlink()
    for d in trial_dirs[:2]:
        (d / "error.txt").write_text("RuntimeError: boom")
    summary = build_report(sweep)
    assert summary.coverage == (13, 18)
    assert summary.failed == 2
    md = (sweep / "report" / "report.md").read_text()
    assert "13 of 18 grid points finished; 2 failed; 3 not finished" in md
    assert len(read_csv(sweep / "report" / "trials.csv")) == 13
    assert all(p.is_file() for p in summary.files)


def test_missing_cells_and_empty_panels(tmp_path: Path) -> None:
    folder = write_sweep(tmp_path)
    trials = {
        p.parent: json.loads(p.read_text()) for p in (folder / "trials").glob("*/result.json")
    }
    for d, r in trials.items():
        if r["point"]["intervention.strength"] == 1:  # a whole strength level never finished
            shutil.rmtree(d)
    summary = build_report(folder, metrics=["tpr_gap"])
    assert summary.coverage == (12, 18)
    heat = next(f for f in summary.figures if f.path.name == "heatmap_tpr_gap.png")
    assert heat.panels[0]["texts"].count("–") == 3


@pytest.mark.filterwarnings("ignore:The design matrix is rank-deficient")
def test_empty_cell_uses_nested_type2_sums_of_squares(tmp_path: Path) -> None:
    # anova_lm(typ=2) on a design with an empty cell is not identified (it can even return
    # negative sums of squares); the report compares nested models instead.
    folder = write_sweep(tmp_path)
    for p in (folder / "trials").glob("*/result.json"):
        point = json.loads(p.read_text())["point"]
        if point["intervention.strength"] == 1 and point["data.rate"] == 0.9:
            shutil.rmtree(p.parent)
    build_report(folder, metrics=["tpr_gap"])
    trials = read_csv(folder / "report" / "trials.csv").rename(columns={"tpr_gap": "y"})
    row = read_csv(folder / "report" / "effects.csv").iloc[0]
    assert "nested model comparison" in row["note"]
    full = ols("y ~ C(strength) * C(rate)", data=trials).fit()
    additive = ols("y ~ C(strength) + C(rate)", data=trials).fit()
    only_rate = ols("y ~ C(rate)", data=trials).fit()
    only_strength = ols("y ~ C(strength)", data=trials).fit()
    ss_total = ((trials["y"] - trials["y"].mean()) ** 2).sum()
    ss_strength = anova_lm(only_rate, additive, full)["ss_diff"]
    ss_rate = anova_lm(only_strength, additive, full)["ss_diff"]
    assert row["eta2_strength"] == pytest.approx(ss_strength[1] / ss_total, rel=1e-9)
    assert row["eta2_rate"] == pytest.approx(ss_rate[1] / ss_total, rel=1e-9)
    assert row["eta2_interaction"] == pytest.approx(ss_rate[2] / ss_total, rel=1e-9)
    assert min(row["eta2_strength"], row["eta2_rate"], row["eta2_interaction"]) >= 0


def test_sweep_without_finished_trials(tmp_path: Path) -> None:
    folder = write_sweep(tmp_path)
    for p in (folder / "trials").glob("*/result.json"):
        p.unlink()
    summary = build_report(folder, metrics=["tpr_gap", "accuracy", "f1"])
    assert summary.coverage == (0, 18)
    texts = [t for f in summary.figures for panel in f.panels for t in panel["texts"]]
    assert any(t.startswith("no finished trials for tiny-bert") for t in texts)
    assert "0 of 18 grid points finished" in (folder / "report" / "report.md").read_text()


def test_degenerate_data_gives_nan_and_note(tmp_path: Path) -> None:
    # One rate, one seed: the rate has one level and the regressions have too few trials.
    folder = write_sweep(
        tmp_path,
        ["sweep.grid.intervention.method=[cda]", "sweep.grid.intervention.strength=[0,1]"],
    )
    build_report(folder)
    effects = read_csv(folder / "report" / "effects.csv")
    assert effects["eta2_rate"].isna().all()
    assert effects["note"].str.contains("rate has one level").all()


def test_several_methods_use_method_strength_factor(tmp_path: Path) -> None:
    folder = write_sweep(
        tmp_path,
        [
            "sweep.grid.intervention.method=[none,cda,projection]",
            "sweep.grid.intervention.strength=[0.5,1]",
            "sweep.grid.data.rate=[0.1,0.9]",
            "sweep.grid.seed=[0,1,2]",
        ],
    )
    summary = build_report(folder, metrics=["tpr_gap"])
    assert summary.coverage == (30, 30)  # `none` runs once per rate and seed, at strength 0
    effects = read_csv(folder / "report" / "effects.csv")
    row = effects.iloc[0]
    assert row["strength_factor"] == "method:strength"
    assert row["n_levels_strength"] == 5
    trials = read_csv(folder / "report" / "trials.csv")
    data = trials.assign(
        strength=trials["method"] + ":" + trials["strength"].map("{:g}".format), y=trials["tpr_gap"]
    )
    table = anova_lm(ols("y ~ C(strength) * C(rate)", data=data).fit(), typ=2)
    ss_total = ((data["y"] - data["y"].mean()) ** 2).sum()
    assert row["eta2_rate"] == pytest.approx(table.loc["C(rate)", "sum_sq"] / ss_total, rel=1e-9)


def test_compare_puts_sweeps_side_by_side(tmp_path: Path) -> None:
    a = write_sweep(tmp_path / "a", name="first", seed=1)
    b = write_sweep(tmp_path / "b", name="second", seed=2)
    summary = compare([a, b], tmp_path / "cmp", metrics=["tpr_gap", "accuracy"])
    table = read_csv(tmp_path / "cmp" / "compare.csv")
    assert list(table.columns) == ["model", "metric", "quantity", "first", "second"]
    eff_a = read_csv(build_report(a, metrics=["tpr_gap", "accuracy"]).out_dir / "effects.csv")
    got = table[(table["metric"] == "tpr_gap") & (table["quantity"] == "eta2_rate")]["first"]
    assert got.iloc[0] == pytest.approx(
        eff_a.loc[eff_a["metric"] == "tpr_gap", "eta2_rate"].iloc[0]
    )
    assert summary.coverage == (36, 36)
    html = (tmp_path / "cmp" / "report.html").read_text()
    assert "https://" not in html and "http://" not in html
    assert all(p.is_file() for p in summary.files)


def test_unknown_metric_is_a_user_error(sweep: Path) -> None:
    from bias_sweep.errors import UserError

    with pytest.raises(UserError, match="unknown metric"):
        build_report(sweep, metrics=["tpr_gap", "nonsense"])


def test_wandb_offline_summary_run(sweep: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    summary = build_report(sweep, metrics=["tpr_gap"], use_wandb=True)
    runs = list((summary.out_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert any(runs[0].rglob("*.wandb"))
    assert not math.isnan(summary.coverage[0])
