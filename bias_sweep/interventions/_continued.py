"""The config section of the methods that continue the model's masked-LM pre-training (`cda`,
`skew`): `intervention.steps`, `batch_size`, `lr` and `term_mask_prob` (`bias_sweep.pretraining`
says what each does), and the text they continue on, `intervention.corpus` (`_corpus`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bias_sweep.checks import positive, unit
from bias_sweep.interventions._corpus import WithCorpus
from bias_sweep.interventions.registry import InterventionJob


@dataclass
class ContinuedPretraining(WithCorpus):
    steps: int = 150  # continued MLM pre-training steps
    batch_size: int = 32
    lr: float = 1e-4
    # the chance that a group term is masked in continued pre-training (other tokens: 15%)
    term_mask_prob: float = 1.0

    def check(self) -> None:
        super().check()
        for key in ("steps", "batch_size", "lr"):
            positive(getattr(self, key), f"intervention.{key}")
        unit(self.term_mask_prob, "intervention.term_mask_prob")


def base_corpus(job: InterventionJob) -> tuple[list[str], str]:
    """The text to continue pre-training on, and where it came from: a configured
    `intervention.corpus` first (already job.task.corpus, `apply_intervention`); else the base
    model's own pre-training text where it is known (a tiny-bert folder: rebuilt from the task);
    else the task's unlabeled text, as is usual for a real pre-trained model."""
    if job.settings.corpus.is_set():
        return list(job.task.corpus), "intervention.corpus"
    from bias_sweep.models import pretraining_corpus  # torch, transformers

    own = pretraining_corpus(job.base_dir, job.task)
    if own is not None:
        return own, "base pre-training corpus"
    return list(job.task.corpus), "task corpus"


def continue_pretraining(
    job: InterventionJob, texts: list[str], config_overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The job's base model pre-trained further on `texts` (with `config_overrides` while it
    trains), saved to job.out_dir."""
    from bias_sweep.pretraining import continue_pretraining as run  # torch, transformers

    s: ContinuedPretraining = job.settings
    return run(
        job.base_dir, texts, job.out_dir, job.seed, job.task,
        steps=s.steps, batch_size=s.batch_size, lr=s.lr, term_mask_prob=s.term_mask_prob,
        config_overrides=config_overrides,
    )  # fmt: skip
