"""`data.source=synthetic`, an offline templated task: short comments about a person, toxic-ish
(y=1) or not (y=0), data.pool_size of them, generated from the lexicon of data.groups.

The label comes from attribute words ("rude", "lovely"), the group from one lexicon term (or a
pronoun of the same group), and filler phrases vary content and length. A sixth of the sentences
leave the label out of reach of the words (14% carry only ambiguous words, 3% carry the other
class's words): a model trained on skewed data then has a reason to lean on the group term, which
is the shortcut the co-occurrence experiments measure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bias_sweep.data.lexicon import Lexicon, get_lexicon
from bias_sweep.data.lexicon import term_roles as R
from bias_sweep.data.sources.registry import Source, SourceRows, register_source
from bias_sweep.schema import DataConfig

SEED = 0
VERSION = 1  # bump when the generator changes, so caches keyed by fingerprint refresh

# Shares tuned with a bag-of-words logistic regression (tests/test_data.py): at rate 0.9 it shows
# a clear TPR gap (about 0.4) while still mostly reading the words (accuracy about 0.75).
AMBIGUOUS_SHARE = 0.14  # sentences with ambiguous words only: the label is not in the words
NOISE_SHARE = 0.03  # sentences with the other class's words (label noise)
# Few words per class, so that each occurs often enough in a small train set to be learnt.
POSITIVE_WORDS = (  # y=1
    "awful", "rude", "nasty", "hateful", "stupid", "disgusting", "horrible", "vile", "cruel",
    "idiotic", "pathetic", "dishonest", "arrogant", "useless", "selfish", "hostile",
)  # fmt: skip
NEGATIVE_WORDS = (  # y=0
    "kind", "lovely", "brilliant", "polite", "friendly", "generous", "helpful", "wonderful",
    "thoughtful", "honest", "caring", "gentle", "cheerful", "clever", "patient", "charming",
)  # fmt: skip
AMBIGUOUS_WORDS = (  # both labels alike
    "loud", "quiet", "odd", "blunt", "strange", "tired", "serious", "busy", "different",
    "unusual", "direct", "intense", "nervous", "emotional", "distant", "careful", "plain",
    "surprising", "young", "tall",
)  # fmt: skip
FILLERS = (
    "yesterday", "at work", "at the market", "on the bus", "last night", "in the meeting",
    "online", "at the party", "this morning", "in class", "at dinner", "on the phone",
    "after the game", "during the trip", "at the station", "in the kitchen", "near the park",
    "at the office", "in the library", "at the concert", "all week", "on the train",
)  # fmt: skip
OPENERS = ("", "", "", "well, ", "to be fair, ", "apparently, ", "i swear ", "lol ", "so ")
CLOSERS = ("", "", "", " again", " today", " as always", " for sure", " i guess", " really")
EXTRA_CLAUSES = (
    "", "", "", "", " and then we went home", " while it rained all day", " and the food was fine",
    " before the bus came", " and nobody said much", " after a long day", " and we paid the bill",
)  # fmt: skip
HEADS = ("person", "neighbor", "student", "teacher", "driver", "coworker", "writer")


# {S}: subject phrase; {s}, {o}, {p}: subject, object pronoun and possessive of the same group;
# {a}, {b}: attribute words; {f}: filler.
SUBJECT_TEMPLATES = (
    "{S} was {a} {f}",
    "i think {S} is {a}",
    "{S} seemed really {a} {f}",
    "everyone says {S} is so {a}",
    "{f}, {S} acted {a} and {b}",
    "my friend said {S} was {a} {f}",
    "honestly {S} looks {a} to me",
    "{S} is {a}, like always",
    "{S} was being {a} and {b} {f}",
    "did you see how {a} {S} was {f}",
    "{S} sounded {a} {f}",
    "no doubt {S} is {a}",
)
PRONOUN_TEMPLATES = (
    "i met {o} {f} and {s} was {a}",
    "{S} said {p} day was fine but {s} was {a}",
    "we saw {o} {f}, {s} was so {a}",
    "{S} brought {p} notes {f} and was {a}",
    "i told {o} {s} was {a} and {b}",
)


def _roles(lexicon: Lexicon) -> dict[str, list[tuple[str, str]]]:
    """The (A, B) fillers of each slot. Built-in terms go where their grammar allows (plurals and
    titles nowhere); unknown (custom) terms are used as they are, as subjects."""
    roles: dict[str, list[tuple[str, str]]] = {"S": [], "s": [], "o": [], "p": []}
    for a, b in lexicon.pairs:
        role = R.pair_role(a, b)
        if role == R.SUBJECT:
            roles["s"].append((a, b))
            roles["S"].append((a, b))
        elif role == R.OBJECT:
            roles["o"].append((a, b))
        elif role == R.POSSESSIVE:
            roles["p"].append((a, b))
        elif role == R.NOUN:
            roles["S"].append((f"the {a}", f"the {b}"))
        elif role == R.ADJECTIVE:
            roles["S"] += [(f"the {a} {h}", f"the {b} {h}") for h in HEADS[:3]]
        elif role == R.UNKNOWN:
            roles["S"].append((a, b))
    if not roles["S"]:  # only function words or plurals: use the terms as they are
        roles["S"] = list(lexicon.pairs)
    return roles


def generate(lexicon: Lexicon, n: int, seed: int = 0, *, with_twins: bool = False) -> pd.DataFrame:
    """n distinct sentences with columns text, label (0/1), group; deterministic given the seed.

    `group` is the group whose terms were put in; callers recompute it with the lexicon (a custom
    term may also occur in a filler). with_twins adds `twin`: the same sentence written with the
    other group's terms, a ground truth for `Lexicon.swap` (tests/test_twins.py).
    """
    rng = np.random.default_rng(seed)
    roles = {k: v for k, v in _roles(lexicon).items() if v}
    templates = list(SUBJECT_TEMPLATES)
    if {"s", "o", "p"} <= roles.keys():
        templates += PRONOUN_TEMPLATES
    rows: dict[str, tuple[int, int, str]] = {}
    # Batches until n distinct texts exist (the template space is large: few duplicates). Random
    # choices are drawn as arrays; only the string formatting is a Python loop.
    while len(rows) < n:
        m = n - len(rows) + 64
        y = rng.integers(0, 2, m)
        g = rng.integers(0, 2, m)  # 0: group A, 1: group B
        kind = rng.random(m)
        pick = {k: rng.integers(0, len(v), m) for k, v in roles.items()}
        u_a, u_b = rng.random(m), rng.random(m)  # two different words of the chosen list
        parts = {
            name: rng.integers(0, len(options), m)
            for name, options in (
                ("t", templates), ("f", FILLERS), ("open", OPENERS), ("extra", EXTRA_CLAUSES),
                ("close", CLOSERS),
            )
        }  # fmt: skip
        for i in range(m):
            if kind[i] < AMBIGUOUS_SHARE:
                words = AMBIGUOUS_WORDS
            else:
                noisy = kind[i] < AMBIGUOUS_SHARE + NOISE_SHARE  # the other class's words
                words = POSITIVE_WORDS if bool(y[i]) != noisy else NEGATIVE_WORDS
            w_a = int(u_a[i] * len(words))
            w_b = (w_a + 1 + int(u_b[i] * (len(words) - 1))) % len(words)
            text, twin = (
                OPENERS[parts["open"][i]]
                + templates[parts["t"][i]].format(
                    a=words[w_a],
                    b=words[w_b],
                    f=FILLERS[parts["f"][i]],
                    **{k: roles[k][pick[k][i]][side] for k in roles},
                )
                + EXTRA_CLAUSES[parts["extra"][i]]
                + CLOSERS[parts["close"][i]]
                for side in (g[i], 1 - g[i])
            )
            rows.setdefault(text, (int(y[i]), int(g[i]), twin))
            if len(rows) == n:
                break
    texts = list(rows)
    frame = pd.DataFrame(
        {
            "text": texts,
            "label": np.array([rows[t][0] for t in texts], dtype=np.int64),
            "group": [lexicon.name_b if rows[t][1] else lexicon.name_a for t in texts],
        }
    )
    if with_twins:
        frame["twin"] = [rows[t][2] for t in texts]
    return frame


def load(cfg: DataConfig, root: Path) -> SourceRows:
    frame = generate(get_lexicon(cfg.groups), cfg.pool_size, SEED)
    ident = {"pool_size": cfg.pool_size, "version": VERSION}
    return SourceRows(frame[["text", "label"]], ident, class_words=(POSITIVE_WORDS, NEGATIVE_WORDS))


def describe(cfg: DataConfig) -> str:
    return f"the synthetic pool ({cfg.pool_size} rows)"


register_source(Source("synthetic", load, describe))
