"""The adaptation registry: how the (intervened) pre-trained model is adapted to the task.

Whether an upstream intervention carries over depends on the adaptation (full fine-tuning moves
intrinsic bias more than a linear probe or adapters do: Steed et al. 2022, Jin et al. 2021), so it
is a setting of its own, `train.adaptation`, and an axis like any other. An adaptation module
registers an `Adaptation`: its name, what it does to the classifier before training (which
parameters train), what it does after training (for evaluation), and its own config section (a
dataclass whose fields are `train.<field>` keys, merged into the schema by `bias_sweep.config`;
a grid point of another adaptation runs them at their defaults, `effective`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from bias_sweep.registry import Registry

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from bias_sweep.schema import TrainConfig


@dataclass(frozen=True)
class Adaptation:
    name: str
    # prepare(classifier, settings) -> the model to fine-tune (what trains has requires_grad)
    prepare: Callable[[PreTrainedModel, Any], Any]
    # for_eval(trained model, settings) -> the model to score with (default: as trained)
    for_eval: Callable[[Any, Any], Any] | None = None
    settings: type | None = None  # its own config section: `train.<field>` keys
    default: bool = False  # the adaptation a config without `train.adaptation` gets

    def settings_of(self, tcfg: TrainConfig) -> Any:
        if self.settings is None:
            return None
        return self.settings(**{f.name: getattr(tcfg, f.name) for f in fields(self.settings)})


ADAPTATIONS: Registry[Adaptation] = Registry("train.adaptation")


def register_adaptation(spec: Adaptation) -> Adaptation:
    return ADAPTATIONS.register(spec)


def default_adaptation() -> str:
    return next(a.name for a in ADAPTATIONS if a.default)


def effective(adaptation: str, key: str, value: Any) -> Any:
    """The value a `train.<key>` setting takes under `adaptation`: the declared default where
    another adaptation owns it, so that a grid does not run the same trial twice."""
    for spec in ADAPTATIONS:
        if spec.settings is None or spec.name == adaptation:
            continue
        for f in fields(spec.settings):
            if f.name == key:
                return f.default  # settings have plain defaults (config._own_settings)
    return value


def used(train: dict[str, Any]) -> dict[str, Any]:
    """A train section (a plain dict) as a trial's identity sees it: without the settings of
    other adaptations, and without `adaptation` when it is the default (full fine-tuning's
    trial keys do not depend on the adaptation settings)."""
    name = train.get("adaptation", default_adaptation())
    others = {
        f.name
        for spec in ADAPTATIONS
        if spec.settings is not None and spec.name != name
        for f in fields(spec.settings)
    }
    out = {k: v for k, v in train.items() if k not in others}
    if name == default_adaptation():
        out.pop("adaptation", None)
    return out


def parameter_counts(model: Any) -> dict[str, int]:
    """Trainable and total parameters (each tensor once, whatever shares it)."""
    params = {id(p): p for p in model.parameters()}.values()
    return {
        "trainable_parameters": sum(p.numel() for p in params if p.requires_grad),
        "total_parameters": sum(p.numel() for p in params),
    }


def adapt(model: PreTrainedModel, tcfg: TrainConfig) -> tuple[Any, dict[str, Any]]:
    """The classifier prepared for fine-tuning under `tcfg.adaptation`, and its facts (name,
    own settings, trainable and total parameter counts)."""
    spec = ADAPTATIONS.get(tcfg.adaptation)
    settings = spec.settings_of(tcfg)
    prepared = spec.prepare(model, settings)
    own = {f.name: getattr(settings, f.name) for f in fields(settings)} if settings else {}
    return prepared, {"name": spec.name, **own, **parameter_counts(prepared)}


def for_eval(model: Any, tcfg: TrainConfig) -> Any:
    """The fine-tuned model as it is scored (e.g. LoRA adapters merged into the weights)."""
    spec = ADAPTATIONS.get(tcfg.adaptation)
    return model if spec.for_eval is None else spec.for_eval(model, spec.settings_of(tcfg))


def plain_model(model: Any) -> Any:
    """The fine-tuned model as a plain transformers classifier, for what reads its encoder's
    weights (the intrinsic bias after fine-tuning): unmerged LoRA adapters merged into a copy
    (the model itself is left as it is scored)."""
    if not hasattr(model, "merge_and_unload"):
        return model
    import copy

    return copy.deepcopy(model).merge_and_unload()


def head_modules(model: PreTrainedModel) -> list[str]:
    """The names of the classifier's own modules with weights (outside its pre-trained encoder,
    `model.base_model`): e.g. BERT's `classifier`, DistilBERT's `pre_classifier` and
    `classifier`. They are new, so they train under every adaptation."""
    encoder = model.base_model_prefix
    return [
        name
        for name, module in model.named_children()
        if name != encoder and any(True for _ in module.parameters())
    ]
