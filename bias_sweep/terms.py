"""Group terms as a tokenizer spells them: which tokens are a term, in a probe sentence or a text.

Found by tokenizing the term in context and reading the offsets, never by guessing a
vocabulary's spelling: byte-level BPE (RoBERTa, GPT-2) spells "he" as "he" first in a sentence
and "Ġhe" after a word, SentencePiece as "▁he", WordPiece as "he" in both places. Fast
(Rust-backed) tokenizers only: the offsets come from them.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

# Where a term stands in the probe sentences of `single_token_ids`: alone (a sentence's first
# word) and after another word. Byte-level BPE (RoBERTa, GPT-2) and SentencePiece vocabularies
# give the two different tokens ("he" and "Ġhe"); WordPiece gives both the same one.
TERM_CONTEXTS = ("{}", "x {}")


def token_at_span(text: str, offsets: list[tuple[int, int]], start: int, end: int) -> int | None:
    """The index of the one token that spells text[start:end], else None (several tokens, or
    part of a longer one). A token may also cover the whitespace before the span: BPE and
    SentencePiece fold a word's leading space into its token, and some offsets include it."""
    hits = [i for i, (s, e) in enumerate(offsets) if e > s and s < end and e > start]
    if len(hits) != 1:
        return None
    s, e = offsets[hits[0]]
    return hits[0] if not (text[s:start] + text[end:e]).strip() else None


def single_token_ids(tokenizer: PreTrainedTokenizerBase, terms: Any) -> list[int]:
    """Ids of every single-token form of the terms: first word of a sentence or within one,
    lower-case or capitalised (a form the tokenizer splits into pieces is left out).

    Found by tokenizing the term in context and reading the offsets, not by guessing the
    vocabulary's spelling: a byte-level BPE tokenizer gives "he" first and "Ġhe" after a word,
    WordPiece "he" in both places (and one id for "He" too when it lower-cases).
    """
    texts, spans = [], []
    for term in terms:
        for form in dict.fromkeys((term, term[:1].upper() + term[1:])):
            for context in TERM_CONTEXTS:
                start = context.index("{}")
                texts.append(context.format(form))
                spans.append((start, start + len(form)))
    if not texts:
        return []
    enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    ids = set()
    for text, (start, end), tok, offsets in zip(
        texts, spans, enc["input_ids"], enc["offset_mapping"], strict=True
    ):
        at = token_at_span(text, offsets, start, end)
        if at is not None:
            ids.add(tok[at])
    return sorted(ids)


def term_pattern(terms: Any) -> re.Pattern[str] | None:
    """The terms as whole words, any case (as `data.lexicon` matches them); None for none."""
    words = sorted({str(t).lower() for t in terms if str(t).strip()}, key=lambda t: (-len(t), t))
    if not words:
        return None
    return re.compile(rf"(?<!\w)(?:{'|'.join(map(re.escape, words))})(?!\w)", re.IGNORECASE)


def term_masks(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], terms: Any, max_length: int
) -> list[torch.Tensor]:
    """For each text, which of its tokens (as `training.tokenize` gives them) is an occurrence
    of one of `terms` kept as one token: the group slots that `training.train_mlm` always masks.

    Matched in the text itself and mapped to tokens by their offsets, so that every form counts
    ("He" first in a sentence, "Ġhe" within one) and nothing else does: a term's id also used
    as a piece of another word (BPE "man" in "Ġhu|man") is not a group slot there.
    """
    return tokens_and_term_masks(tokenizer, texts, terms, max_length)[1]


def tokens_and_term_masks(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], terms: Any, max_length: int
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Each text's token ids (those of `training.tokenize`) and its `term_masks`, from one
    tokenization: the offsets come with the ids, so a corpus is not tokenized twice."""
    pattern = term_pattern(terms)
    texts = [str(t) for t in texts]
    enc = tokenizer(
        texts,
        truncation=True,
        max_length=max_length,
        return_offsets_mapping=True,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    masks = []
    for text, offsets in zip(texts, enc["offset_mapping"], strict=True):
        mask = torch.zeros(len(offsets), dtype=torch.bool)
        for match in pattern.finditer(text) if pattern is not None else ():
            at = token_at_span(text, offsets, match.start(), match.end())
            if at is not None:
                mask[at] = True
        masks.append(mask)
    return [torch.tensor(ids, dtype=torch.long) for ids in enc["input_ids"]], masks
