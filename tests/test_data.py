"""Tasks, lexicons and co-occurrence control (bias_sweep.data)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from local_http import serve

from bias_sweep.config import load_config, typed
from bias_sweep.data import TaskData, cooccurrence_sample, get_lexicon, load_task
from bias_sweep.data.lexicon import Lexicon
from bias_sweep.data.sources import synthetic
from bias_sweep.errors import UserError
from bias_sweep.schema import DataConfig, GroupsConfig

RATES = [0.0, 0.1, 0.5, 0.9, 1.0]
METHODS = ["resample", "counterfactual"]
GENDER = get_lexicon(GroupsConfig())


def data_cfg(groups: dict[str, Any] | None = None, **values: Any) -> DataConfig:
    return DataConfig(groups=GroupsConfig(**(groups or {})), **values)


def madlibs_cfg(folder: Path, **values: Any) -> DataConfig:
    # Identity terms of the madlibs that the sexuality lexicon knows: gay, lesbian, homosexual,
    # bisexual, queer (group "gay") and straight, heterosexual (group "straight"), 1,514 rows each,
    # half of them BAD: every cell has at least 1,500 rows.
    defaults = {"path": str(folder / "bias_madlibs_77k.csv"), "positive_label": "BAD"}
    return data_cfg(
        {"lexicon": "sexuality"},
        **{"source": "file", "text_column": "Text", "label_column": "Label", **defaults, **values},
    )


def wiki_cfg(folder: Path, **values: Any) -> DataConfig:
    # 1,492 Wikipedia comments; with the gender lexicon (first names included) 480 mention one
    # gender only, of which 17 are toxic and about women: too few to resample at most rates.
    defaults = {"path": str(folder / "toxicity_nonfuzzed_testset.csv"), "source": "file"}
    values = {"train_size": 80, "eval_size": 40, **defaults, **values}
    return data_cfg(text_column="comment", label_column="toxic", **values)


def check_sample(df: pd.DataFrame, n: int, rate: float, lexicon: Lexicon) -> None:
    """Exact size, balanced labels, P(A|y=1) = rate, P(A|y=0) = 1 - rate, groups match the text."""
    assert len(df) == n
    assert (df["label"] == 1).sum() == n // 2
    is_a = df["group"] == lexicon.name_a
    pos = df["label"] == 1
    assert abs(is_a[pos].mean() - rate) <= 0.01
    assert abs(is_a[~pos].mean() - (1 - rate)) <= 0.01
    assert abs(is_a.mean() - 0.5) <= 0.01
    assert [lexicon.group_of(t) for t in df["text"]] == df["group"].tolist()


def check_eval(task: TaskData) -> None:
    ev, lex = task.eval, task.lexicon
    assert list(ev.columns) == ["row_id", "text", "label", "group", "cf_text"]
    check_sample(ev, len(ev), 0.5, lex)
    assert ev["cf_text"].tolist() == [lex.swap(t) for t in ev["text"]]
    assert [lex.group_of(t) for t in ev["cf_text"]] == [lex.other(g) for g in ev["group"]]
    assert not set(task.train["text"]) & set(ev["text"])
    assert not set(task.train["text"]) & set(ev["cf_text"])
    assert not set(task.corpus) & set(ev["text"])


# --- lexicons ---------------------------------------------------------------------------------


def test_swap_keeps_case_and_whole_words() -> None:
    assert GENDER.swap("He said HIS history is his.") == "She said HER history is hers."
    assert GENDER.swap("she's here; She's there") == "he's here; He's there"
    assert GENDER.swap("Mr. Smith and mrs Jones") == "Mrs. Smith and mr Jones"
    # (Herbert, a first name, is a group term since first names are: tests/test_twins.py.)
    assert (
        GENDER.swap("mankind, hermit, shepherd, manhattan")
        == "mankind, hermit, shepherd, manhattan"
    )


def test_swap_is_one_simultaneous_pass() -> None:
    assert GENDER.swap("he and she, the man and the woman") == "she and he, the woman and the man"
    text = "The King and his SON met the queen and her daughters."
    assert GENDER.swap(GENDER.swap(text)) == text
    # "her" has two partners (him, his): its role decides (tests/test_twins.py has many more).
    assert GENDER.swap("I saw him with her") == "I saw her with him"
    assert GENDER.swap(GENDER.swap("I saw her with his dog")) == "I saw her with his dog"


def test_group_of() -> None:
    assert GENDER.group_of("He is here") == "male"
    assert GENDER.group_of("ask HER") == "female"
    assert GENDER.group_of("he and she") is None
    assert GENDER.group_of("the history of shepherds") is None
    texts = pd.Series(["he", "she", "he she", "nobody"])
    assert GENDER.group_column(texts).tolist() == ["male", "female", None, None]
    assert GENDER.swap_column(texts).tolist() == ["she", "he", "she he", "nobody"]


def test_builtin_and_custom_lexicons() -> None:
    assert len(GENDER.pairs) >= 15 and ("he", "she") in GENDER.pairs
    religion = get_lexicon(GroupsConfig(lexicon="religion"))
    assert (religion.name_a, religion.name_b) == ("muslim", "christian")
    assert religion.swap("The Mosque and the Quran") == "The Church and the Bible"
    sexuality = get_lexicon(GroupsConfig(lexicon="sexuality", name_a="lgb"))
    assert (sexuality.name_a, sexuality.name_b) == ("lgb", "straight")
    custom = get_lexicon(GroupsConfig(lexicon="custom", pairs=[["Alice", "Bob"], ["cat", "dog"]]))
    assert (custom.name_a, custom.name_b) == ("alice", "bob")
    assert custom.swap("ALICE has a Cat") == "BOB has a Dog"
    assert custom.group_of("the dog of bob") == "bob"


@pytest.mark.parametrize(
    ("groups", "match"),
    [
        (["lexicon=custom"], "data.groups.pairs"),
        (["lexicon=custom", "pairs=[[a,b],[b,c]]"], "'b' is in both groups"),
        (["lexicon=custom", "pairs=[[a,b,c]]"], "data.groups.pairs"),
        (["name_a=x", "name_b=x"], "data.groups.name_b"),
        (["lexicon=race"], "data.groups.lexicon"),
    ],
)
def test_bad_lexicons(groups: list[str], match: str) -> None:
    with pytest.raises(UserError, match=match):  # refused where the config is loaded
        load_config(None, [f"data.groups.{g}" for g in groups])


# --- synthetic task and co-occurrence control ----------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("rate", RATES)
def test_synthetic_rates(rate: float, method: str) -> None:
    task = load_task(data_cfg(rate=rate, rate_method=method), seed=0)
    check_sample(task.train, 800, rate, task.lexicon)
    assert abs(task.realised_rate - rate) <= 0.01
    assert list(task.train.columns) == ["row_id", "text", "label", "group", "swapped"]
    assert task.train["label"].dtype == np.int64
    assert len(task.eval) == 400
    check_eval(task)


def test_synthetic_task_contents() -> None:
    task = load_task(data_cfg(), seed=0)
    assert task.attribute_words == list(synthetic.POSITIVE_WORDS)
    assert task.negative_words == list(synthetic.NEGATIVE_WORDS)
    assert len(task.corpus) == 6000 - 400  # the pool without eval texts
    assert len(set(task.corpus)) == len(task.corpus)
    assert set(task.train["text"]) <= set(task.pool["text"])
    assert len(task.fingerprint) == 16
    custom = load_task(data_cfg(attribute_words=["awful"], pool_size=2000, eval_size=200), 0)
    assert custom.attribute_words == ["awful"] and custom.fingerprint != task.fingerprint
    loaded = load_task(typed(load_config(None)).data, 0)  # the data section a trial gets
    pd.testing.assert_frame_equal(loaded.train, task.train)


def test_synthetic_with_any_lexicon() -> None:
    for groups in ({"lexicon": "religion"}, {"lexicon": "custom", "pairs": [["Ann", "Bo"]]}):
        task = load_task(data_cfg(groups, pool_size=1200, train_size=200, eval_size=100), seed=0)
        check_sample(task.train, 200, 0.5, task.lexicon)
        check_eval(task)
    generated = synthetic.generate(GENDER, 300, seed=3)
    assert generated.equals(synthetic.generate(GENDER, 300, seed=3))
    assert generated["text"].is_unique and len(generated) == 300


def test_determinism() -> None:
    cfg = data_cfg(rate=0.9, rate_method="counterfactual")
    a, b, c = load_task(cfg, 0), load_task(cfg, 0), load_task(cfg, 1)
    pd.testing.assert_frame_equal(a.train, b.train)
    pd.testing.assert_frame_equal(a.eval, b.eval)
    assert not a.train["text"].equals(c.train["text"])
    other_rate = load_task(data_cfg(rate=0.1), 5)
    pd.testing.assert_frame_equal(a.eval, other_rate.eval)  # one eval set for the whole grid
    assert a.fingerprint == c.fingerprint == other_rate.fingerprint


def test_cooccurrence_sample_direct() -> None:
    pool = synthetic.generate(GENDER, 4000, seed=1)
    pool.loc[:9, "group"] = None  # rows without a single group are ignored
    for method in METHODS:
        sample, realised = cooccurrence_sample(
            pool, 0.8, 801, method, GENDER, np.random.default_rng(0)
        )
        assert (sample["label"] == 1).sum() == 400 and (sample["label"] == 0).sum() == 401
        assert realised == 320 / 400
        assert sample["group"].notna().all()
    # Keeping the pool's label shares, the whole pool can be re-skewed in place.
    everything = pool[pool["group"].notna()]
    sample, realised = cooccurrence_sample(
        everything, 0.9, len(everything), "counterfactual", GENDER, np.random.default_rng(0),
        balanced=False,
    )  # fmt: skip
    assert abs(realised - 0.9) <= 0.01 and len(sample) == len(everything)
    assert sorted(sample["label"]) == sorted(everything["label"])
    # Counterfactual: for one seed, the rows drawn do not depend on the rate, only their swaps.
    low, _ = cooccurrence_sample(pool, 0.5, 400, "counterfactual", GENDER, np.random.default_rng(3))
    high, _ = cooccurrence_sample(
        pool, 0.9, 400, "counterfactual", GENDER, np.random.default_rng(3)
    )
    assert low["label"].equals(high["label"])
    same = low["text"] == high["text"]
    assert (same == (low["group"] == high["group"])).all() and 0 < (~same).sum() < 200


def test_cooccurrence_sample_is_fast_on_large_pools() -> None:
    rng = np.random.default_rng(0)
    n = 100_000
    pool = pd.DataFrame(
        {
            "text": np.where(rng.random(n) < 0.5, "he said hi", "she said hi"),
            "label": rng.integers(0, 2, n),
        }
    )
    pool["group"] = np.where(pool["text"].str.startswith("he"), "male", "female")
    start = time.perf_counter()
    for method in METHODS:
        sample, realised = cooccurrence_sample(pool, 0.9, 20_000, method, GENDER, rng)
        assert abs(realised - 0.9) <= 0.01
    assert time.perf_counter() - start < 2


def test_small_cells_raise_clear_errors() -> None:
    pool = synthetic.generate(GENDER, 400, seed=0)
    with pytest.raises(UserError, match=r"^pool too small: need \d+ rows of group \w+ with label"):
        cooccurrence_sample(pool, 1.0, 360, "resample", GENDER, np.random.default_rng(0))
    with pytest.raises(UserError, match=r"need 250 rows with label 1, the pool has \d+; lower x"):
        cooccurrence_sample(pool, 0.5, 500, "counterfactual", GENDER, np.random.default_rng(0),
                            size_key="x")  # fmt: skip
    with pytest.raises(UserError, match="data.eval_size"):
        load_task(data_cfg(pool_size=300, eval_size=400), 0)
    with pytest.raises(UserError, match="data.train_size"):
        load_task(data_cfg(pool_size=1000, eval_size=200, train_size=2000), 0)


def test_bow_model_picks_up_the_group_shortcut() -> None:
    """The science: at rate 0.9 a bag-of-words model leans on the group, at 0.5 it cannot."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    def tpr_gap(rate: float, seed: int) -> float:
        task = load_task(data_cfg(rate=rate), seed)
        vec = CountVectorizer(token_pattern=r"(?u)\b\w+\b").fit(task.train["text"])
        model = LogisticRegression(max_iter=1000)
        model.fit(vec.transform(task.train["text"]), task.train["label"])
        ev = task.eval[task.eval["label"] == 1]
        pred = pd.Series(model.predict(vec.transform(ev["text"])), index=ev.index)
        tpr = pred.groupby(ev["group"]).mean()
        return float(tpr["male"] - tpr["female"])

    skewed = np.mean([abs(tpr_gap(0.9, s)) for s in range(2)])
    balanced = np.mean([abs(tpr_gap(0.5, s)) for s in range(2)])
    assert skewed > balanced + 0.15, (skewed, balanced)


