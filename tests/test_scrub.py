"""Scrubbing (data.scrub, issue 20): no lexicon term and no listed first name is left in the
fine-tuning text, the rates and groups are those of the drawn rows, the eval set is scrubbed only
with data.scrub_eval, and the intervened model does not depend on it."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from bias_sweep.config import typed
from bias_sweep.data import load_task
from bias_sweep.data.lexicon import get_lexicon, name_pairs
from bias_sweep.data.scrub import scrub_texts
from bias_sweep.identity import intervention_key
from bias_sweep.schema import DataConfig, GroupsConfig

NAMES = {n.lower() for pair in name_pairs() for n in pair}


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def terms(lexicon) -> set[str]:  # noqa: ANN001
    return {t for pair in lexicon.pairs for t in pair}


def assert_scrubbed(texts: pd.Series, lexicon, names: bool = True) -> None:  # noqa: ANN001
    banned = terms(lexicon) | (NAMES if names else set())
    left = [(t, words(t) & banned) for t in texts if words(t) & banned]
    assert not left, left[:3]
    scans = lexicon.scan_column(texts)
    assert not (scans["has_a"] | scans["has_b"]).any()  # the lexicon finds no group either


@pytest.mark.parametrize(
    "cfg",
    [
        DataConfig(scrub="terms_and_names"),
        DataConfig(source="synthetic-professions", task="multiclass", pool_size=8000,
                   scrub="terms_and_names", skew_scale=0.5),
        DataConfig(scrub="terms_and_names", rate_method="counterfactual", rate=0.9),
    ],
    ids=["synthetic", "professions", "swapped-twins"],
)  # fmt: skip
def test_scrubbed_training_texts_hold_no_term_and_no_first_name(cfg: DataConfig) -> None:
    plain = load_task(DataConfig(**{**cfg.__dict__, "scrub": "none"}), seed=2)
    task = load_task(cfg, seed=2)
    assert_scrubbed(task.train["text"], task.lexicon)
    # The same rows, groups and labels as unscrubbed: scrubbing and the rate are separate axes.
    same = ["row_id", "label", "group", "swapped"]
    pd.testing.assert_frame_equal(task.train[same], plain.train[same])
    assert (task.train["text"] != plain.train["text"]).all()
    pd.testing.assert_frame_equal(task.eval, plain.eval)  # eval texts only with scrub_eval


def test_real_comments_with_names_are_scrubbed(conversationai_dir: Path) -> None:
    comments = pd.read_csv(conversationai_dir / "toxicity_nonfuzzed_testset.csv")["comment"]
    lexicon = get_lexicon(GroupsConfig())
    mentioning = comments[lexicon.group_column(comments.astype(str)).notna()]
    assert len(mentioning) > 400
    assert_scrubbed(scrub_texts(mentioning, lexicon, "terms_and_names"), lexicon)
    # `terms` keeps first names: a text about "Erik" still names him.
    only_terms = scrub_texts(pd.Series(["Erik said he was right"]), lexicon, "terms")
    assert only_terms.tolist() == ["Erik said was right"]


def test_scrub_eval_scrubs_the_eval_texts_and_their_twins() -> None:
    task = load_task(DataConfig(scrub="terms", scrub_eval=True), seed=0)
    lexicon = get_lexicon(GroupsConfig(first_names=False))
    assert_scrubbed(task.eval["text"], lexicon, names=False)
    assert_scrubbed(task.eval["cf_text"], lexicon, names=False)


def test_scrubbing_shares_the_intervened_model() -> None:
    keys = {intervention_key(typed({"data": {"scrub": s}})) for s in ("none", "terms")}
    assert len(keys) == 1
