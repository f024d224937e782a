"""The embedded Ray of a local sweep (no --address): every server on loopback, no dashboard.

Ray 2.60 places each of its servers by the node's IP address: with a loopback node address the GCS,
the raylet, every worker and the driver, both agents and both metrics servers listen on loopback
alone; with any other address most of them listen on every interface (`*`, `0.0.0.0`). Asking
`ray.init(_node_ip_address="127.0.0.1")` is not enough: Ray replaces a loopback address with the
machine's outward one (`services.resolve_ip_for_localhost`), except where multi-node clusters are
off, as they are by default on macOS and Windows to spare firewall pop-ups (ray-project/ray#18730).
`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` turns them off on Linux too; it is what a one-machine sweep
wants, and it changes nothing else (that flag is read in one place, the node address lookup).

What still runs, and why (none of it listens off loopback):
- `dashboard.py`: `include_dashboard=False` drops the dashboard's web UI and modules, but Ray always
  starts this head process (`Node.start_head_processes`); it then hosts only the usage-stats module
  (usage stats are off) and a Prometheus endpoint on 127.0.0.1.
- `ray::DashboardAgent` and `ray::RuntimeEnvAgent`: the raylet starts both and fate-shares with them
  (it exits when either dies); ray.init has no switch for them. The dashboard agent is also the
  metrics agent that every worker reports to.
- the autoscaler monitor and the log monitor: unused by a fixed local cluster, but only
  `ray start --no-monitor --include-log-monitor=false` skips them, not ray.init; the monitor's
  Prometheus endpoint is on 127.0.0.1.

Loopback is open to every user of the machine; Ray's token auth guards it. Ray writes its token
(`~/.ray/auth_token`) with the umask's mode, often 0644 in a 0755 folder, so it is made 0600 here.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from typing import Any

import ray
from ray._private import ray_constants  # holds the flag as it was when ray was imported

LOOPBACK = "127.0.0.1"
CLUSTERS_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"

# Ray processes of a local sweep allowed to listen off loopback: process name -> why it must.
# None today. The README's security paragraph mirrors this; tests/test_security.py enforces it.
OFF_LOOPBACK_LISTENERS: dict[str, str] = {}


def is_loopback(ip: str) -> bool:
    """127.0.0.0/8 or ::1, also as an IPv4-mapped address on a dual-stack socket (::ffff:127.x)."""
    address = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _keep_token_private() -> None:
    """Ray's default token file readable by its owner only (a token given by RAY_AUTH_TOKEN or
    RAY_AUTH_TOKEN_PATH is its owner's business)."""
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return
    token = Path.home() / ".ray" / "auth_token"
    try:
        if token.stat().st_mode & 0o077:
            token.chmod(0o600)
    except OSError:  # no token (auth disabled), or not ours to change
        pass


def start_local_ray(**init_kwargs: Any) -> None:
    """A new Ray on this machine alone (never one that happens to run here), reachable only from
    it: every server listens on loopback, with no dashboard. init_kwargs go to `ray.init`."""
    _keep_token_private()  # one left by an earlier Ray
    saved_env, saved_flag = os.environ.get(CLUSTERS_ENV), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[CLUSTERS_ENV] = "0"  # for the Ray processes started from here (they read it anew)
    ray_constants.ENABLE_RAY_CLUSTER = False  # for this process, which read it at `import ray`
    try:
        ray.init(address="local", include_dashboard=False, _node_ip_address=LOOPBACK, **init_kwargs)
    finally:
        # Only the start needs it: a later ray.init(address=...) in this process must find its
        # outward address again.
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_env is None:
            os.environ.pop(CLUSTERS_ENV, None)
        else:
            os.environ[CLUSTERS_ENV] = saved_env
    _keep_token_private()  # the one ray.init has just written
    node_ip = ray.util.get_node_ip_address()
    if not is_loopback(node_ip):  # a Ray release that places its node address another way
        print(
            f"[bias-sweep] warning: the embedded Ray runs at {node_ip}, not on loopback: its"
            " servers may listen on every interface (token auth still applies)",
            file=sys.stderr,
            flush=True,
        )
