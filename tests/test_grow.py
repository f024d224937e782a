"""Growing a sweep (an edited grid: new points run, finished trials kept) and targeted re-runs,
on a real local Ray with offline W&B runs."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import QUICKSTART, cli
from conftest import SMALL as BASE_SMALL
from omegaconf import DictConfig

from bias_sweep.config import load_config
from bias_sweep.errors import UserError
from bias_sweep.report.load import coverage_text, load_sweep
from bias_sweep.store import ArtifactStore
from bias_sweep.sweep.grow import compare_grids
from bias_sweep.sweep.layout import SweepFolder
from bias_sweep.sweep.plan import make_plan
from bias_sweep.sweep.rerun import select_trials

SMALL = [*BASE_SMALL, "tracking.mode=offline", "sweep.max_failures=0"]
ONE_MODEL = ["sweep.grid.intervention.strength=[0.5]", "sweep.grid.intervention.seed=[0]"]


def _args(storage: Path, name: str, *extra: str) -> list[str]:
    return [f"sweep.storage={storage}", f"sweep.name={name}", *SMALL, *ONE_MODEL, *extra]


def _files(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under root: (its bytes' hash, its mtime)."""
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def _run_folders(sweep: Path) -> dict[str, dict[str, tuple[str, int]]]:
    """The offline W&B run folders of a sweep: name -> its files."""
    return {p.name: _files(p) for p in (sweep / "wandb").glob("offline-run-*")}


def _run_ids(sweep: Path) -> Counter:
    """Offline W&B run ids without the instance prefix (offline-run-<date>_<time>-<instance>-<id>)."""
    return Counter(
        p.name.split("-", 3)[-1].split("-", 1)[1] for p in (sweep / "wandb").glob("offline-run-*")
    )


