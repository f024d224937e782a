"""`dropout`: dropout debiasing (Webster et al. 2020): continued MLM pre-training with raised
dropout, which interrupts the associations the model relies on (gendered ones among them).

The corpus is `cda`'s (`intervention.corpus` where it is set, else the base's own pre-training
text where known, else the task's), and so are the steps, batch size, learning rate and term
masking (`intervention.steps`, ...). While it trains, every dropout rate of the model (hidden and
attention) is the base's plus the strength
s x `intervention.dropout_increase` (Webster et al.: 0.1 -> 0.2 hidden, 0.15 attention); the
saved model has the base's rates, so fine-tuning runs as it would on the base. s = 0 is the same
continued pre-training at the base's rates (the control).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bias_sweep.checks import check
from bias_sweep.errors import UserError
from bias_sweep.interventions._continued import (
    ContinuedPretraining,
    base_corpus,
    continue_pretraining,
)
from bias_sweep.interventions.registry import InterventionJob, Method, register_method

# Dropout rates in transformers' configs: BERT, RoBERTa, MiniLM, ELECTRA / DistilBERT.
DROPOUT_KEYS = (
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "dropout",
    "attention_dropout",
)


@dataclass
class DropoutSettings(ContinuedPretraining):
    dropout_increase: float = 0.1  # added to every dropout rate at strength 1

    def check(self) -> None:
        super().check()
        ok = 0 <= self.dropout_increase < 1
        check(ok, "intervention.dropout_increase", "a number in [0, 1)", self.dropout_increase)


def _rate(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def raised_dropout(config: Any, increase: float) -> dict[str, float]:
    """Every dropout rate of a model config, raised by `increase` (at most 0.9)."""
    rates = {k: float(getattr(config, k)) for k in DROPOUT_KEYS if _rate(getattr(config, k, None))}
    if not rates:
        raise UserError(
            f"intervention.method: dropout: the model's config ({type(config).__name__}) has none"
            f" of the dropout settings {', '.join(DROPOUT_KEYS)}"
        )
    return {k: min(0.9, v + increase) for k, v in rates.items()}


def apply(job: InterventionJob) -> dict[str, Any]:
    from bias_sweep.models import load_config  # transformers

    corpus, source = base_corpus(job)
    raised = raised_dropout(load_config(job.base_dir), job.strength * job.settings.dropout_increase)
    info = continue_pretraining(job, corpus, raised)
    return {
        "corpus_source": source,
        "corpus": len(corpus),
        "dropout_while_training": raised,
        **info,
    }


register_method(Method("dropout", apply, settings=DropoutSettings))
