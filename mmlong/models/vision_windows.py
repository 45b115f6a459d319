"""Qwen2.5-VL's vision attention with its windows batched: one SDPA call per window length.

Qwen2.5-VL's vision tower attends within windows (and, in its full-attention blocks, within
frames): ``cu_seqlens`` cuts the packed token sequence into chunks that never see each other.
With SDPA, transformers splits the sequence and calls SDPA once per chunk; a 16-frame video at
tiny sizes is hundreds of chunks per block, and the per-call overhead dominates a CPU training
step. Chunks of equal length are independent attention problems of the same shape, so
:func:`windowed_attention` gathers every chunk of one length into a batch and calls SDPA once
per distinct length (usually one or two: edge windows may be shorter). The math is the same
per chunk; only the batching differs.

::

    batch_vision_windows(model)      # every vision attention module of a Qwen2.5-VL model
    unbatch_vision_windows(model)    # back to transformers' per-chunk loop

Flash-attention models keep transformers' varlen call (already one call).
"""

from __future__ import annotations

import types
from typing import Any

__all__ = ["windowed_attention", "batch_vision_windows", "unbatch_vision_windows"]

_MARK = "_mmlong_batched_windows"


def windowed_attention(q, k, v, cu_seqlens, scaling: float, dropout: float = 0.0):
    """Non-causal attention within each chunk ``cu_seqlens[i]:cu_seqlens[i + 1]`` of the sequence.

    Args:
        q, k, v: ``(H, S, D)`` queries, keys and values of the packed sequence.
        cu_seqlens: ``(C + 1,)`` int chunk boundaries, 0 first and S last.
        scaling: the softmax scale (``D ** -0.5`` for Qwen-VL).
        dropout: attention dropout probability (0 at inference).

    Returns:
        ``(S, H, D)``: each token's output, attending only to tokens of its own chunk.
    """
    import torch
    from torch.nn.functional import scaled_dot_product_attention as sdpa

    heads, seq, dim = q.shape
    starts = cu_seqlens[:-1].to(torch.long)
    lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).to(torch.long)
    out = q.new_empty(seq, heads, dim)
    for length in torch.unique(lengths).tolist():
        if length == 0:
            continue
        idx = (starts[lengths == length][:, None] + torch.arange(length, device=q.device)).reshape(-1)  # (n * L,)
        n = idx.numel() // length

        def gather(t):  # (H, S, D) -> (n, H, L, D)
            return t.index_select(1, idx).reshape(heads, n, length, dim).transpose(0, 1)

        got = sdpa(gather(q), gather(k), gather(v), dropout_p=dropout, scale=scaling)  # (n, H, L, D)
        out = out.index_copy(0, idx, got.permute(0, 2, 1, 3).reshape(n * length, heads, dim))
    return out


def _batched_forward(self, hidden_states, cu_seqlens, position_embeddings=None, max_seqlen=None, **kwargs):
    """Qwen2_5_VLVisionAttention.forward with :func:`windowed_attention` in place of the per-chunk loop.

    ``hidden_states`` ``(S, dim)`` -> ``(S, dim)``.
    """
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import apply_rotary_pos_emb_vision

    seq_length = hidden_states.shape[0]
    q, k, v = self.qkv(hidden_states).reshape(seq_length, 3, self.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
    cos, sin = position_embeddings
    q, k = apply_rotary_pos_emb_vision(q, k, cos, sin)  # (S, H, D)
    out = windowed_attention(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), cu_seqlens, self.scaling,
                             0.0 if not self.training else self.attention_dropout)
    return self.proj(out.reshape(seq_length, -1))


def _vision_attentions(model: Any) -> list:
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLVisionAttention

    return [m for m in model.modules() if isinstance(m, Qwen2_5_VLVisionAttention)]


def batch_vision_windows(model: Any) -> Any:
    """Batch the window attention of every Qwen2.5-VL vision attention module in ``model`` (in place).

    Models of other families, and flash-attention models, are returned unchanged.
    """
    from transformers.utils.generic import is_flash_attention_requested

    for m in _vision_attentions(model):
        if not is_flash_attention_requested(m.config):
            m.forward = types.MethodType(_batched_forward, m)
            setattr(m, _MARK, True)
    return model


def unbatch_vision_windows(model: Any) -> Any:
    """Undo :func:`batch_vision_windows`: transformers' per-chunk loop again. Returns ``model``."""
    for m in _vision_attentions(model):
        if m.__dict__.pop(_MARK, None):
            m.__dict__.pop("forward", None)
    return model
