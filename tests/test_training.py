"""The fine-tuning loop: it learns, it is deterministic, and a resume is bit-identical."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bias_sweep.data import load_task
from bias_sweep.devices import select_device
from bias_sweep.models import load_classifier, load_masked_lm, load_tokenizer, resolve_model_dir
from bias_sweep.schema import DataConfig, ModelConfig, TrainConfig
from bias_sweep.train_state import load_state, save_state
from bias_sweep.training import fine_tune, length_batches, predict_probs, train_mlm

CPU = torch.device("cpu")


class Crash(Exception):
    pass


@pytest.fixture(scope="module")
def setup(cache_dir: Path) -> tuple[Path, Any]:
    task = load_task((DataConfig(train_size=192, eval_size=200)), seed=0)
    return resolve_model_dir(ModelConfig(), task, cache_dir), task


def tcfg(**values: Any) -> Any:
    return TrainConfig(**{"epochs": 3, "batch_size": 16, **values})


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_select_device() -> None:
    assert select_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_length_batches_cover_everything_and_depend_on_the_seed() -> None:
    lengths = [int(x) for x in np.random.default_rng(0).integers(3, 60, 1000)]
    a = length_batches(lengths, 16, torch.Generator().manual_seed(1))
    b = length_batches(lengths, 16, torch.Generator().manual_seed(1))
    c = length_batches(lengths, 16, torch.Generator().manual_seed(2))
    assert a == b and a != c
    assert sorted(i for batch in a for i in batch) == list(range(1000))
    assert all(len(batch) <= 16 for batch in a)
    # Sorted within chunks: far less padding than random batches.
    pad = sum(len(x) * max(lengths[i] for i in x) - sum(lengths[i] for i in x) for x in a)
    perm = np.random.default_rng(0).permutation(1000)
    rand = [perm[i : i + 16].tolist() for i in range(0, 1000, 16)]
    pad_rand = sum(len(x) * max(lengths[i] for i in x) - sum(lengths[i] for i in x) for x in rand)
    assert pad < pad_rand / 5


def test_fine_tune_learns_and_is_deterministic(setup: tuple[Path, Any]) -> None:
    base, task = setup
    tok = load_tokenizer(base)
    texts = task.eval["text"].tolist()
    runs, epochs_seen = [], []
    for _ in range(2):
        model = load_classifier(base, seed=0)
        summary = fine_tune(
            model, tok, task.train, tcfg(lr=3e-3), 0, CPU,
            on_epoch=lambda e, state, metrics: epochs_seen.append((e, sorted(metrics))),
        )  # fmt: skip
        runs.append(predict_probs(model, tok, texts, tcfg(), CPU)[:, 1])
    assert np.array_equal(runs[0], runs[1])  # same seed: same scores, bit for bit
    assert summary["epochs"] == 3 and summary["steps"] == 3 * 12
    assert summary["samples_per_s"] > 0 and np.isfinite(summary["loss"])
    assert [e for e, _ in epochs_seen] == [1, 2, 3, 1, 2, 3]
    assert epochs_seen[0][1] == ["epoch", "loss", "samples_per_s"]
    scores = runs[0]
    assert scores.shape == (len(texts),) and ((scores >= 0) & (scores <= 1)).all()
    accuracy = ((scores > 0.5) == task.eval["label"].to_numpy()).mean()
    assert accuracy > 0.7  # the words give the label away for most texts
    # Another seed: another run.
    other = load_classifier(base, seed=1)
    fine_tune(other, tok, task.train, tcfg(lr=3e-3), 1, CPU)
    assert not np.array_equal(predict_probs(other, tok, texts, tcfg(), CPU)[:, 1], scores)


def test_predict_probs_keeps_the_order(setup: tuple[Path, Any]) -> None:
    base, task = setup
    tok, model = load_tokenizer(base), load_classifier(base, seed=0)
    texts = ["he was rude", "to be fair, she seemed really lovely at the party as always", "ok"]
    together = predict_probs(model, tok, texts, tcfg(eval_batch_size=2), CPU)[:, 1]
    alone = [predict_probs(model, tok, [t], tcfg(), CPU)[0, 1] for t in texts]
    np.testing.assert_allclose(together, alone, atol=1e-6)


def test_resume_after_a_crash_is_bit_identical(setup: tuple[Path, Any], tmp_path: Path) -> None:
    base, task = setup
    tok = load_tokenizer(base)
    straight = load_classifier(base, seed=0)
    fine_tune(straight, tok, task.train, tcfg(), 0, CPU)

    def checkpoint_then_crash(epoch: int, state: dict, metrics: dict) -> None:
        save_state(state, tmp_path / "state.pt")
        if epoch == 2:
            raise Crash

    first = load_classifier(base, seed=0)
    with pytest.raises(Crash):
        fine_tune(first, tok, task.train, tcfg(), 0, CPU, on_epoch=checkpoint_then_crash)
    state = load_state(tmp_path / "state.pt")  # weights_only: plain tensors and values
    assert state["epoch"] == 2 and set(state) == {"model", "optimizer", "scheduler", "epoch", "rng"}
    torch.manual_seed(123)  # a new process: other RNG state, another classifier head
    resumed = load_classifier(base, seed=7)
    summary = fine_tune(resumed, tok, task.train, tcfg(), 0, CPU, resume_state=state)
    assert summary["epochs_run"] == 1
    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_tokenized_data_is_cached_and_shared_by_tokenizer_copies(
    setup: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bias_sweep import training

    base, task = setup
    texts = list(task.train["text"])
    tok = load_tokenizer(base)
    load_tokenizer(base).save_pretrained(tmp_path)  # a copy, as in every intervened folder
    copy = load_tokenizer(tmp_path)
    training.TOKENIZED.clear()
    first = training.tokenize(tok, texts, 64)
    calls = []
    monkeypatch.setattr(type(copy), "__call__", lambda *a, **k: calls.append(1) or {})
    again = training.tokenize(copy, texts, 64)
    assert not calls  # served from the cache: the copy was not asked to tokenize
    assert again is not first and all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    monkeypatch.undo()
    training.TOKENIZED.clear()
    training.tokenize(tok, texts, 64)
    shorter = training.tokenize(tok, texts, 8)  # another max_length is another entry
    assert max(len(s) for s in shorter) == 8 and len(training.TOKENIZED) == 2
    training.tokenize(tok, texts[:10], 64)  # other texts: another entry
    assert len(training.TOKENIZED) == 3


def test_collate_pads_and_masks_to_the_longest() -> None:
    from bias_sweep.training import collate

    seqs = [torch.tensor([5, 6, 7]), torch.tensor([8]), torch.tensor([9, 10])]
    batch = collate(seqs, 0, CPU)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]
    assert batch["attention_mask"].dtype == torch.long


def test_optimizer_is_fused_and_groups_decay(setup: tuple[Path, Any]) -> None:
    from bias_sweep.training import make_optimizer

    model = load_classifier(setup[0], seed=0)
    opt = make_optimizer(model, 1e-3, 0.01)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.0]
    assert all(p.dim() >= 2 for p in opt.param_groups[0]["params"])
    assert all(p.dim() < 2 for p in opt.param_groups[1]["params"])
    assert opt.defaults["fused"]  # one kernel per step on CPU


def test_train_mlm_with_the_head_at_labelled_positions_trains_as_the_full_forward(
    setup: tuple[Path, Any],
) -> None:
    """Same batches, same masks: the same losses and weights as HF's full forward, to rounding."""
    base, task = setup
    tok = load_tokenizer(base)
    focus = [t for pair in task.lexicon.pairs for t in pair]
    runs = {}
    for full_head in (True, False):
        model = load_masked_lm(base)
        info = train_mlm(
            model, tok, list(task.corpus)[:512], steps=8, batch_size=16, lr=1e-3, seed=0,
            device=CPU, focus_terms=focus, full_head=full_head,
        )  # fmt: skip
        runs[full_head] = info, weights(model)
    (full, w_full), (ours, w_ours) = runs[True], runs[False]
    for key in ("mlm_loss", "mlm_loss_start", "mlm_loss_end"):
        assert ours[key] == pytest.approx(full[key], rel=1e-5), key
    assert ours["mlm_focus_tokens"] == full["mlm_focus_tokens"] > 0
    assert w_ours.keys() == w_full.keys()
    for name, w in w_full.items():
        if name.endswith("attention.self.key.bias"):
            # Its gradient is 0 in exact arithmetic (a softmax does not see a shift shared by all
            # keys): Adam scales the rounding noise up to lr-sized steps, on either side.
            continue
        assert torch.allclose(w_ours[name], w, rtol=1e-4, atol=1e-5), name


