"""Scrubbing (`data.scrub`), a downstream treatment beside re-balancing: De-Arteaga et al.'s
(2019) "scrubbed" bios, where explicit group indicators are removed from the text.

    none             the text as it is
    terms            every term of the lexicon's pairs removed (in every sense: "her" and "miss"
                     go whatever their role, so no reader of the text finds one)
    terms_and_names  the terms and every shipped first name (`lexicon.name_pairs`), whether or
                     not data.groups.first_names makes names group terms

A scrubbed word is deleted and the spaces around it collapsed. The fine-tuning text is scrubbed
after the sample is drawn (groups and rates are those of the original rows, so scrubbing and the
co-occurrence rate are separate axes); the eval texts and their twins only with data.scrub_eval.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from bias_sweep.registry import Registry

from .lexicon import Lexicon, name_pairs
from .lexicon.twins import trie_pattern


@dataclass(frozen=True)
class ScrubMode:
    name: str
    words: Callable[[Lexicon], frozenset[str]]  # what it removes, lower-case


SCRUB_MODES: Registry[ScrubMode] = Registry("data.scrub")


def _terms(lexicon: Lexicon) -> frozenset[str]:
    return frozenset(t for pair in lexicon.pairs for t in pair)


def _terms_and_names(lexicon: Lexicon) -> frozenset[str]:
    return _terms(lexicon) | frozenset(n.lower() for pair in name_pairs() for n in pair)


SCRUB_MODES.register(ScrubMode("none", lambda _: frozenset()))
SCRUB_MODES.register(ScrubMode("terms", _terms))
SCRUB_MODES.register(ScrubMode("terms_and_names", _terms_and_names))


@lru_cache(maxsize=8)
def scrub_pattern(words: frozenset[str]) -> re.Pattern[str]:
    """One case-insensitive pattern of whole words (a prefix tree: fast over 1,000 names)."""
    return re.compile(rf"(?<!\w)(?:{trie_pattern(sorted(words))})(?!\w)", re.IGNORECASE)


def scrub_texts(texts: pd.Series, lexicon: Lexicon, mode: str) -> pd.Series:
    """The texts with the words of `mode` removed (the same Series where mode is none)."""
    words = SCRUB_MODES.get(mode).words(lexicon)
    if not words:
        return texts
    pattern = scrub_pattern(words)
    spaces = re.compile(r"[ \t]{2,}")
    out = [spaces.sub(" ", pattern.sub("", t)).strip() for t in texts.astype(str)]
    return pd.Series(out, index=texts.index, dtype=object)
