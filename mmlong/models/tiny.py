"""Tiny random-weight Qwen-VL models with an offline byte-level tokenizer (no downloads).

``tiny("qwen2_5_vl")`` builds, in well under a second, a 2-layer text decoder (hidden 128,
4 heads of 32, 2 KV heads) with a 2-layer vision tower (width 64), the real transformers
class for the family, deterministic weights from ``seed``, and a :class:`VisionSpec` that
keeps token counts small: images and video frames are resized to between (3*factor)^2 and
(8*factor)^2 pixels, so a 64x64 frame becomes 3x3 merged tokens per temporal patch
(84x84 for patch 14, 96x96 for patch 16) and a 16-frame 64x64 video costs 8*9 = 72 video
tokens (plus 8 timestamp strings on Qwen3-VL).

The tokenizer is the real Qwen byte-level BPE without merges: ids 0-255 are the bytes (via
GPT-2's bytes-to-unicode map), then 256 ``<|endoftext|>``, 257 ``<|im_start|>``,
258 ``<|im_end|>``, 259 ``<|vision_start|>``, 260 ``<|vision_end|>``, 261 ``<|image_pad|>``,
262 ``<|video_pad|>`` (263 tokens). Any UTF-8 text round-trips.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from mmlong.models.families import Family, family_of
from mmlong.models.prompt import (
    ENDOFTEXT, IM_END, IM_START, IMAGE_PAD, VIDEO_PAD, VISION_END, VISION_START,
)
from mmlong.models.vision_inputs import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, HALF, VisionSpec

__all__ = ["TinyBundle", "tiny", "tiny_tokenizer", "tiny_spec", "tiny_config", "SPECIAL_TOKENS", "CHAT_TEMPLATE"]

SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END, VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD)

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass
class TinyBundle:
    """A tiny model and what is needed to feed it.

    Attributes:
        model: the ``*ForConditionalGeneration`` in eval mode.
        tokenizer: the 263-token byte-level ``Qwen2Tokenizer``.
        spec: the small-token :class:`VisionSpec`.
        family: the model's :class:`Family`.
    """

    model: Any
    tokenizer: Any
    spec: VisionSpec
    family: Family


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable unicode character map (256 entries)."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


@functools.lru_cache(maxsize=1)
def tiny_tokenizer() -> Any:
    """The cached byte-level ChatML tokenizer (eos ``<|im_end|>``, pad ``<|endoftext|>``, no bos)."""
    from transformers import Qwen2Tokenizer

    byte_chars = _bytes_to_unicode()
    vocab = {byte_chars[b]: b for b in range(256)}
    vocab.update({tok: 256 + i for i, tok in enumerate(SPECIAL_TOKENS)})
    return Qwen2Tokenizer(
        vocab=vocab, merges=[], unk_token=None, bos_token=None, eos_token=IM_END, pad_token=ENDOFTEXT,
        extra_special_tokens=list(SPECIAL_TOKENS[1:]), chat_template=CHAT_TEMPLATE,
    )


def tiny_spec(family: Any = "qwen2_5_vl") -> VisionSpec:
    """Small-token vision settings: (3*factor)^2 .. (8*factor)^2 pixels for images and frames."""
    fam = family_of(family)
    p = fam.default_patch_size
    f = 2 * p
    mean, std = (HALF, HALF) if p == 16 else (OPENAI_CLIP_MEAN, OPENAI_CLIP_STD)
    return VisionSpec(p, 2, 2, (3 * f) ** 2, (8 * f) ** 2, mean, std)


def tiny_config(family: Any = "qwen2_5_vl") -> Any:
    """The tiny transformers config of ``family`` (ids remapped to :func:`tiny_tokenizer`)."""
    fam = family_of(family)
    tok = tiny_tokenizer()
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    qwen3 = fam.per_frame_timestamps
    text = dict(
        vocab_size=len(tok), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32768,
        rope_parameters={"rope_type": "default", "rope_theta": 1e4,
                         "mrope_section": [6, 5, 5] if qwen3 else [4, 6, 6]},
        bos_token_id=None, eos_token_id=ids[IM_END], pad_token_id=ids[ENDOFTEXT],
    )
    if qwen3:
        text.update(head_dim=32)
        text["rope_parameters"]["mrope_interleaved"] = True
        vision = dict(depth=2, hidden_size=64, intermediate_size=128, num_heads=4, patch_size=16,
                      out_hidden_size=128, num_position_embeddings=64, deepstack_visual_indexes=[0])
    elif fam.name == "qwen2_5_vl":
        vision = dict(depth=2, hidden_size=64, intermediate_size=128, num_heads=4, patch_size=14,
                      out_hidden_size=128, window_size=56, fullatt_block_indexes=[1], tokens_per_second=2)
    else:
        vision = dict(depth=2, embed_dim=64, hidden_size=128, num_heads=4, mlp_ratio=2, patch_size=14)
    if fam.name == "qwen3_vl_moe":
        text.update(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=64, decoder_sparse_step=1)
    return fam.load_class().config_class(
        text_config=text, vision_config=vision,
        image_token_id=ids[IMAGE_PAD], video_token_id=ids[VIDEO_PAD],
        vision_start_token_id=ids[VISION_START], vision_end_token_id=ids[VISION_END],
    )


def tiny(family: Any = "qwen2_5_vl", *, seed: int = 0, dtype: Any = None) -> TinyBundle:
    """Build a tiny random-weight model of ``family`` locally (no download).

    Args:
        family: ``"qwen2_vl"``, ``"qwen2_5_vl"``, ``"qwen3_vl"`` or ``"qwen3_vl_moe"`` (or a
            model_type / ``"tiny:<family>"``).
        seed: ``torch.manual_seed`` before init, so equal seeds give equal weights.
        dtype: parameter dtype (default ``torch.float32``).

    Returns:
        A :class:`TinyBundle`; ``model`` uses sdpa attention and is in eval mode, with
        ``generation_config`` eos ``<|im_end|>``, pad ``<|endoftext|>``.
    """
    import torch

    fam = family_of(family)
    config = tiny_config(fam)
    torch.manual_seed(seed)
    model = fam.load_class()._from_config(config, attn_implementation="sdpa",
                                          dtype=dtype if dtype is not None else torch.float32)
    gen = model.generation_config
    gen.bos_token_id, gen.eos_token_id, gen.pad_token_id = None, config.text_config.eos_token_id, \
        config.text_config.pad_token_id
    model.eval()
    return TinyBundle(model=model, tokenizer=tiny_tokenizer(), spec=tiny_spec(fam), family=fam)
