"""Counterfactual twins and group detection (bias_sweep.data.lexicon: twins, pronoun_roles,
ambiguous_terms, first_names)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bias_sweep.config import load_config
from bias_sweep.data import group_counts, load_task, pool_group_counts
from bias_sweep.data.lexicon import get_lexicon, name_pairs
from bias_sweep.data.sources import synthetic
from bias_sweep.errors import UserError
from bias_sweep.schema import DataConfig, GroupsConfig

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
GENDER = get_lexicon(GroupsConfig())
SEXUALITY = get_lexicon(GroupsConfig(lexicon="sexuality"))
RELIGION = get_lexicon(GroupsConfig(lexicon="religion"))
PRONOUN_PAIRS = {("he", "she"), ("him", "her"), ("his", "her"), ("his", "hers")}
PRONOUN_PAIRS |= {("himself", "herself")} | {(b, a) for a, b in PRONOUN_PAIRS}


def shared(folder: str, name: str) -> Path:
    path = SHARED / folder / name
    if not path.exists():
        pytest.skip(f"{folder} data not found at {path} (CI always has it)")
    return path


def tokens(text: str) -> list[str]:
    return re.findall(r"[\w']+|[^\w\s]", text)


# --- acceptance on Winogender and WinoBias -------------------------------------------------------


def test_winogender_twins_are_the_counterparts() -> None:
    """Each template's male and female sentences differ only in the pronoun: each must be the
    other's twin (>= 99% of the 480 gendered sentences; the misses are named)."""
    df = pd.read_csv(shared("winogender", "all_sentences.tsv"), sep="\t")
    df["template"] = df["sentid"].str.rsplit(".", n=2).str[0]
    df["gender"] = df["sentid"].str.rsplit(".", n=2).str[1]
    wide = df.pivot(index="template", columns="gender", values="sentence")
    sentences = [(a, b) for m, f in zip(wide["male"], wide["female"], strict=True)
                 for a, b in ((m, f), (f, m))]  # fmt: skip
    misses = [
        f"{a!r} -> {GENDER.swap(a)!r} (want {b!r})" for a, b in sentences if GENDER.swap(a) != b
    ]
    assert len(sentences) == 480
    assert len(misses) <= 0.01 * len(sentences), "\n".join(misses)
    assert not misses, "\n".join(misses)  # today: all 480 (was 472 with her -> his)


def winobias_pairs() -> tuple[list[tuple[str, str, list[int]]], int]:
    """Line-matched pro/anti sentences (number and brackets stripped) that differ only in
    pronouns, with the differing token positions; and how many line pairs differ otherwise."""
    pairs, unclean = [], 0
    folder = shared("winobias", "pro_stereotyped_type1.txt.dev").parent
    for pro in sorted(folder.glob("pro_stereotyped_*")):
        anti = pro.with_name(pro.name.replace("pro_", "anti_"))
        for a, b in zip(pro.read_text().splitlines(), anti.read_text().splitlines(), strict=True):
            a, b = (re.sub(r"[\[\]]", "", line.split(" ", 1)[1]).strip() for line in (a, b))
            ta, tb = tokens(a), tokens(b)
            diff = [i for i, (x, y) in enumerate(zip(ta, tb, strict=False)) if x != y]
            pronouns_only = all((ta[i].lower(), tb[i].lower()) in PRONOUN_PAIRS for i in diff)
            if len(ta) != len(tb) or not diff or not pronouns_only:
                unclean += 1  # typos, other rewordings ("a desk" / "one"), "he" vs "her"
                continue
            pairs.append((a, b, diff))
    return pairs, unclean


def test_winobias_twins_match_the_counterparts() -> None:
    """Line N of pro_* and anti_* swap the pronoun only (the data leaves nouns such as "man" or
    "mom" as they are): the twin's pronouns must be the counterpart's, in >= 99% of sentences."""
    pairs, unclean = winobias_pairs()
    assert len(pairs) >= 0.95 * (len(pairs) + unclean), unclean  # few pairs are no counterparts
    misses = []
    for a, b, diff in pairs:
        for x, y in ((a, b), (b, a)):
            twin, want = tokens(GENDER.swap(x)), tokens(y)
            if len(twin) != len(want) or any(twin[i] != want[i] for i in diff):
                misses.append(f"{x!r} -> {GENDER.swap(x)!r} (want {y!r})")
    total = 2 * len(pairs)
    assert len(misses) <= 0.01 * total, f"{len(misses)} of {total}:\n" + "\n".join(misses)
    # Today 4 of 3,128, all "her" with a noun after a verb that takes one or two objects
    # ("sell her bread", "showed her identification"), where the data itself goes both ways.
    assert len(misses) <= 6, "\n".join(misses)