@pytest.mark.parametrize(
    ("capability", "auto", "scaled"),
    [
        ((9, 0), "bf16", False),
        ((8, 0), "bf16", False),
        ((7, 5), "fp16", True),
        ((7, 0), "fp16", True),
    ],
)
def test_precision_follows_the_gpus_capability(
    monkeypatch: pytest.MonkeyPatch, capability: tuple[int, int], auto: str, scaled: bool
) -> None:
    """Without a GPU: CUDA faked at the functions the selection asks (torch.cuda.is_available,
    get_device_capability); the device and the precision are chosen by the code fine_tune runs."""
    from bias_sweep.devices import amp_for

    assert amp_for("auto", select_device()).precision == "fp32"  # the real device here: the CPU
    asked: list[Any] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(
        torch.cuda, "get_device_capability", lambda d=None: asked.append(d) or capability
    )
    monkeypatch.setattr(torch.version, "hip", None)
    device = select_device()
    assert device.type == "cuda"
    amp = amp_for("auto", device)
    assert asked == [device]  # the capability of the device it trains on
    assert amp.precision == auto and amp.scaler.is_enabled() is scaled  # fp16: loss scaling
    for asked_for in ("fp32", "bf16", "fp16"):  # an explicit setting wins on any GPU
        explicit = amp_for(asked_for, device)
        assert explicit.precision == asked_for
        assert explicit.scaler.is_enabled() is (asked_for == "fp16")


