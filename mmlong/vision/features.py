"""Text and image features of an open_clip or transformers CLIP through one call each.

open_clip's ``encode_text`` adds the whole positional table, so its token ids must be exactly
``context_length`` long; :func:`pad_ids` pads (id 0, as CLIP's tokenizer) or refuses longer
input. transformers takes any length up to ``max_position_embeddings``. Both pool at the EOT
token (the largest id for OpenAI-layout models), so padding after it never changes a feature.

Under the causal mask the EOT feature depends only on the tokens up to it, so for an
OpenAI-layout open_clip ``CLIP`` :func:`text_features` runs the text tower on the first
``max(EOT index) + 1`` columns only (exact; a 20-token caption costs 21 positions, not 77).
"""

from __future__ import annotations

from mmlong.errors import MmlongError

__all__ = ["is_hf", "context_length", "pad_ids", "text_features", "image_features", "logit_scale", "image_size",
           "preprocess", "tokenizer_for", "OPENAI_MEAN", "OPENAI_STD"]


def is_hf(model) -> bool:
    """True for a transformers CLIP model (a ``PreTrainedModel``)."""
    return hasattr(model, "config") and hasattr(model, "save_pretrained")


def context_length(model) -> int:
    """Text positions the model reads (77 for CLIP, 248 after :func:`~mmlong.vision.longclip`)."""
    if is_hf(model):
        from mmlong.vision.stretch import hf_text_module

        return int(hf_text_module(model).embeddings.position_embedding.weight.shape[0])
    return int(model.context_length)


def pad_ids(model, ids):
    """``(B, T)`` token ids -> ``(B, context_length)`` (zero-padded); longer than the context fails."""
    import torch

    n = context_length(model)
    if ids.shape[1] > n:
        raise MmlongError(f"text of {ids.shape[1]} tokens exceeds the model's {n} positions; truncate it or "
                          "stretch the model with mmlong.vision.longclip")
    if ids.shape[1] == n:
        return ids
    return torch.cat([ids, ids.new_zeros(ids.shape[0], n - ids.shape[1])], 1)


def _pooled(out):
    return out.pooler_output if hasattr(out, "pooler_output") else out


def text_features(model, ids, *, normalize: bool = False):
    """``(B, T)`` token ids -> ``(B, E)`` text embeddings (L2-normalised with ``normalize``)."""
    import torch.nn.functional as F

    if is_hf(model):
        if hasattr(model, "get_text_features"):
            x = _pooled(model.get_text_features(input_ids=ids))
        else:  # CLIPTextModelWithProjection / CLIPTextModel
            out = model(input_ids=ids)
            x = out.text_embeds if hasattr(out, "text_embeds") else out.pooler_output
    elif _trimmable(model):
        x = _encode_text_trimmed(model, pad_ids(model, ids))
    else:
        x = model.encode_text(pad_ids(model, ids))
    return F.normalize(x, dim=-1) if normalize else x


def _trimmable(model) -> bool:
    """An open_clip ``CLIP`` whose text tower is causal and pools at the largest id (the OpenAI layout)."""
    return (getattr(model, "text_pool_type", None) == "argmax" and getattr(model, "attn_mask", None) is not None
            and all(hasattr(model, a) for a in ("token_embedding", "positional_embedding", "transformer", "ln_final")))


def _encode_text_trimmed(model, ids):
    """``encode_text`` on ``ids[:, :n]``, ``n`` = last EOT column + 1: ``(B, T) -> (B, E)``.

    Example: EOTs at columns 5 and 9 of a (2, 77) batch -> the tower runs on 10 positions with
    the top-left 10 x 10 of the causal mask; both pooled rows equal the full forward's.
    """
    import torch

    eot = ids.argmax(dim=-1)  # (B,) the pooled column
    n = int(eot.max()) + 1
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(ids[:, :n]).to(cast) + model.positional_embedding[:n].to(cast)
    x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask[:n, :n]))
    x = x[torch.arange(len(ids), device=ids.device), eot]
    proj = model.text_projection
    if proj is None:
        return x
    return proj(x) if isinstance(proj, torch.nn.Module) else x @ proj


def image_features(model, pixels, *, normalize: bool = False):
    """``(B, 3, H, W)`` normalised pixels -> ``(B, E)`` image embeddings."""
    import torch.nn.functional as F

    x = _pooled(model.get_image_features(pixel_values=pixels)) if is_hf(model) else model.encode_image(pixels)
    return F.normalize(x, dim=-1) if normalize else x


def logit_scale(model):
    """The model's trainable log temperature (a scalar parameter)."""
    return model.logit_scale


OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def image_size(model) -> int:
    """The square input side of the model's vision tower (224 for ViT-B/16)."""
    if is_hf(model):
        cfg = getattr(model.config, "vision_config", model.config)
        return int(cfg.image_size)
    size = model.visual.image_size
    return int(size[0] if isinstance(size, (tuple, list)) else size)


def preprocess(images, size: int):
    """PIL images or ``(H, W, 3)`` uint8 arrays -> ``(B, 3, size, size)`` float32, as CLIP's transform:
    bicubic resize of the short side to ``size``, centre crop, OpenAI mean / std."""
    import numpy as np
    import torch
    from PIL import Image

    out = []
    for im in images:
        im = Image.fromarray(np.asarray(im, dtype=np.uint8)) if not isinstance(im, Image.Image) else im
        im = im.convert("RGB")
        w, h = im.size
        scale = size / min(w, h)
        im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BICUBIC)
        w, h = im.size
        left, top = (w - size) // 2, (h - size) // 2
        a = np.asarray(im.crop((left, top, left + size, top + size)), dtype=np.float32) / 255.0
        out.append((a - np.array(OPENAI_MEAN, np.float32)) / np.array(OPENAI_STD, np.float32))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def tokenizer_for(model):
    """CLIP's BPE tokenizer (open_clip's ``SimpleTokenizer``, the OpenAI vocabulary: EOT 49407, pad 0)
    at the model's context length; longer text is truncated with EOT as its last token."""
    from mmlong.errors import require

    require("open_clip", "clip")
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer(context_length=context_length(model))
