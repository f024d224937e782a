"""`bias-sweep report --table FILE`: the report's analysis on any table of runs, through the real
CLI (`cli.main`), on simulated tables with a known truth (`tests/simulate.py`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import simulate

from bias_sweep import cli
from bias_sweep.report.statistics.effects import TABLE_COLUMNS


def sim_table(case: str, seed: int = 0) -> pd.DataFrame:
    """A case's runs, with an intervention that moved intrinsic bias (the gate passes)."""
    design, truths = simulate.case(case)
    rng = np.random.default_rng(seed)
    return simulate.simulate_sweep(design, truths, rng, intrinsic=simulate.WORKED)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["report", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("case", "truth", "suffix"), [("a", "rate", ".csv"),
                                                       ("b", "intervention", ".parquet")])  # fmt: skip
def test_table_report_gives_the_true_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, truth: str, suffix: str
) -> None:
    runs = sim_table(case, seed=1)
    path = tmp_path / f"exported{suffix}"
    runs.to_csv(path, index=False) if suffix == ".csv" else runs.to_parquet(path, index=False)
    code, out, err = run(["--table", str(path), "--no-plots"], capsys)
    assert code == 0, err
    folder = tmp_path / "exported-report"  # default: next to the table
    summary = json.loads((folder / "summary.json").read_text())
    (entry,) = [e for e in summary["effects"] if e["metric"] == "tpr_gap"]
    assert entry["verdict"] == truth and entry["n_intervened_models"] == 9
    assert entry["manipulation"] == "moved" and entry["comparison"] == "cda"
    (check,) = summary["manipulation"]
    assert check["status"] == "moved" and check["relative"] == pytest.approx(-1, abs=0.1)
    assert "The manipulation check passed: under cda" in summary["headline"]
    assert entry["intervention_identifiable"] and len(entry["share_difference_ci"]) == 2
    assert summary["source"] == "table" and summary["primary_metric"] == "tpr_gap"
    assert out.splitlines()[1] == summary["headline"]
    assert f"tiny-bert, tpr_gap: {truth}" in out
    md = (folder / "report.md").read_text()
    assert md.split("\n\n")[1] == summary["headline"]
    assert "95% CIs over 9 independent intervened models (54 fine-tuning runs)" in md
    assert "54 runs read from " + path.name in md
    assert not list(folder.glob("*.png"))  # --no-plots
    for name in ("effects.csv", "dose_response.csv", "manipulation_check.csv", "steed.csv",
                 "slopes.csv", "survival.csv", "cells.csv", "trials.csv", "report.html"):  # fmt: skip
        assert (folder / name).is_file(), name
    steed = pd.read_csv(folder / "steed.csv")
    assert {"intrinsic_after", "realised rate"} <= set(steed["term"])


