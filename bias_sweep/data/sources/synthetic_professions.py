"""`data.source=synthetic-professions`, an offline multi-class task in the shape of Bias in Bios
(De-Arteaga et al. 2019): short bios of a person in one of eight professions (the class, by
name), data.pool_size of them, each profession with its own natural share of group A
(`NATURAL_SHARE_A`, P(A | profession), from surgeons at 0.85 to nurses at 0.15), so the offline
default shows per-class skews and gaps without downloads (use it with data.task=multiclass).

The profession comes from its duties ("operates on patients"), the group from one lexicon term;
a quarter of the bios name no duty at all, so the class is out of reach of the words there and
a model trained on skewed data has a reason to lean on the group term.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bias_sweep.data.lexicon import get_lexicon
from bias_sweep.data.sources.registry import Source, SourceRows, register_source
from bias_sweep.data.sources.synthetic import FILLERS, OPENERS, _roles
from bias_sweep.schema import DataConfig

SEED = 0
VERSION = 1  # bump when the generator changes, so caches keyed by fingerprint refresh
VAGUE_SHARE = 0.25  # bios without a duty: the profession is not in the words
# P(group A | profession): the built-in natural skews (A is the lexicon's first group).
NATURAL_SHARE_A = {
    "surgeon": 0.85, "software_engineer": 0.8, "architect": 0.7, "attorney": 0.6,
    "professor": 0.55, "teacher": 0.4, "psychologist": 0.3, "nurse": 0.15,
}  # fmt: skip
DUTIES = {
    "surgeon": ("operates on patients", "scrubs in for surgery", "performs heart operations"),
    "software_engineer": ("writes code", "fixes software bugs", "builds web apps"),
    "architect": ("designs buildings", "draws floor plans", "plans new houses"),
    "attorney": ("argues cases in court", "drafts contracts", "advises clients on the law"),
    "professor": ("lectures at the university", "grades exams", "publishes research papers"),
    "teacher": ("teaches children", "plans lessons", "marks homework"),
    "psychologist": ("runs therapy sessions", "studies behavior", "counsels patients"),
    "nurse": ("cares for patients", "gives injections", "works night shifts on the ward"),
}
VAGUE = ("works hard", "loves the job", "has worked there for years", "commutes every day")
TEMPLATES = ("{S} {d} {f}", "{o}{S} {d}, {f}", "everyone knows {S} {d}", "{S} {d} and {v}")


def generate(cfg: DataConfig, n: int, seed: int = SEED) -> pd.DataFrame:
    """n distinct bios with columns text, label (profession), group; deterministic given seed."""
    lexicon = get_lexicon(cfg.groups)
    subjects = _roles(lexicon)["S"]
    names = list(NATURAL_SHARE_A)
    rng = np.random.default_rng(seed)
    rows: dict[str, tuple[str, str]] = {}
    while len(rows) < n:
        m = n - len(rows) + 64
        label = rng.integers(0, len(names), m)
        share_a = np.array([NATURAL_SHARE_A[names[c]] for c in label])
        in_a = rng.random(m) < share_a
        vague = rng.random(m) < VAGUE_SHARE
        picks = rng.integers(0, 1 << 30, (m, 6))
        for i in range(m):
            prof = names[label[i]]
            duty = VAGUE[picks[i, 0] % len(VAGUE)] if vague[i] else (
                DUTIES[prof][picks[i, 0] % len(DUTIES[prof])]
            )  # fmt: skip
            text = TEMPLATES[picks[i, 1] % len(TEMPLATES)].format(
                S=subjects[picks[i, 2] % len(subjects)][0 if in_a[i] else 1],
                d=duty,
                f=FILLERS[picks[i, 3] % len(FILLERS)],
                o=OPENERS[picks[i, 4] % len(OPENERS)],
                v=VAGUE[picks[i, 5] % len(VAGUE)],
            )
            rows.setdefault(text, (prof, lexicon.name_a if in_a[i] else lexicon.name_b))
            if len(rows) == n:
                break
    texts = list(rows)
    return pd.DataFrame(
        {
            "text": texts,
            "label": [rows[t][0] for t in texts],
            "group": [rows[t][1] for t in texts],
        }
    )


def load(cfg: DataConfig, root: Path) -> SourceRows:
    frame = generate(cfg, cfg.pool_size)
    ident = {"pool_size": cfg.pool_size, "version": VERSION}
    return SourceRows(frame[["text", "label"]], ident, class_words=leaning_words())


def leaning_words() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(duty words of the A-leaning professions, of the B-leaning ones), words of both left out:
    the class words of probes and of the tiny model's biased pre-training."""

    def words(lean: int) -> set[str]:
        jobs = [p for p, s in NATURAL_SHARE_A.items() if (s > 0.5) == (lean > 0) and s != 0.5]
        return {w for p in jobs for d in DUTIES[p] for w in d.split() if len(w) > 3}

    vague = {w for v in VAGUE for w in v.split()}
    a, b = words(1) - vague, words(-1) - vague
    return tuple(sorted(a - b)), tuple(sorted(b - a))


def describe(cfg: DataConfig) -> str:
    return f"the synthetic professions pool ({cfg.pool_size} rows, 8 classes)"


def check_config(cfg: DataConfig) -> None:
    from bias_sweep.checks import check

    check(cfg.task == "multiclass", "data.task", "multiclass with synthetic-professions", cfg.task)


register_source(Source("synthetic-professions", load, describe, check_config))
