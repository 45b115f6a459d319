"""Tiny random-weight CLIPs built from configs (no download): tests, benchmarks, from-scratch training.

Both builders make the OpenAI layout (QuickGELU, causal text, EOT pooling at the largest id,
a class token and ``ln_pre`` in the vision tower), so one model's weights carry across
open_clip, transformers and the released Long-CLIP key layout (:mod:`mmlong.vision.checkpoint`).

::

    model = tiny_open_clip(width=32, layers=2, vocab=1000)     # open_clip CLIP, 77 positions
    hf = tiny_hf_clip(width=32, layers=2, vocab=1000)          # transformers CLIPModel, same shapes
"""

from __future__ import annotations

import dataclasses

__all__ = ["TinyClipShape", "tiny_open_clip", "tiny_hf_clip"]


@dataclasses.dataclass(frozen=True)
class TinyClipShape:
    """The shapes both builders share (defaults: about 0.1M parameters per tower)."""

    width: int = 32  # both towers' transformer width
    layers: int = 2
    heads: int = 2
    embed_dim: int = 32  # joint embedding
    vocab: int = 1000  # token ids 0..vocab-1; the EOT is vocab-1 (the largest id, as CLIP's 49407)
    context: int = 77
    image_size: int = 32
    patch_size: int = 8


def _shape(shape: TinyClipShape | None, fields: dict) -> TinyClipShape:
    return dataclasses.replace(shape or TinyClipShape(), **fields)


def tiny_open_clip(shape: TinyClipShape | None = None, *, seed: int = 0, position_std: float | None = 0.5, **fields):
    """An open_clip ``CLIP`` (QuickGELU, OpenAI layout) with random weights.

    ``position_std``: the text position table is drawn from N(0, position_std^2) (0.5 by default,
    large, so that position effects are visible in tests); None keeps open_clip's own
    initialisation (std 0.01), the one to train from scratch with."""
    import torch

    from mmlong.errors import require

    require("open_clip", "clip")
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    s = _shape(shape, fields)
    torch.manual_seed(seed)
    vision = CLIPVisionCfg(layers=s.layers, width=s.width, head_width=s.width // s.heads, patch_size=s.patch_size,
                           image_size=s.image_size)
    text = CLIPTextCfg(context_length=s.context, vocab_size=s.vocab, width=s.width, heads=s.heads, layers=s.layers)
    model = CLIP(embed_dim=s.embed_dim, vision_cfg=vision, text_cfg=text, quick_gelu=True)
    if position_std is not None:
        with torch.no_grad():
            model.positional_embedding.normal_(0, position_std)
    return model.eval()


def tiny_hf_clip(shape: TinyClipShape | None = None, *, seed: int = 0, with_projection: str | None = None, **fields):
    """A transformers ``CLIPModel`` (or ``CLIPTextModelWithProjection`` with ``with_projection="text"``,
    ``CLIPTextModel`` with ``"text_only"``) with random weights, QuickGELU, EOT = ``vocab - 1``."""
    import torch
    import transformers as tf

    s = _shape(shape, fields)
    torch.manual_seed(seed)
    common = dict(hidden_size=s.width, intermediate_size=4 * s.width, num_hidden_layers=s.layers,
                  num_attention_heads=s.heads, hidden_act="quick_gelu", projection_dim=s.embed_dim)
    text = tf.CLIPTextConfig(vocab_size=s.vocab, max_position_embeddings=s.context, eos_token_id=s.vocab - 1,
                             bos_token_id=s.vocab - 2, pad_token_id=0, **common)
    vision = tf.CLIPVisionConfig(image_size=s.image_size, patch_size=s.patch_size, **common)
    if with_projection == "text":
        model = tf.CLIPTextModelWithProjection(text)
    elif with_projection == "text_only":
        model = tf.CLIPTextModel(text)
    else:
        model = tf.CLIPModel(tf.CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(),
                                           projection_dim=s.embed_dim))
    with torch.no_grad():
        getattr(model, "text_model", model).embeddings.position_embedding.weight.normal_(0, 0.5)
    return model.eval()
