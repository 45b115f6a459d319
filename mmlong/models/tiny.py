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
from typing import Any

from mmlong.models.families import family_of
from mmlong.models.hub import LoadedModel
from mmlong.models.prompt import (
    ENDOFTEXT, IM_END, IM_START, IMAGE_PAD, VIDEO_PAD, VISION_END, VISION_START,
)
from mmlong.models.vision_inputs import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, HALF, VisionSpec

__all__ = ["TinyBundle", "tiny", "tiny_tokenizer", "tiny_spec", "tiny_config", "default_sections", "SPECIAL_TOKENS",
           "CHAT_TEMPLATE", "TINY_TEXT", "TINY_VISION"]

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


#: The bundle :func:`tiny` returns (the same type as every loaded model).
TinyBundle = LoadedModel


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


#: Text decoder of every tiny model (``head_dim`` sets hidden = 4 * head_dim; 4 heads, 2 KV heads).
TINY_TEXT = dict(intermediate_size=256, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)

#: Vision tower per family: 2 layers of width 64; ``out_hidden_size`` follows the text width.
TINY_VISION = {
    "qwen2_vl": dict(depth=2, embed_dim=64, num_heads=4, mlp_ratio=2, patch_size=14),
    "qwen2_5_vl": dict(depth=2, hidden_size=64, intermediate_size=128, num_heads=4, patch_size=14,
                       window_size=56, fullatt_block_indexes=[1], tokens_per_second=2),
    "qwen3_vl": dict(depth=2, hidden_size=64, intermediate_size=128, num_heads=4, patch_size=16,
                     num_position_embeddings=64, deepstack_visual_indexes=[0]),
}
TINY_VISION["qwen3_vl_moe"] = TINY_VISION["qwen3_vl"]

#: Extra text settings of the MoE family (4 experts, 2 per token, every layer sparse).
TINY_MOE = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=64, decoder_sparse_step=1)


def default_sections(family: Any, head_dim: int) -> list[int]:
    """``mrope_section`` (t, h, w slots) for ``head_dim``: Qwen3-VL's 24/20/20 split of 64 slots
    scaled to D/2 (16 slots -> [6, 5, 5]), else Qwen2-VL's 16/24/24 (16 slots -> [4, 6, 6])."""
    n = head_dim // 2
    if family_of(family).per_frame_timestamps:
        hw = round(n * 20 / 64)
        return [n - 2 * hw, hw, hw]
    return [n // 4, 3 * n // 8, n - n // 4 - 3 * n // 8]


def tiny_config(family: Any = "qwen2_5_vl", *, head_dim: int = 32, rope_theta: float = 1e4, sections=None,
                rope_type: str = "default", max_position_embeddings: int = 32768, vocab_size: int | None = None,
                layers: int | None = None, vision_depth: int | None = None, **rope_extra: Any) -> Any:
    """The tiny transformers config of ``family`` (special token ids from :func:`tiny_tokenizer`).

    Every tiny model, test config and probe in mmlong comes from this one table
    (:data:`TINY_TEXT`, :data:`TINY_VISION`); the keyword arguments change only the rotary
    and vocabulary, e.g. ``tiny_config("qwen2_vl", head_dim=128, rope_theta=1e6,
    sections=[16, 24, 24])`` for the released Qwen2-VL slot map.

    Args:
        family: a family name (``"qwen3_vl"``) or :class:`Family`.
        head_dim: rotary dimension D; the text width is ``4 * head_dim``.
        rope_theta: rotary base.
        sections: ``mrope_section``; None = :func:`default_sections`.
        rope_type: transformers ``rope_type`` (``"default"``, ``"yarn"``, ...), with ``rope_extra``
            (``factor=...``) added to ``rope_parameters``.
        max_position_embeddings: the text config's context length.
        vocab_size: None = the tiny tokenizer's 263 ids.
        layers: text decoder layers (None = :data:`TINY_TEXT`'s 2).
        vision_depth: vision tower blocks (None = :data:`TINY_VISION`'s 2).
    """
    fam = family_of(family)
    tok = tiny_tokenizer()
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    qwen3 = fam.per_frame_timestamps
    rope = {"rope_type": rope_type, "rope_theta": rope_theta,
            "mrope_section": list(sections or default_sections(fam, head_dim)), **rope_extra}
    if qwen3:
        rope["mrope_interleaved"] = True
    hidden = 4 * head_dim
    text = dict(TINY_TEXT, vocab_size=vocab_size or len(tok), hidden_size=hidden, head_dim=head_dim,
                max_position_embeddings=max_position_embeddings, rope_parameters=rope,
                bos_token_id=None, eos_token_id=ids[IM_END], pad_token_id=ids[ENDOFTEXT])
    if fam.name == "qwen3_vl_moe":
        text.update(TINY_MOE)
    if layers is not None:
        text["num_hidden_layers"] = layers
    vision = dict(TINY_VISION[fam.name])
    if vision_depth is not None:
        vision["depth"] = vision_depth
        if "fullatt_block_indexes" in vision:
            vision["fullatt_block_indexes"] = [vision_depth - 1]
    vision["hidden_size" if fam.name == "qwen2_vl" else "out_hidden_size"] = hidden
    return fam.load_class().config_class(
        text_config=text, vision_config=vision,
        image_token_id=ids[IMAGE_PAD], video_token_id=ids[VIDEO_PAD],
        vision_start_token_id=ids[VISION_START], vision_end_token_id=ids[VISION_END],
    )


def tiny(family: Any = "qwen2_5_vl", *, seed: int = 0, dtype: Any = None) -> LoadedModel:
    """Build a tiny random-weight model of ``family`` locally (no download).

    Args:
        family: ``"qwen2_vl"``, ``"qwen2_5_vl"``, ``"qwen3_vl"`` or ``"qwen3_vl_moe"`` (or a
            model_type); ``mmlong.load("tiny:FAMILY")`` calls this through :mod:`mmlong.models.hub`.
        seed: ``torch.manual_seed`` before init, so equal seeds give equal weights.
        dtype: parameter dtype (default ``torch.float32``).

    Returns:
        A :class:`~mmlong.models.hub.LoadedModel`; ``model`` uses sdpa attention and is in eval mode, with
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
    return LoadedModel(model=model, tokenizer=tiny_tokenizer(), spec=tiny_spec(fam), family=fam)
