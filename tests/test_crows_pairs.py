"""CrowS-Pairs: the loader (local file and URL), the batched score against the authors' one-at-a-time
algorithm, and its place in `intrinsic_bias`'s result."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
import torch

from bias_sweep import models
from bias_sweep.config import load_config
from bias_sweep.errors import UserError
from bias_sweep.probes import crows_pairs as cp
from bias_sweep.probes import intrinsic_bias

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT.parent / "shared" / "data" / "crows_pairs" / "crows_pairs_anonymized.csv"


@pytest.fixture(scope="module")
def csv() -> Path:
    """CrowS-Pairs (CC BY-SA 4.0, Nangia et al. 2020), read from ../shared/data."""
    if not CSV.is_file():
        pytest.skip(f"CrowS-Pairs not found at {CSV} (CI always has it)")
    return CSV


@pytest.fixture(scope="module")
def gender(csv: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return cp.load_crows_pairs(str(csv), tmp_path_factory.mktemp("cache"))


def test_loader_reads_a_file_and_caches_a_url(
    csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = cp.load_crows_pairs(str(csv), tmp_path)
    assert len(local) == 262 and set(local["bias_type"]) == {"gender"}
    assert local["stereo_antistereo"].value_counts().to_dict() == {"stereo": 159, "antistereo": 103}
    assert len(cp.load_crows_pairs(str(csv), tmp_path, bias_type="all")) == 1508
    # A URL (file:// here, no network) is downloaded once into <cache>/downloads ...
    url = csv.as_uri()
    assert cp.load_crows_pairs(url, tmp_path).equals(local)
    assert len(list((tmp_path / "downloads").iterdir())) == 1

    def offline(*args: Any, **kwargs: Any) -> Any:
        raise OSError("no network")

    # ... and read from there afterwards.
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert (
        cp.load_crows_pairs(url, tmp_path, bias_type="religion")["bias_type"].eq("religion").all()
    )
    with pytest.raises(UserError, match=r"^intrinsic.crows_pairs: could not download"):
        cp.load_crows_pairs("https://example.invalid/crows_pairs_anonymized.csv", tmp_path)


def test_loader_errors_name_the_key(csv: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"^intrinsic.crows_pairs: file '.*nope.csv' not found"):
        cp.load_crows_pairs(str(tmp_path / "nope.csv"), tmp_path)
    other = tmp_path / "other.csv"
    pd.DataFrame({"text": ["a"], "label": [1]}).to_csv(other, index=False)
    with pytest.raises(UserError, match="has no column 'sent_more'"):
        cp.load_crows_pairs(str(other), tmp_path)
    # An unknown bias type is refused where the config is loaded (test_config_keys).


def test_config_keys() -> None:
    conf = load_config(None, ["intrinsic.crows_pairs=" + cp.URL])
    assert conf.intrinsic.crows_pairs == cp.URL and conf.intrinsic.crows_pairs_bias_type == "gender"
    assert load_config(None).intrinsic.crows_pairs is None  # off by default: offline quickstart
    with pytest.raises(UserError, match="intrinsic.crows_pairs_bias_type"):
        load_config(None, ["intrinsic.crows_pairs_bias_type=sex"])
    with pytest.raises(UserError, match="intrinsic.crows_pairs"):
        load_config(None, ["intrinsic.crows_pairs=' '"])


@torch.inference_mode()
def authors_pll(model: Any, tokenizer: Any, sent1: str, sent2: str) -> tuple[float, float]:
    """metric.py's mask_unigram, pair by pair and token by token: the shared tokens of the two
    token id sequences (difflib), [CLS] and [SEP] (first and last) left out, each masked alone."""
    import difflib

    ids1 = tokenizer(sent1, return_tensors="pt")["input_ids"]
    ids2 = tokenizer(sent2, return_tensors="pt")["input_ids"]
    matcher = difflib.SequenceMatcher(None, ids1[0].tolist(), ids2[0].tolist())
    t1, t2 = [], []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            t1 += range(a0, a1)
            t2 += range(b0, b1)
    scores = [0.0, 0.0]
    for i in range(1, len(t1) - 1):
        for k, (ids, t) in enumerate(((ids1, t1), (ids2, t2))):
            masked = ids.clone()
            masked[0, t[i]] = tokenizer.mask_token_id
            logp = model(input_ids=masked).logits[0, t[i]].log_softmax(-1)
            scores[k] += float(logp[ids[0, t[i]]])
    return scores[0], scores[1]


def test_batched_scores_equal_the_authors_algorithm(tiny_bert: Path, gender: pd.DataFrame) -> None:
    model, tok = models.load_masked_lm(tiny_bert).eval(), models.load_tokenizer(tiny_bert)
    pairs = gender.iloc[:5]
    got = cp.pair_scores(model, tok, pairs, "cpu")
    for row in got.itertuples():
        want = authors_pll(model, tok, row.sent_more, row.sent_less)
        assert (row.more_pll, row.less_pll) == pytest.approx(want, abs=1e-3)
    # The score counts pairs where sent_more is higher, whatever the direction; swapping the
    # sentences of every pair gives 100 minus the score (no ties here).
    result = cp.crows_pairs_score(model, tok, pairs, "cpu")
    swapped = pairs.rename(columns={"sent_more": "sent_less", "sent_less": "sent_more"})
    assert result["n_ties"] == 0 and result["n_pairs"] == 5
    assert cp.crows_pairs_score(model, tok, swapped, "cpu")["score"] == pytest.approx(
        100 - result["score"]
    )
    assert result["score"] == pytest.approx(100 * (got["more_pll"] > got["less_pll"]).mean())


def test_intrinsic_bias_carries_each_kind(tiny_bert: Path, task: Any, gender: pd.DataFrame) -> None:
    plain = intrinsic_bias(tiny_bert, task)
    assert plain["kind"] == "mlm_logprob_gap" and plain["crows_pairs"] is None
    assert set(plain["measures"]) == {"mlm_logprob_gap", "seat_effect_size"}
    assert plain["measures"]["mlm_logprob_gap"] == plain["value"]
    with_crows = intrinsic_bias(tiny_bert, task, crows_pairs=gender)
    crows = with_crows["crows_pairs"]
    assert crows["kind"] == "crows_pairs_score" and crows["n_pairs"] == 262
    assert crows["n_stereo"] + crows["n_antistereo"] == 262 and 0 <= crows["score"] <= 100
    assert with_crows["measures"]["crows_pairs_score"] == crows["score"]
    assert with_crows["value"] == plain["value"]  # the headline kind is unchanged by it


@pytest.mark.slow
def test_minilm_has_no_mlm_head_so_seat_and_no_crows_pairs(task: Any, gender: pd.DataFrame) -> None:
    result = intrinsic_bias(models.minilm_dir(), task, crows_pairs=gender)
    assert result["kind"] == "seat_effect_size" and result["crows_pairs"] is None
    assert result["measures"] == {"seat_effect_size": result["value"]}


def _normalised(text: str) -> str:
    return " ".join(text.lower().replace(".", " ").split())


@pytest.mark.slow  # ~2 min on one core: three seeds of a 300-step build, two CDA builds, 3 scores
def test_crows_pairs_sees_a_learned_bias_and_cda_moves_it_toward_50(
    gender: pd.DataFrame, tmp_path: Path
) -> None:
    """Issue 14: on a tiny biased model and its CDA version, the gender score moves toward 50, and
    the augmentation is what moves it: CDA at s = 1 ends nearer 50 than its s = 0 control (the same
    continued pre-training, no twins).

    The built-in tiny model cannot show it (probes.crows_pairs docstring: it knows no CrowS-Pairs
    words and scores 49.6, 52.3 after CDA). So this builds a tiny BERT with the built-in recipe
    (`pretrain_tiny_bert`) whose tokenizer and MLM corpus are CrowS-Pairs' own `sent_more`
    sentences: the stereotype is then in the model as P(context | group term) (no always-masked
    group terms in this pre-training, else it learns only the slot CrowS never scores). CDA is
    the intervention jobs' own code (`apply_intervention`, default 150 steps; lr 1e-3, since this
    base was trained at 2e-3; at the default 1e-4, 150 steps barely move it: 67.9/74.1 at s = 0,
    66.7/74.1 at s = 1 for seeds 0/1) with `term_mask_prob` 0.15, BERT's own masking rate.

    Stated plainly: the score is measured on the SAME sentences the model was trained on. Held
    out, nothing carries over (seen: 46-54 on a held-out half of all 262 pairs, seed 0, four
    variants). And only on the 81 gender pairs whose `sent_less` is the lexicon's twin of
    `sent_more` (up to case and periods): only there does CDA put the counterpart into the corpus;
    the others swap names of other ranks or other words ("Women don't know how to drive." / "Men
    know how to drive."), which no lexicon swap yields.

    Measured (seeds 0-6): base 69.1, 74.1, 76.5, 82.7, 72.8, 70.4, 72.8; s = 0 control 76.5, 84.0,
    86.4, 85.2, 77.8, 69.1, 81.5 (more training on the biased corpus: away from 50 in 6 of 7);
    CDA 63.0, 65.4, 72.8, 66.7, 63.0, 56.8, 60.5 (the distance to 50 shrinks by 6.1, 8.7, 3.7,
    16.0, 9.8, 13.6, 12.3 from the base, and is 12.3-21.0 below the control's). Asserted on seeds
    0-2: every base >= 60 (the metric sees a learned bias), every seed's CDA nearer 50 than its
    base and than its control, mean shrinkage >= 3.

    With `term_mask_prob` 1 (the default: group terms always masked, which trains the slot the
    probe reads) this fails: a text and its twin are then the same masked input, and the control
    moves the score as far as CDA or further (seeds 0-2: control 32.1, 50.6, 43.2; CDA 56.8,
    69.1, 63.0). At 0.5 it is mixed (control 50.6, 71.6, 67.9; CDA 55.6, 64.2, 69.1).
    """

    from bias_sweep.config import typed
    from bias_sweep.data.lexicon import get_lexicon
    from bias_sweep.interventions import apply_intervention
    from bias_sweep.models.tiny import pretrain_tiny_bert
    from bias_sweep.schema import DataConfig

    lex = get_lexicon(DataConfig().groups)
    twin = [
        _normalised(lex.swap(m)) == _normalised(s)
        for m, s in zip(gender.sent_more, gender.sent_less, strict=True)
    ]
    pairs = gender[twin].reset_index(drop=True)
    assert len(pairs) == 81
    texts = list(pairs["sent_more"])
    terms = [t for pair in lex.pairs for t in pair]
    sentences = texts + list(pairs["sent_less"])
    words = {w for t in sentences for w in re.findall(r"[a-z]+", t.lower())}
    names = sorted(words & lex.vocabulary - set(terms))  # first names: the lexicon's other words
    male = [w for w in names if lex.group_of(w) == lex.name_a]
    female = [w for w in names if lex.group_of(w) == lex.name_b]
    settings = {"method": "cda", "lr": 1e-3, "term_mask_prob": 0.15}
    task = SimpleNamespace(corpus=texts, lexicon=lex)  # what cda reads: no tiny-bert info file
    scores = []
    for seed in (0, 1, 2):
        model, tok, _ = pretrain_tiny_bert(
            texts,
            texts,
            must_have=terms + male + female,
            concepts=[(list(lex.terms_a) + male, list(lex.terms_b) + female)],
            focus_terms=[],
            steps=300,
            seed=seed,
        )
        base = tmp_path / f"base-{seed}"
        model.save_pretrained(base)
        tok.save_pretrained(base)
        built = {}
        for strength in (0.0, 1.0):
            built[strength] = tmp_path / f"cda-{seed}-{strength}"
            icfg = typed({"intervention": {**settings, "strength": strength, "seed": seed}})
            info = apply_intervention(icfg.intervention, base, task, built[strength])
            assert info["mlm_focus_prob"] == 0.15
        assert info["twins"] == len(texts)
        scores.append(
            [
                cp.crows_pairs_score(
                    models.load_masked_lm(d), models.load_tokenizer(d), pairs, "cpu"
                )["score"]
                for d in (base, built[0.0], built[1.0])
            ]
        )
    print("crows-pairs base, s = 0 control, cda s = 1 per seed:", scores)
    distance = [[abs(x - 50) for x in seed_scores] for seed_scores in scores]
    assert all(b >= 60 for b, _, _ in scores), scores
    assert all(cda < min(b, control) for b, control, cda in distance), scores
    assert sum(b - cda for b, _, cda in distance) / len(distance) >= 3, scores
