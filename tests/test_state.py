"""The sweep folder's files are its state, checked on every read: damaged result.json files are
kept aside and their trials rerun, results.parquet is derived, a moved or copied folder works
where it is (issue 23). Fault injection: every state file of a finished sweep, damaged in turn."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import psutil
import pytest
from conftest import SMALL
from test_report import GRID, write_sweep

from bias_sweep.cli import main
from bias_sweep.config import read_saved
from bias_sweep.sweep.layout import DAMAGED_RESULT, SweepFolder
from bias_sweep.sweep.plan import make_plan
from bias_sweep.sweep.results import append_rows, load_trials, read_result
from bias_sweep.sweep.stale_ray import MARK, record_mark, stale_processes, stop_stale

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "sweeps" / "quickstart.yaml"


def _set(path: Path, **fields: object) -> None:
    result = json.loads(path.read_text())
    for dotted, value in fields.items():
        node = result
        *parents, last = dotted.split("__")
        for part in parents:
            node = node[part]
        node[last] = value
    path.write_text(json.dumps(result))


DAMAGES: dict[str, Callable[[Path], None]] = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
    "empty": lambda p: p.write_bytes(b""),
    "empty object": lambda p: p.write_text("{}"),
    "a list": lambda p: p.write_text("[1, 2]"),
    "not UTF-8": lambda p: p.write_bytes(b"\xff\xfe" + p.read_bytes()),
    "metrics not a mapping": lambda p: _set(p, metrics="high"),
    "a metric not a number": lambda p: _set(p, metrics__tpr_gap="0.3"),
    "rate not a number": lambda p: _set(p, realised_rate=None),
    "intrinsic not a number": lambda p: _set(p, intrinsic_bias__after__value=[1]),
    "no config": lambda p: _set(p, config=None),
    "config without model": lambda p: _set(p, config={"seed": 0}),
    "another trial's key": lambda p: _set(p, trial_key="0" * 12),
}


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    grid = [*GRID[:1], "sweep.grid.data.rate=[0.1,0.9]", "sweep.grid.seed=[0,1]"]
    return write_sweep(tmp_path / "runs", grid)


def _results(folder: Path) -> list[Path]:
    return sorted(folder.glob("trials/*/result.json"))


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_result_is_kept_aside_and_its_trial_is_not_done(
    sweep: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first, *others = _results(sweep)
    DAMAGES[damage](first)
    damaged_bytes = first.read_bytes()
    key = first.parent.name

    assert main(["status", str(sweep)]) == 0
    out = capsys.readouterr()
    assert (
        f"{len(others)} done" in out.out and f"1 damaged, 0 pending of {1 + len(others)}" in out.out
    )
    assert f"damaged {key}: damaged result.json kept aside" in out.out
    assert "Traceback" not in out.err
    assert not first.exists()
    (aside,) = first.parent.glob(f"{DAMAGED_RESULT}*")
    assert aside.read_bytes() == damaged_bytes  # kept, as it was

    plan = make_plan(read_saved(sweep / "sweep.yaml"), SweepFolder(sweep))
    assert plan.done == {p.parent.name for p in others}
    table = load_trials(SweepFolder(sweep))
    assert sorted(table["trial_key"]) == sorted(p.parent.name for p in others)
    assert pd.read_parquet(sweep / "results.parquet").equals(table)


def _garbage(p: Path) -> None:
    p.write_bytes(b"PAR1 not really")


def _wrong_types(p: Path) -> None:
    pd.DataFrame({"trial_key": ["x"], "tpr_gap": ["high"]}).to_parquet(p)


def _missing_rows(p: Path) -> None:
    pd.read_parquet(p).head(1).to_parquet(p)


@pytest.mark.parametrize("damage", [_garbage, lambda p: p.write_bytes(b""), _wrong_types,
                                    _missing_rows, Path.unlink])  # fmt: skip
def test_results_table_is_derived_from_the_trial_files(
    sweep: Path, damage: Callable[[Path], None], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = SweepFolder(sweep)
    truth = load_trials(folder)
    damage(folder.table)
    assert load_trials(folder).equals(truth)
    assert pd.read_parquet(folder.table).equals(truth)
    damage(folder.table) if folder.table.exists() else None
    append_rows(folder, [truth.iloc[0].to_dict()])  # while a sweep runs
    assert set(pd.read_parquet(folder.table)["trial_key"]) >= {truth["trial_key"][0]}
    assert main(["report", str(sweep), "--no-plots", "--metric", "tpr_gap"]) == 0
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", b"\n\n", b"\xff\xfe\x00 not utf-8\n"])
def test_status_reads_any_error_file(
    sweep: Path, content: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _results(sweep)[0]
    first.unlink()
    (first.parent / "error.txt").write_bytes(content)
    assert main(["status", str(sweep)]) == 0
    out = capsys.readouterr().out
    assert f"failed {first.parent.name}: " in out


def test_a_moved_sweep_folder_is_read_where_it_is(
    sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    moved = tmp_path / "elsewhere" / "renamed"
    moved.parent.mkdir()
    shutil.move(sweep, moved)
    _results(moved)[0].unlink()
    assert main(["status", str(moved)]) == 0
    out = capsys.readouterr().out
    assert f"sweep at {moved.resolve()}: 3 done" in out and "1 pending" in out
    plan = make_plan(read_saved(moved / "sweep.yaml"), SweepFolder(moved))
    assert plan.folder.root == moved and len(plan.done) == 3
    assert len(load_trials(SweepFolder(moved))) == 3


def test_read_result_leaves_a_valid_result_alone(sweep: Path) -> None:
    path = _results(sweep)[0]
    before = path.read_bytes()
    assert read_result(path.parent)["trial_key"] == path.parent.name
    assert path.read_bytes() == before
    assert read_result(sweep / "trials" / "nosuch") is None


def test_processes_with_the_sweeps_ray_mark_are_listed_and_stopped(
    sweep: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without Ray: a process carrying the mark that ray.json records (as every process of the
    sweep's embedded Ray does) is listed by status and stopped by stop_stale; one with another
    mark, or none, is left alone."""
    folder = SweepFolder(sweep)
    record_mark(folder, "host-run-1")
    ours = subprocess.Popen(["sleep", "60"], env={**os.environ, MARK: "host-run-1"})
    other = subprocess.Popen(["sleep", "60"], env={**os.environ, MARK: "host-run-2"})
    try:
        assert [p.pid for p in stale_processes(folder)] == [ours.pid]
        assert main(["status", str(sweep)]) == 0
        assert f"1 Ray processes of a killed driver still run (pids {ours.pid})" in (
            capsys.readouterr().out
        )
        assert stop_stale(folder) == [ours.pid]
        assert not _alive(ours.pid) and other.poll() is None
        assert stale_processes(folder) == []
    finally:
        ours.kill()
        other.kill()


