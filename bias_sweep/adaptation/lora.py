"""`lora`: low-rank adapters (Hu et al. 2022) through the `peft` library; the encoder's own
weights stay frozen, the adapters and the new classification head train.

`train.lora_rank` and `lora_alpha` set the adapters' rank and scale, `lora_targets` the modules
that get them (null: peft's default for the architecture, e.g. BERT's query and value), and
`lora_merge` whether they are merged into the weights before evaluation (the same scores up to
rounding, a plain transformers model) or kept as a separate path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bias_sweep.adaptation.registry import Adaptation, head_modules, register_adaptation
from bias_sweep.checks import check, positive, unit


@dataclass
class LoraSettings:
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.1
    lora_targets: list[str] | None = None  # module names; null: peft's default for the model
    lora_merge: bool = True  # merge the adapters into the weights for evaluation

    def check(self) -> None:
        positive(self.lora_rank, "train.lora_rank")
        positive(self.lora_alpha, "train.lora_alpha")
        unit(self.lora_dropout, "train.lora_dropout")
        targets = self.lora_targets
        ok = targets is None or (
            len(targets) > 0 and all(isinstance(t, str) and t for t in targets)
        )
        check(ok, "train.lora_targets", "a non-empty list of module names, or null", targets)


def prepare(model: Any, settings: LoraSettings) -> Any:
    from peft import LoraConfig, get_peft_model

    from bias_sweep.errors import UserError

    config = LoraConfig(
        r=settings.lora_rank,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=list(settings.lora_targets) if settings.lora_targets else None,
        modules_to_save=head_modules(model),  # the new head trains in full
    )
    try:
        return get_peft_model(model, config)
    except ValueError as exc:  # targets not in the model, or no default for its architecture
        first = str(exc).strip().splitlines()[0]
        raise UserError(f"key 'train.lora_targets': {first}") from None


def for_eval(model: Any, settings: LoraSettings) -> Any:
    return model.merge_and_unload() if settings.lora_merge else model


register_adaptation(Adaptation("lora", prepare, for_eval, settings=LoraSettings))
