"""The intervention registry: every method declares, where it is defined, what it is.

A method module registers a `Method`: its name, the function that writes the intervened model,
whether it has a strength and uses the intervention seed, and its own config section (a dataclass
whose fields are `intervention.<field>` keys, merged into the schema by `bias_sweep.config`).
Everything else is derived from that: the schema's choices and defaults, the grid's ignored
settings (a method without a strength runs at strength 0, one without a seed at seed 0, so a grid
over them does not build the same model twice), the intervened model's key (which hashes only the
settings its method uses), and the report's strengthless levels and prose.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bias_sweep.registry import Registry

if TYPE_CHECKING:
    from bias_sweep.data import TaskData
    from bias_sweep.data.intervention_corpus import Corpus
    from bias_sweep.schema import CorpusConfig, InterventionConfig

STRENGTH, SEED = "strength", "seed"  # the settings every method may use (InterventionConfig)


@dataclass(frozen=True)
class InterventionJob:
    """What a method's `apply` gets: write the intervened model of `base_dir` into `out_dir`."""

    base_dir: Path  # the pre-trained model (a `from_pretrained` folder)
    # the task's lexicon and attribute words, and its corpus: `intervention.corpus` where the
    # method learns from text and one is set, else the task's own text
    task: TaskData
    out_dir: Path  # where the intervened model goes (the caller makes that atomic)
    strength: float  # in [0, 1] (0 for a method without one); its module says what it means
    seed: int  # the intervention seed (0 for a method that uses none)
    settings: Any  # the method's own config section (an instance of Method.settings), or None


@dataclass(frozen=True)
class Method:
    name: str
    # apply(job) -> facts about the build (recorded with the intervened model)
    apply: Callable[[InterventionJob], dict[str, Any]]
    strength: bool = True  # False: no strength (grids run it at 0; one report level)
    seeded: bool = True  # False: one intervened model whatever intervention.seed
    # Its own config section: a dataclass whose fields are `intervention.<field>` keys (defaults
    # included); a `check(self)` method, if any, validates them (UserError naming the key).
    settings: type | None = None
    pretrained: bool = False  # the result is the pre-trained model itself: the reference level
    # True: fine-tuning cannot undo it (a hook on every forward pass, outside the weights:
    # projection, inlp). False: it changed weights, which fine-tuning can move back (cda, skew,
    # dropout, a published checkpoint). The report groups methods by it.
    persistent: bool = False
    # True: at strength 0 it leaves the pre-trained model as it is, whatever the seed (projection,
    # inlp): the strength-0 points of every intervention.seed are one intervened model, one
    # replicate, built and fine-tuned once (five identical copies are not five replicates).
    identity_at_zero: bool = False
    # True: the architecture with fresh weights, no pre-training (random-init): the arm without
    # pre-training of the report's pre-training contrast.
    untrained: bool = False
    # Checks of its own settings that hold only when it is the method that runs (`check` on the
    # settings class runs whichever method runs): validate(settings) raises a UserError.
    validate: Callable[[Any], None] | None = None

    def ignored(self, strength: float | None = None) -> tuple[str, ...]:
        """The shared settings this method's result does not depend on (run at 0), at `strength`
        where it is given (a method that is the identity at 0 ignores its seed there)."""
        seeded = self.seeded and not (self.identity_at_zero and strength == 0)
        return tuple(s for s, used in ((STRENGTH, self.strength), (SEED, seeded)) if not used)

    def settings_of(self, icfg: InterventionConfig) -> Any:
        """This method's own section of an intervention config (None if it has none)."""
        if self.settings is None:
            return None
        return self.settings(**{f.name: getattr(icfg, f.name) for f in fields(self.settings)})

    def used(self, intervention: dict[str, Any]) -> dict[str, Any]:
        """What an intervened model of this method depends on, from an `intervention` dict."""
        ignored = self.ignored(intervention.get(STRENGTH))
        shared = [s for s in (STRENGTH, SEED) if s not in ignored]
        own = [f.name for f in fields(self.settings)] if self.settings is not None else []
        return {"method": self.name, **{k: intervention[k] for k in (*shared, *own)}}


METHODS: Registry[Method] = Registry("intervention.method")


def register_method(spec: Method) -> Method:
    return METHODS.register(spec)


def strengthless() -> tuple[str, ...]:
    """Methods without a strength: one intervention level each in a report."""
    return tuple(m.name for m in METHODS if not m.strength)


def persistence(method: str) -> str:
    """How a method's change relates to fine-tuning, in words (a report's grouping)."""
    if METHODS.get(method).persistent:
        return "persists through fine-tuning"
    return "fine-tuning can undo it"


def unseeded() -> tuple[str, ...]:
    """Methods without a seed: one intervened model per level, whatever intervention.seed."""
    return tuple(m.name for m in METHODS if not m.seeded)


def untrained() -> tuple[str, ...]:
    """Methods whose models have no pre-training: the pre-training contrast's other arm."""
    return tuple(m.name for m in METHODS if m.untrained)


def identity_at_zero() -> tuple[str, ...]:
    """Methods that are the pre-trained model at strength 0: one intervened model there,
    whatever intervention.seed."""
    return tuple(m.name for m in METHODS if m.identity_at_zero)


def reference_method() -> str:
    """The method that leaves the pre-trained model as it is: the default, and the reference
    level that a report contrasts the strengthless methods with."""
    return next(m.name for m in METHODS if m.pretrained)


def effective(method: str, setting: str, value: Any, strength: float | None = None) -> Any:
    """The value a shared setting (strength, seed) takes for a method at `strength` (the
    effective one, where known): 0 where it is ignored."""
    if setting not in METHODS.get(method).ignored(strength):
        return value
    return 0.0 if setting == STRENGTH else 0


def configured_corpus(icfg: InterventionConfig) -> CorpusConfig | None:
    """`intervention.corpus` where the method learns from text (its section declares `corpus`)
    and one is set; None where the method uses the task's own text, or no text."""
    corpus = getattr(METHODS.get(icfg.method).settings_of(icfg), "corpus", None)
    return corpus if corpus is not None and corpus.is_set() else None


def apply_intervention(
    icfg: InterventionConfig,
    base_dir: Path,
    task: TaskData,
    out_dir: Path,
    corpus: Corpus | None = None,
) -> dict[str, Any]:
    """Write the intervened model of `icfg` into `out_dir` (the caller makes that atomic);
    return its facts. `corpus`: `configured_corpus(icfg)` as read
    (`bias_sweep.data.intervention_corpus`), which the method learns from in place of the
    task's own text; None exactly where that is None."""
    if (configured_corpus(icfg) is None) != (corpus is None):
        raise ValueError("pass the text of intervention.corpus exactly when its method uses one")
    method = METHODS.get(icfg.method)
    out_dir.mkdir(parents=True, exist_ok=True)
    job = InterventionJob(
        base_dir=base_dir,
        task=task if corpus is None else dataclasses.replace(task, corpus=list(corpus.texts)),
        out_dir=out_dir,
        strength=(strength := effective(method.name, STRENGTH, icfg.strength)),
        seed=effective(method.name, SEED, icfg.seed, strength),
        settings=method.settings_of(icfg),
    )
    facts = {"method": method.name, "strength": job.strength, "seed": job.seed}
    if corpus is not None:
        facts["intervention_corpus"] = corpus.source  # where the text came from, in words
    return {**facts, **method.apply(job)}
