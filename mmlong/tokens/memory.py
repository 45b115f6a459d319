"""Inference memory of one request, estimated from a model's config (no weights loaded).

:func:`estimate_memory` reads the text and vision configs of a
:class:`~mmlong.models.hub.ModelInfo` (from :func:`mmlong.models.hub.describe`).

Memory model (batch 1, prefill, inference; every number is an *estimate*):

* KV cache: ``2 * layers * kv_heads * head_dim * bytes * seq``. Worked example, Qwen2.5-VL-7B
  (28 layers, 4 KV heads of 128) in bf16 at 65,536 tokens:
  ``2 * 28 * 4 * 128 * 2 * 65536 = 3,758,096,384`` bytes = 3.5 GiB.
* LLM activations: one decoder layer is live at a time under ``no_grad``:
  ``seq * (4 * hidden + q_dim + 2 * kv_dim + 3 * intermediate) * bytes`` (residual, norm,
  q/k/v/o, MLP gate/up/act), plus ``heads * seq^2 * 4`` bytes of fp32 scores with eager
  attention (sdpa / flash attention never materialise them).
* Vision tower: ``patches * (4 * width + 3 * intermediate) * bytes`` with
  ``patches = merge^2 * visual tokens`` (plus ``heads * patches^2 * 4`` with eager attention).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmlong.errors import MmlongError

__all__ = ["MemoryEstimate", "estimate_memory", "dtype_bytes", "human_bytes"]

_DTYPE_BYTES = {"float32": 4, "fp32": 4, "float": 4, "bfloat16": 2, "bf16": 2, "float16": 2, "fp16": 2,
                "half": 2, "float8": 1, "fp8": 1, "int8": 1}


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated inference memory for one request (batch 1); see the module docstring.

    Attributes:
        seq_len: prompt + generated tokens the KV cache holds.
        kv_cache_bytes: ``2 * layers * kv_heads * head_dim * bytes * seq_len``.
        activation_bytes: peak LLM prefill working set of one layer (+ eager scores).
        vision_activation_bytes: peak vision-tower working set.
        dtype: the dtype assumed for weights, activations and cache.
        layers: text decoder layers.
        kv_heads: key/value heads.
        head_dim: per-head dimension.
        attn_implementation: ``"sdpa"``, ``"flash_attention_2"`` or ``"eager"``.
    """

    seq_len: int
    kv_cache_bytes: int
    activation_bytes: int
    vision_activation_bytes: int
    dtype: str
    layers: int
    kv_heads: int
    head_dim: int
    attn_implementation: str

    @property
    def total_bytes(self) -> int:
        """KV cache + the larger of the LLM and vision working sets (they are not live together)."""
        return self.kv_cache_bytes + max(self.activation_bytes, self.vision_activation_bytes)


def human_bytes(nbytes: float) -> str:
    """``3758096384 -> "3.50 GiB"``; below 1 GiB in MiB (``"1.0 MiB"``)."""
    return f"{nbytes / 1024**3:.2f} GiB" if nbytes >= 1024**3 else f"{nbytes / 1024**2:.1f} MiB"


def dtype_bytes(dtype: Any) -> int:
    """Bytes per element of a dtype name or torch dtype, e.g. ``"bfloat16" -> 2``.

    Raises:
        MmlongError: unknown dtype.
    """
    key = str(dtype).replace("torch.", "").lower()
    if key not in _DTYPE_BYTES:
        raise MmlongError(f"unknown dtype {dtype!r} for the memory estimate; use bfloat16, float16 or float32")
    return _DTYPE_BYTES[key]


def estimate_memory(info: Any, seq_len: int, visual_tokens: int, *, temporal_patches: int = 1,
                    dtype: Any = "bfloat16", attn_implementation: str = "sdpa") -> MemoryEstimate | None:
    """Estimate KV-cache and activation memory; None when the model config is unknown.

    Args:
        info: the resolved model (``info.config`` must be set for an estimate).
        seq_len: tokens the KV cache holds (prompt + generated).
        visual_tokens: LLM visual tokens (after the merge) run through the vision tower.
        temporal_patches: the vision tower attends within one temporal patch at a time, so
            eager scores cost ``heads * (patches / temporal_patches)^2 * 4`` bytes.
        dtype: model/cache dtype name (``"bfloat16"``) or torch dtype.
        attn_implementation: ``"eager"`` adds the ``heads * L^2`` fp32 score matrices.

    Returns:
        A :class:`MemoryEstimate`, or None without a config.
    """
    if info.config is None:
        return None
    from mmlong.models.families import text_config

    nbytes = dtype_bytes(dtype)
    tc = text_config(info.config)
    heads = int(tc.num_attention_heads)
    hidden = int(tc.hidden_size)
    head_dim = int(getattr(tc, "head_dim", None) or hidden // heads)
    kv_heads = int(getattr(tc, "num_key_value_heads", None) or heads)
    layers = int(tc.num_hidden_layers)
    inter = int(getattr(tc, "intermediate_size", 0) or 0)
    if getattr(tc, "num_experts_per_tok", None) and getattr(tc, "moe_intermediate_size", None):
        inter = max(inter, int(tc.num_experts_per_tok) * int(tc.moe_intermediate_size))
    kv = 2 * layers * kv_heads * head_dim * nbytes * seq_len
    per_tok = 4 * hidden + heads * head_dim + 2 * kv_heads * head_dim + 3 * inter
    act = seq_len * per_tok * nbytes + (heads * seq_len * seq_len * 4 if attn_implementation == "eager" else 0)
    vc = getattr(info.config, "vision_config", None)
    vis = 0
    if vc is not None and visual_tokens:
        width = int(getattr(vc, "hidden_size", None) or getattr(vc, "embed_dim", 0))
        if getattr(vc, "embed_dim", None):  # Qwen2-VL: hidden_size is the LLM width, embed_dim the ViT's
            width = int(vc.embed_dim)
        vinter = int(getattr(vc, "intermediate_size", None) or width * int(getattr(vc, "mlp_ratio", 4)))
        patches = visual_tokens * int(getattr(vc, "spatial_merge_size", 2)) ** 2
        vheads = int(getattr(vc, "num_heads", 16))
        vis = patches * (4 * width + 3 * vinter) * nbytes
        per = patches // max(1, temporal_patches)
        vis += vheads * per * per * 4 if attn_implementation == "eager" else 0
    return MemoryEstimate(int(seq_len), int(kv), int(act), int(vis), str(dtype).replace("torch.", ""), layers,
                          kv_heads, head_dim, attn_implementation)

