"""CrowS-Pairs: the loader (local file and URL), the batched score against the authors' one-at-a-time
algorithm, and its place in `intrinsic_bias`'s result."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from bias_sweep import models
from bias_sweep.config import load_config
from bias_sweep.errors import UserError
from bias_sweep.metrics import crows_pairs as cp
from bias_sweep.metrics.intrinsic import intrinsic_bias

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
    with pytest.raises(UserError, match="intrinsic.crows_pairs_bias_type: 'sex' is not one of"):
        cp.load_crows_pairs(str(csv), tmp_path, bias_type="sex")


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