# --- handwritten sentences ---------------------------------------------------------------------

# (male, female): each is the other's twin.
BOTH_WAYS = [
    # object her
    ("The situation makes him feel angry.", "The situation makes her feel angry."),
    ("I met him yesterday.", "I met her yesterday."),
    ("We saw him at the party, he was rude.", "We saw her at the party, she was rude."),
    ("Give it to him.", "Give it to her."),
    ("I told him that he was late.", "I told her that she was late."),
    ("Ask him to leave.", "Ask her to leave."),
    ("They let him enter the building.", "They let her enter the building."),
    ("Keep him safe.", "Keep her safe."),
    ("Nobody believed him.", "Nobody believed her."),
    ("The boss gave him a raise.", "The boss gave her a raise."),
    ("She thanked him for the help.", "He thanked her for the help."),
    ("I called him twice.", "I called her twice."),
    ("We watched him cry.", "We watched her cry."),
    ("The news made him very happy.", "The news made her very happy."),
    ("I gave him flowers.", "I gave her flowers."),
    ("Tell him about the plan.", "Tell her about the plan."),
    ("Don't bother him!", "Don't bother her!"),
    ("Pay him back tomorrow.", "Pay her back tomorrow."),
    ("I love him so much.", "I love her so much."),
    ("I saw him last week.", "I saw her last week."),
    ("The dog followed him home.", "The dog followed her home."),
    ("We found him sleeping on the couch.", "We found her sleeping on the couch."),
    ("Everyone likes him.", "Everyone likes her."),
    ("I wished him luck.", "I wished her luck."),
    ("She proved him wrong.", "He proved her wrong."),
    ("I miss him.", "I miss her."),
    ("Call him or his brother.", "Call her or her sister."),
    # possessive her
    ("His car is red.", "Her car is red."),
    ("He lost his keys.", "She lost her keys."),
    ("Help him find his keys.", "Help her find her keys."),
    ("I admire his courage.", "I admire her courage."),
    ("He did it on his own.", "She did it on her own."),
    ("He loves his wife.", "She loves her husband."),
    ("His very best friend came.", "Her very best friend came."),
    ("She watched his every move.", "He watched her every move."),
    ("He sold his house.", "She sold her house."),
    ("He spent his last year in Paris.", "She spent her last year in Paris."),
    ("In his last year he moved.", "In her last year she moved."),
    ("He took his time.", "She took her time."),
    ("I met his mother.", "I met her father."),
    ("The teacher praised his work.", "The teacher praised her work."),
    ("He watched his son play.", "She watched her daughter play."),
    ("That is his opinion.", "That is her opinion."),
    ("He hurt his back.", "She hurt her back."),
    ("He made his way home.", "She made her way home."),
    ("He gave his life for the country.", "She gave her life for the country."),
    ("He has his right to vote.", "She has her right to vote."),
    ("His only son left.", "Her only daughter left."),
    ("It is his/her choice.", "It is her/his choice."),
    # his and hers on their own
    ("The book is his.", "The book is hers."),
    ("Is this his?", "Is this hers?"),
    ("A friend of his came over.", "A friend of hers came over."),
    ("His was the best.", "Hers was the best."),
    ("The choice was his to make.", "The choice was hers to make."),
    ("Mine is bigger than his.", "Mine is bigger than hers."),
    # himself, herself
    ("He hurt himself.", "She hurt herself."),
    ("He did it by himself, again.", "She did it by herself, again."),
    # first names: the name of the same rank of the other sex, the same twin everywhere
    ("John said he was tired.", "Patricia said she was tired."),
    ("I think Michael is right.", "I think Barbara is right."),
    ("David met David's brother.", "Jennifer met Jennifer's sister."),
    ("JOHN IS LATE", "PATRICIA IS LATE"),
    ("john is late lol", "patricia is late lol"),
    ("James met Mary.", "Mary met James."),
    # titles and gendered nouns; a surname after a title stays
    ("Mr. Thomas is here.", "Mrs. Thomas is here."),
    ("Mr. Smith is my uncle.", "Mrs. Smith is my aunt."),
    ("The actor thanked the waiter.", "The actress thanked the waitress."),
    ("The chairman and the spokesman spoke.", "The chairwoman and the spokeswoman spoke."),
    ("Two policemen arrived.", "Two policewomen arrived."),
    ("My grandfather and his brothers.", "My grandmother and her sisters."),
    ("The king and his sons.", "The queen and her daughters."),
    ("He is a businessman.", "She is a businesswoman."),
    ("The boys met the girls.", "The girls met the boys."),
    # case and punctuation
    ("HE SAID HIS NAME.", "SHE SAID HER NAME."),
    ("Him? No way.", "Her? No way."),
    ("Him, of all people!", "Her, of all people!"),
    ('"He\'s here," she said.', '"She\'s here," he said.'),
    ("He said: his car, his rules.", "She said: her car, her rules."),
]
ONE_WAY = [
    ("Ms. Jones is here.", "Mr. Jones is here."),
    ("Miss Smith left.", "Mr Smith left."),
    ("His and her towels.", "Her and his towels."),
    ("The idea was hers, not his.", "The idea was his, not hers."),
    ("Stephen King wrote it.", "Rebecca King wrote it."),  # "King" is a surname here
]