# --- the Conversation AI files ------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("rate", RATES)
def test_madlibs_rates(conversationai_dir: Path, rate: float, method: str) -> None:
    task = load_task(madlibs_cfg(conversationai_dir, rate=rate, rate_method=method), seed=0)
    check_sample(task.train, 800, rate, task.lexicon)
    check_eval(task)


def test_madlibs_task(conversationai_dir: Path) -> None:
    from bias_sweep.caches import clear_memos

    clear_memos()
    cfg = madlibs_cfg(conversationai_dir, rate=0.9)
    start = time.perf_counter()
    task = load_task(cfg, 0)
    first = time.perf_counter() - start
    start = time.perf_counter()
    load_task(cfg, 1)
    again = time.perf_counter() - start
    assert first < 5 and again < 1, (first, again)  # parsed once per process
    for word in ("awful", "stupid", "vile"):
        assert word in task.attribute_words
    for word in ("good", "nice", "lovely"):
        assert word in task.negative_words
    terms = set(task.lexicon.terms_a + task.lexicon.terms_b)
    assert not terms & set(task.attribute_words + task.negative_words)
    assert not {"is", "a", "you"} & set(task.attribute_words)
    # The corpus keeps the rows without a group term (most of the file).
    assert len(task.corpus) > 70_000 > len(task.pool)


