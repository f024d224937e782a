"""Group terms that are also ordinary words: where they count as group terms.

A built-in lexicon term listed in GATES counts (for the group and for the twin) only where its
gate says the text uses it in its group sense; elsewhere it is left as it is:

    straight  "straight people", "gay or straight", "I am straight", "a proud straight", "I hate
              straight"; not "a straight line", "went straight home" (sexuality lexicon)
    lent      the season: "during Lent", "for lent"; not "I lent him money" (religion lexicon)
    man, boy  not the interjections "oh man", "Man, that was close", "come on, man!"
    miss, ms  the titles "Miss Smith", "Ms. Jones"; not "I miss her", "10 ms"
    eid       not the acronym "EID"
    capitalised gender nouns: not inside a proper name ("Stephen King", "Burger King" aside)

Each gate gets an `Around`: the tokens before and after the match.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .pronoun_roles import word_set

TOKEN = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*|\d+|[^\w\s]")
WINDOW = 60  # characters each side of a match that context rules look at


class Around:
    """The tokens around text[start:end], found lazily (most matches need none)."""

    __slots__ = ("_after", "_before", "end", "start", "text")

    def __init__(self, text: str, start: int, end: int) -> None:
        self.text, self.start, self.end = text, start, end
        self._before: list[str] | None = None
        self._after: list[str] | None = None

    @property
    def before(self) -> list[str]:
        """Up to 4 tokens before the match, nearest last (original case)."""
        if self._before is None:
            self._before = TOKEN.findall(self.text, max(0, self.start - WINDOW), self.start)[-4:]
        return self._before

    @property
    def after(self) -> list[str]:
        """Up to 3 tokens after the match (original case)."""
        if self._after is None:
            self._after = TOKEN.findall(self.text, self.end, self.end + WINDOW)[:3]
        return self._after

    def prev(self, k: int = 1) -> str:
        """The k-th token before the match, lower-case ("" before the start)."""
        return self.before[-k].lower() if len(self.before) >= k else ""

    def next(self, k: int = 1) -> str:
        return self.after[k - 1].lower() if len(self.after) >= k else ""


def is_word(token: str) -> bool:
    return bool(token) and token[0].isalpha()


SEXUALITY_TERMS = word_set(
    "gay gays lesbian lesbians bi bisexual bisexuals queer homosexual homosexuals trans lgbt "
    "lgbtq pansexual asexual"
)
PERSON_NOUNS = word_set(
    "man men woman women people person persons guy guys girl girls boy boys couple couples "
    "friend friends folk folks kid kids teen teens teenager teenagers student students "
    "neighbor neighbors neighbour neighbours teacher teachers driver drivers coworker coworkers "
    "writer writers ally allies community communities culture marriage marriages relationship "
    "relationships parent parents adult adults youth individual individuals male males female "
    "females member members colleague colleagues actor actors actress character characters son "
    "sons daughter daughters partner partners identity orientation pride sex dating family "
    "families husband husbands wife wives brother brothers sister sisters priest guys"
)
COORDINATION = frozenset({"and", "or", "nor", "vs", "versus", ",", "/", "&", "not"})
# "I am straight", "Being straight is", "identify as straight".
PREDICATE_BEFORE = word_set("am i'm im being you're youre ur he's she's we're they're as")
COPULAS = word_set("is are was were be")
PERSON_SUBJECTS = word_set("i you he she we they who everyone someone nobody")
# Verbs whose object is people: "straight" after them is no adverb ("went straight" is).
ATTITUDE_VERBS = word_set(
    "hate hates hated love loves loved like likes liked respect respects respected hug hugs "
    "kill kills killed murder murdered destroy destroyed support supports accept accepts fear "
    "attack attacked ban banned marry date dates dating"
)
CLAUSE_END = frozenset({"and", "or", "but", "is", "was", "are", "were", "too", "either", "now"})


def _clause_ends(token: str) -> bool:
    return not is_word(token) or token in CLAUSE_END


def straight_is_identity(at: Around) -> bool:
    n1, p1, p2 = at.next(), at.prev(), at.prev(2)
    if n1 in PERSON_NOUNS:
        return True
    if n1 in COORDINATION and at.next(2) in SEXUALITY_TERMS:  # "straight or gay"
        return True
    if p1 in COORDINATION and p2 in SEXUALITY_TERMS:  # "gay and straight"
        return True
    if not _clause_ends(n1):
        return False
    if p1 in ATTITUDE_VERBS:
        return True  # "I hate straight", "respect straight" (people, not a direction)
    if p1 in PREDICATE_BEFORE or (p1 in COPULAS and (p2 in PERSON_SUBJECTS or _capitalised(at, 2))):
        return True  # "I am straight.", "Being straight is fun", "Joe is straight"
    # A noun: "a proud straight", "Joe is a happy straight."
    return any(t in ("a", "an", "the") for t in (p1, p2, at.prev(3)))


def _capitalised(at: Around, k: int) -> bool:
    before = at.before
    return len(before) >= k and before[-k][:1].isupper() and before[-k][1:].islower()


LENT_BEFORE = word_set(
    "during for of throughout through before after until till since this last next observe "
    "observed observes observing celebrate celebrated celebrating start end beginning "
    "season"
)
LENT_AFTER = word_set("season fast fasting begins began starts started ends ended")


def lent_is_season(at: Around) -> bool:
    word = at.text[at.start : at.end]
    if at.prev() in LENT_BEFORE or at.next() in LENT_AFTER:
        return True
    # Capitalised mid-sentence ("we gave it up for Lent"); at a sentence start it proves nothing.
    return word == "Lent" and is_word(at.prev())


INTERJECTION_BEFORE = word_set("oh ah aw aww awww ooh yo dude damn on hey man")


def not_interjection(at: Around) -> bool:
    """False for "oh man", "Man, that was close", "come on man", "..., man!"."""
    p1, n1 = at.prev(), at.next()
    if p1 in INTERJECTION_BEFORE:
        return False
    return not (p1 in ("", ",", ".", "!", "?") and n1 in ("", ",", ".", "!", "?"))


def is_title(at: Around) -> bool:
    """Title-case "Miss"/"Ms" before a name: "Miss Smith", "Ms. Jones"."""
    word = at.text[at.start : at.end]
    if word not in ("Miss", "Ms", "MISS"):
        return False
    after = at.after
    name = after[1] if after[:1] == ["."] and len(after) > 1 else (after[0] if after else "")
    return name[:1].isupper()


def not_acronym(at: Around) -> bool:
    return not at.text[at.start : at.end].isupper()


GATES: dict[str, Callable[[Around], bool]] = {
    "straight": straight_is_identity,
    "lent": lent_is_season,
    "man": not_interjection,
    "boy": not_interjection,
    "miss": is_title,
    "ms": is_title,
    "eid": not_acronym,
}


def in_proper_name(at: Around, first_names: frozenset[str]) -> bool:
    """A capitalised noun right after a first name or a mid-sentence capitalised word:
    "Stephen King", "Martin Luther King", "Iron Man"; not "the King", "Yesterday King Charles".
    """
    word = at.text[at.start : at.end]
    if not (word[:1].isupper() and word[1:].islower()):
        return False
    before = at.before
    if not before or not (before[-1][:1].isupper() and is_word(before[-1])):
        return False
    if before[-1].lower() in first_names:
        return True
    return len(before) > 1 and is_word(before[-2])  # mid-sentence capitalised word
