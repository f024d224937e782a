"""Attribute words of a labelled pool: the words most associated with each class."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from .lexicon import Lexicon

MAX_DOCS = 100_000  # more documents barely move the top words; keeps large hub pools quick


def class_words(
    pool: pd.DataFrame, lexicon: Lexicon, k: int = 25, min_df: int = 3
) -> tuple[list[str], list[str]]:
    """Top k words of y=1 and of y=0 by smoothed log-odds (Monroe et al. 2008, informative prior).

    Counts are document frequencies (a word repeated in one comment counts once); group terms and
    English stop words are left out. The z-score ranks a frequent, moderately skewed word above a
    rare one seen only in one class.
    """
    if len(pool) > MAX_DOCS:
        pool = pool.sample(MAX_DOCS, random_state=0)
    exclude = set(ENGLISH_STOP_WORDS) | {w for t in lexicon.vocabulary for w in t.split()}
    vec = CountVectorizer(
        lowercase=True,
        token_pattern=r"(?u)\b[^\W\d_]{2,}\b",
        binary=True,
        min_df=min(min_df, max(1, len(pool) // 50)),
    )
    try:
        x = vec.fit_transform(pool["text"].astype(str))
    except ValueError:  # no word survives min_df
        return [], []
    vocab = vec.get_feature_names_out()
    y = pool["label"].to_numpy() == 1
    c1 = np.asarray(x[y].sum(axis=0)).ravel().astype(float)
    c0 = np.asarray(x[~y].sum(axis=0)).ravel().astype(float)
    prior = c1 + c0  # the pool itself is the background corpus
    a0 = prior.sum()
    n1, n0 = c1.sum(), c0.sum()
    delta = np.log((c1 + prior) / (n1 + a0 - c1 - prior)) - np.log(
        (c0 + prior) / (n0 + a0 - c0 - prior)
    )
    z = delta / np.sqrt(1 / (c1 + prior) + 1 / (c0 + prior))
    keep = np.array([w not in exclude for w in vocab])

    def ranked(score: np.ndarray) -> list[str]:
        order = np.lexsort((vocab, -score))  # by score, ties by word: stable across runs
        return [str(vocab[i]) for i in order if keep[i] and score[i] > 0][:k]

    return ranked(z), ranked(-z)