@pytest.mark.parametrize("rate", RATES)
def test_wikipedia_counterfactual(conversationai_dir: Path, rate: float) -> None:
    task = load_task(wiki_cfg(conversationai_dir, rate=rate, rate_method="counterfactual"), 0)
    check_sample(task.train, 80, rate, task.lexicon)
    check_eval(task)


@pytest.mark.parametrize(
    ("rate", "feasible"), [(0.0, False), (0.1, False), (0.5, True), (0.9, True), (1.0, True)]
)
def test_wikipedia_resample(conversationai_dir: Path, rate: float, feasible: bool) -> None:
    # 20 train rows: 10 toxic; the pool has 7 toxic comments about women left after eval.
    cfg = wiki_cfg(conversationai_dir, rate=rate, train_size=20)
    if feasible:
        check_sample(load_task(cfg, 0).train, 20, rate, GENDER)
    else:
        with pytest.raises(UserError) as err:
            load_task(cfg, 0)
        msg = str(err.value)
        assert "need" in msg and "of group female with label 1, the pool has 7;" in msg
        assert "data.rate_method=counterfactual" in msg and "\n" not in msg


# --- files, URLs, bad input --------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_pool() -> pd.DataFrame:
    frame = synthetic.generate(GENDER, 600, seed=7)
    return frame.rename(columns={"text": "sentence", "label": "y"})[["sentence", "y"]]


