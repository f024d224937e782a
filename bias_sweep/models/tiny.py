"""The tiny offline model: a WordPiece tokenizer and a 2-layer BERT briefly pre-trained with MLM
on the task's own text, with a built-in bias for interventions to act on (as real pre-trained
models carry one). Built once per task and settings, cached under `<cache_dir>/models/`.
"""

from __future__ import annotations

import json
import string
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers import models as token_models
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertTokenizerFast,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from bias_sweep.data.attribute_corpus import attribute_corpus
from bias_sweep.hashing import stable_hash
from bias_sweep.schema import ModelConfig
from bias_sweep.store import ArtifactStore
from bias_sweep.training import single_token_ids, train_mlm

if TYPE_CHECKING:
    from bias_sweep.data.task import TaskData

TINY_BERT = "tiny-bert"
# Bump when the tiny model's recipe changes: cached models built by older code are then rebuilt.
TINY_BERT_VERSION = 3
# The tiny model is one shared upstream artifact (like a real pre-trained checkpoint), so its
# seed is fixed rather than taken from the trial.
TINY_BERT_SEED = 0
TINY_VOCAB_SIZE = 3000
TINY_INFO_FILE = "bias_sweep_model.json"  # how a tiny-bert folder was built


def tiny_bert_key(model_cfg: ModelConfig, task: TaskData) -> str:
    return stable_hash(
        {
            "task": task.fingerprint,
            "pretrain_steps": model_cfg.pretrain_steps,
            "pretrain_rate": model_cfg.pretrain_rate,
            "seed": TINY_BERT_SEED,
            "version": TINY_BERT_VERSION,
        }
    )


def tiny_bert_dir(model_cfg: ModelConfig, task: TaskData, cache_dir: Path) -> Path:
    """Build (once per key, in the cache's store of models) or reuse the tiny BERT of this task."""
    store = ArtifactStore(cache_dir / "models")
    key = f"{TINY_BERT}-{tiny_bert_key(model_cfg, task)}"
    return store.get_or_build(key, lambda tmp: build_tiny_bert(model_cfg, task, tmp))[0]


def train_tokenizer(texts: list[str], must_have: list[str], vocab_size: int) -> BertTokenizerFast:
    """A lower-casing WordPiece tokenizer for `texts`: the most frequent words (count >= 2, ties
    broken alphabetically) and the words of `must_have` are whole tokens; any other word is
    spelled with character pieces.

    The vocabulary is counted here rather than by `tokenizers`' WordPiece trainer, whose merges
    break ties differently from run to run (seen: four builds, four vocabularies), and the tiny
    model must be the same on every node. Group terms and attribute words are whole tokens so
    that the MLM probe can score them.
    """
    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()

    def words(text: str) -> list[str]:
        return [w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text))]

    counts = Counter(w for text in texts for w in words(text))
    # Every character seen, and the usual ones: then only characters never seen become [UNK].
    usual = set(string.ascii_lowercase + string.digits + string.punctuation)
    chars = sorted({c for w in counts for c in w} | {c for t in must_have for c in t} | usual)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars)]
    vocab += sorted({w for t in must_have for w in words(t)} - set(vocab))
    known = set(vocab)
    frequent = sorted((w for w, n in counts.items() if n >= 2 and w not in known),
                      key=lambda w: (-counts[w], w))  # fmt: skip
    vocab += frequent[: max(0, vocab_size - len(vocab))]
    ids = {token: i for i, token in enumerate(vocab)}
    tok = Tokenizer(
        token_models.WordPiece(vocab=ids, unk_token="[UNK]", max_input_chars_per_word=100)
    )
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece()
    return BertTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        do_lower_case=True,
        model_max_length=128,
    )


