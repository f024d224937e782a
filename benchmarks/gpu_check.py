"""Figures of the GPU check from finished sweep folders (used by gpu_check.sh; runs on CPU too).

For each sweep folder: trials, aggregate fine-tuning samples/s over the trial phase (first trial
start to last result), mean per-trial samples/s, the fine-tuning loop's MFU
(6 x parameters x trained tokens / train time / peak), and the GPU utilisation samples taken by
nvidia-smi while it ran. Then the ratio of aggregate samples/s, packed (several trials per GPU)
over one trial per GPU.

    python benchmarks/gpu_check.py --one DIR --packed DIR [--util-one CSV] [--util-packed CSV]
        [--peak-tflops 989] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _figures import write_figures  # benchmarks/ is on sys.path when run as a script

os_environ = __import__("os").environ
os_environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os_environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
TARGET_RATIO = 2.0


def _tokens_and_params(result: dict) -> tuple[int, int]:
    """Trained tokens (non-padding, all epochs) and parameter count of one trial."""
    from bias_sweep.caches import cache_root
    from bias_sweep.config import typed
    from bias_sweep.data import load_task
    from bias_sweep.models import load_classifier, load_tokenizer, resolve_model_dir

    cfg = typed(result["config"])
    task = load_task(cfg.data, cfg.seed, cache_dir=cache_root(cfg.cache_dir))
    model_dir = resolve_model_dir(cfg.model, task, cache_root(cfg.cache_dir))
    tok = load_tokenizer(model_dir)
    ids = tok(task.train["text"].tolist(), truncation=True, max_length=cfg.train.max_length)
    tokens = sum(len(x) for x in ids["input_ids"]) * cfg.train.epochs
    params = sum(p.numel() for p in load_classifier(model_dir).parameters())
    return tokens, params


def utilisation(path: Path | None) -> dict | None:
    if path is None or not path.is_file():
        return None
    values = []
    for line in path.read_text().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 2 and parts[1].replace(".", "").isdigit():
            values.append(float(parts[1]))
    if not values:
        return None
    busy = [v for v in values if v > 0]
    return {
        "samples": len(values),
        "mean_pct": sum(values) / len(values),
        "mean_busy_pct": sum(busy) / max(len(busy), 1),
        "max_pct": max(values),
    }


def sweep_figures(folder: Path, peak_tflops: float, util: Path | None) -> dict:
    results, starts, ends = [], [], []
    for f in sorted((folder / "trials").glob("*/result.json")):
        results.append(json.loads(f.read_text()))
        ends.append(f.stat().st_mtime)
        state = f.parent / "state.json"
        if state.exists():
            starts.append(json.loads(state.read_text())["since"])
    if not results:
        raise SystemExit(f"no finished trials in {folder}")
    tokens, params = _tokens_and_params(results[0])  # same data size and model for every trial
    samples = sum(len_train(r) * r["training"]["epochs_run"] for r in results)
    phase = max(ends) - min(starts) if starts else sum(r["timings"]["total_s"] for r in results)
    train_s = [r["training"]["train_s"] for r in results]
    flops_per_trial = 6.0 * params * tokens
    return {
        "folder": str(folder),
        "trials": len(results),
        "device": results[0].get("device"),
        "parameters": params,
        "tokens_per_trial": tokens,
        "trial_phase_s": phase,
        "aggregate_samples_per_s": samples / phase,
        "mean_trial_samples_per_s": sum(r["training"]["samples_per_s"] for r in results)
        / len(results),
        "mfu_per_trial_mean": sum(flops_per_trial / t for t in train_s)
        / len(train_s)
        / (peak_tflops * 1e12),
        "mfu_aggregate": flops_per_trial * len(results) / phase / (peak_tflops * 1e12),
        "gpu_util": utilisation(util),
    }


def len_train(result: dict) -> int:
    return int(result["config"]["data"]["train_size"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", type=Path, required=True, help="sweep folder, 1 trial per GPU")
    parser.add_argument("--packed", type=Path, required=True, help="sweep folder, several per GPU")
    parser.add_argument("--util-one", type=Path)
    parser.add_argument("--util-packed", type=Path)
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="H100 bf16 dense")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    one = sweep_figures(args.one, args.peak_tflops, args.util_one)
    packed = sweep_figures(args.packed, args.peak_tflops, args.util_packed)
    ratio = packed["aggregate_samples_per_s"] / one["aggregate_samples_per_s"]
    for label, f in (("1 trial/GPU", one), ("packed", packed)):
        util = f["gpu_util"]
        util_text = (
            f"GPU util mean {util['mean_pct']:.0f}% (busy {util['mean_busy_pct']:.0f}%, max"
            f" {util['max_pct']:.0f}%)"
            if util
            else "GPU util: no samples"
        )
        print(
            f"{label:<12} {f['trials']} trials on {f['device']}: aggregate"
            f" {f['aggregate_samples_per_s']:.0f} samples/s over {f['trial_phase_s']:.1f} s,"
            f" per trial {f['mean_trial_samples_per_s']:.0f} samples/s; MFU per trial"
            f" {100 * f['mfu_per_trial_mean']:.2f}%, aggregate {100 * f['mfu_aggregate']:.2f}%"
            f" (peak {args.peak_tflops:g} TFLOP/s); {util_text}"
        )
    print(
        f"RATIO aggregate samples/s packed / 1 per GPU = {ratio:.2f} (target >= {TARGET_RATIO:g})"
    )
    record = {
        "benchmark": "gpu_check",
        "peak_tflops": args.peak_tflops,
        "one_per_gpu": one,
        "packed": packed,
        "ratio_packed_over_one": ratio,
        "target_ratio": TARGET_RATIO,
    }
    if args.json:
        write_figures(args.json, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
