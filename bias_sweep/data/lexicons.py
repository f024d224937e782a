"""Group lexicons: which group a text mentions, and its counterfactual twin (group terms swapped).

A lexicon is a list of (group A term, group B term) pairs. A text belongs to a group when it
mentions terms of that group only; its twin swaps every term for its partner in one pass.

When a term has several partners ("her" pairs with both "his" and "him"), the first pair in the
list wins for that direction: in the gender lexicon her -> his (possessive is the more frequent
use in comment and bio text) and hers -> his, so swap(swap(x)) == x only holds for texts whose
terms have one partner each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from bias_sweep.errors import UserError

# Order matters where a term repeats: the first pair with it decides where it is swapped to.
GENDER_PAIRS: tuple[tuple[str, str], ...] = (
    ("he", "she"),
    ("his", "her"),
    ("him", "her"),
    ("his", "hers"),
    ("himself", "herself"),
    ("man", "woman"),
    ("men", "women"),
    ("boy", "girl"),
    ("boys", "girls"),
    ("guy", "gal"),
    ("father", "mother"),
    ("fathers", "mothers"),
    ("dad", "mom"),
    ("son", "daughter"),
    ("sons", "daughters"),
    ("brother", "sister"),
    ("brothers", "sisters"),
    ("husband", "wife"),
    ("husbands", "wives"),
    ("boyfriend", "girlfriend"),
    ("uncle", "aunt"),
    ("nephew", "niece"),
    ("grandfather", "grandmother"),
    ("king", "queen"),
    ("prince", "princess"),
    ("gentleman", "lady"),
    ("gentlemen", "ladies"),
    ("mr", "mrs"),
    ("sir", "madam"),
    ("male", "female"),
    ("males", "females"),
)
SEXUALITY_PAIRS: tuple[tuple[str, str], ...] = (
    ("gay", "straight"),
    ("gays", "straights"),
    ("lesbian", "straight"),
    ("lesbians", "straights"),
    ("homosexual", "heterosexual"),
    ("homosexuals", "heterosexuals"),
    ("bisexual", "straight"),
    ("queer", "straight"),
    ("homosexuality", "heterosexuality"),
)
RELIGION_PAIRS: tuple[tuple[str, str], ...] = (
    ("muslim", "christian"),
    ("muslims", "christians"),
    ("islam", "christianity"),
    ("islamic", "christian"),
    ("mosque", "church"),
    ("mosques", "churches"),
    ("quran", "bible"),
    ("koran", "bible"),
    ("imam", "priest"),
    ("imams", "priests"),
    ("ramadan", "lent"),
    ("eid", "easter"),
)
BUILTIN: dict[str, tuple[str, str, tuple[tuple[str, str], ...]]] = {
    "gender": ("male", "female", GENDER_PAIRS),
    "sexuality": ("gay", "straight", SEXUALITY_PAIRS),
    "religion": ("muslim", "christian", RELIGION_PAIRS),
}


def _alternation(terms: list[str]) -> re.Pattern[str]:
    # Longest first so that "mrs" wins over "mr"; lookarounds instead of \b so that terms that
    # start or end with a non-word character still match whole words only.
    body = "|".join(re.escape(t) for t in sorted(set(terms), key=lambda t: (-len(t), t)))
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)


def _match_case(source: str, target: str) -> str:
    if len(source) > 1 and source.isupper():
        return target.upper()
    if source[:1].isupper():
        return target[:1].upper() + target[1:]
    return target


@dataclass(frozen=True)
class Lexicon:
    name_a: str
    name_b: str
    pairs: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        pairs = tuple((a.strip().lower(), b.strip().lower()) for a, b in self.pairs)
        object.__setattr__(self, "pairs", pairs)
        if not pairs or any(not a or not b for a, b in pairs):
            raise UserError("data.groups.pairs: expected a non-empty list of [a_term, b_term]")
        both = sorted(set(self.terms_a) & set(self.terms_b))
        if both:
            raise UserError(f"data.groups.pairs: term '{both[0]}' is in both groups")
        if self.name_a == self.name_b:
            raise UserError(f"data.groups.name_b: '{self.name_b}' is also the name of group A")

    @property
    def terms_a(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a for a, _ in self.pairs))

    @property
    def terms_b(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(b for _, b in self.pairs))

    @cached_property
    def _mapping(self) -> dict[str, str]:
        mapping: dict[str, str] = {}
        for a, b in self.pairs:
            mapping.setdefault(a, b)  # first pair wins: deterministic for shared terms
            mapping.setdefault(b, a)
        return mapping

    @cached_property
    def _pattern_all(self) -> re.Pattern[str]:
        return _alternation(list(self._mapping))

    @cached_property
    def _pattern_a(self) -> re.Pattern[str]:
        return _alternation(list(self.terms_a))

    @cached_property
    def _pattern_b(self) -> re.Pattern[str]:
        return _alternation(list(self.terms_b))

    def _replace(self, match: re.Match[str]) -> str:
        word = match.group(0)
        return _match_case(word, self._mapping[word.lower()])

    def group_of(self, text: str) -> str | None:
        """name_a if only A terms occur, name_b if only B terms occur, else None."""
        has_a = self._pattern_a.search(text) is not None
        has_b = self._pattern_b.search(text) is not None
        if has_a == has_b:
            return None
        return self.name_a if has_a else self.name_b

    def swap(self, text: str) -> str:
        """The counterfactual twin: every term replaced by its partner, case kept, in one pass."""
        return self._pattern_all.sub(self._replace, text)

    def group_column(self, texts: pd.Series) -> pd.Series:
        """group_of over a column, vectorised (None where no or both groups occur)."""
        texts = texts.astype(str)
        has_a = texts.str.contains(self._pattern_a).to_numpy()
        has_b = texts.str.contains(self._pattern_b).to_numpy()
        out = np.full(len(texts), None, dtype=object)
        out[has_a & ~has_b] = self.name_a
        out[has_b & ~has_a] = self.name_b
        return pd.Series(out, index=texts.index, dtype=object)

    def swap_column(self, texts: pd.Series) -> pd.Series:
        """swap over a column, vectorised."""
        return texts.astype(str).str.replace(self._pattern_all, self._replace, regex=True)

    def other(self, group: str) -> str:
        return self.name_b if group == self.name_a else self.name_a

    def describe(self) -> dict[str, Any]:
        """What identifies the lexicon (for fingerprints)."""
        return {"a": self.name_a, "b": self.name_b, "pairs": [list(p) for p in self.pairs]}


def get_lexicon(groups: Any) -> Lexicon:
    """The lexicon of a `data.groups` config (GroupsConfig or DictConfig).

    Built-ins: gender, sexuality, religion. `custom` uses `groups.pairs` only; with a built-in,
    `groups.pairs` adds to its pairs. `name_a`/`name_b` rename the groups (custom default: the
    first pair's terms).
    """
    kind = groups.lexicon
    extra: list[tuple[str, str]] = []
    for pair in groups.pairs or []:
        terms = [str(t) for t in pair]
        if len(terms) != 2:
            raise UserError(f"data.groups.pairs: {terms} is not a pair of two terms")
        extra.append((terms[0], terms[1]))
    if kind == "custom":
        if not extra:
            raise UserError("data.groups.pairs: lexicon=custom needs [[a_term, b_term], ...]")
        name_a, name_b, pairs = extra[0][0].lower(), extra[0][1].lower(), ()
    elif kind in BUILTIN:
        name_a, name_b, pairs = BUILTIN[kind]
    else:
        allowed = ", ".join([*BUILTIN, "custom"])
        raise UserError(f"data.groups.lexicon: {kind!r} is not allowed; expected one of {allowed}")
    return Lexicon(
        name_a=groups.name_a or name_a,
        name_b=groups.name_b or name_b,
        pairs=tuple(pairs) + tuple(extra),
    )
