"""`bias-sweep launch`: rendering, validation and dry-run (no Slurm needed; fake sinfo/sbatch/squeue
where a cluster's answers matter), then real Slurm (marked `slurm`): a trivial job, a sweep run to
the end by `launch slurm`, and a requeue (preemption) in the middle of one.

The real-Slurm tests need a responding `sinfo` (`.ci/slurm.sh start`); they skip and say so without.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import LAUNCH_TINY

from bias_sweep import launch
from bias_sweep.cli import main
from bias_sweep.errors import UserError
from bias_sweep.launch import ray_jobs
from bias_sweep.sweep.layout import SweepFolder
from bias_sweep.sweep.trainable import latest_checkpoint_state

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
QUICKSTART = str(ROOT / "sweeps" / "quickstart.yaml")
TINY = LAUNCH_TINY
SLURM_ARGS = ["--cpus-per-node", "2", "--time", "00:15:00"]


def fake_slurm(folder: Path, sinfo: str | None = "debug*\ngpu", sbatch_error: str = "") -> Path:
    """A bin folder with stand-ins for sinfo/sbatch/squeue (and nothing else on PATH)."""
    folder.mkdir(parents=True, exist_ok=True)
    if sinfo is not None:
        (folder / "sinfo").write_text(f"#!/bin/sh\n/bin/cat <<'EOF'\n{sinfo}\nEOF\n")
    if sbatch_error:
        body = f"/bin/cat >/dev/null\necho 'sbatch: error: {sbatch_error}' >&2\nexit 1\n"
    else:
        body = f"/bin/cat >{folder}/submitted.sbatch\necho '4242'\n"
    (folder / "sbatch").write_text("#!/bin/sh\n" + body)
    (folder / "squeue").write_text("#!/bin/sh\necho 'RUNNING|1:23|vm'\n")
    for name in ("sinfo", "sbatch", "squeue"):
        if (folder / name).exists():
            (folder / name).chmod(0o755)
    return folder


def run_cli(
    args: list[str], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, path: Path
) -> tuple[int, str, str]:
    monkeypatch.setenv("PATH", str(path))  # Slurm's commands are found (or not) here only
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse's own usage errors
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")) if folder.exists() else []


# ---------------------------------------------------------------------------------------------
# Rendering and dry-run


def test_dry_run_renders_script_and_writes_nothing(tmp_path, capsys, monkeypatch) -> None:
    storage = tmp_path / "runs"
    rc, out, err = run_cli(
        ["launch", "slurm", QUICKSTART, *TINY, f"sweep.storage={storage}", "sweep.name=dry"]
        + ["--nodes", "2", "--gpus-per-node", "0", "--cpus-per-node", "2", "--time", "1:00:00"]
        + ["--partition", "debug", "--account", "proj", "--qos", "low", "--mem", "8G"]
        + ["--sbatch-extra=--constraint=a100", "--setup", "module load cuda", "--dry-run"],
        capsys,
        monkeypatch,
        tmp_path / "empty-bin",  # no Slurm at all
    )
    assert rc == 0, err
    assert out.startswith("#!/bin/bash\n")
    sweep = storage / "dry"
    for line in (
        "#SBATCH --nodes=2",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --time=1:00:00",
        "#SBATCH --partition=debug",
        "#SBATCH --account=proj",
        "#SBATCH --qos=low",
        "#SBATCH --mem=8G",
        "#SBATCH --requeue",
        "#SBATCH --signal=B:USR1@120",
        "#SBATCH --open-mode=append",
        "#SBATCH --constraint=a100",
        f"#SBATCH --output={sweep}/logs/slurm-%j.out",
        "module load cuda",
        "export RAY_AUTH_MODE=token",
        "--dashboard-host=127.0.0.1",
        "scontrol requeue",
        "--resume-existing &",
    ):
        assert line in out, line
    assert "--gpus-per-node" not in out.split("set -uo")[0]  # 0 GPUs: no GPU request
    # The driver's arguments: absolute sweep file, the overrides, absolute storage; once each.
    run_args = re.search(r"^RUN_ARGS=\((.*)\)$", out, re.M).group(1)
    assert run_args.startswith(QUICKSTART)
    assert run_args.count("sweep.storage=") == 1 and f"sweep.storage={storage}" in run_args
    assert "'sweep.grid.data.rate=[0.1,0.9]'" in run_args
    assert f"BIN={BIN}" in out
    # Only the batch lines before the first command count as #SBATCH for Slurm.
    header = out.split("\nset -uo pipefail")[0]
    assert all(ln.startswith("#") or not ln.strip() for ln in header.splitlines()), (
        "a non-comment line before the #SBATCH block ends"
    )
    assert not storage.exists(), files_under(storage)
    # The script is valid bash.
    script = tmp_path / "s.sbatch"
    script.write_text(out)
    assert subprocess.run(["/bin/bash", "-n", str(script)]).returncode == 0


def test_dry_run_without_slurm_in_a_subprocess(tmp_path) -> None:
    """As a user would run it on a laptop: PATH without any Slurm command."""
    env = {**os.environ, "PATH": str(BIN)}
    out = subprocess.run(
        [str(BIN / "bias-sweep"), "launch", "slurm", QUICKSTART, f"sweep.storage={tmp_path}/r"]
        + ["--gpus-per-node", "4", "--cpus-per-node", "16", "--time", "2-00:00:00", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "#SBATCH --gpus-per-node=4" in out.stdout
    assert "--gpus-per-task=4" in out.stdout and "#SBATCH --partition" not in out.stdout
    assert not (tmp_path / "r").exists()


def test_gpu_trials_render_gpu_requests(tmp_path, capsys, monkeypatch) -> None:
    rc, out, err = run_cli(
        ["launch", "slurm", QUICKSTART, "sweep.resources.gpu=0.5", f"sweep.storage={tmp_path}"]
        + ["--gpus-per-node", "2", "--cpus-per-node", "8", "--time", "30", "--dry-run"],
        capsys,
        monkeypatch,
        fake_slurm(tmp_path / "bin"),
    )
    assert rc == 0, err
    assert "#SBATCH --gpus-per-node=2" in out and "GPUS=2" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nodes", "0"], "--nodes: 0 is not allowed"),
        (["--nodes", "two"], "argument --nodes: 'two' is not a whole number"),
        (["--gpus-per-node", "-1"], "--gpus-per-node: -1 is not allowed"),
        (["--cpus-per-node", "0"], "--cpus-per-node: 0 is not allowed"),
        (["--time", "10:99:00"], "--time: '10:99:00' is not allowed"),
        (["--time", "soon"], "--time: 'soon' is not allowed"),
        (["--time", "00:02:00"], "--time: '00:02:00' is too short"),
        (["--mem", "12X"], "--mem: '12X' is not allowed"),
        (["--partition", "a b"], "--partition: 'a b' is not allowed"),
        (["--account", "x;rm"], "--account: 'x;rm' is not allowed"),
        (["--sbatch-extra", "constraint=a100"], "--sbatch-extra: 'constraint=a100'"),
        (["--node-timeout", "1"], "--node-timeout: 1 is not allowed"),
        (["sweep.resources.cpu=4"], "--cpus-per-node: 2 is less than one trial's"),
        (["sweep.resources.gpu=1"], "--gpus-per-node: 0 is less than one trial's"),
        (["train.epochs=0"], "key 'train.epochs'"),
        (["no.such.key=1"], "override 'no.such.key=1': unknown key"),
        (["--partition", "nope"], "--partition: 'nope' is not a partition of this cluster"),
        (["--template", "/nonexistent.sbatch"], "--template: '/nonexistent.sbatch' is not a file"),
        (["sweep.name=a b"], "key 'sweep.name'"),
        (["sweep.storage=/tmp/with space"], "sweep.storage: '/tmp/with space' has a space"),
    ],
)
def test_bad_arguments_are_one_line_errors(args, message, tmp_path, capsys, monkeypatch) -> None:
    storage = tmp_path / "runs"
    base = ["launch", "slurm", QUICKSTART, f"sweep.storage={storage}"]
    defaults = {"--cpus-per-node": "2", "--time": "00:15:00"}
    extra = [x for k, v in defaults.items() if k not in args for x in (k, v)]
    rc, out, err = run_cli(base + args + extra, capsys, monkeypatch, fake_slurm(tmp_path / "bin"))
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("bias-sweep"), err
    assert message in err, err
    assert "Traceback" not in err and out == ""
    assert not storage.exists()


def test_required_time_and_cpus(tmp_path, capsys, monkeypatch) -> None:
    path = fake_slurm(tmp_path / "bin")
    base = ["launch", "slurm", QUICKSTART, f"sweep.storage={tmp_path / 'runs'}"]
    rc, _, err = run_cli([*base, "--time", "1:00:00"], capsys, monkeypatch, path)
    assert rc == 2 and err.count("\n") == 1 and "--cpus-per-node" in err
    rc, _, err = run_cli([*base, "--cpus-per-node", "2"], capsys, monkeypatch, path)
    assert rc == 2 and "--time: required" in err
    # The same when the sweep already exists (the README's quickstart ran first): the missing
    # argument is named, not the existing sweep.
    (tmp_path / "runs" / "quickstart").mkdir(parents=True)
    (tmp_path / "runs" / "quickstart" / "sweep.yaml").write_text("{}\n")
    rc, _, err = run_cli([*base, "--cpus-per-node", "2"], capsys, monkeypatch, path)
    assert rc == 2 and "--time: required" in err


def test_sbatch_not_found(tmp_path, capsys, monkeypatch) -> None:
    rc, out, err = run_cli(
        ["launch", "slurm", QUICKSTART, f"sweep.storage={tmp_path}/runs", *SLURM_ARGS],
        capsys,
        monkeypatch,
        tmp_path / "empty-bin",
    )
    assert (
        rc == 2
        and err
        == "bias-sweep: error: sbatch: not found; launch slurm needs Slurm's commands on PATH\n"
    )
    assert not (tmp_path / "runs").exists()


def test_partition_defaults_and_requirements(tmp_path, capsys, monkeypatch) -> None:
    storage = f"sweep.storage={tmp_path}/runs"
    # No default partition on the cluster and none given: an error naming the choices.
    rc, _, err = run_cli(
        ["launch", "slurm", QUICKSTART, storage, *SLURM_ARGS],
        capsys,
        monkeypatch,
        fake_slurm(tmp_path / "b1", sinfo="cpu\ngpu"),
    )
    assert rc == 2 and "--partition: required" in err and "cpu, gpu" in err
    # The dry run checks it too when sinfo answers.
    rc, _, err = run_cli(
        ["launch", "slurm", QUICKSTART, storage, *SLURM_ARGS, "--dry-run"],
        capsys,
        monkeypatch,
        tmp_path / "b1",
    )
    assert rc == 2 and "--partition: required" in err
    rc, out, _ = run_cli(
        ["launch", "slurm", QUICKSTART, storage, *SLURM_ARGS, "--partition", "gpu", "--dry-run"],
        capsys,
        monkeypatch,
        tmp_path / "b1",
    )
    assert rc == 0 and "#SBATCH --partition=gpu" in out


def test_submit_writes_script_record_and_status(tmp_path, capsys, monkeypatch) -> None:
    """With stand-in Slurm commands: what is written on a successful submission."""
    bin_dir = fake_slurm(tmp_path / "bin")
    storage = tmp_path / "runs"
    rc, out, err = run_cli(
        ["launch", "slurm", QUICKSTART, *TINY, f"sweep.storage={storage}", *SLURM_ARGS],
        capsys,
        monkeypatch,
        bin_dir,
    )
    assert rc == 0, err
    sweep = storage / "quickstart"
    assert "submitted Slurm job 4242" in out
    scripts = list((sweep / "launch").glob("slurm-*.sbatch"))
    assert len(scripts) == 1
    assert scripts[0].read_text() == (bin_dir / "submitted.sbatch").read_text()
    assert (sweep / "logs").is_dir()
    record = json.loads((sweep / "launch.json").read_text())
    assert record["job_id"] == "4242" and record["kind"] == "slurm"
    assert record["partition"] == "debug"  # the cluster's default, from sinfo
    assert record["log"] == str(sweep / "logs" / "slurm-4242.out")
    # Before the job starts there is no sweep.yaml yet: `status` can still find the launch.
    assert launch.find_launched(str(sweep)) == sweep
    assert launch.find_launched("quickstart", str(storage)) == sweep
    assert launch.find_launched("other", str(storage)) is None
    lines = launch.describe(sweep)
    assert "Slurm job 4242" in lines[0]
    assert any("RUNNING" in ln for ln in lines)
    assert any(str(sweep / "logs" / "slurm-4242.out") in ln for ln in lines)
    # The sweep now exists (its driver would have written sweep.yaml): a second launch of the
    # same sweep is refused unless it asks to resume; a resumed launch keeps the history.
    (sweep / "sweep.yaml").write_text("{}")
    rc, _, err = run_cli(
        ["launch", "slurm", QUICKSTART, *TINY, f"sweep.storage={storage}", *SLURM_ARGS],
        capsys,
        monkeypatch,
        bin_dir,
    )
    assert rc == 2 and "already exists" in err and "--resume-existing" in err
    rc, _, err = run_cli(
        ["launch", "slurm", QUICKSTART, *TINY, f"sweep.storage={storage}", *SLURM_ARGS]
        + ["--resume-existing"],
        capsys,
        monkeypatch,
        bin_dir,
    )
    assert rc == 0, err
    assert len(json.loads((sweep / "launch.json").read_text())["history"]) == 1


def test_refused_submission_leaves_nothing(tmp_path, capsys, monkeypatch) -> None:
    bin_dir = fake_slurm(
        tmp_path / "bin", sbatch_error="Batch job submission failed: Invalid account"
    )
    storage = tmp_path / "runs" / "deeper"
    rc, out, err = run_cli(
        ["launch", "slurm", QUICKSTART, f"sweep.storage={storage}", *SLURM_ARGS],
        capsys,
        monkeypatch,
        bin_dir,
    )
    assert rc == 2
    assert (
        err
        == "bias-sweep: error: sbatch: sbatch: error: Batch job submission failed: Invalid account\n"
    )
    assert not (tmp_path / "runs").exists(), files_under(tmp_path / "runs")


def test_template_placeholders_and_shebang(tmp_path) -> None:
    text, path = launch.template_text()
    assert path == ROOT / "bias_sweep" / "templates" / "sweep.sbatch"
    names = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", text))
    assert names == {
        "sbatch_lines", "sbatch_extra", "log_pattern", "setup", "sweep_dir", "bin_dir",
        "nodes", "cpus", "gpus", "srun_gpus", "node_timeout", "run_args",
    }  # fmt: skip
    bad = tmp_path / "bad.sbatch"
    bad.write_text("echo {{ nodes }}\n")
    spec = launch.SlurmSpec(nodes=1, gpus_per_node=0, cpus_per_node=1, time="10:00")
    with pytest.raises(UserError, match="must start with '#!'"):
        launch.render_slurm(spec, ["x.yaml"], tmp_path, bad.read_text())
    with pytest.raises(UserError, match="unknown placeholder"):
        launch.render("#!/bin/bash\n{{ nope }}\n", {})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 1800),
        ("30:15", 1815),
        ("04:00:00", 14400),
        ("1-00", 86400),
        ("1-02:30", 95400),
        ("2-00:00:01", 172801),
    ],
)
def test_parse_time(text: str, seconds: int) -> None:
    assert launch.parse_time(text) == seconds


def test_ray_job_spec_uploads_the_project_without_results(tmp_path, monkeypatch) -> None:
    # W&B's own variables travel with the job (they win over the sweep file there too); a key
    # never does.
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.example.org")
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_API_KEY", "secret-key-never-forwarded-0123456789")
    spec = ray_jobs.ray_job_spec(
        ROOT / "sweeps" / "quickstart.yaml",
        ["train.epochs=2", "sweep.storage=elsewhere"],
        tmp_path / "runs",
        resume_existing=True,
    )
    env = spec["runtime_env"]
    assert env["working_dir"] == str(ROOT)
    for name in (".venv", ".git", "wandb", "runs", "bias-sweep-runs"):
        assert name in env["excludes"]
    assert spec["entrypoint"].startswith("python -m bias_sweep.cli run sweeps/quickstart.yaml ")
    assert f"sweep.storage={tmp_path / 'runs'}" in spec["entrypoint"]
    assert "sweep.storage=elsewhere" not in spec["entrypoint"]
    assert spec["entrypoint"].endswith("--address auto --resume-existing")
    assert env["env_vars"]["WANDB_BASE_URL"] == "https://wandb.example.org"
    assert env["env_vars"]["WANDB_MODE"] == "online" and "WANDB_API_KEY" not in env["env_vars"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--address: required"),
        (["--address", "127.0.0.1:8265"], "expected http(s)://HOST:PORT"),
        (["--address", "http://127.0.0.1:9"], "--address: no Ray Jobs API at http://127.0.0.1:9"),
        (["--address", "http://127.0.0.1:9", "train.lr=-1"], "key 'train.lr'"),
        (
            ["--address", "http://x:1", "sweep.storage=s3://b/p"],
            "sweep.storage: 's3://b/p' is a URI",
        ),
    ],
)
def test_launch_ray_bad_arguments(args, message, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("RAY_API_SERVER_ADDRESS", raising=False)
    rc, out, err = run_cli(
        ["launch", "ray", QUICKSTART, f"sweep.storage={tmp_path}/runs", *args],
        capsys,
        monkeypatch,
        BIN,
    )
    assert rc == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "runs").exists()


def test_describe_without_launch_is_empty(tmp_path) -> None:
    assert launch.describe(tmp_path) == []
    (tmp_path / "launch.json").write_text("not json")
    assert launch.describe(tmp_path) == []


def test_kill_temp_dir_matches_only_its_own_dir(tmp_path) -> None:
    # The temp dir shows up in the command line (as in Ray's --temp-dir=/tmp/ray-12/...).
    # (`; true`: bash stays, with its arguments, instead of exec-ing sleep.)
    mine = subprocess.Popen(["bash", "-c", "sleep 60; true", f"--temp-dir={tmp_path}/ray-12/x"])
    other = subprocess.Popen(["bash", "-c", "sleep 60; true", f"--temp-dir={tmp_path}/ray-123/x"])
    try:
        assert launch.kill_temp_dir(f"{tmp_path}/ray-12", grace_s=5) == 1
        assert mine.wait(10) is not None
        assert other.poll() is None
    finally:
        for p in (mine, other):
            p.kill()
            p.wait()


# ---------------------------------------------------------------------------------------------
# Real Slurm (single node, .ci/slurm.sh start)


def slurm_answers() -> str | None:
    """None when Slurm is usable here, else why not."""
    if shutil.which("sinfo") is None:
        return "sinfo not found (start a local Slurm with .ci/slurm.sh start)"
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=15
        )
    except subprocess.TimeoutExpired:
        return "sinfo does not answer within 15 s"
    if out.returncode != 0:
        return "sinfo fails: " + (out.stderr.strip().splitlines() or ["?"])[-1]
    if not any(s in out.stdout for s in ("idle", "mixed", "alloc")):
        return f"no usable Slurm node (sinfo: {out.stdout.strip()!r})"
    return None


def squeue_state(job: str) -> str:
    out = subprocess.run(
        ["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True, timeout=30
    )
    return out.stdout.strip()


def wait_for_state(job: str, done, timeout: float, poll: float = 2.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        state = squeue_state(job)
        if done(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job}: still '{state}' after {timeout:.0f} s")
        time.sleep(poll)


@pytest.fixture
def slurm(tmp_path: Path, cache_dir: Path) -> Iterator[dict]:
    """A usable Slurm, an environment for jobs, and clean-up of every job the test submitted."""
    why = slurm_answers()
    if why and os.environ.get("BIAS_SWEEP_REQUIRE_SLURM"):  # CI: no Slurm is a failure
        pytest.fail(why)
    if why:
        pytest.skip(why)
    jobs: list[str] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(BIAS_SWEEP_CACHE=str(cache_dir), WANDB_MODE="offline", WANDB_SILENT="true")
    yield {"jobs": jobs, "env": env}
    for job in jobs:
        subprocess.run(["scancel", job], capture_output=True, timeout=30)
    for job in jobs:
        with contextlib.suppress(AssertionError):
            wait_for_state(job, lambda s: s == "", timeout=90)
        launch.kill_temp_dir(f"/tmp/ray-{job}", grace_s=5)
        shutil.rmtree(f"/tmp/ray-{job}", ignore_errors=True)  # left when Slurm had to SIGKILL


def launch_slurm(slurm: dict, storage: Path, name: str, extra: list[str]) -> tuple[str, Path]:
    out = subprocess.run(
        [str(BIN / "bias-sweep"), "launch", "slurm", QUICKSTART, *extra]
        + [f"sweep.storage={storage}", f"sweep.name={name}", *SLURM_ARGS],
        env=slurm["env"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    sweep = storage / name
    job = json.loads((sweep / "launch.json").read_text())["job_id"]
    slurm["jobs"].append(job)
    return job, sweep


def wandb_ids(sweep: Path) -> Counter:
    """Offline W&B run folders per run id without the sweep instance's prefix
    (offline-run-<time>-<instance>-<id>)."""
    folders = (sweep / "wandb").glob("offline-run-*")
    return Counter(p.name.split("-", 3)[3].split("-", 1)[1] for p in folders)


@pytest.mark.slurm
def test_trivial_batch_job(slurm, tmp_path) -> None:
    script = tmp_path / "hello.sbatch"
    script.write_text(f"#!/bin/bash\n#SBATCH --output={tmp_path}/hello-%j.out\nsrun hostname\n")
    out = subprocess.run(
        ["sbatch", "--parsable", "--wait", "--time=1", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    job = out.stdout.strip().split(";")[0]
    slurm["jobs"].append(job)
    assert (tmp_path / f"hello-{job}.out").read_text().strip() == os.uname().nodename.split(".")[0]


@pytest.mark.slurm
def test_launch_slurm_runs_sweep_to_the_end(slurm, tmp_path) -> None:
    t0 = time.monotonic()
    job, sweep = launch_slurm(slurm, tmp_path / "runs", "onslurm", TINY)
    wait_for_state(job, lambda s: s == "", timeout=600)
    elapsed = time.monotonic() - t0
    log = (sweep / "logs" / f"slurm-{job}.out").read_text()
    assert "done (exit 0)" in log, log[-3000:]
    done = list((sweep / "trials").glob("*/result.json"))
    assert len(done) == 2
    keys = {p.parent.name for p in done}
    assert keys <= set(wandb_ids(sweep)), wandb_ids(sweep)
    status = subprocess.run(
        [str(BIN / "bias-sweep"), "status", str(sweep)],
        env=slurm["env"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    assert f"Slurm job {job}" in status.stdout
    assert str(sweep / "logs" / f"slurm-{job}.out") in status.stdout
    assert not list((sweep / "launch").glob(".ray-token-*")), "the job's token outlived it"
    print(f"launch slurm: 2 trials, job {job} submitted to finished in {elapsed:.0f} s")


@pytest.mark.slurm
@pytest.mark.slow
@pytest.mark.parametrize("how", ["scontrol-requeue", "time-limit-usr1"])
def test_requeued_job_resumes_and_runs_each_trial_once(slurm, tmp_path, how: str) -> None:
    """Preemption (`scontrol requeue`: Slurm stops everything and requeues) and the time-limit
    warning (USR1 to the batch shell: it stops the driver, then Ray, then requeues the job itself)
    while trials run: the job comes back, resumes, and finishes every trial exactly once."""
    overrides = [
        "sweep.grid.data.rate=[0.1,0.9]",
        "sweep.grid.seed=[0,1]",
        "sweep.grid.intervention.strength=[0.5]",
        "sweep.grid.intervention.seed=[0]",
        "train.epochs=12",  # long enough to be caught mid-run
        "data.train_size=800",
        "data.eval_size=100",
        "model.pretrain_steps=50",
        "intervention.steps=20",
        "tracking.mode=offline",
    ]
    t0 = time.monotonic()
    job, sweep = launch_slurm(slurm, tmp_path / "runs", "preempted", overrides)
    # Requeue once a trial has a checkpoint and no result yet.
    deadline = time.monotonic() + 420
    while True:
        trials = list((sweep / "trials").glob("*/state.json"))
        mid_run = [
            p.parent.name
            for p in trials
            if not (p.parent / "result.json").exists()
            and SweepFolder(sweep).trial_checkpoints(p.parent.name)
        ]
        if mid_run:
            break
        assert squeue_state(job) in ("RUNNING", "PENDING", "CONFIGURING"), "job ended early"
        assert time.monotonic() < deadline, "no trial reached a checkpoint"
        time.sleep(0.5)
    finished_before = {
        p.parent.name: p.stat().st_mtime_ns for p in (sweep / "trials").glob("*/result.json")
    }
    checkpoints = {k: latest_checkpoint_state(SweepFolder(sweep), k) for k in mid_run}
    epochs = {k: (state or {"epoch": 1})["epoch"] for k, state in checkpoints.items()}
    requeued_at = time.monotonic() - t0
    if how == "scontrol-requeue":
        subprocess.run(["scontrol", "requeue", job], check=True, timeout=30)
    else:  # what `#SBATCH --signal=B:USR1@120` does two minutes before the time limit
        subprocess.run(["scancel", "--batch", "--signal=USR1", job], check=True, timeout=30)
    wait_for_state(job, lambda s: s == "PENDING", timeout=120)
    # Slurm holds a requeued job for ~2 minutes (BeginTime); release it in a few seconds. Not at
    # once: slurmd refuses a start within the same second as its credential revocation for the
    # killed run ("Killing non-startable batch job: Job credential revoked", seen here).
    subprocess.run(
        ["scontrol", "update", f"JobId={job}", "StartTime=now+5"], check=True, timeout=30
    )
    wait_for_state(job, lambda s: s == "", timeout=600)
    elapsed = time.monotonic() - t0
    log = (sweep / "logs" / f"slurm-{job}.out").read_text()
    assert f"job {job} attempt 1" in log, log[-3000:]
    if how == "time-limit-usr1":
        # The driver saved and said "interrupted, resumable" (75); the job requeued itself.
        assert f"requeueing job {job}" in log, log[-3000:]
    assert "done (exit 0)" in log, log[-3000:]
    results = {p.parent.name: p for p in (sweep / "trials").glob("*/result.json")}
    assert len(results) == 4
    # Trials finished before the requeue were not run again.
    for key, mtime in finished_before.items():
        assert results[key].stat().st_mtime_ns == mtime, key
    states = {
        p.parent.name: json.loads(p.read_text()) for p in (sweep / "trials").glob("*/state.json")
    }
    # A trial mid-run at the requeue (the loop above saw at least one) continued from its
    # checkpoint, not from scratch (one may have finished between that look and the requeue).
    resumed = [k for k in mid_run if states[k]["attempts"] >= 2]
    assert resumed, (mid_run, states)
    for key in resumed:
        assert states[key]["resumed_from_epoch"] is not None, states[key]
        assert states[key]["resumed_from_epoch"] >= epochs[key], (epochs, states[key])
    # W&B: one run id per trial (a resumed run keeps its id; it may add a folder).
    ids = wandb_ids(sweep)
    trial_ids = {k: n for k, n in ids.items() if k in results}
    assert set(trial_ids) == set(results), ids
    print(
        f"{how}: at {requeued_at:.0f} s with {len(finished_before)} done and {mid_run} mid-run;"
        f" finished in {elapsed:.0f} s; attempts {[s['attempts'] for s in states.values()]};"
        f" resumed from epochs {[s['resumed_from_epoch'] for s in states.values()]};"
        f" W&B folders per trial id {sorted(trial_ids.values())}"
    )


def test_shipped_ray_job_entrypoint_is_a_valid_sweep() -> None:
    import shlex

    import yaml

    from bias_sweep.config import load_config

    spec = yaml.safe_load((ROOT / "launch" / "ray" / "rayjob.yaml").read_text())
    words = shlex.split(spec["spec"]["entrypoint"])
    assert words[:2] == ["bias-sweep", "run"]
    overrides = [w for w in words[3:] if "=" in w and not w.startswith("-")]
    conf = load_config(str(ROOT / "sweeps" / Path(words[2]).name), overrides)
    assert conf.sweep.resources.wait is True and conf.sweep.resources.gpu == 1
