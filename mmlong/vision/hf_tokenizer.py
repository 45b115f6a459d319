"""A transformers ``CLIPTokenizer`` built offline from the BPE file that ships inside open_clip.

open_clip's ``bpe_simple_vocab_16e6.txt.gz`` is OpenAI CLIP's merges file (a header line, then
merges). CLIP's vocabulary is derived from it, as OpenAI's and open_clip's tokenizers do: the
256 byte symbols, the same with ``</w>`` (end of word), one token per merge among the first
48894, then ``<|startoftext|>`` (49406) and ``<|endoftext|>`` (49407): 49408 tokens. The
transformers tokenizer made from them gives the same ids as open_clip's ``SimpleTokenizer``
(tested on sentences with punctuation, accents and text past the context), so a converted
Long-CLIP folder loads with ``AutoTokenizer.from_pretrained(folder)`` and reads 248 tokens::

    tok = clip_tokenizer(248)
    tok("A red bus.")["input_ids"]        # [49406, 320, 736, 2840, 269, 49407]
    tok.save_pretrained("longclip-B-hf")

Padding is ``<|endoftext|>``, as the OpenAI CLIP tokenizers on the Hugging Face hub (open_clip
pads with 0; CLIP pools at the first end-of-text token, so neither changes a feature).
"""

from __future__ import annotations

from mmlong.errors import MmlongError, require

__all__ = ["VOCAB_SIZE", "clip_vocabulary", "clip_tokenizer"]

VOCAB_SIZE = 49408  # OpenAI CLIP's BPE vocabulary
_MERGES = VOCAB_SIZE - 2 * 256 - 2  # 48894 merges: the vocabulary's size less bytes, bytes</w> and 2 specials


def clip_vocabulary() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """``(token -> id, merges)`` of CLIP's BPE, read from open_clip's bundled file."""
    import gzip
    from pathlib import Path

    require("open_clip", "clip")
    import open_clip
    from open_clip.tokenizer import bytes_to_unicode

    path = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    if not path.is_file():
        raise MmlongError(f"open_clip's BPE file is missing ({path}); reinstall open-clip-torch (the clip extra)")
    lines = gzip.open(path).read().decode("utf-8").split("\n")[1:_MERGES + 1]  # line 0 is a header
    merges = [tuple(line.split()) for line in lines]
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def clip_tokenizer(max_length: int = 77):
    """A ``transformers.CLIPTokenizer`` with CLIP's vocabulary and ``model_max_length=max_length``."""
    from transformers import CLIPTokenizer

    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
        raise MmlongError(f"max_length must be an integer >= 2 (start and end tokens), got {max_length!r}")
    vocab, merges = clip_vocabulary()
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)
