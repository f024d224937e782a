"""Find a lexicon's group terms in a text and build its counterfactual twin, in one regex pass.

Per match, in order:
- a first name (gender lexicon): its twin is the name of the same rank of the other sex
  (first_names.py), so a name has the same twin everywhere; a name right after Mr/Mrs/Ms/Miss/Mx
  is a surname and left alone;
- a term with a gate (ambiguous_terms.py) counts only where the gate says it is used as a group
  term;
- "her" and "his" are swapped by their role in the sentence (pronoun_roles.py): her -> him | his,
  his -> her | hers; every other term goes to its first partner in the lexicon's pairs;
- the replacement keeps the case of the original (her -> his, Her -> His, HER -> HIS).

Texts with no candidate term cost one regex scan; the per-match work is a few dict look-ups.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from .ambiguous_terms import GATES, Around, in_proper_name
from .first_names import name_pairs
from .pronoun_roles import her_is_possessive, his_is_pronoun, word_set

# Terms whose partner depends on the role: (rule, partner when the rule holds, partner otherwise).
ROLE_RULES: dict[str, tuple[Callable[[str, list[str]], bool], str, str]] = {
    "her": (her_is_possessive, "his", "him"),
    "his": (his_is_pronoun, "hers", "her"),
}
SURNAME_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "messrs"})
# Gender terms that are no nouns: never part of a proper name.
FUNCTION_TERMS = word_set(
    "he she him her his hers himself herself mr mrs ms miss sir madam male female"
)


def trie_pattern(words: Iterable[str]) -> str:
    """One alternation shaped as a prefix tree: a regex over 1,000 names stays as fast as over 10
    (a flat alternation tries every name at every position)."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, dict]) -> str:
        alternatives = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alternatives:
            return ""
        body = "|".join(alternatives)
        if "" in node:
            return f"(?:{body})?"
        return f"(?:{body})" if len(alternatives) > 1 else body

    return build(trie)


def match_case(source: str, target: str) -> str:
    """target written in source's case: all capitals, a capital first letter, or as it is."""
    if len(source) > 1 and source.isupper():
        return target.upper()
    if source[:1].isupper():
        return target[:1].upper() + target[1:]
    return target


class Twins:
    """The term finder and twin builder of one lexicon (built once per Lexicon, then cached):
    its (A term, B term) pairs, the built-in lexicon they start from (None: custom), and whether
    first names count as gender terms."""

    def __init__(
        self, pairs: tuple[tuple[str, str], ...], builtin: str | None, first_names: bool
    ) -> None:
        self.side: dict[str, int] = {}  # term -> 0 (group A) or 1 (group B)
        self.partner: dict[str, str] = {}
        partners: dict[str, set[str]] = {}
        for a, b in pairs:
            self.side[a], self.side[b] = 0, 1
            self.partner.setdefault(a, b)  # first pair wins where a term has several partners
            self.partner.setdefault(b, a)
            partners.setdefault(a, set()).add(b)
            partners.setdefault(b, set()).add(a)
        self.roles = {
            term: rule
            for term, rule in ROLE_RULES.items()
            if {rule[1], rule[2]} <= partners.get(term, set())
        }
        self.gates = {t: g for t, g in GATES.items() if builtin is not None and t in self.side}
        self.proper_terms = (
            frozenset(t for t in self.side if t not in FUNCTION_TERMS and " " not in t)
            if builtin == "gender"
            else frozenset()
        )
        self.names: dict[str, tuple[int, str]] = {}
        if first_names:
            for male, female in name_pairs():
                m, f = male.lower(), female.lower()
                if m not in self.side and f not in self.side:
                    self.names[m], self.names[f] = (0, f), (1, m)
        self.name_set = frozenset(self.names)
        self.plain = frozenset(self.side) - set(self.gates) - set(self.roles)
        body = trie_pattern([*self.side, *self.names])
        # Matched on the lower-cased text: a case-sensitive scan is about 3x faster than
        # re.IGNORECASE. Texts whose length lower() changes (a few Unicode letters) use the other.
        self.pattern = re.compile(rf"(?<!\w){body}(?!\w)")
        self.pattern_ignorecase = re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)

    def _resolve(self, text: str, start: int, end: int) -> tuple[int, str] | None:
        """(side, replacement) of text[start:end], or None where it is no group term here."""
        word = text[start:end]
        low = word.lower()
        if low in self.plain and not (word[:1].isupper() and low in self.proper_terms):
            return self.side[low], match_case(word, self.partner[low])  # no context needed
        at = Around(text, start, end)
        if low in self.names:
            if at.prev() in SURNAME_TITLES or (at.prev() == "." and at.prev(2) in SURNAME_TITLES):
                return None  # "Mr. Thomas": a surname
            if word.isupper() and len(word) <= 3:
                return None  # an acronym ("TED")
            side, twin = self.names[low]
            return side, match_case(word, twin)
        gate = self.gates.get(low)
        if gate is not None and not gate(at):
            return None
        if low in self.proper_terms and word[:1].isupper() and in_proper_name(at, self.name_set):
            return None
        role = self.roles.get(low)
        if role is None:
            target = self.partner[low]
        else:
            rule, if_true, if_false = role
            target = if_true if rule(at.prev(), [at.next(k) for k in (1, 2, 3)]) else if_false
        return self.side[low], match_case(word, target)

    def scan(self, text: str) -> tuple[bool, bool, str]:
        """(mentions group A, mentions group B, the twin) in one pass."""
        lowered = text.lower()
        if len(lowered) == len(text):
            matches = self.pattern.finditer(lowered)
        else:
            matches = self.pattern_ignorecase.finditer(text)
        seen = [False, False]
        pieces: list[str] = []
        last = 0
        for match in matches:
            start, end = match.span()
            found = self._resolve(text, start, end)
            if found is not None:
                seen[found[0]] = True
                pieces += (text[last:start], found[1])
                last = end
        if not pieces:
            return seen[0], seen[1], text
        pieces.append(text[last:])
        return seen[0], seen[1], "".join(pieces)

    def swap(self, text: str) -> str:
        return self.scan(text)[2]

    def sides(self, text: str) -> tuple[bool, bool]:
        """(mentions group A, mentions group B)."""
        has_a, has_b, _ = self.scan(text)
        return has_a, has_b