def test_handwritten_sentences() -> None:
    cases = [(m, f) for m, f in BOTH_WAYS] + [(f, m) for m, f in BOTH_WAYS] + ONE_WAY
    assert len(cases) >= 60
    misses = [f"{x!r} -> {GENDER.swap(x)!r} (want {y!r})" for x, y in cases if GENDER.swap(x) != y]
    assert not misses, "\n".join(misses)


@pytest.mark.parametrize(
    ("lexicon", "text", "group"),
    [
        (GENDER, "Amanda feels angry", "female"),
        (GENDER, "Oh man, that was close.", None),
        (GENDER, "Man, this sucks", None),
        (GENDER, "The man was rude.", "male"),
        (GENDER, "I miss you", None),
        (GENDER, "Miss Smith is late", "female"),
        (GENDER, "Mr. Thomas and Mrs. Thomas", None),  # both groups
        (GENDER, "Mrs. Thomas is late", "female"),  # Thomas is her surname here
        (GENDER, "Stephen King is a writer", "male"),  # Stephen counts, King does not
        (GENDER, "Will may grant Mark a bill", None),  # names that are words are no names
        (SEXUALITY, "a straight line", None),
        (SEXUALITY, "go straight home", None),
        (SEXUALITY, "straight people are fine", "straight"),
        (SEXUALITY, "gay or straight, who cares", None),
        (SEXUALITY, "I am straight.", "straight"),
        (SEXUALITY, "Being straight is fun.", "straight"),
        (SEXUALITY, "Joe is a happy straight", "straight"),
        (SEXUALITY, "the queer community", "gay"),
        (RELIGION, "I lent him money", None),
        (RELIGION, "during Lent we fast", "christian"),
        (RELIGION, "we gave it up for Lent.", "christian"),
        (RELIGION, "my EID card", None),
        (RELIGION, "Eid was fun", "muslim"),
    ],
)  # fmt: skip
def test_group_detection(lexicon: Any, text: str, group: str | None) -> None:
    assert lexicon.group_of(text) == group


def test_ambiguous_terms_are_not_swapped_where_they_are_no_group_terms() -> None:
    assert RELIGION.swap("I lent him money during Lent.") == "I lent him money during Ramadan."
    assert SEXUALITY.swap("a straight line and a gay bar") == "a straight line and a straight bar"
    assert GENDER.swap("oh man, he left") == "oh man, she left"


def test_name_list() -> None:
    pairs = name_pairs()
    assert len(pairs) == 500 and pairs[0] == ("James", "Mary")
    male, female = {m.lower() for m, _ in pairs}, {f.lower() for _, f in pairs}
    assert not male & female and len(male) == len(female) == 500
    words = {"will", "may", "june", "grant", "mark", "bill", "rose", "joy", "hope", "faith"}
    assert not (male | female) & (words | {"dawn", "ray", "sue", "pat", "guy"})
    header = (
        (ROOT / "bias_sweep" / "data" / "lexicon" / "first_names.tsv")
        .read_text()
        .split("rank\t")[0]
    )
    assert "public domain" in header and "MIT" in header and "derive_first_names.py" in header
    # Names are on for the gender lexicon only, and can be switched off.
    no_names = get_lexicon(GroupsConfig(first_names=False))
    assert no_names.group_of("Amanda feels angry") is None
    assert no_names.describe() != GENDER.describe()
    assert get_lexicon(GroupsConfig(lexicon="religion")).group_of("Amanda") is None


