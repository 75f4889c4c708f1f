"""A tiny CLIP tokenizer made here, so the tiny Stable Diffusion needs no model hub.

diffusers' fast tests download ``hf-internal-testing/tiny-random-clip``; nothing is downloaded here.
The vocabulary is what CLIP's byte-level BPE needs to encode any text (the 256 byte symbols, alone
and ending a word) plus merges learned from :data:`CORPUS` by plain BPE: count adjacent pairs, merge
the most frequent, ties broken by the pair's text, so the same corpus always gives the same merges.
Special tokens come last, as in CLIP (``<|startoftext|>``, ``<|endoftext|>``).
"""

from __future__ import annotations

import json
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

# The suite's prompts; the merges are learned from them, so they tokenize into a few whole words.
CORPUS = (
    "a painting of a squirrel eating a burger",
    "a photo of an astronaut riding a horse",
    "a watercolor of a lighthouse at dawn",
)
MERGES = 48  # 512 byte symbols + 48 merges + 2 special tokens = 562 ids, below CLIPTextConfig's 1000
END = "</w>"  # CLIP marks a word's last symbol with it
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
MAX_LENGTH = 77  # CLIP's context; the text model's max_position_embeddings


def learn_merges(corpus: tuple[str, ...], count: int) -> list[tuple[str, str]]:
    """Byte-pair merges of the corpus' words, most frequent pair first (ties: smallest pair)."""
    freq = Counter(word for line in corpus for word in line.lower().split())
    split = {word: (*word[:-1], word[-1] + END) for word in freq}
    merges: list[tuple[str, str]] = []
    for _ in range(count):
        pairs: Counter[tuple[str, str]] = Counter()
        for word, n in freq.items():
            symbols = split[word]
            for pair in pairwise(symbols):
                pairs[pair] += n
        if not pairs:
            break
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        merges.append(best)
        for word, symbols in split.items():
            merged: list[str] = []
            i = 0
            while i < len(symbols):
                if symbols[i:i + 2] == best:
                    merged.append(best[0] + best[1])
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            split[word] = tuple(merged)
    return merges


def vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    # Words of the corpus are ASCII letters, which byte-level BPE maps to themselves: the merges learned
    # on the raw text are valid on the byte symbols.
    from tokenizers.pre_tokenizers import ByteLevel

    alphabet = sorted(ByteLevel.alphabet())  # a set in tokenizers: sorted for a stable order
    merges = learn_merges(CORPUS, MERGES)
    tokens = [*alphabet, *(c + END for c in alphabet), *(a + b for a, b in merges), BOS, EOS]
    return {token: i for i, token in enumerate(tokens)}, merges


def tiny_clip_tokenizer() -> Any:
    """The tokenizer, built in memory (transformers 5; the files it saves load in transformers 4 too)."""
    from transformers import CLIPTokenizer

    vocab, merges = vocab_and_merges()
    # tokenizers' BPE takes merges as pairs; transformers 5.24 annotates them as "a b" strings, which it refuses.
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_LENGTH)  # type: ignore[arg-type]


def write_slow_files(folder: Path) -> None:
    """vocab.json and merges.txt beside tokenizer.json: what transformers 4's CLIPTokenizer loads."""
    vocab, merges = vocab_and_merges()
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    lines = ["#version: 0.2", *(f"{a} {b}" for a, b in merges)]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
