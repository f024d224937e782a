"""Sweeps on a real local Ray: grid, shared stage, W&B runs, retries, kill and resume."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import psutil
import pytest
from conftest import QUICKSTART, cli, ray_processes_of
from conftest import SMALL as BASE_SMALL
from wandb_records import history

from bias_sweep.config import load_config
from bias_sweep.store import ArtifactStore
from bias_sweep.sweep.layout import SweepFolder
from bias_sweep.sweep.plan import make_plan
from bias_sweep.sweep.results import load_trials
from bias_sweep.sweep.status import trial_states
from bias_sweep.sweep.trainable import latest_checkpoint_state
from bias_sweep.tracking import newest_offline_runs

SMALL = [*BASE_SMALL, "tracking.mode=offline"]


def _overrides(storage: Path, name: str, *extra: str) -> list[str]:
    return [f"sweep.storage={storage}", f"sweep.name={name}", *SMALL, *extra]


def _wandb_ids(sweep_path: Path) -> Counter:
    """Run ids of the offline W&B runs without the sweep instance's prefix (folder names end in
    the id: offline-run-<time>-<instance>-<id>)."""
    folders = (sweep_path / "wandb").glob("offline-run-*")
    return Counter(p.name.split("-", 3)[-1].split("-", 1)[1] for p in folders)


def test_sweep_runs_grid_shares_stage_and_tracks(tmp_path: Path, ray_env: dict[str, str]) -> None:
    ray_env["WANDB_API_KEY"] = "secret-key-never-written-0123456789"
    args = _overrides(
        tmp_path,
        "grid",
        "sweep.grid.intervention.strength=[0.0,1.0]",
        "sweep.grid.intervention.seed=[0]",  # quickstart replicates each intervened model 3x
        "sweep.grid.data.rate=[0.1,0.9]",
        "sweep.grid.seed=[0,1]",
    )
    proc = cli(["run", str(QUICKSTART), *args], ray_env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path = tmp_path / "grid"
    assert "8/8 trials done" in proc.stdout
    assert str(path / "results.parquet") in proc.stdout
    plan = make_plan(load_config(path / "sweep.yaml"))
    # Counted, not assumed: 2 unique intervened models for 8 trials, each built once.
    builds = ArtifactStore(SweepFolder(path).interventions).builds()
    assert len(plan.intervention_keys) == 2
    assert sorted(b["key"] for b in builds) == sorted(plan.intervention_keys)
    table = load_trials(SweepFolder(path))
    assert sorted(table["trial_key"]) == sorted(plan.keys)
    assert table["realised_rate"].sub(table["rate"]).abs().max() <= 0.01
    ids = _wandb_ids(path)
    assert set(plan.keys) <= set(ids)
    assert sum(1 for i in ids if i.startswith("iv")) == 2  # one run per intervention
    assert all(n == 1 for n in ids.values())
    assert (trial_states(SweepFolder(path))["state"] == "done").all()
    assert not list(path.glob("tune/*/*/checkpoint_*"))  # finished: their checkpoints are only disk
    # The key reaches nothing the tool writes.
    hits = subprocess.run(["grep", "-rl", ray_env["WANDB_API_KEY"], str(path)], capture_output=True)
    assert hits.stdout == b""
    assert ray_processes_of(ray_env["RAY_TMPDIR"]) == []

    # An existing name is refused, pointing to resume, and nothing is touched.
    before = sorted(p.stat().st_mtime_ns for p in path.rglob("result.json"))
    again = cli(["run", str(QUICKSTART), *args], ray_env, tmp_path)
    assert again.returncode == 2
    assert "bias-sweep resume" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    assert sorted(p.stat().st_mtime_ns for p in path.rglob("result.json")) == before


def test_failed_trial_retries_from_checkpoint_with_identical_metrics(
    tmp_path: Path, ray_env: dict[str, str]
) -> None:
    one_point = ["train.epochs=3", "sweep.grid={seed:[0]}"]
    faulty = _overrides(tmp_path, "retry", *one_point)
    proc = cli(["run", str(QUICKSTART), *faulty], ray_env, tmp_path, fault="after_epoch:2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The failed attempt is one line (key, attempt, error); its traceback is in error.txt only.
    failures = [line for line in proc.stdout.splitlines() if "failed, retrying" in line]
    assert len(failures) == 1 and "attempt 1: InjectedFault" in failures[0], proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    (result_file,) = (tmp_path / "retry").glob("trials/*/result.json")
    state = json.loads((result_file.parent / "state.json").read_text())
    assert state["attempts"] == 2 and state["resumed_from_epoch"] == 2
    retried = json.loads(result_file.read_text())

    # The same trial, undisturbed, under the same conditions (a Ray worker with one thread).
    assert not list((tmp_path / "retry").glob("tune/*/*/checkpoint_*"))
    plain = _overrides(tmp_path, "plain", *one_point, "sweep.keep_checkpoints=true")
    proc = cli(["run", str(QUICKSTART), *plain], ray_env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (plain_file,) = (tmp_path / "plain").glob("trials/*/result.json")
    undisturbed = json.loads(plain_file.read_text())
    assert json.loads((plain_file.parent / "state.json").read_text())["attempts"] == 1
    assert retried["trial_key"] != undisturbed["trial_key"]  # two sweeps, two W&B runs
    assert retried["metrics"] == undisturbed["metrics"]
    # W&B, offline: the retry is a second folder with the same id; the newest repeats the epochs
    # before the failure, so it alone holds the whole run, as the undisturbed run's folder does.
    folders = sorted((tmp_path / "retry" / "wandb").glob(f"offline-run-*-{retried['trial_key']}"))
    assert len(folders) == 2
    newest = newest_offline_runs(
        SweepFolder(tmp_path / "retry").wandb
    )  # what `bias-sweep sync` uploads
    assert folders[-1] in newest and folders[0] not in newest
    (plain_folder,) = (tmp_path / "plain" / "wandb").glob(
        "offline-run-*-" + undisturbed["trial_key"]
    )
    losses = {
        name: {step: v["train/loss"] for step, v in history(folder).items() if "train/loss" in v}
        for name, folder in (("retried", folders[-1]), ("plain", plain_folder))
    }
    assert sorted(losses["retried"]) == [1, 2, 3]
    assert losses["retried"] == losses["plain"]
    (kept,) = (tmp_path / "plain").glob("tune/*/*/checkpoint_*")  # the last epoch's, on request
    assert (kept / "state.pt").is_file()


def test_killed_driver_resumes_without_rerunning_or_duplicating(
    tmp_path: Path, ray_env: dict[str, str]
) -> None:
    args = _overrides(
        tmp_path,
        "killed",
        "sweep.grid.intervention.strength=[0.0]",
        "sweep.grid.intervention.seed=[0]",
        "sweep.grid.data.rate=[0.1,0.5,0.9]",
        "sweep.grid.seed=[0,1]",
        "train.epochs=4",
    )
    driver = subprocess.Popen(
        [sys.executable, "-m", "bias_sweep.cli", "run", str(QUICKSTART), *args],
        env=ray_env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    path = tmp_path / "killed"
    deadline = time.time() + 240
    folder = SweepFolder(path)

    def cut_off_mid_run() -> list[str]:  # unfinished trials with a checkpoint to continue from
        return [
            p.name
            for p in path.glob("trials/*")
            if not (p / "result.json").exists() and folder.trial_checkpoints(p.name)
        ]

    # Kill when two trials are done and one has a checkpoint mid-run: the loop at the end of
    # the test cannot run over zero trials.
    while (
        len(list(path.glob("trials/*/result.json"))) < 2 or not cut_off_mid_run()
    ) and time.time() < deadline:
        assert driver.poll() is None, "the sweep ended before it could be killed"
        time.sleep(0.2)
    # The node crashes: the driver and every process it started (Ray's, and the workers under
    # them, whose retitled command lines no longer name the temp dir) at once. A worker left
    # running would finish its trial after the snapshot below (seen: 1 run in 4).
    crashed = [psutil.Process(driver.pid), *psutil.Process(driver.pid).children(recursive=True)]
    for proc in crashed:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(crashed, timeout=30)
    driver.wait()
    for pid in ray_processes_of(ray_env["RAY_TMPDIR"]):  # anything that escaped the tree
        psutil.Process(pid).kill()
    finished = {p: p.read_bytes() for p in path.glob("trials/*/result.json")}
    mtimes = {p: p.stat().st_mtime_ns for p in finished}
    assert 2 <= len(finished) < 6
    # Trials cut off mid-run with a complete checkpoint (one being copied at the kill is not).
    mid_run = {
        p.name: state["epoch"]
        for p in path.glob("trials/*")
        if not (p / "result.json").exists()
        and (state := latest_checkpoint_state(SweepFolder(path), p.name)) is not None
    }
    # A kill while Tune saves its experiment state leaves its files cut short (seen in CI):
    # resume must not depend on them. Cut short what Tune saved (nothing yet if the kill came
    # within its first save period) and add the newest state files, empty, as such a kill does.
    (run_dir,) = (path / "tune").glob("run-*")
    for p in run_dir.glob("*state-*"):
        p.write_bytes(b"")
    for name in (
        "experiment_state-2099-01-01_00-00-00.json",
        "basic-variant-state-2099-01-01_00-00-00.json",
    ):
        (run_dir / name).write_bytes(b"")

    proc = cli(["resume", "killed", "--storage", str(tmp_path)], ray_env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plan = make_plan(load_config(path / "sweep.yaml"))
    results = list(path.glob("trials/*/result.json"))
    assert sorted(p.parent.name for p in results) == sorted(plan.keys)
    for p, content in finished.items():  # finished trials were not run again
        assert p.read_bytes() == content and p.stat().st_mtime_ns == mtimes[p]
    table = pd.read_parquet(path / "results.parquet")
    assert sorted(table["trial_key"]) == sorted(plan.keys)
    ids = _wandb_ids(path)
    assert {i for i in ids if not i.startswith("iv")} == set(plan.keys)
    for key in finished:  # a trial finished before the kill has exactly one run folder
        assert ids[key.parent.name] == 1
    assert mid_run, "no trial was cut off mid-run with a complete checkpoint"
    for key, epoch in mid_run.items():  # continued from its checkpoint, not from scratch
        state = json.loads((path / "trials" / key / "state.json").read_text())
        assert state["resumed_from_epoch"] is not None and state["resumed_from_epoch"] >= epoch


def test_always_failing_trial_is_reported_and_resume_gives_fresh_budget(
    tmp_path: Path, ray_env: dict[str, str]
) -> None:
    args = _overrides(tmp_path, "failing", "sweep.max_failures=1", "train.epochs=1")
    grid = "sweep.grid={seed:[0]}"
    proc = cli(["run", str(QUICKSTART), *args, grid], ray_env, tmp_path, fault="always")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    path = tmp_path / "failing"
    (state_file,) = path.glob("trials/*/state.json")
    assert json.loads(state_file.read_text())["attempts"] == 2

    status = cli(["status", str(path)], ray_env, tmp_path)
    assert status.returncode == 0
    assert "1 failed" in status.stdout
    assert "InjectedFault: always" in status.stdout

    again = cli(["resume", str(path)], ray_env, tmp_path, fault="always")
    assert again.returncode == 1
    assert json.loads(state_file.read_text())["attempts"] == 4  # a fresh budget of 1 + 1 retry


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["sweep.grid.data.nope=[1]"], "unknown axis"),
        (["sweep.grid.seed=[]"], "non-empty list"),
        (["sweep.resources.gpu=3.5"], "sweep.resources.gpu"),
        (["sweep.resources.gpu=2"], "a trial trains on one GPU"),
        (["sweep.resources.gpu=1"], "no node of the Ray cluster"),
        (["sweep.storage=/etc/hostname/runs"], "not writable"),
    ],
)
def test_bad_sweeps_fail_fast_and_leave_nothing(
    tmp_path: Path, ray_env: dict[str, str], extra: list[str], expected: str
) -> None:
    args = [*_overrides(tmp_path / "store", "bad"), *extra]
    proc = cli(["run", str(QUICKSTART), *args], ray_env, tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert expected in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "store").exists()


def test_wait_for_resources_waits_and_stops_cleanly_on_sigterm(
    tmp_path: Path, ray_env: dict[str, str]
) -> None:
    """On an autoscaling cluster a sweep waits for nodes instead of failing fast."""
    args = [*_overrides(tmp_path, "waiting"), "sweep.resources.gpu=1", "sweep.resources.wait=true"]
    driver = subprocess.Popen(
        [sys.executable, "-m", "bias_sweep.cli", "run", str(QUICKSTART), *args],
        env=ray_env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert driver.stdout is not None
    lines = []
    for line in driver.stdout:  # the notice comes before Tune starts waiting
        lines.append(line)
        if "waiting for the cluster" in line:
            break
    assert "no node has cpu=1 gpu=1 yet" in "".join(lines), "".join(lines)
    time.sleep(8)  # Tune is waiting for a GPU node that never comes
    assert driver.poll() is None
    driver.send_signal(signal.SIGTERM)
    out, err = driver.communicate(timeout=120)
    assert driver.returncode == 75, "".join(lines) + out + err
    assert "Traceback" not in err
    assert not list((tmp_path / "waiting").glob("trials/*/result.json"))
    assert ray_processes_of(ray_env["RAY_TMPDIR"]) == []