def _without_dropout(model: torch.nn.Module) -> torch.nn.Module:
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model


def test_grad_accum_gives_the_updates_of_the_doubled_batch(setup: tuple[Path, Any]) -> None:
    """grad_accum=2 at batch 8 trains as batch 16 (same texts per step, same order): the same loss
    curve and weights to float rounding; batch 8 without accumulation does not."""
    base, task = setup
    tok = load_tokenizer(base)
    train = task.train.iloc[:180]  # 180 = 11 steps of 16 and a short one of 4: weighted exactly
    runs = {}
    initial = weights(_without_dropout(load_classifier(base, seed=0)))
    for batch_size, grad_accum in ((16, 1), (8, 2), (8, 1)):
        model = _without_dropout(load_classifier(base, seed=0))
        curve: list[float] = []
        summary = fine_tune(
            model, tok, train, tcfg(batch_size=batch_size, grad_accum=grad_accum, lr=3e-3), 0,
            CPU, on_epoch=lambda e, state, metrics, curve=curve: curve.append(metrics["loss"]),
        )  # fmt: skip
        runs[batch_size, grad_accum] = curve, weights(model), summary["steps"]
    (doubled, w_doubled, steps), (accum, w_accum, accum_steps) = runs[16, 1], runs[8, 2]
    assert steps == accum_steps == 3 * 12
    assert accum == pytest.approx(doubled, rel=1e-5) and doubled[-1] < doubled[0]
    for name, w in w_doubled.items():
        if name.endswith("attention.self.key.bias") or not w.is_floating_point():
            continue  # gradient 0 in exact arithmetic: Adam scales rounding noise up (see above)
        # Float rounding of a sum in two halves, which Adam's normalisation can lift to ~1e-5
        # in a single entry (seen: one embedding row, 4e-5 after 36 steps): the two runs' weights
        # differ by a negligible share of how far training moved them.
        moved = (w - initial[name]).norm()
        assert (w_accum[name] - w).norm() <= 1e-3 * moved + 1e-6, name
    small, w_small, small_steps = runs[8, 1]
    assert small_steps == 3 * 23 and small != pytest.approx(doubled, rel=1e-3)
    assert not torch.allclose(
        w_small["classifier.weight"], w_doubled["classifier.weight"], atol=1e-4
    )


def test_fp16_on_cpu_trains_with_a_loss_scaler_and_resumes_it(
    setup: tuple[Path, Any], tmp_path: Path
) -> None:
    """An explicit precision is used as asked, on the CPU too; fp16's scaler is in the checkpoint."""
    base, task = setup
    tok = load_tokenizer(base)
    states: list[dict] = []

    def keep(epoch: int, state: dict, metrics: dict) -> None:
        save_state(state, tmp_path / "state.pt")
        states.append(load_state(tmp_path / "state.pt"))

    for precision in ("bf16", "fp16"):
        states.clear()
        summary = fine_tune(
            load_classifier(base, seed=0), tok, task.train, tcfg(precision=precision), 0, CPU,
            on_epoch=keep,
        )  # fmt: skip
        assert summary["precision"] == precision and np.isfinite(summary["loss"])
        assert ("scaler" in states[0]) is (precision == "fp16")
    assert states[-1]["scaler"]["scale"] > 0
    resumed = fine_tune(
        load_classifier(base, seed=0), tok, task.train, tcfg(precision="fp16"), 0, CPU,
        resume_state=states[1],
    )  # fmt: skip
    assert resumed["epochs_run"] == 1 and resumed["loss"] == pytest.approx(summary["loss"])


@pytest.mark.slow
def test_train_compile_trains_as_the_eager_model(setup: tuple[Path, Any]) -> None:
    """torch.compile (inductor, dynamic shapes) in place: the same losses to rounding, and the
    checkpoint keeps the eager model's keys (a resume without compile loads it)."""
    base, task = setup
    tok = load_tokenizer(base)
    train = task.train.iloc[:64]
    runs = {}
    for compile_ in (False, True):
        model = _without_dropout(load_classifier(base, seed=0))  # inductor draws its own dropout
        summary = fine_tune(model, tok, train, tcfg(epochs=2, compile=compile_), 0, CPU)
        runs[compile_] = summary["loss"], weights(model)
    (eager, w_eager), (compiled, w_compiled) = runs[False], runs[True]
    assert compiled == pytest.approx(eager, rel=1e-3)
    assert w_compiled.keys() == w_eager.keys()
