"""Ray clusters on one machine: `launch ray` through a real head's Jobs API, and a sweep over a
multi-node `ray.cluster_utils.Cluster` that loses a worker node while trials run.

Every Ray here runs in a child process with its own temp dir and token (never ~/.ray/auth_token,
never `ray stop`): the fixtures stop it by PID and then sweep up whatever still names its temp dir.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import LAUNCH_TINY

from bias_sweep.launch import kill_temp_dir
from bias_sweep.sweep.layout import SweepFolder

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TINY = LAUNCH_TINY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_env(tmp: Path, cache_dir: Path) -> dict[str, str]:
    """Token auth with a private token file: the same for Ray, the driver and the Jobs client."""
    token = tmp / "ray-token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=str(token),
        RAY_USAGE_STATS_ENABLED="0",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",  # the job's `python` is this venv's
        BIAS_SWEEP_CACHE=str(cache_dir),
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        HF_HUB_OFFLINE="1",
    )
    return env


def stop_process(proc: subprocess.Popen, temp_dir: Path, grace: float = 20) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    kill_temp_dir(str(temp_dir), grace_s=5)


def results(sweep: Path) -> dict[str, dict]:
    return {
        p.parent.name: json.loads(p.read_text()) for p in (sweep / "trials").glob("*/result.json")
    }


def states(sweep: Path) -> dict[str, dict]:
    out = {}
    for p in (sweep / "trials").glob("*/state.json"):
        try:
            out[p.parent.name] = json.loads(p.read_text())
        except json.JSONDecodeError:
            continue  # being replaced right now
    return out


# ---------------------------------------------------------------------------------------------
# `launch ray` against a real head


@pytest.fixture
def ray_head(tmp_path: Path, cache_dir: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """`ray start --head --block` on free loopback ports, its own temp dir; stopped by PID."""
    # The dashboard and the Jobs API (server and client) come with ray[default], not ray[tune].
    pytest.importorskip("aiohttp", reason="the Ray Jobs API needs `pip install 'ray[default]'`")
    temp_dir = Path(f"/tmp/ray-t{os.getpid()}-{secrets.token_hex(3)}")  # short: socket paths
    env = ray_env(tmp_path, cache_dir)
    port, dash = free_port(), free_port()
    log = open(tmp_path / "head.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [
            str(BIN / "ray"),
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dash}",
            f"--temp-dir={temp_dir}",
            "--num-cpus=2",
            "--disable-usage-stats",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    address = f"http://127.0.0.1:{dash}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                import requests

                # Any answer will do: with token auth the API says 401 until given the token.
                requests.get(f"{address}/api/version", timeout=2)
                break
            except Exception:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("ray head did not start:\n" + (tmp_path / "head.log").read_text())
            time.sleep(1)
        yield address, env
    finally:
        stop_process(proc, temp_dir)
        log.close()
        subprocess.run(["rm", "-rf", str(temp_dir)], check=False)


@pytest.mark.slow
def test_launch_ray_runs_sweep_through_jobs_api(ray_head, tmp_path: Path) -> None:
    address, env = ray_head
    storage = tmp_path / "runs"
    storage.mkdir()
    t0 = time.monotonic()
    out = subprocess.run(
        [str(BIN / "bias-sweep"), "launch", "ray", str(ROOT / "sweeps" / "quickstart.yaml")]
        + [*TINY, f"sweep.storage={storage}", "sweep.name=viajobs", "--address", address],
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
    )
    elapsed = time.monotonic() - t0
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    sweep = storage / "viajobs"
    done = results(sweep)
    assert len(done) == 2, sorted(done)
    record = json.loads((sweep / "launch.json").read_text())
    assert record["kind"] == "ray" and record["job_id"] in out.stdout
    assert "--address auto" in record["entrypoint"]
    # `bias-sweep status` shows the launch: job id, its final state from the Jobs API.
    status = subprocess.run(
        [str(BIN / "bias-sweep"), "status", str(sweep)], env=env, capture_output=True, text=True
    )
    assert status.returncode == 0, status.stderr
    assert record["job_id"] in status.stdout and "SUCCEEDED" in status.stdout
    print(f"launch ray: 2 trials through the Jobs API in {elapsed:.0f} s")


def test_launch_ray_no_follow_returns_at_once(ray_head, tmp_path: Path) -> None:
    """--no-follow prints the job id and returns; a bad sweep value is refused before submitting."""
    address, env = ray_head
    storage = tmp_path / "runs"
    storage.mkdir()
    bad = subprocess.run(
        [str(BIN / "bias-sweep"), "launch", "ray", str(ROOT / "sweeps" / "quickstart.yaml")]
        + ["train.epochs=0", f"sweep.storage={storage}", "--address", address],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    assert not (storage / "quickstart").exists()
    t0 = time.monotonic()
    out = subprocess.run(
        [str(BIN / "bias-sweep"), "launch", "ray", str(ROOT / "sweeps" / "quickstart.yaml")]
        + [*TINY, f"sweep.storage={storage}", "sweep.name=nofollow", "--address", address]
        + ["--no-follow"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - t0 < 60
    job_id = json.loads((storage / "nofollow" / "launch.json").read_text())["job_id"]
    assert f"ray job logs -f {job_id}" in out.stdout
    # Stop it: this test is about returning, not about running the sweep.
    stop = subprocess.run(
        [str(BIN / "ray"), "job", "stop", job_id, "--address", address],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert stop.returncode == 0, stop.stderr


# ---------------------------------------------------------------------------------------------
# Multi-node on one machine


CLUSTER_SCRIPT = r"""
import json, sys
from ray.cluster_utils import Cluster

