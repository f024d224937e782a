"""The shared intervention stage: builds counted from the store vs a sweep that intervenes per trial.

For every trial of the quickstart grid (18 trials, 3 unique intervened models; `--small` for fewer)
`bias_sweep.trial.build_intervention` is called, as a trial does:

- shared: one ArtifactStore for all trials (the sweep's behaviour): the number of builds is read
  from the store's own log (`ArtifactStore.builds()`) and must equal the number of unique
  intervention keys;
- naive: a fresh store per trial, so every trial builds its intervened model (measured by
  default; `--estimate` skips it and estimates the naive cost as the sum, over trials, of the
  measured build time of that trial's key).

Reported ratio: compute saved = sum(built_s) naive / sum(built_s) shared.
Single-threaded torch, as in a Ray worker with cpu=1. The tiny model and the data are cached first.

    python benchmarks/stage_reuse.py [--small] [--estimate] [key=value ...]

Exits non-zero only on a crash.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _figures import write_figures  # benchmarks/ is on sys.path when run as a script
from orchestration import SMALL, _conf, warm_cache  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 - linear script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a 4-trial grid")
    parser.add_argument("--estimate", action="store_true", help="estimate the naive cost")
    parser.add_argument("--json", type=Path)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    overrides = ([*SMALL] if args.small else []) + args.overrides
    out_json = args.json or RESULTS / f"stage_reuse{'-small' if args.small else ''}.json"

    import torch

    from bias_sweep.caches import cache_root
    from bias_sweep.data import load_task
    from bias_sweep.identity import intervention_key
    from bias_sweep.store import ArtifactStore
    from bias_sweep.sweep.grid import expand_grid, point_config
    from bias_sweep.trial import build_intervention

    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="bench-stage-"))
    try:
        conf = _conf(overrides, root)
        warm_cache(conf)
        cfgs = [point_config(conf, p) for p in expand_grid(conf)]
        keys = [intervention_key(c) for c in cfgs]
        unique = sorted(set(keys))

        store = ArtifactStore(root / "shared")
        t0 = time.perf_counter()
        for cfg in cfgs:
            build_intervention(
                cfg, load_task(cfg.data, cfg.seed, cache_dir=cache_root(cfg.cache_dir)), store
            )
        shared_wall = time.perf_counter() - t0
        builds = store.builds()
        built_s = {k: float(store.meta(k)["built_s"]) for k in unique}
        shared_sum = sum(float(store.meta(b["key"])["built_s"]) for b in builds)
        print(
            f"shared store: {len(cfgs)} trials, {len(unique)} unique intervention keys,"
            f" {len(builds)} builds in the store's log ({shared_sum:.1f} s built,"
            f" {shared_wall:.1f} s wall)"
        )
        print(
            f"  builds == unique keys: {len(builds) == len(unique)};"
            f" every key built once: {sorted(b['key'] for b in builds) == unique}"
        )

        estimate = sum(built_s[k] for k in keys)
        naive_sum = None
        naive_builds = None
        if not args.estimate:
            naive_sum, naive_builds = 0.0, 0
            t0 = time.perf_counter()
            for i, cfg in enumerate(cfgs):
                own = ArtifactStore(root / f"naive-{i}")
                task = load_task(cfg.data, cfg.seed, cache_dir=cache_root(cfg.cache_dir))
                _, meta, _ = build_intervention(cfg, task, own)
                naive_sum += float(meta["built_s"])
                naive_builds += len(own.builds())
            naive_wall = time.perf_counter() - t0
            print(
                f"naive (store per trial): {naive_builds} builds, {naive_sum:.1f} s built,"
                f" {naive_wall:.1f} s wall"
            )
        naive = naive_sum if naive_sum is not None else estimate
        ratio = naive / shared_sum
        how = "measured" if naive_sum is not None else "estimated from per-key build times"
        print(f"  naive estimate from per-key build times: {estimate:.1f} s")
        print(
            f"RATIO compute saved = naive {naive:.1f} s / shared {shared_sum:.1f} s = {ratio:.2f}x"
            f" ({how}; ideal {len(cfgs) / len(unique):.1f}x = trials / unique keys)"
        )
        record = {
            "benchmark": "stage_reuse",
            "when": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}),"
            " shared with other jobs",
            "overrides": overrides,
            "trials": len(cfgs),
            "unique_intervention_keys": len(unique),
            "shared_builds": len(builds),
            "builds_equal_unique_keys": len(builds) == len(unique),
            "shared_built_s": round(shared_sum, 3),
            "naive_builds": naive_builds,
            "naive_built_s": round(naive, 3),
            "naive_how": how,
            "naive_estimate_s": round(estimate, 3),
            "ratio_compute_saved": round(ratio, 3),
        }
        write_figures(out_json, record)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