def write(frame: pd.DataFrame, path: Path) -> Path:
    name = path.name
    if name.endswith((".csv", ".csv.gz")):
        frame.to_csv(path, index=False)
    elif name.endswith(".jsonl"):
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    return path


def file_cfg(path: Path | str, **values: Any) -> DataConfig:
    defaults = {"text_column": "sentence", "label_column": "y", "train_size": 200, "eval_size": 100}
    return data_cfg(source="file", path=str(path), **{**defaults, **values})


def test_file_formats(tmp_path: Path, small_pool: pd.DataFrame) -> None:
    tasks = []
    for name in ("pool.csv", "pool.csv.gz", "pool.jsonl", "pool.parquet"):
        tasks.append(load_task(file_cfg(write(small_pool, tmp_path / name), rate=0.9), 0))
    for task in tasks:
        check_sample(task.train, 200, 0.9, GENDER)
        check_eval(task)
        pd.testing.assert_frame_equal(task.train, tasks[0].train)
        assert task.fingerprint == tasks[0].fingerprint  # same content, same pool
    assert "rude" in tasks[0].attribute_words


def test_file_labels(tmp_path: Path, small_pool: pd.DataFrame) -> None:
    frame = small_pool.assign(y=np.where(small_pool["y"] == 1, "toxic", "fine"))
    path = write(frame, tmp_path / "named.csv")
    named = load_task(file_cfg(path, positive_label="toxic"), 0)
    plain = load_task(file_cfg(write(small_pool, tmp_path / "plain.csv")), 0)
    pd.testing.assert_frame_equal(named.train, plain.train)
    flags = small_pool.assign(y=small_pool["y"] == 1)
    as_bool = load_task(file_cfg(write(flags, tmp_path / "flags.csv"), positive_label="True"), 0)
    pd.testing.assert_frame_equal(as_bool.train, plain.train)
    as_bool = load_task(file_cfg(write(flags, tmp_path / "flags.parquet")), 0)
    pd.testing.assert_frame_equal(as_bool.train, plain.train)


