"""The MLM probe and the forced masking find group terms as real tokenizers spell them.

A byte-level BPE tokenizer (RoBERTa's kind) is built here from the task's text: mid-sentence it
spells "he" as "Ġhe", a token other than the sentence-initial "he".
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from tokenizers import ByteLevelBPETokenizer
from transformers import RobertaConfig, RobertaForMaskedLM, RobertaTokenizerFast

# Modules, not names: on the code before this probe existed, each test fails on its own.
from bias_sweep import models, terms, training
from bias_sweep.probes import intrinsic


@pytest.fixture(scope="module")
def bpe(task: Any) -> RobertaTokenizerFast:
    """A RoBERTa-style tokenizer: byte-level BPE trained on 400 of the task's sentences."""
    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(
        task.corpus[:400],
        vocab_size=600,
        min_frequency=2,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        show_progress=False,
    )
    return RobertaTokenizerFast(
        tokenizer_object=trainer._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
    )


def tiny_roberta(tokenizer: Any) -> RobertaForMaskedLM:
    torch.manual_seed(0)
    config = RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=80, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    return RobertaForMaskedLM(config)


def test_the_bpe_tokenizer_has_two_forms_of_he(bpe: Any) -> None:
    assert bpe.tokenize("he said she was rude") == ["he", "Ġsaid", "Ġshe", "Ġwas", "Ġrude"]
    assert bpe.convert_tokens_to_ids("Ġhe") != bpe.convert_tokens_to_ids("he")


def test_single_token_ids_include_the_mid_sentence_bpe_token(bpe: Any, task: Any) -> None:
    ids = training.single_token_ids(bpe, ["he", "she", "him"])
    for token in ("Ġhe", "Ġshe", "Ġhim", "he"):  # mid-sentence and sentence-initial forms
        assert bpe.convert_tokens_to_ids(token) in ids, token
    # Every lexicon term that BPE keeps whole mid-sentence is found in that form.
    words = [t for pair in task.lexicon.pairs for t in pair]
    found = set(training.single_token_ids(bpe, words))
    vocab = bpe.get_vocab()
    assert {vocab[f"Ġ{t}"] for t in words if f"Ġ{t}" in vocab} <= found


def test_single_token_ids_on_wordpiece(tiny_bert: Any) -> None:
    tok = models.load_tokenizer(tiny_bert)  # lower-cases: "He" and "he" are one token
    assert training.single_token_ids(tok, ["he"]) == [tok.convert_tokens_to_ids("he")]
    assert training.single_token_ids(tok, ["grandmotherly"]) == []  # spelled with pieces


def test_probe_targets_are_the_leading_space_tokens(bpe: Any, task: Any) -> None:
    result = intrinsic.mlm_logprob_gap(tiny_roberta(bpe), bpe, task)
    targets = result["target_tokens"]
    assert targets["he/she"] == ["Ġhe", "Ġshe"]
    assert targets["him/her"] == ["Ġhim", "Ġher"] and targets["his/her"] == ["Ġhis", "Ġher"]
    assert result["pairs_scored"] == len(targets) >= 3
    assert all(a.startswith("Ġ") and b.startswith("Ġ") for a, b in targets.values())
    # The masked slot is where the term's own token was, and the target is that token.
    frame = intrinsic.probe_sentences(bpe, task)
    vocab = bpe.get_vocab()
    for row in frame.itertuples():
        a, b = task.lexicon.pairs[row.pair]
        assert (row.target_a, row.target_b) == (vocab[f"Ġ{a}"], vocab[f"Ġ{b}"])
        assert row.ids_a[row.slot_a] == bpe.mask_token_id


