"""How long the light commands take: `bias-sweep --help`, `plan` and `status` on the quickstart.

Each command runs as a fresh process (as a user types it), `--repeat` times, beside a bare
`python -c pass` measured in the same run; the median wall time of each is printed, with the
ratio to the 1 s target. `plan` runs on the quickstart sweep with a warm cache (its data check
reads the synthetic pool once into the cache first); `status` on a sweep folder holding the
quickstart's sweep.yaml and no trial yet. What each imports lazily is in `bias_sweep/cli.py`.

    python benchmarks/cli_latency.py [--repeat 5]

Exits non-zero only on a crash.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _figures import timed, write_figures  # benchmarks/ on sys.path as a script

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
QUICKSTART = ROOT / "sweeps" / "quickstart.yaml"
TARGET_S = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, default=RESULTS / "cli_latency.json")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    os.environ["BIAS_SWEEP_CACHE"] = str(root / "cache")
    cli = [sys.executable, "-m", "bias_sweep.cli"]
    storage = f"sweep.storage={root / 'runs'}"
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "bias-sweep --help": [*cli, "--help"],
        "bias-sweep plan quickstart": [*cli, "plan", str(QUICKSTART), storage],
        "bias-sweep status quickstart": [
            *cli,
            "status",
            "quickstart",
            "--storage",
            str(root / "runs"),
        ],
    }
    try:
        timed(commands["bias-sweep plan quickstart"])  # warm the cache (the pool, its counts)
        folder = root / "runs" / "quickstart"
        folder.mkdir(parents=True)
        shutil.copy(QUICKSTART, folder / "sweep.yaml")
        walls: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):  # interleaved, so a slow spell of the machine hits all alike
            for name, cmd in commands.items():
                walls[name].append(timed(cmd, name)[0])
    finally:
        shutil.rmtree(root, ignore_errors=True)

    record: dict = {
        "benchmark": "cli_latency",
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()})",
        "load_average": os.getloadavg(),
        "repeat": args.repeat,
        "target_s": TARGET_S,
    }
    for name, values in walls.items():
        median = statistics.median(values)
        record[name] = {"median_s": round(median, 3), "all_s": [round(v, 3) for v in values]}
        ratio = "" if name.startswith("python") else f" (RATIO to the 1 s target: {median:.2f})"
        print(f"{name:32s} median {median:.2f} s over {args.repeat}{ratio}")
    write_figures(args.json, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
