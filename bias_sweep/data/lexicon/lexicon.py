"""Group lexicons: which group a text mentions, and its counterfactual twin (group terms swapped).

A lexicon is a list of (group A term, group B term) pairs, plus, for the gender lexicon, first
names (first_names.py). A text belongs to a group when it mentions terms of that group only; its twin
swaps every term in one pass (twins.py). Where a term has several partners the first pair wins,
except "her" and "his", which are swapped by their role in the sentence (pronoun_roles.py: object her ->
him, possessive her -> his, his -> her or hers), so swap(swap(x)) == x holds for pronouns too
(up to the rare sentences the rule reads wrongly: see tests/test_twins.py).

Left out of the built-in lists on purpose, because they are mostly something else in real text:
"guys" (any group: "you guys"), "bachelor" and "master" (degrees), "groom" (a verb), "host" (a
verb, "a host of"), "lord" (mostly God: "our Lord", "Dear Lord"), "count"/"countess", "mum"
(silent), "ma"/"pa". Terms that are group terms only in some uses ("straight", "lent", "man" as
an interjection, "miss", "ms") are gated: they count only where ambiguous_terms.py says the text
uses them as a group term. Where a lexicon maps several terms to one ("lesbian", "bisexual" ->
"straight" -> "gay"), swap(swap(x)) == x cannot hold for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bias_sweep.errors import UserError

from .first_names import NAMES_VERSION, name_pairs
from .twins import Twins

if TYPE_CHECKING:
    from collections.abc import Iterable

    from bias_sweep.schema import GroupsConfig

CUSTOM = "custom"  # data.groups.lexicon: groups.pairs only, no built-in list

# Order matters where a term repeats: the first pair with it decides where it is swapped to
# (her and his are decided by role instead; see twins.ROLE_RULES).
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
    ("dads", "moms"),
    ("daddy", "mommy"),
    ("son", "daughter"),
    ("sons", "daughters"),
    ("brother", "sister"),
    ("brothers", "sisters"),
    ("husband", "wife"),
    ("husbands", "wives"),
    ("boyfriend", "girlfriend"),
    ("boyfriends", "girlfriends"),
    ("uncle", "aunt"),
    ("uncles", "aunts"),
    ("nephew", "niece"),
    ("nephews", "nieces"),
    ("grandfather", "grandmother"),
    ("grandfathers", "grandmothers"),
    ("grandson", "granddaughter"),
    ("grandsons", "granddaughters"),
    ("grandpa", "grandma"),
    ("stepfather", "stepmother"),
    ("stepson", "stepdaughter"),
    ("king", "queen"),
    ("kings", "queens"),
    ("prince", "princess"),
    ("princes", "princesses"),
    ("duke", "duchess"),
    ("emperor", "empress"),
    ("gentleman", "lady"),
    ("gentlemen", "ladies"),
    ("monk", "nun"),
    ("monks", "nuns"),
    ("widower", "widow"),
    ("bridegroom", "bride"),
    ("fiance", "fiancee"),
    ("hero", "heroine"),
    ("heroes", "heroines"),
    ("actor", "actress"),
    ("actors", "actresses"),
    ("waiter", "waitress"),
    ("waiters", "waitresses"),
    ("steward", "stewardess"),
    ("chairman", "chairwoman"),
    ("chairmen", "chairwomen"),
    ("spokesman", "spokeswoman"),
    ("spokesmen", "spokeswomen"),
    ("policeman", "policewoman"),
    ("policemen", "policewomen"),
    ("businessman", "businesswoman"),
    ("businessmen", "businesswomen"),
    ("congressman", "congresswoman"),
    ("salesman", "saleswoman"),
    ("salesmen", "saleswomen"),
    ("sportsman", "sportswoman"),
    ("fireman", "firewoman"),
    ("cameraman", "camerawoman"),
    ("headmaster", "headmistress"),
    ("schoolboy", "schoolgirl"),
    ("schoolboys", "schoolgirls"),
    ("fraternity", "sorority"),
    ("brotherhood", "sisterhood"),
    ("manhood", "womanhood"),
    ("boyhood", "girlhood"),
    ("paternity", "maternity"),
    ("paternal", "maternal"),
    ("patriarch", "matriarch"),
    ("masculine", "feminine"),
    ("mr", "mrs"),
    ("mr", "ms"),  # Ms and Miss swap to Mr; Mr swaps to Mrs (the first pair)
    ("mr", "miss"),
    ("sir", "madam"),
    ("male", "female"),
    ("males", "females"),
)
# "straight" is mostly no sexuality ("a straight line", "straight away"): it counts only where
# ambiguous.straight_is_identity finds it used of people. "queer" is kept: an identity term and a
# slur, both about the group. "bi" is left out (a prefix, "bi-weekly", and a chat word).
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
# "lent" is mostly the past of "lend": it counts only as the season (ambiguous.lent_is_season).
# "eid" counts only when not written EID (an acronym). "church" stays, also in names ("Church of
# England" is Christian; the surname Church is rare in comments).
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
TWIN_RULES_VERSION = 2  # part of a lexicon's identity: bump when twins/roles/ambiguous change


@dataclass(frozen=True)
class Lexicon:
    name_a: str
    name_b: str
    pairs: tuple[tuple[str, str], ...]
    # The built-in lexicon the pairs start from (gender, sexuality, religion) or None: its gated
    # terms (ambiguous.py) then count only in their group sense.
    builtin: str | None = None
    first_names: bool = False  # male first names are group A terms, female ones group B terms

    def __post_init__(self) -> None:
        pairs = tuple((a.strip().lower(), b.strip().lower()) for a, b in self.pairs)
        object.__setattr__(self, "pairs", pairs)
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
    def twins(self) -> Twins:
        """The term finder and twin builder (compiled once per lexicon)."""
        return Twins(self.pairs, self.builtin, self.first_names)

    @property
    def vocabulary(self) -> frozenset[str]:
        """Every word that can be a group term: pair terms and first names (lower-case)."""
        return frozenset(self.twins.side) | self.twins.name_set

    def group_of(self, text: str) -> str | None:
        """name_a if only A terms occur, name_b if only B terms occur, else None."""
        has_a, has_b = self.twins.sides(text)
        if has_a == has_b:
            return None
        return self.name_a if has_a else self.name_b

    def swap(self, text: str) -> str:
        """The counterfactual twin: every term replaced by its partner, case kept, in one pass."""
        return self.twins.swap(text)

    def scan_column(self, texts: pd.Series) -> pd.DataFrame:
        """text, has_a, has_b (mentions a term of group A / B) and cf_text, in one pass."""
        texts = texts.astype(str)
        scans = [self.twins.scan(t) for t in texts]
        return pd.DataFrame(
            {
                "text": texts,
                "has_a": np.fromiter((s[0] for s in scans), bool, len(scans)),
                "has_b": np.fromiter((s[1] for s in scans), bool, len(scans)),
                "cf_text": pd.Series([s[2] for s in scans], index=texts.index, dtype=texts.dtype),
            },
            index=texts.index,
        )

    def side_counts(self, scans: pd.DataFrame) -> dict[str, int]:
        """Rows of a scan_column frame that mention group A only, B only, both or neither."""
        has_a, has_b = scans["has_a"].to_numpy(), scans["has_b"].to_numpy()
        return {
            "a": int((has_a & ~has_b).sum()),
            "b": int((has_b & ~has_a).sum()),
            "both": int((has_a & has_b).sum()),
            "neither": int((~has_a & ~has_b).sum()),
        }

    def column_counts(self, groups: pd.Series, column: str) -> dict[str, Any]:
        """Rows of a gold group column (name_a, name_b or None per row) by group."""
        return {
            "group_from": f"column {column}",
            "a": int((groups == self.name_a).sum()),
            "b": int((groups == self.name_b).sum()),
            "both": 0,
            "neither": int(groups.isna().sum()),
        }

    def group_column_from(self, scans: pd.DataFrame) -> pd.Series:
        """The group of each row of a scan_column frame (None for both or neither)."""
        has_a, has_b = scans["has_a"].to_numpy(), scans["has_b"].to_numpy()
        out = np.full(len(scans), None, dtype=object)
        out[has_a & ~has_b] = self.name_a
        out[has_b & ~has_a] = self.name_b
        return pd.Series(out, index=scans.index, dtype=object)

    def group_column(self, texts: pd.Series) -> pd.Series:
        """group_of over a column (None where no or both groups occur)."""
        return self.group_column_from(self.scan_column(texts))

    def swap_column(self, texts: pd.Series) -> pd.Series:
        """swap over a column."""
        texts = texts.astype(str)
        swap = self.twins.swap
        return pd.Series([swap(t) for t in texts], index=texts.index, dtype=texts.dtype)

    def other(self, group: str) -> str:
        return self.name_b if group == self.name_a else self.name_a

    def describe(self) -> dict[str, Any]:
        """What identifies the lexicon (for fingerprints)."""
        out: dict[str, Any] = {
            "a": self.name_a,
            "b": self.name_b,
            "pairs": [list(p) for p in self.pairs],
            "rules": TWIN_RULES_VERSION,
        }
        if self.builtin is not None:
            out["builtin"] = self.builtin
        if self.first_names:
            out["first_names"] = f"{NAMES_VERSION} ({len(name_pairs())} pairs)"
        return out


def group_counts(texts: pd.Series | Iterable[str], lexicon: Lexicon) -> dict[str, Any]:
    """How many texts mention group A only, B only, both or neither, and the share kept (A or B
    only: a text about both groups has no group, one about neither has no twin)."""
    counts = lexicon.side_counts(lexicon.scan_column(pd.Series(list(texts), dtype=object)))
    rows = sum(counts.values())
    return {
        "rows": rows,
        **counts,
        "kept_share": (counts["a"] + counts["b"]) / rows if rows else 0.0,
    }


def get_lexicon(groups: GroupsConfig) -> Lexicon:
    """The lexicon of a (validated) `data.groups` config.

    Built-ins: gender, sexuality, religion. `custom` uses `groups.pairs` only; with a built-in,
    `groups.pairs` adds to its pairs. `name_a`/`name_b` rename the groups (custom default: the
    first pair's terms). `first_names` (default true) adds first names to the gender lexicon.
    """
    kind = groups.lexicon
    extra = [(str(a), str(b)) for a, b in groups.pairs or []]
    if kind == CUSTOM:
        name_a, name_b, pairs = extra[0][0].lower(), extra[0][1].lower(), ()
    else:
        name_a, name_b, pairs = BUILTIN[kind]
    return Lexicon(
        name_a=groups.name_a or name_a,
        name_b=groups.name_b or name_b,
        pairs=tuple(pairs) + tuple(extra),
        builtin=None if kind == CUSTOM else kind,
        # First names: on by default with the gender lexicon (`data.groups.first_names`).
        first_names=kind == "gender" and groups.first_names,
    )