temp_dir, n_workers = sys.argv[1], int(sys.argv[2])
# The head holds no CPU: trials (and the intervention stage) can only run on the workers.
cluster = Cluster(
    initialize_head=True,
    head_node_args={"num_cpus": 0, "include_dashboard": False, "temp_dir": temp_dir},
)
workers = [cluster.add_node(num_cpus=1) for _ in range(n_workers)]
cluster.wait_for_nodes()
print(json.dumps({"address": cluster.address, "workers": [w.node_id for w in workers]}), flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd and cmd[0] == "remove":
        cluster.remove_node(workers[int(cmd[1])], allow_graceful=False)
        print(json.dumps({"removed": workers[int(cmd[1])].node_id}), flush=True)
    else:
        break
cluster.shutdown()
"""


@pytest.fixture
def cluster(tmp_path: Path, cache_dir: Path) -> Iterator[dict]:
    """Head (0 CPUs) + 2 worker nodes (1 CPU each) in a child process that takes commands."""
    temp_dir = Path(f"/tmp/ray-c{os.getpid()}-{secrets.token_hex(3)}")
    env = ray_env(tmp_path, cache_dir)
    proc = subprocess.Popen(
        [sys.executable, "-c", CLUSTER_SCRIPT, str(temp_dir), "2"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=open(tmp_path / "cluster.log", "w"),  # noqa: SIM115
        text=True,
        start_new_session=True,
    )
    try:
        line = proc.stdout.readline()
        if not line:
            pytest.fail("cluster did not start:\n" + (tmp_path / "cluster.log").read_text())
        info = json.loads(line)

        def remove(i: int) -> str:
            proc.stdin.write(f"remove {i}\n")
            proc.stdin.flush()
            return json.loads(proc.stdout.readline())["removed"]

        yield {"env": env, "remove": remove, **info}
    finally:
        if proc.poll() is None:
            try:
                proc.stdin.write("quit\n")
                proc.stdin.flush()
                proc.wait(60)
            except (OSError, subprocess.TimeoutExpired):
                pass
        stop_process(proc, temp_dir)
        subprocess.run(["rm", "-rf", str(temp_dir)], check=False)


def node_of(result: dict) -> str:
    # One machine: the hostname and IP are the same for every node; the Ray node id is not.
    return result.get("node_id") or str(result.get("node"))


@pytest.mark.slow
def test_sweep_spreads_over_nodes_and_survives_losing_one(cluster: dict, tmp_path: Path) -> None:
    storage = tmp_path / "runs"
    sweep = storage / "multinode"
    overrides = [
        "sweep.grid.data.rate=[0.1,0.9]",
        "sweep.grid.seed=[0,1]",
        "sweep.grid.intervention.strength=[0.5]",
        "sweep.grid.intervention.seed=[0]",
        # ~0.3 s an epoch here: 20 epochs leave time to lose a node after a checkpoint.
        "train.epochs=20",
        "data.train_size=800",
        "data.eval_size=100",
        "model.pretrain_steps=50",
        "intervention.steps=20",
        "tracking.mode=offline",
        "sweep.max_failures=3",
        f"sweep.storage={storage}",
        "sweep.name=multinode",
    ]
    t0 = time.monotonic()
    driver = subprocess.Popen(
        [str(BIN / "bias-sweep"), "run", str(ROOT / "sweeps" / "quickstart.yaml"), *overrides]
        + ["--address", cluster["address"]],
        env=cluster["env"],
        stdout=open(tmp_path / "driver.log", "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    try:
        # Wait until both workers run a trial that has a checkpoint and no result yet, then
        # take worker 1 away: the trial on it dies with its node, mid-run.
        removed = None
        deadline = time.monotonic() + 300
        while removed is None and time.monotonic() < deadline and driver.poll() is None:
            mid_run = [
                k
                for k in states(sweep)
                if not (sweep / "trials" / k / "result.json").exists()
                and SweepFolder(sweep).trial_checkpoints(k)
            ]
            if len(mid_run) >= 2:
                removed = cluster["remove"](1)
                removed_at = time.monotonic() - t0
            time.sleep(0.2)
        assert removed is not None, (
            "never saw two trials running at once:\n"
            + (tmp_path / "driver.log").read_text()[-3000:]
        )
        rc = driver.wait(timeout=480)
    finally:
        if driver.poll() is None:
            driver.terminate()
            driver.wait(30)
    log = (tmp_path / "driver.log").read_text()
    assert rc == 0, log[-3000:]
    done = results(sweep)
    assert len(done) == 4, sorted(done)
    st = states(sweep)
    retried = {k: s for k, s in st.items() if s["attempts"] > 1}
    assert retried, f"no trial was retried after removing a node: {st}"
    # The retry continued from the checkpoint taken on the lost node, not from scratch.
    assert all(s["resumed_from_epoch"] is not None for s in retried.values()), retried
    nodes = {k: node_of(r) for k, r in done.items()}
    survivor = [w for w in cluster["workers"] if w != removed][0]
    if any(r.get("node_id") for r in done.values()):
        assert len(set(nodes.values())) >= 1
        # Every retried trial finished on the surviving worker.
        for k in retried:
            assert nodes[k] == survivor, (k, nodes[k], survivor)
    print(
        f"multi-node: 4 trials, worker removed at {removed_at:.0f} s, {len(retried)} retried"
        f" (resumed from epoch {[s['resumed_from_epoch'] for s in retried.values()]}),"
        f" nodes {sorted(set(nodes.values()))}, total {time.monotonic() - t0:.0f} s"
    )


@pytest.mark.slow
def test_trials_spread_across_worker_nodes(cluster: dict, tmp_path: Path) -> None:
    """Two 1-CPU workers, a head with none: trials land on both workers."""
    storage = tmp_path / "runs"
    out = subprocess.run(
        [str(BIN / "bias-sweep"), "run", str(ROOT / "sweeps" / "quickstart.yaml"), *TINY]
        + ["sweep.grid.seed=[0,1]", f"sweep.storage={storage}", "sweep.name=spread"]
        + ["--address", cluster["address"]],
        env=cluster["env"],
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    done = results(storage / "spread")
    assert len(done) == 4
    if not any("node_id" in r for r in done.values()):
        pytest.skip(
            "result.json has no node_id yet (needs the trainable to record the Ray node id)"
        )
    used = {r["node_id"] for r in done.values()}
    assert used <= set(cluster["workers"]), used
    assert len(used) == 2, used