def pretrain_tiny_bert(
    tokenizer_texts: list[str],
    texts: list[str],
    *,
    must_have: list[str],
    concepts: list[tuple[list[str], list[str]]],
    focus_terms: list[str],
    steps: int,
    seed: int,
) -> tuple[BertForMaskedLM, BertTokenizerFast, dict[str, Any]]:
    """The tiny BERT's recipe on any corpus: a tokenizer for `tokenizer_texts` (`train_tokenizer`),
    a 2-layer BERT whose embeddings start knowing each (plus, minus) word-list pair of `concepts`
    (`seed_directions`), MLM-trained on `texts` for `steps` (the `focus_terms` always masked).

    Apart from `build_tiny_bert` so that a test can give a tiny model a bias of its own choosing
    (e.g. CrowS-Pairs' stereotypes, which the synthetic task's text does not carry). On the CPU.
    """
    tokenizer = train_tokenizer(tokenizer_texts, must_have, TINY_VOCAB_SIZE)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
        # A model this small underfits rather than overfits; dropout would only slow the brief
        # pre-training (seen: the group/attribute association appears about twice as late).
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    model = BertForMaskedLM(config)
    seed_directions(model, tokenizer, concepts)
    info = train_mlm(
        model,
        tokenizer,
        texts,
        steps=steps,
        batch_size=32,
        lr=2e-3,  # a from-scratch tiny model: a high rate so a few hundred steps suffice
        seed=seed,
        device=torch.device("cpu"),
        focus_terms=focus_terms,
    )
    return model, tokenizer, info


def build_tiny_bert(model_cfg: ModelConfig, task: TaskData, out_dir: Path) -> dict[str, Any]:
    """Tokenizer + 2-layer BERT pre-trained with MLM on a corpus where group A co-occurs with the
    task's positive-class words at `model_cfg.pretrain_rate` (see `attribute_corpus`).

    It starts knowing which words are group terms and attribute words (`seed_directions`) and its
    MLM always masks group terms (`training.train_mlm`): both make the association appear
    within the default few hundred steps. Built on the CPU even where a GPU is present: it
    takes seconds, and every node then gets the same model for the same cache key.
    """
    lex = task.lexicon
    terms = [t for pair in lex.pairs for t in pair]
    texts, stats = attribute_corpus(task, model_cfg.pretrain_rate, TINY_BERT_SEED)
    model, tokenizer, info = pretrain_tiny_bert(
        list(task.corpus),
        texts,
        must_have=terms + list(task.attribute_words) + list(task.negative_words),
        concepts=[
            (list(lex.terms_a), list(lex.terms_b)),
            (list(task.attribute_words), list(task.negative_words)),
        ],
        focus_terms=terms,
        steps=model_cfg.pretrain_steps,
        seed=TINY_BERT_SEED,
    )
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    info = {**info, **stats, "vocab_size": len(tokenizer), "pretrain_rate": stats["rate"]}
    (out_dir / TINY_INFO_FILE).write_text(json.dumps(info, indent=2, default=str))
    return info


# Length of the concept directions relative to a word embedding's mean length.
CONCEPT_SCALE = 2.0


@torch.no_grad()
def seed_directions(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    concepts: list[tuple[list[str], list[str]]],
) -> None:
    """Start the tiny model knowing the concepts but not their association.

    For each (plus, minus) pair of word lists in `concepts`, a shared random direction is added to
    the embeddings of the plus words and subtracted from those of the minus words. The built-in
    model's concepts: g for group A vs group B terms, h for positive- vs negative-class words. A real
    pre-trained model knows that "he" and "she" differ the way "man" and "woman" do; a tiny one
    trained from scratch has to learn every (pair, word) combination apart, and the association
    only appears after ~30k sentences (seen: over 1000 steps on the synthetic task). With g and h
    it appears within ~100 steps, and follows the corpus: the gap measured by
    `probes.intrinsic` comes out positive at pretrain_rate 0.9 (about 3.9 with the default sizes),
    near 0 at 0.5 and negative at 0.1.
    """
    emb = model.get_input_embeddings().weight
    length = emb.norm(dim=1).mean() * CONCEPT_SCALE
    for plus, minus in concepts:
        direction = torch.randn(emb.shape[1])
        direction *= length / direction.norm()
        emb[single_token_ids(tokenizer, plus)] += direction
        emb[single_token_ids(tokenizer, minus)] -= direction


def pretraining_corpus(model_dir: Path, task: TaskData) -> list[str] | None:
    """The text a tiny-bert folder was pre-trained on (rebuilt from the task); None for others."""
    info_file = Path(model_dir) / TINY_INFO_FILE
    if not info_file.is_file():
        return None
    rate = json.loads(info_file.read_text()).get("pretrain_rate")
    return None if rate is None else attribute_corpus(task, float(rate), TINY_BERT_SEED)[0]