def test_table_whose_intervention_did_not_move_intrinsic_bias_is_void(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A strong rate effect, intrinsic bias that did not move: `void`, never `rate`."""
    design, truths = simulate.case("a")
    runs = simulate.simulate_sweep(design, truths, np.random.default_rng(2))  # null manipulation
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    code, out, err = run(["--table", str(path), "--no-plots"], capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "runs-report" / "summary.json").read_text())
    assert {e["verdict"] for e in summary["effects"]} == {"void"}
    assert summary["manipulation"][0]["status"] == "not moved"
    assert "there is no verdict (void): cda did not detectably move intrinsic bias" in out
    assert "tiny-bert, tpr_gap: void" in out and "matters more" not in summary["headline"]


def test_table_with_plots_writes_the_forest_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "runs.csv"
    sim_table("a").to_csv(path, index=False)
    out_dir = tmp_path / "elsewhere"
    code, _, err = run(["--table", str(path), "--out", str(out_dir)], capsys)
    assert code == 0, err
    md = (out_dir / "report.md").read_text()
    assert md.split("\n\n")[2] == "![forest](forest.png)"
    assert (out_dir / "forest.png").is_file() and (out_dir / "heatmap_tpr_gap.png").is_file()


@pytest.mark.parametrize("missing", ["intervention_seed", "rate", "model"])
def test_missing_required_column_is_one_line_exit_2_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], missing: str
) -> None:
    path = tmp_path / "runs.csv"
    sim_table("a").drop(columns=missing).to_csv(path, index=False)
    code, out, err = run(["--table", str(path)], capsys)
    assert code == 2 and out == ""
    (line,) = err.splitlines()
    assert line.startswith("bias-sweep: error: ") and f"missing required column '{missing}'" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]  # nothing written


def test_missing_optional_columns_are_noted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "runs.csv"
    sim_table("a").drop(columns=["realised_rate", "intrinsic_after"]).to_csv(path, index=False)
    code, _, err = run(["--table", str(path), "--no-plots"], capsys)
    assert code == 0, err
    md = (tmp_path / "runs-report" / "report.md").read_text()
    assert "Note: no realised_rate column: Steed's regression uses the nominal rate." in md
    assert "no intrinsic_after column: no manipulation check (the verdict is not gated)" in md
    assert "The manipulation was not checked" in md.split("\n\n")[1]  # in the headline
    summary = json.loads((tmp_path / "runs-report" / "summary.json").read_text())
    assert summary["effects"][0]["verdict"] == "rate"


def test_unreadable_files_and_unknown_formats_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "runs.txt").write_text("model,method\n")
    (tmp_path / "runs.parquet").write_text("not parquet at all")
    for name, words in (("runs.txt", "unknown format"), ("runs.parquet", "cannot be read"),
                        ("absent.csv", "not found")):  # fmt: skip
        code, _, err = run(["--table", str(tmp_path / name)], capsys)
        assert code == 2 and len(err.splitlines()) == 1 and words in err, err
    bad = sim_table("a").astype({"rate": object})
    bad.loc[3, "rate"] = "high"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    code, _, err = run(["--table", str(tmp_path / "bad.csv")], capsys)
    assert code == 2 and "column 'rate' must hold numbers" in err
    assert not list(tmp_path.glob("*-report"))


def test_exactly_one_of_name_or_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "runs.csv"
    sim_table("a").to_csv(path, index=False)
    for args in (["somesweep", "--table", str(path)], []):
        code, _, err = run(args, capsys)
        assert code == 2 and "exactly one" in err and len(err.splitlines()) == 1


def test_any_numeric_metric_column_and_the_primary_metric(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Columns such as tpr_gap@<set> or <metric>_twin are metrics too (of their base's kind)."""
    runs = sim_table("a")
    runs["tpr_gap@winobias"] = runs["tpr_gap"] + 0.01
    runs["flip_rate_twin"] = (runs["rate"] - 0.5).abs() + np.random.default_rng(0).normal(
        0, 0.02, len(runs)
    )
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    args = ["--table", str(path), "--no-plots", "--metric", "tpr_gap@winobias",
            "--metric", "flip_rate_twin", "--primary-metric", "tpr_gap@winobias"]  # fmt: skip
    code, out, err = run(args, capsys)
    assert code == 0, err
    effects = pd.read_csv(tmp_path / "runs-report" / "effects.csv").set_index("metric")
    assert list(effects.index) == ["tpr_gap@winobias", "flip_rate_twin"]
    assert effects.loc["tpr_gap@winobias", "rate_form"] == "r"
    assert effects.loc["flip_rate_twin", "rate_form"] == "|r - 0.5|"
    assert out.splitlines()[1].startswith("For tpr_gap@winobias on tiny-bert")
    for bad, flag in ((["--metric", "nonsense"], "--metric"),
                      (["--primary-metric", "f1"], "--primary-metric")):  # fmt: skip
        code, _, err = run(["--table", str(path), *bad], capsys)
        assert code == 2 and flag in err and len(err.splitlines()) == 1


def test_schema_is_the_issues() -> None:
    assert TABLE_COLUMNS == ("model", "method", "strength", "intervention_seed", "rate", "seed")