# A real sweep on a real Ray: damaged and copied, then resumed.


@pytest.fixture
def ray_env(cache_dir: Path) -> Iterator[dict[str, str]]:
    """A CLI subprocess's environment with its own Ray temp dir; stops what it left, by PID."""
    ray_tmp = tempfile.mkdtemp(prefix="bss-", dir="/tmp")  # unix socket paths must stay short
    env = {**os.environ, "RAY_TMPDIR": ray_tmp, "BIAS_SWEEP_CACHE": str(cache_dir)}
    env.pop("RAY_ADDRESS", None)
    yield env
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(ray_tmp in part for part in proc.info["cmdline"] or []):
                proc.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    shutil.rmtree(ray_tmp, ignore_errors=True)


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bias_sweep.cli", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_a_copied_sweep_with_a_truncated_result_reruns_that_trial_in_the_copy(
    tmp_path: Path, ray_env: dict[str, str]
) -> None:
    """Acceptance of issue 23: status shows the damaged trial, resume reruns exactly it, in the
    copy (the original folder is not touched), and the damaged file stays aside."""
    grid = ["sweep.grid={seed:[0,1]}", "train.epochs=1", "tracking.mode=disabled"]
    args = ["run", str(QUICKSTART), *SMALL, *grid, "sweep.name=orig", f"sweep.storage={tmp_path}"]
    proc = _cli(args, ray_env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    original = tmp_path / "orig"
    copy = tmp_path / "moved" / "copy"
    shutil.copytree(original, copy)
    before = _snapshot(original)
    damaged, intact = _results(copy)
    intact_bytes, intact_mtime = intact.read_bytes(), intact.stat().st_mtime_ns
    DAMAGES["truncated"](damaged)

    status = _cli(["status", str(copy)], ray_env, tmp_path)
    assert status.returncode == 0, status.stderr
    assert "1 done" in status.stdout and "1 damaged" in status.stdout
    assert f"damaged {damaged.parent.name}" in status.stdout

    again = _cli(["resume", str(copy)], ray_env, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 running" not in again.stdout
    assert read_result(damaged.parent)["trial_key"] == damaged.parent.name  # rerun, valid
    assert intact.read_bytes() == intact_bytes and intact.stat().st_mtime_ns == intact_mtime
    assert len(list(damaged.parent.glob(f"{DAMAGED_RESULT}*"))) == 1
    assert len(list((copy / "tune").glob("run-*"))) == 2  # the resume ran in the copy
    assert _snapshot(original) == before  # and never in the original
    table = pd.read_parquet(copy / "results.parquet")
    assert sorted(table["trial_key"]) == sorted(p.parent.name for p in _results(copy))
    assert len(table) == 2


def test_ray_processes_left_by_a_killed_driver_are_shown_and_stopped_by_resume(
    tmp_path: Path, ray_env: dict[str, str]
) -> None:
    """The driver's Ray processes carry the sweep's mark; after a SIGKILL of the driver what
    carries it is listed by status and stopped by resume. Which of Ray's processes outlive the
    driver depends on timing (its agents did in issue 23; here they mostly die with the raylet),
    so a stand-in carrying the mark, as those agents did, stays behind for sure."""
    grid = ["sweep.grid={seed:[0,1]}", "train.epochs=3", "tracking.mode=disabled"]
    args = ["run", str(QUICKSTART), *SMALL, *grid, "sweep.name=hard", f"sweep.storage={tmp_path}"]
    driver = subprocess.Popen(
        [sys.executable, "-m", "bias_sweep.cli", *args], env=ray_env, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    folder = SweepFolder(tmp_path / "hard")
    deadline = time.time() + 300
    while not list(folder.trials.glob("*/state.json")) and time.time() < deadline:
        assert driver.poll() is None, "the sweep ended before it could be killed"
        time.sleep(0.5)
    names = {p.name() for p in stale_processes(folder)}  # the live driver's Ray carries the mark
    assert {"raylet", "gcs_server"} <= names, names
    driver.kill()  # the driver alone, as the OOM killer would
    driver.wait()
    mark = json.loads(folder.ray_file.read_text())["mark"]
    agent = subprocess.Popen(["sleep", "600"], env={**ray_env, MARK: mark})
    try:
        # Until it has exec'd, the child's /proc environ is still the forking Python's (no mark).
        deadline = time.time() + 10
        while psutil.Process(agent.pid).name() != "sleep" and time.time() < deadline:
            time.sleep(0.05)
        stale = [p.pid for p in stale_processes(folder)]
        assert agent.pid in stale

        status = _cli(["status", str(folder.root)], ray_env, tmp_path)
        assert status.returncode == 0, status.stderr
        assert "Ray processes of a killed driver still run" in status.stdout
        assert str(agent.pid) in status.stdout

        again = _cli(["resume", str(folder.root)], ray_env, tmp_path)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "Ray processes that a killed driver of this sweep left running" in again.stdout
        assert agent.wait(timeout=10) == -9  # stopped by resume, by its PID
        assert not [pid for pid in stale if _alive(pid)]
        assert stale_processes(folder) == []
        assert len(_results(folder.root)) == 2
    finally:
        agent.kill()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_trial_outside_the_grid_is_left_out_of_the_report(sweep: Path) -> None:
    """A finished trial whose key is not one of the grid's (a point removed from the grid, or
    the same point keyed otherwise by an earlier version) is not analysed beside the grid's own
    trial of that point, and the coverage says how many were left out."""
    from bias_sweep.report.load import coverage_text, load_sweep

    first = _results(sweep)[0]
    stale = sweep / "trials" / ("f" * 16) / "result.json"
    stale.parent.mkdir()
    shutil.copy(first, stale)
    _set(stale, trial_key="f" * 16)  # the same point, another key
    assert len(load_trials(SweepFolder(sweep))) == len(_results(sweep)) == 5
    data = load_sweep(sweep)
    assert len(data.trials) == data.done == data.total == 4
    assert "f" * 16 not in set(data.trials["trial_key"]) and data.outside_grid == 1
    assert "1 finished trials are outside the current grid" in coverage_text(data)