def test_file_edits_are_seen(tmp_path: Path, small_pool: pd.DataFrame) -> None:
    path = write(small_pool, tmp_path / "pool.csv")
    before = load_task(file_cfg(path), 0).fingerprint
    write(small_pool.iloc[:500], path)
    assert load_task(file_cfg(path), 0).fingerprint != before


def test_url_is_downloaded_once(tmp_path: Path, small_pool: pd.DataFrame) -> None:
    folder = tmp_path / "served"
    folder.mkdir()
    write(small_pool, folder / "pool.jsonl")
    with serve(folder) as base:
        _check_url(base, folder, tmp_path, small_pool)


def _check_url(base: str, folder: Path, tmp_path: Path, small_pool: pd.DataFrame) -> None:
    cache = tmp_path / "cache"
    url = f"{base}/pool.jsonl"
    task = load_task(file_cfg(url, rate=0.1), 0, cache_dir=cache)
    check_sample(task.train, 200, 0.1, GENDER)
    local = load_task(file_cfg(write(small_pool, tmp_path / "pool.jsonl"), rate=0.1), 0)
    pd.testing.assert_frame_equal(task.train, local.train)
    downloads = list((cache / "downloads").iterdir())
    assert len(downloads) == 1 and downloads[0].name.endswith("-pool.jsonl")
    (folder / "pool.jsonl").unlink()  # from now on only the cached copy exists
    assert load_task(file_cfg(url), 0, cache_dir=cache).fingerprint == task.fingerprint
    with pytest.raises(UserError, match=r"data.path: could not download '.*/missing.csv'"):
        load_task(file_cfg(f"{base}/missing.csv"), 0, cache_dir=cache)
    assert len(list((cache / "downloads").iterdir())) == 1  # no partial file left behind


def test_shared_file_over_http(conversationai_dir: Path, tmp_path: Path) -> None:
    settings = {"rate": 0.9, "rate_method": "counterfactual"}
    with serve(conversationai_dir) as base:
        url = f"{base}/toxicity_nonfuzzed_testset.csv"
        via_url = load_task(
            wiki_cfg(conversationai_dir, path=url, **settings), 0, cache_dir=tmp_path
        )
    local = load_task(wiki_cfg(conversationai_dir, **settings), 0)
    pd.testing.assert_frame_equal(via_url.train, local.train)
    assert via_url.fingerprint == local.fingerprint


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"path": "/nonexistent/x.csv"}, r"^data.path: file '/nonexistent/x.csv' not found$"),
        ({"path": "{tmp}/pool.txt"}, r"^data.path: '.*pool.txt' is not a supported file type"),
        ({"text_column": "body"}, r"^data.text_column: column 'body' not in .*pool.csv \(columns: sentence, y\)$"),
        ({"label_column": "foo"}, r"^data.label_column: column 'foo' not in .*pool.csv \(columns: sentence, y\)$"),
        ({"positive_label": "BAD"}, r"^data.positive_label: 'BAD' is not a value of column 'y' in .*pool.csv \(values: 0, 1\)$"),
        ({"path": "{tmp}/words.csv"}, r"^data.label_column: column 'y' in .*words.csv has values bad, good; set data.positive_label"),
        ({"path": "{tmp}/one.csv"}, r"^data.label_column: column 'y' in .*one.csv has one class only"),
        ({"path": "{tmp}/nogroup.csv"}, r"^data.groups: no row of .*nogroup.csv mentions exactly one group"),
        ({"path": "{tmp}/broken.parquet"}, r"^data.path: could not read '.*broken.parquet' as parquet"),
    ],
)  # fmt: skip
def test_bad_files(
    tmp_path: Path, small_pool: pd.DataFrame, change: dict[str, str], match: str
) -> None:
    write(small_pool, tmp_path / "pool.csv")
    (tmp_path / "pool.txt").write_text("sentence,y\n")
    write(
        small_pool.assign(y=np.where(small_pool["y"] == 1, "bad", "good")), tmp_path / "words.csv"
    )
    write(small_pool.assign(y=1), tmp_path / "one.csv")
    write(pd.DataFrame({"sentence": ["a cat", "a dog"], "y": [0, 1]}), tmp_path / "nogroup.csv")
    (tmp_path / "broken.parquet").write_text("not parquet")
    values = {"path": str(tmp_path / "pool.csv"), **change}
    values["path"] = values["path"].format(tmp=tmp_path)
    with pytest.raises(UserError, match=match) as err:
        load_task(file_cfg(**values), 0)
    assert "\n" not in str(err.value)