def _keys(sweep: Path) -> list[str]:
    return make_plan(load_config(sweep / "sweep.yaml"), SweepFolder(sweep)).keys


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def _assert_plan_shows_the_growth(path: Path, two_seeds: list[str], ray_env: dict) -> None:
    """plan: the diff, before anything runs (and nothing written), and what the new points
    cost from the finished trials' timings (issue 24 item 3)."""
    before = _files(path)
    proc = cli(["plan", str(QUICKSTART), *two_seeds], ray_env, path.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "grid change: 2 added (to run), 2 kept (2 done" in proc.stdout
    assert "0 set aside" in proc.stdout and "`run` grows it" in proc.stdout
    assert "estimate: 2 trials and 0 intervened-model builds left, about " in proc.stdout
    assert "CPU-hours" in proc.stdout and "(from 2 finished trials)" in proc.stdout
    assert _files(path) == before


@pytest.mark.slow  # real Ray, two sweeps (~1 min): .ci/run runs it after the default selection
def test_grown_sweep_runs_only_the_new_points(tmp_path: Path, ray_env: dict[str, str]) -> None:
    path = tmp_path / "grow"
    rates = "sweep.grid.data.rate=[0.1,0.9]"
    one_seed = _args(tmp_path, "grow", rates, "sweep.grid.seed=[0]")
    two_seeds = _args(tmp_path, "grow", rates, "sweep.grid.seed=[0,1]")
    proc = cli(["run", str(QUICKSTART), *one_seed], ray_env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first_keys = _keys(path)
    assert len(first_keys) == 2
    first = {k: _files(path / "trials" / k) for k in first_keys}
    assert all("result.json" in files for files in first.values())
    runs_before = _run_folders(path)
    instance = (path / "wandb_instance").read_text()

    _assert_plan_shows_the_growth(path, two_seeds, ray_env)

    # The same YAML with a second seed: only the second seed's trials run.
    proc = cli(["run", str(QUICKSTART), *two_seeds], ray_env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "grid change: 2 added (to run), 2 kept (2 done" in proc.stdout
    assert "4/4 trials done" in proc.stdout
    keys = _keys(path)
    assert set(first_keys) < set(keys) and len(keys) == 4
    assert sorted(p.parent.name for p in path.glob("trials/*/result.json")) == sorted(keys)
    _assert_untouched(path, first, runs_before)
    ids = _run_ids(path)
    assert {i for i in ids if not i.startswith("iv")} == set(keys)
    assert all(n == 1 for n in ids.values()), ids  # one run per trial, none duplicated
    assert sum(1 for i in ids if i.startswith("iv")) == 1  # the intervened model: reused
    assert len(ArtifactStore(SweepFolder(path).interventions).builds()) == 1
    assert (path / "wandb_instance").read_text() == instance
    new_keys = set(keys) - set(first_keys)
    assert {p.name.split("-")[0] for p in path.glob("tune/run-002/*-*")} >= new_keys
    assert not any(p.name.startswith(tuple(first_keys)) for p in path.glob("tune/run-002/*"))

    _assert_identity_change_refused(path, two_seeds, ray_env)

    # The first seed dropped (with --resume-existing, as `launch slurm` runs it): its trials stay
    # on disk, out of status and the report, which say how many were set aside.
    second_only = _args(tmp_path, "grow", rates, "sweep.grid.seed=[1]")
    proc = cli(["run", str(QUICKSTART), *second_only, "--resume-existing"], ray_env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 added (to run), 2 kept (2 done" in proc.stdout and "2 set aside" in proc.stdout
    assert "2/2 trials done, 0 failed; 2 set aside" in proc.stdout
    _assert_untouched(path, first, runs_before)
    status = cli(["status", str(path)], ray_env, tmp_path)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "2 done" in status.stdout and "of 2 trials" in status.stdout
    assert "2 finished trials set aside" in status.stdout
    data = load_sweep(path)
    assert data.done == data.total == len(data.trials) == 2
    assert set(data.trials["trial_key"]) == new_keys
    assert data.outside_grid == 2 and "2 finished trials are outside" in coverage_text(data)


def _assert_untouched(path: Path, trials: dict[str, dict], runs: dict[str, dict]) -> None:
    """Every file of these trials (result.json, state.json, predictions) and of these W&B runs
    is as it was: same bytes, same mtime, same run ids."""
    for key, files in trials.items():
        assert _files(path / "trials" / key) == files, key
    now = _run_folders(path)
    for name, files in runs.items():
        assert now[name] == files, name


def _assert_identity_change_refused(path: Path, args: list[str], env: dict[str, str]) -> None:
    """A change of a setting that is not an axis: refused in one line, nothing written, by `run`
    and by `run --resume-existing` alike (an edited YAML is never silently ignored); `plan`
    says so."""
    before = _files(path)
    for extra in ([], ["--resume-existing"]):
        proc = cli(["run", str(QUICKSTART), *args, "train.epochs=3", *extra], env, path.parent)
        line = _one_line_error(proc)
        assert "train.epochs: 2 -> 3" in line and "4 finished trials" in line, line
        assert "--recompute" in line
        assert _files(path) == before
    proc = cli(["plan", str(QUICKSTART), *args, "train.epochs=3"], env, path.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 finished trials would be recomputed" in proc.stdout
    assert "refuses this edit without --recompute" in proc.stdout
    assert _files(path) == before


@pytest.mark.slow  # real Ray, three runs (~1 min): .ci/run runs it after the default selection
def test_rerun_keeps_previous_results_until_the_new_ones_are_written(
    tmp_path: Path, ray_env: dict[str, str]
) -> None:
    path = tmp_path / "again"
    # Checkpoints kept: the rerun must start afresh, not continue the first run's last epoch.
    args = _args(
        tmp_path, "again", "sweep.grid.data.rate=[0.5]", "sweep.grid.seed=[0,1]",
        "sweep.keep_checkpoints=true",
    )  # fmt: skip
    proc = cli(["run", str(QUICKSTART), *args], ray_env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plan = make_plan(load_config(path / "sweep.yaml"), SweepFolder(path))
    (chosen,) = [k for k, c in zip(plan.keys, plan.columns, strict=True) if c["seed"] == 1]
    (other,) = set(plan.keys) - {chosen}
    trial = path / "trials" / chosen
    # Its result files (state.json counts attempts, so a rerun's attempts change it).
    old = {p.name: p.read_bytes() for p in trial.iterdir() if p.suffix in (".json", ".parquet")}
    del old["state.json"]
    assert sorted(old) == ["predictions.parquet", "result.json", "train.parquet"]
    other_files = _files(path / "trials" / other)
    runs_before = _run_folders(path)
    assert SweepFolder(path).trial_checkpoints(chosen)

    # Bad --where: one line naming the key and what is allowed; nothing starts.
    for where, expected in (("sed=1", "unknown key 'sed'"), ("seed=7", "seed takes 0, 1")):
        line = _one_line_error(cli(["rerun", str(path), "--where", where], ray_env, tmp_path))
        assert expected in line, line
    assert "expected one of model, method" in _one_line_error(
        cli(["rerun", str(path), "--where", "sed=1"], ray_env, tmp_path)
    )
    assert not (trial / "rerun.json").exists()

    # A rerun that fails: the previous result stays where it was, and in the report.
    proc = cli(["rerun", str(path), "--where", "seed=1"], ray_env, tmp_path, fault="always")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "rerun: 1 trials match seed=1" in proc.stdout
    for name, content in old.items():
        assert (trial / name).read_bytes() == content
    assert not (trial / "superseded").exists()
    status = cli(["status", str(path)], ray_env, tmp_path)
    assert "1 trials asked to rerun" in status.stdout and "1 done" in status.stdout
    data = load_sweep(path)
    assert data.done == 2 and set(data.trials["trial_key"]) == set(plan.keys)

    # Resumed: the new result replaces it; the old files are kept beside it, byte for byte.
    proc = cli(["resume", str(path)], ray_env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2/2 trials done" in proc.stdout
    result = json.loads((trial / "result.json").read_text())
    assert result["rerun"] == 1 and result["trial_key"] == chosen
    for name, content in old.items():
        assert (trial / "superseded" / "0" / name).read_bytes() == content, name
        assert (trial / name).exists(), name  # and the new ones in their place
    assert json.loads((trial / "state.json").read_text())["resumed_from_epoch"] is None
    assert _files(path / "trials" / other) == other_files  # the other seed: untouched
    runs_after = _run_folders(path)
    for name, files in runs_before.items():
        assert runs_after[name] == files
    ids = _run_ids(path)
    assert set(ids) - set(_run_ids_of(runs_before)) == {f"{chosen}-rerun1"}  # a fresh run
    status = cli(["status", str(path)], ray_env, tmp_path)
    assert "2 done" in status.stdout and "asked to rerun" not in status.stdout


def _run_ids_of(folders: dict[str, object]) -> set[str]:
    return {name.split("-", 3)[-1].split("-", 1)[1] for name in folders}


@pytest.fixture
def quick(tmp_path: Path) -> Callable[..., DictConfig]:
    """overrides -> the config of a small sweep under tmp_path (not run)."""

    def conf(*extra: str) -> DictConfig:
        return load_config(QUICKSTART, _args(tmp_path, "q", *extra))

    return conf


def test_where_selects_by_value_and_refuses_unknown_keys(quick: Callable[..., DictConfig]) -> None:
    plan = make_plan(quick("sweep.grid.data.rate=[0.1,0.5]", "sweep.grid.seed=[0,1,2]"))
    assert len(select_trials(plan, ["seed=1"])) == 2
    assert len(select_trials(plan, ["seed=1", "seed=2"])) == 4  # a key twice: either value
    assert len(select_trials(plan, ["seed=1", "rate=0.5"])) == 1  # keys: all of them
    assert select_trials(plan, ["data.rate=.5"]) == select_trials(plan, ["rate=0.5"])
    assert len(select_trials(plan, ["strength=0.5", "method=cda"])) == 6
    key = plan.keys[3]
    assert select_trials(plan, [f"trial_key={key}"]) == [key]
    for where, expected in (
        (["sed=1"], "--where: unknown key 'sed'; expected one of model, method, strength"),
        (["seed"], "is not key=value"),
        (["seed=9"], "matches none of the 6 trials"),
        ([], "give at least one key=value"),
    ):
        with pytest.raises(UserError, match=expected):
            select_trials(plan, where)


def test_grid_change_counts_without_results(quick: Callable[..., DictConfig]) -> None:
    old = quick("sweep.grid.data.rate=[0.1,0.5]", "sweep.grid.seed=[0]")
    folder = SweepFolder.of(old)
    same = compare_grids(
        old, quick("sweep.grid.data.rate=[0.1,0.5]", "sweep.grid.seed=[0]"), folder
    )
    assert same.unchanged and (same.added, same.kept, same.set_aside) == (0, 2, 0)
    grown = compare_grids(
        old, quick("sweep.grid.data.rate=[0.5,0.9]", "sweep.grid.seed=[0]"), folder
    )
    assert not grown.unchanged and (grown.added, grown.kept, grown.set_aside) == (1, 1, 1)
    assert grown.settings == [] and grown.check("q", recompute=False) is None
    edited = compare_grids(
        old, quick("sweep.grid.data.rate=[0.1,0.5]", "sweep.grid.seed=[0]", "train.lr=0.01"), folder
    )
    # Nothing finished yet: nothing to recompute, so nothing refused; the change is named.
    assert edited.settings == ["train.lr: 0.001 -> 0.01"] and edited.recomputed == 0
    assert (edited.added, edited.kept, edited.set_aside) == (2, 0, 2)
    assert edited.check("q", recompute=False) is None
    # Settings that do not identify trials change nothing, and are not an edit of the grid.
    tracking = compare_grids(
        old, quick("sweep.grid.data.rate=[0.1,0.5]", "sweep.grid.seed=[0]", "tracking.project=x"),
        folder,
    )  # fmt: skip
    assert (tracking.added, tracking.kept, tracking.settings) == (0, 2, [])


def test_refusal_names_the_count_and_the_flag_that_accepts_it(tmp_path: Path) -> None:
    from bias_sweep.launch.ray_jobs import ray_job_spec
    from bias_sweep.sweep.grow import GridChange

    change = GridChange(added=4, kept=0, kept_done=0, set_aside=4, recomputed=3,
                        settings=["train.epochs: 2 -> 3"])  # fmt: skip
    line = change.check("x", recompute=False)
    assert line is not None and "\n" not in line
    assert "sweep 'x'" in line and "3 finished trials" in line and "--recompute" in line
    assert change.check("x", recompute=True) is None
    assert any("3 finished trials would be recomputed" in ln for ln in change.lines())
    # A launched driver gets the flag too (Slurm's requeued runs and Ray jobs alike).
    spec = ray_job_spec(QUICKSTART, [], tmp_path, resume_existing=True, recompute=True)
    assert spec["entrypoint"].endswith("--resume-existing --recompute")
