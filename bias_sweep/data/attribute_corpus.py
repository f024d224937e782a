"""Unlabeled corpora with a chosen association between group terms and attribute words.

Used to give the tiny model its pre-training bias and by the `skew` intervention to inject one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bias_sweep.errors import UserError

from .cooccurrence import cooccurrence_sample

if TYPE_CHECKING:
    from bias_sweep.data.task import TaskData


def attribute_corpus(task: TaskData, rate: float, seed: int) -> tuple[list[str], dict[str, Any]]:
    """The task's unlabeled corpus with group A co-occurring with positive-class words at `rate`.

    Sentences of `task.corpus` that mention a group and exactly one kind of attribute word
    (positive-class words: label 1; negative-class words: label 0) form a labelled pool; the
    counterfactual method of `cooccurrence_sample` swaps group terms in place so that
    P(A | positive words) = rate and P(A | negative words) = 1 - rate. The other sentences are
    kept as they are, so only the association changes with `rate`, not the text distribution.
    Labelling by attribute words (not by task labels) keeps this a function of the task's text
    alone and targets exactly the association that `probes.intrinsic` measures.
    """
    lex = task.lexicon
    pos, neg = _word_set(task.attribute_words), _word_set(task.negative_words)
    rows, rest = [], []
    for text in task.corpus:
        group = lex.group_of(text)
        words = set(_words(text))
        has_pos, has_neg = bool(words & pos), bool(words & neg)
        if group is not None and has_pos != has_neg:
            rows.append({"text": text, "label": int(has_pos), "group": group})
        else:
            rest.append(text)
    stats: dict[str, Any] = {"attribute_rows": len(rows), "other_rows": len(rest), "rate": rate}
    if min(sum(r["label"] for r in rows), sum(1 - r["label"] for r in rows)) == 0:
        raise UserError(
            "the corpus (intervention.corpus, or the task's text) has no sentence with a group "
            "term and positive-class words only, or none with negative-class words only: cannot "
            "set the co-occurrence rate (check data.attribute_words and the lexicon)"
        )
    pool = pd.DataFrame(rows)
    # The sample has as many rows of each label: the majority label's extra rows are left out
    # (kept as they are, they would carry the corpus's own association).
    n = 2 * int(min((pool["label"] == 1).sum(), (pool["label"] == 0).sum()))
    rng = np.random.default_rng(seed)
    sample, realised = cooccurrence_sample(pool, rate, n, "counterfactual", lex, rng)
    stats.update(realised_rate=float(realised), attribute_rows_used=n)
    return list(sample["text"]) + rest, stats


def _words(text: str) -> list[str]:
    return "".join(c.lower() if c.isalnum() or c == "'" else " " for c in text).split()


def _word_set(words: list[str]) -> set[str]:
    return {w for word in words for w in _words(word)}