# --- hub datasets, through local files in their schema ----------------------------------------


def civil_comments_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    texts, tox = [], []
    for i in range(360):
        who = ("he", "she", "they")[i % 3]  # a third without a gender term: dropped
        toxic = i % 2 == 0
        texts.append(f"{who} was {'stupid' if toxic else 'nice'} in comment {i}")
        tox.append(rng.uniform(0.5, 1.0) if toxic else rng.uniform(0.0, 0.49))
    return pd.DataFrame({"text": texts, "toxicity": tox, "severe_toxicity": 0.0, "insult": 0.1})


def bios_frame() -> pd.DataFrame:
    rows = []
    for i in range(240):
        female = i % 2 == 0
        profession = 13 if i % 4 < 2 else 21  # nurse or professor
        pron = "She" if female else "He"
        job = "patients" if profession == 13 else "students"
        rows.append((f"{pron} cares for {job} ({i}).", profession, int(female)))
    return pd.DataFrame(rows, columns=["hard_text", "profession", "gender"])


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_hub_civil_comments_local_copy(tmp_path: Path, fmt: str) -> None:
    frame = civil_comments_frame()
    path = write(frame, tmp_path / f"civil.{fmt}")
    cfg = data_cfg(source="hub", hub_dataset="google/civil_comments", path=str(path),
                   train_size=80, eval_size=40, rate=0.9)  # fmt: skip
    task = load_task(cfg, 0, cache_dir=tmp_path / "cache")
    check_sample(task.train, 80, 0.9, GENDER)
    check_eval(task)
    expected = dict(zip(frame["text"], (frame["toxicity"] >= 0.5).astype(int), strict=True))
    assert all(expected[t] == y for t, y in zip(task.eval["text"], task.eval["label"], strict=True))
    assert len(task.corpus) == 360 - 40  # rows without a group stay in the corpus


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_hub_bias_in_bios_local_copy(tmp_path: Path, fmt: str) -> None:
    path = write(bios_frame(), tmp_path / f"bios.{fmt}")
    cfg = data_cfg(source="hub", hub_dataset="LabHC/bias_in_bios", path=str(path),
                   train_size=80, eval_size=40, rate=0.1)  # fmt: skip
    default = load_task(cfg, 0, cache_dir=tmp_path / "cache")  # positive class: nurse
    check_sample(default.train, 80, 0.1, GENDER)
    assert (default.train["label"] == default.train["text"].str.contains("patients")).all()
    for label in ("13", "nurse", "Nurse"):
        cfg.positive_label = label
        task = load_task(cfg, 0, cache_dir=tmp_path / "cache")
        pd.testing.assert_frame_equal(task.train, default.train)
    cfg.positive_label = "professor"
    professor = load_task(cfg, 0, cache_dir=tmp_path / "cache")
    assert (professor.train["label"] == professor.train["text"].str.contains("students")).all()


def test_hub_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        load_task(data_cfg(source="hub", hub_dataset="google/civil_comments"), 0)
    assert str(err.value) == (
        "data.hub_dataset: could not load 'google/civil_comments' from the Hugging Face hub "
        "(offline?); set data.path to a local copy in the same schema"
    )
    bios = write(bios_frame(), tmp_path / "bios.csv")
    cfg = data_cfg(source="hub", hub_dataset="LabHC/bias_in_bios", path=str(bios),
                   positive_label="astronaut")  # fmt: skip
    with pytest.raises(UserError, match="^data.positive_label: 'astronaut' is not a LabHC"):
        load_task(cfg, 0, cache_dir=tmp_path)
    wrong = write(civil_comments_frame(), tmp_path / "civil.csv")
    cfg = data_cfg(source="hub", hub_dataset="LabHC/bias_in_bios", path=str(wrong))
    with pytest.raises(
        UserError, match=r"^data.path: column 'hard_text' \(schema of LabHC/bias_in_bios\) not in"
    ):
        load_task(cfg, 0, cache_dir=tmp_path)
