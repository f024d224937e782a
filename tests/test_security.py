"""A local sweep is reachable from this machine only, and writes its W&B key nowhere.

One small sweep runs through the real CLI (real Ray, wandb offline) with WANDB_API_KEY set to a
fake value and its own HOME, TMPDIR and Ray temp dir; while its trials run, the listening sockets
of its process tree and of every process of its Ray session are sampled. Both tests read that run.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
from conftest import SMALL

from bias_sweep.sweep.local_ray import CLUSTERS_ENV, OFF_LOOPBACK_LISTENERS, start_local_ray

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "sweeps" / "quickstart.yaml"
FAKE_KEY = "0badc0de" * 5  # 40 hex digits, like a real W&B key
NAME = "secure"


@dataclass(frozen=True)
class Listener:
    kind: str  # e.g. gcs_server, raylet, dashboard.py, ray::ImplicitFunc
    ip: str
    port: int


@dataclass
class SweepRun:
    returncode: int
    output: str
    seconds: float
    sweep: Path
    folders: dict[str, Path]  # where the run could write: sweep, Ray temp dir, HOME, TMPDIR
    listeners: set[Listener] = field(default_factory=set)
    kinds_seen: set[str] = field(default_factory=set)
    key_in_trial_env: bool = False


def _kind(cmdline: list[str]) -> str:
    """A Ray process by what it runs: its binary, its script or its worker title."""
    if not cmdline:
        return "?"
    if cmdline[0].startswith("ray::"):  # workers and agents retitle themselves
        return cmdline[0].split()[0].split(".")[0]
    if "-m" in cmdline[:-1]:
        return cmdline[cmdline.index("-m") + 1]
    scripts = [Path(arg).name for arg in cmdline[1:] if arg.endswith(".py")]
    return scripts[0] if scripts else Path(cmdline[0]).name


def _processes(root: int, ray_tmp: str) -> list[psutil.Process]:
    """The driver's tree, and whatever names this run's Ray temp dir (Ray may re-parent)."""
    found: dict[int, psutil.Process] = {}
    try:
        driver = psutil.Process(root)
        for proc in [driver, *driver.children(recursive=True)]:
            found[proc.pid] = proc
    except psutil.NoSuchProcess:
        pass
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(ray_tmp in part for part in proc.info["cmdline"] or []):
                found.setdefault(proc.pid, proc)
        except psutil.Error:
            continue
    return list(found.values())


def _sample(run: SweepRun, root: int, ray_tmp: str) -> None:
    for proc in _processes(root, ray_tmp):
        try:
            kind = _kind(proc.cmdline())
            sockets = proc.net_connections(kind="inet")
            if kind == "ray::ImplicitFunc" and not run.key_in_trial_env:
                run.key_in_trial_env = proc.environ().get("WANDB_API_KEY") == FAKE_KEY
        except psutil.Error:  # gone meanwhile
            continue
        run.kinds_seen.add(kind)
        for s in sockets:
            if s.status == psutil.CONN_LISTEN:
                run.listeners.add(Listener(kind, s.laddr.ip, s.laddr.port))


def _stop_leftovers(ray_tmp: str) -> None:
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(ray_tmp in part for part in proc.info["cmdline"] or []):
                proc.kill()
        except psutil.Error:
            continue


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[SweepRun]:
    base = tmp_path_factory.mktemp("security")
    # Short on purpose: Ray's and wandb's unix sockets live under these (107-byte path limit).
    ray_tmp = tempfile.mkdtemp(prefix="r", dir="/tmp")
    short_tmp = tempfile.mkdtemp(prefix="t", dir="/tmp")
    folders = {
        "sweep": base / "runs" / NAME,
        "ray temp": Path(ray_tmp),
        "HOME": base / "home",
        "TMPDIR": Path(short_tmp),
    }
    folders["HOME"].mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "WANDB_"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
        HOME=str(folders["HOME"]),  # ~/.ray, ~/.cache/wandb, ~/.config/wandb land here
        TMPDIR=short_tmp,
        RAY_TMPDIR=ray_tmp,
        BIAS_SWEEP_CACHE=str(cache_dir),
        WANDB_API_KEY=FAKE_KEY,
        WANDB_MODE="offline",
        WANDB_SILENT="true",
    )
    args = [
        f"sweep.storage={base / 'runs'}",
        f"sweep.name={NAME}",
        *SMALL,
        "tracking.mode=offline",
        "sweep.grid.intervention.strength=[0.5]",
        "sweep.grid.data.rate=[0.9]",
        "sweep.grid.seed=[0]",
        "sweep.grid.intervention.seed=[0]",
    ]
    log = base / "driver.log"
    started = time.monotonic()
    with open(log, "w") as out:
        driver = subprocess.Popen(
            [sys.executable, "-m", "bias_sweep.cli", "run", str(QUICKSTART), *args],
            env=env,
            cwd=base,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    run = SweepRun(0, "", 0.0, folders["sweep"], folders)
    try:
        deadline = started + 300
        while driver.poll() is None and time.monotonic() < deadline:
            _sample(run, driver.pid, ray_tmp)
            time.sleep(0.5)
    finally:
        if driver.poll() is None:
            driver.kill()
        run.returncode = driver.wait()
        run.seconds = time.monotonic() - started
        _stop_leftovers(ray_tmp)
    run.output = log.read_text()
    yield run
    shutil.rmtree(ray_tmp, ignore_errors=True)
    shutil.rmtree(short_tmp, ignore_errors=True)


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1, a dual-stack socket on IPv4 loopback
    return address.is_loopback


def test_local_sweep_listens_on_loopback_only(sweep_run: SweepRun) -> None:
    from ray.dashboard.consts import DASHBOARD_METRIC_PORT

    assert sweep_run.returncode == 0, sweep_run.output[-3000:]
    assert "1/1 trials done" in sweep_run.output
    listening = {listener.kind for listener in sweep_run.listeners}
    # Sampled while the cluster and the trials were up, not after they had gone.
    assert {"gcs_server", "raylet", "ray::ImplicitFunc"} <= listening, sweep_run.kinds_seen
    exposed = sorted(
        f"{x.kind} on {x.ip}:{x.port}"
        for x in sweep_run.listeners
        if not _loopback(x.ip) and x.kind not in OFF_LOOPBACK_LISTENERS
    )
    assert exposed == [], "listening off loopback:\n" + "\n".join(exposed)
    # Loopback is open to the machine's other users: the token that guards it is private.
    token = sweep_run.folders["HOME"] / ".ray" / "auth_token"
    assert token.stat().st_mode & 0o777 == 0o600
    # No dashboard: Ray's head process behind it holds at most its metrics endpoint.
    dashboard_ports = {x.port for x in sweep_run.listeners if x.kind == "dashboard.py"}
    assert dashboard_ports <= {DASHBOARD_METRIC_PORT}, dashboard_ports
    print(
        f"local sweep: {len(sweep_run.listeners)} listening sockets of"
        f" {len(listening)} process kinds, all on loopback; {sweep_run.seconds:.0f} s"
    )


def test_wandb_key_is_written_nowhere(sweep_run: SweepRun) -> None:
    assert sweep_run.returncode == 0, sweep_run.output[-3000:]
    # The trials ran W&B with the key in their environment: the condition under test held.
    assert sweep_run.key_in_trial_env
    key = FAKE_KEY.encode()
    scanned: dict[str, list[Path]] = {}
    found = []
    for where, folder in sweep_run.folders.items():
        files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
        scanned[where] = files
        found += [p for p in files if key in p.read_bytes()]  # binary files too (.wandb logs)
    assert found == [], f"the W&B key was written to {found}"
    # The scan read what W&B and Ray wrote: raw bytes of the offline runs' transaction logs
    # (which name their run), Ray's session logs, W&B's own logs under HOME.
    logs = [p for p in scanned["sweep"] if p.suffix == ".wandb"]
    assert logs and all(p.stem.removeprefix("run-").encode() in p.read_bytes() for p in logs)
    assert any(p.name == "raylet.out" for p in scanned["ray temp"])
    assert any(p.name.startswith("debug") for p in scanned["sweep"] if "wandb" in p.parts)
    print({where: len(files) for where, files in scanned.items()}, "files scanned")


def test_start_local_ray_leaves_the_process_as_it_found_it() -> None:
    """Loopback only while the local Ray starts: a later ray.init(address=...) in the same process
    (a notebook's next sweep, on a cluster) must find the machine's outward address again."""
    import ray
    from ray._private import ray_constants, services

    flag, env = ray_constants.ENABLE_RAY_CLUSTER, os.environ.get(CLUSTERS_ENV)
    ray_tmp = tempfile.mkdtemp(prefix="r", dir="/tmp")
    try:
        start_local_ray(num_cpus=1, _temp_dir=ray_tmp, log_to_driver=False)
        assert [n["NodeManagerAddress"] for n in ray.nodes()] == ["127.0.0.1"]
    finally:
        ray.shutdown()
        _stop_leftovers(ray_tmp)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert (ray_constants.ENABLE_RAY_CLUSTER, os.environ.get(CLUSTERS_ENV)) == (flag, env)
    if flag:  # Linux: clusters on, so the node address is the outward one again
        assert not _loopback(services.get_node_ip_address())
