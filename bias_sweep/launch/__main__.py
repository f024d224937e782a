"""`python -m bias_sweep.launch wait-nodes|kill-temp-dir ...`: what the Slurm batch script
(bias_sweep/templates/sweep.sbatch) runs on its nodes (see `bias_sweep.launch.nodes`)."""

from __future__ import annotations

import argparse
import sys


def node_helpers(argv: list[str] | None = None) -> int:
    from bias_sweep.launch.nodes import kill_temp_dir, wait_nodes  # psutil, and Ray later

    parser = argparse.ArgumentParser(prog="python -m bias_sweep.launch")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("wait-nodes")
    p.add_argument("--address", required=True)
    p.add_argument("--nodes", type=int, required=True)
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--watch", type=int, action="append", help="give up when this pid exits")
    p = sub.add_parser("kill-temp-dir")
    p.add_argument("temp_dir")
    args = parser.parse_args(argv)
    if args.cmd == "wait-nodes":
        return wait_nodes(args.address, args.nodes, args.timeout, args.watch)
    n = kill_temp_dir(args.temp_dir)
    print(f"kill-temp-dir: {n} process(es) stopped")
    return 0


sys.exit(node_helpers())