def test_group_counts() -> None:
    texts = pd.Series(["he is here", "she is here", "he and she", "nobody", "Amanda left"])
    assert group_counts(texts, GENDER) == {
        "rows": 5, "a": 1, "b": 2, "both": 1, "neither": 1, "kept_share": 3 / 5,
    }  # fmt: skip


# --- the synthetic quickstart task: no broken twin -------------------------------------------


def broken_twins(texts: pd.Series, twins: pd.Series, groups: pd.Series, truth: pd.Series) -> list:
    """A twin is broken when it is not the sentence the generator wrote for the other group
    (`truth`), its group is not the other group, it does not swap back to the text, or it has an
    ungrammatical pronoun form (a possessive before a verb or an adverb, an object before a
    noun of the templates)."""
    bad_form = re.compile(
        r"\b(?:makes|made|met|saw|told) (?:his|hers)\b|\bhis (?:feel|was|is|yesterday|at|on|in)\b"
        r"|\bhim (?:day|notes)\b"
    )
    out = []
    for text, twin, group, want in zip(texts, twins, groups, truth, strict=True):
        problems = [
            name
            for name, bad in (
                ("not the generator's twin", twin != want),
                ("wrong group", GENDER.group_of(twin) != GENDER.other(group)),
                ("does not swap back", GENDER.swap(twin) != text),
                ("ungrammatical", bool(bad_form.search(twin))),
            )
            if bad
        ]
        if problems:
            out.append((text, twin, problems))
    return out


@pytest.mark.parametrize("sizes", [{}, {"pool_size": 6000, "train_size": 800, "eval_size": 400}])
def test_synthetic_quickstart_has_no_broken_twin(sizes: dict[str, int]) -> None:
    cfg = DataConfig(**sizes)  # the quickstart sweep's sizes (today the defaults)
    task = load_task(cfg, seed=0)
    pool = synthetic.generate(task.lexicon, int(cfg.pool_size), 0, with_twins=True)
    truth = dict(zip(pool["text"], pool["twin"], strict=True))
    ev = task.eval
    assert set(ev["text"]) <= set(truth)  # real rows only: no swapped fill-ins
    broken = broken_twins(ev["text"], ev["cf_text"], ev["group"], ev["text"].map(truth))
    assert not broken, broken[:10]  # was 37 of 400 (all female rows) with her -> his
    everything = broken_twins(
        pool["text"], GENDER.swap_column(pool["text"]), pool["group"], pool["twin"]
    )
    assert not everything, everything[:10]
    with_pronouns = pool["text"].str.contains(r"\bher\b")
    assert with_pronouns.sum() > 100  # the rule is exercised: object and possessive her
    assert task.group_counts == pool_group_counts(cfg)
    assert task.group_counts["kept"] == task.group_counts["rows"] == int(cfg.pool_size)


# --- real text: group counts and twins on the Conversation AI files --------------------------


def file_cfg(path: Path, text: str, label: str, lexicon: str, **values: Any) -> DataConfig:
    cfg = DataConfig()
    cfg.source, cfg.path, cfg.text_column, cfg.label_column = "file", str(path), text, label
    cfg.groups.lexicon = lexicon
    cfg.train_size, cfg.eval_size = 20, 20
    for key, value in values.items():
        setattr(cfg, key, value)
    return cfg


def test_group_counts_on_the_wikipedia_comments(conversationai_dir: Path) -> None:
    path = conversationai_dir / "toxicity_nonfuzzed_testset.csv"
    task = load_task(file_cfg(path, "comment", "toxic", "gender"), 0)
    counts = task.group_counts
    assert counts == pool_group_counts(file_cfg(path, "comment", "toxic", "gender", eval_size=400))
    assert counts["group_from"] == "lexicon" and counts["rows"] == 1492
    assert counts["a"] + counts["b"] + counts["both"] + counts["neither"] == 1492
    assert counts["kept"] == counts["a"] + counts["b"] == len(task.pool) + len(task.eval)
    assert counts["both"] > 50 and abs(counts["kept_share"] - counts["kept"] / 1492) < 1e-12
    # Twins of real comments: nearly all of the other group and swapping back.
    texts = pd.concat([task.pool["text"], task.eval["text"]])
    twins = GENDER.swap_column(texts)
    back = GENDER.swap_column(twins)
    groups = GENDER.group_column(texts).map({"male": "female", "female": "male"})
    holds = (GENDER.group_column(twins) == groups) & (back == texts)
    assert holds.mean() >= 0.98, texts[~holds].head(10).tolist()


