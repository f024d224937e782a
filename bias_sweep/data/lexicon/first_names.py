"""First names as gender terms: the shipped list `first_names.tsv` (see its header for source,
license and how tools/derive_first_names.py derived it)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

NAMES_FILE = "first_names.tsv"
NAMES_VERSION = "census1990-500-v1"  # part of a lexicon's identity: change when the file changes


@lru_cache(maxsize=1)
def name_pairs() -> tuple[tuple[str, str], ...]:
    """(male, female) name pairs, paired by frequency rank: each name is the other's twin."""
    text = resources.files(__package__).joinpath(NAMES_FILE).read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    header, body = rows[0], rows[1:]
    male, female = header.index("male"), header.index("female")
    return tuple((row[male], row[female]) for row in body)