def test_forced_masking_finds_terms_as_written(bpe: Any, tiny_bert: Any) -> None:
    term_list = ["he", "she", "him", "his", "her", "woman", "man"]
    text = "He met the woman. Then she told him, and his sheep ran off with her shemanly hat."
    (mask,) = terms.term_masks(bpe, [text], term_list, 64)
    ids = bpe(text, truncation=True, max_length=64)["input_ids"]
    tokens = bpe.convert_ids_to_tokens(ids)
    assert len(mask) == len(tokens)
    marked = [t for t, m in zip(tokens, mask.tolist(), strict=True) if m]
    # The terms this small vocabulary keeps whole, in their mid-sentence form. Not "He" and
    # "woman" (H|e, Ġwo|man: several tokens), and no piece of another word, although
    # T|he|n, Ġshe|e|p and Ġshe|man|ly hold the ids of "he", "Ġshe" and "man".
    assert marked == ["Ġshe", "Ġhim", "Ġhis", "Ġher"]
    by_id = torch.isin(torch.tensor(ids), torch.tensor(training.single_token_ids(bpe, term_list)))
    assert int(by_id.sum()) > len(marked)  # matching ids alone would mask those pieces too
    # WordPiece that lower-cases: "He" first in a sentence is the token "he".
    tok = models.load_tokenizer(tiny_bert)
    (mask,) = terms.term_masks(tok, ["He met her, then HIM."], term_list, 64)
    tokens = tok.convert_ids_to_tokens(tok("He met her, then HIM.")["input_ids"])
    assert [t for t, m in zip(tokens, mask.tolist(), strict=True) if m] == ["he", "her", "him"]


def test_masked_lm_batches_take_ids_and_term_masks_from_one_tokenization(bpe: Any) -> None:
    """The MLM corpus is tokenized once: its ids are those fine-tuning gets, a mask for each."""
    texts = ["He met the woman.", "Then she told him, and his sheep ran off.", "x " * 80]
    words = ["he", "she", "him", "his", "her", "woman", "man"]
    ids, masks = terms.tokens_and_term_masks(bpe, texts, words, 16)
    expected = training.tokenize(bpe, texts, 16)
    assert [x.tolist() for x in ids] == [x.tolist() for x in expected]
    assert [len(m) for m in masks] == [len(x) for x in ids] and len(ids[2]) == 16  # truncated


def test_templates_put_the_group_slot_mid_sentence() -> None:
    for role, templates in intrinsic.ROLE_TEMPLATES.items():
        assert len(templates) == 4, role
        for t in templates:
            assert t.count("[MASK]") == 1 and t.count("{}") == 1, t
            assert not t.startswith("[MASK]") and " [MASK] " in t, t


def test_each_pair_is_scored_in_its_roles_templates(tiny_bert: Any, task: Any) -> None:
    tok = models.load_tokenizer(tiny_bert)
    frame = intrinsic.probe_sentences(tok, task)
    pairs = task.lexicon.pairs
    by_pair = frame.groupby("pair")["template"].agg(set)
    expected = {
        ("he", "she"): "subject",
        ("him", "her"): "object",
        ("his", "her"): "possessive",
        ("man", "woman"): "noun",
        ("male", "female"): "adjective",
    }
    for pair, role in expected.items():
        assert by_pair[pairs.index(pair)] == set(intrinsic.ROLE_TEMPLATES[role]), pair
    # Plurals, titles, reflexives and "hers" have no role: not scored.
    for pair in (("men", "women"), ("mr", "mrs"), ("himself", "herself"), ("his", "hers")):
        assert pairs.index(pair) not in by_pair.index, pair
    # 4 templates x (1 prior + the attribute words) per scored pair
    words = len(task.attribute_words) + len(task.negative_words)
    assert (frame.groupby("pair").size() == 4 * (1 + words)).all()


def test_probe_inputs_are_kept_per_tokenizer_and_task(bpe: Any, tiny_bert: Any, task: Any) -> None:
    """Each process keeps the probe's inputs (every fine-tuned model of a worker is measured with
    them): a caller's copy, per tokenizer content and task words."""
    wordpiece = models.load_tokenizer(tiny_bert)
    first = intrinsic.probe_sentences(bpe, task)
    first["target_a"] = -1  # a caller's change stays its own
    again = intrinsic.probe_sentences(bpe, task)
    assert (again["target_a"] >= 0).all() and again.equals(intrinsic._probe_sentences(bpe, task))
    other = intrinsic.probe_sentences(wordpiece, task)
    assert other.equals(intrinsic._probe_sentences(wordpiece, task))
    assert not other["target_a"].equals(again["target_a"])  # another tokenizer, other targets
    fewer = type(task)(**{**vars(task), "negative_words": task.negative_words[:1]})
    assert len(intrinsic.probe_sentences(wordpiece, fewer)) < len(other)