def test_madlibs_sexuality_counts_only_identity_straight(conversationai_dir: Path) -> None:
    path = conversationai_dir / "bias_madlibs_77k.csv"
    task = load_task(file_cfg(path, "Text", "Label", "sexuality", positive_label="BAD"), 0)
    counts = task.group_counts
    # Every madlibs "straight" (1,514 rows) and "heterosexual" (1,514) is about people: the gate
    # keeps them all, while "a straight line" would not count (test_group_detection).
    assert (counts["a"], counts["b"], counts["both"], counts["kept"]) == (7570, 3028, 0, 10598)


# --- gold group columns ------------------------------------------------------------------------


def bios_frame(n: int = 240) -> pd.DataFrame:
    rows = []
    for i in range(n):
        female = i % 2 == 0
        job = 13 if i % 4 < 2 else 21  # nurse or professor
        if female:
            text = f"She is married to her husband and works as a {'nurse' if job == 13 else 'professor'} ({i})."
        else:
            text = f"He cares for his {'patients' if job == 13 else 'students'} ({i})."
        rows.append((text, job, int(female)))
    rows.append(("Works as a nurse, no pronoun (x).", 13, 1))  # no twin: dropped, counted
    return pd.DataFrame(rows, columns=["hard_text", "profession", "gender"])


def test_bias_in_bios_uses_its_gender_column(tmp_path: Path) -> None:
    path = tmp_path / "bios.csv"
    bios_frame().to_csv(path, index=False)
    cfg = DataConfig()
    cfg.source, cfg.hub_dataset, cfg.path = "hub", "LabHC/bias_in_bios", str(path)
    cfg.train_size, cfg.eval_size, cfg.rate = 80, 40, 0.5
    task = load_task(cfg, 0, cache_dir=tmp_path / "cache")
    counts = task.group_counts
    assert counts["group_from"] == "column gender"
    assert (counts["a"], counts["b"], counts["no_twin"]) == (120, 121, 1)
    # Female bios mention "husband" too: the lexicon alone would drop them (both groups).
    assert counts["lexicon_agreement"] == 1.0 and counts["kept"] == 240
    female = task.eval[task.eval["group"] == "female"]
    assert len(female) == 20 and female["text"].str.contains("husband").all()
    assert female["cf_text"].str.startswith("He is married to his wife").all()


def test_file_group_column(tmp_path: Path) -> None:
    frame = bios_frame().rename(columns={"hard_text": "text"})
    frame["label"] = (frame["profession"] == 13).astype(int)
    frame["sex"] = np.where(frame["gender"] == 1, "F", "M")
    path = tmp_path / "bios.parquet"
    frame.to_parquet(path)
    cfg = file_cfg(path, "text", "label", "gender", train_size=80, eval_size=40)
    cfg.group_column, cfg.group_values = "sex", {"a": "M", "b": "F"}
    counts = load_task(cfg, 0).group_counts
    assert counts["group_from"] == "column sex" and counts["kept"] == 240
    cfg.group_values = {"a": "male", "b": "female"}
    with pytest.raises(UserError, match=r"^data.group_values: column 'sex' needs values"):
        load_task(cfg, 0)
    cfg.group_column, cfg.group_values = "nope", None
    with pytest.raises(UserError, match=r"^data.group_column: column 'nope' not in"):
        load_task(cfg, 0)


# --- speed -------------------------------------------------------------------------------------


def test_swap_is_fast_on_large_pools() -> None:
    texts = synthetic.generate(GENDER, 20_000, seed=1)["text"]
    texts = pd.concat([texts] * 5, ignore_index=True)  # 1e5 short comments
    start = time.process_time()
    scans = GENDER.scan_column(texts)
    cpu = time.process_time() - start
    assert len(scans) == 100_000 and (scans["cf_text"] != scans["text"]).all()
    assert cpu < 10, cpu  # measured: about 2 s of CPU on the CI machine


def test_group_column_config() -> None:
    base = ["data.source=file", "data.path=bios.csv", "data.group_column=sex"]
    conf = load_config(None, [*base, "data.group_values={a: M, b: F}"])
    assert dict(conf.data.group_values) == {"a": "M", "b": "F"}
    assert load_config(None, ["data.groups.first_names=false"]).data.groups.first_names is False
    with pytest.raises(UserError, match=r"^key 'data.group_values': .* expected \{a: value"):
        load_config(None, [*base, "data.group_values={a: M}"])
    with pytest.raises(UserError, match=r"^key 'data.group_column': .* expected the column"):
        load_config(None, ["data.source=file", "data.path=x.csv", "data.group_values={a: M, b: F}"])
