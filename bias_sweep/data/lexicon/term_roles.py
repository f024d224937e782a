"""Grammatical roles of the built-in group terms, shared by the synthetic task and the MLM probe.

A lexicon pair has a role when both of its terms have it: (he, she) is a subject pair, (him, her)
an object pair and (his, her) a possessive one, though "her" is in both of the last two. Plurals,
titles and reflexives have none here; terms not in any built-in lexicon are `UNKNOWN` (a custom
lexicon's terms, used as they are).
"""

from __future__ import annotations

from .lexicon import BUILTIN

SUBJECT, OBJECT, POSSESSIVE, NOUN, ADJECTIVE, UNKNOWN = (
    "subject", "object", "possessive", "noun", "adjective", "unknown",
)  # fmt: skip
SUBJECT_PRONOUNS = {"he", "she"}
OBJECT_PRONOUNS = {"him", "her"}
POSSESSIVES = {"his", "her"}
ADJECTIVES = {
    "gay", "straight", "lesbian", "homosexual", "heterosexual", "bisexual", "queer", "muslim",
    "christian", "islamic", "male", "female",
}  # fmt: skip
NOUNS = {
    "man", "woman", "boy", "girl", "guy", "gal", "father", "mother", "dad", "mom", "son",
    "daughter", "brother", "sister", "husband", "wife", "boyfriend", "girlfriend", "uncle", "aunt",
    "nephew", "niece", "grandfather", "grandmother", "king", "queen", "prince", "princess",
    "gentleman", "lady", "imam", "priest", "mosque", "church",
}  # fmt: skip
KNOWN = {t for _, _, pairs in BUILTIN.values() for pair in pairs for t in pair}
# Checked in this order: a pair of two pronouns is a pronoun pair before anything else.
_ROLE_SETS = (
    (SUBJECT, SUBJECT_PRONOUNS),
    (OBJECT, OBJECT_PRONOUNS),
    (POSSESSIVE, POSSESSIVES),
    (NOUN, NOUNS),
    (ADJECTIVE, ADJECTIVES),
)


def pair_role(a: str, b: str) -> str | None:
    """The role of the pair (a, b): one of subject, object, possessive, noun, adjective; unknown
    when neither term is a built-in one; None when they are built-in terms without a shared
    role (plurals, titles, "hers", "himself")."""
    both = {a.lower(), b.lower()}
    for role, terms in _ROLE_SETS:
        if both <= terms:
            return role
    return UNKNOWN if not both & KNOWN else None
