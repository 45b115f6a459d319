"""What position schemes read from a model config: :class:`PosContext` (no weights).

The token facts the layout parser needs (pad ids, merge size, per-frame blocks) are its
``tokens`` :class:`~mmlong.models.layout.TokenSpec`; the rest are rotary facts. Example:
``PosContext.from_config(model.config).tokens.spatial_merge_size == 2`` on every released
Qwen-VL, and ``.per_frame_blocks`` is True only for Qwen3-VL.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmlong.models.layout import TokenSpec


@dataclass(frozen=True)
class PosContext:
    """Rotary facts of a model plus its :class:`TokenSpec`; built with :meth:`from_config`."""

    family: str  # "qwen2_vl" | "qwen2_5_vl" | "qwen3_vl" | "qwen3_vl_moe"
    native_scheme: str  # the family's own scheme name
    tokens: TokenSpec  # pad ids, merge size m, temporal patch size, per-frame blocks (Qwen3-VL)
    tokens_per_second: float  # Qwen2.5-VL temporal ids per second (2 in released configs)
    head_dim: int  # rotary dim D; D/2 frequency slots
    rope_theta: float  # base b
    mrope_section: tuple[int, ...]  # slots per axis (t, h, w) as in the config
    max_position_embeddings: int  # the config's context length

    @classmethod
    def from_config(cls, config) -> "PosContext":
        """Read a transformers Qwen-VL config (composite or a dict-like with the same keys)."""
        from mmlong.models.families import family_of, text_config

        fam = family_of(config)
        tokens = TokenSpec.from_config(config)
        tc = text_config(config)
        vc = getattr(config, "vision_config", None)
        rp = dict(getattr(tc, "rope_parameters", None) or getattr(tc, "rope_scaling", None) or {})
        theta = rp.get("rope_theta", getattr(tc, "rope_theta", None))
        head_dim = getattr(tc, "head_dim", None) or tc.hidden_size // tc.num_attention_heads
        default_sec = (24, 20, 20) if fam.native_scheme == "interleaved" else (16, 24, 24)
        return cls(
            family=fam.name,
            native_scheme=fam.native_scheme,
            tokens=tokens,
            tokens_per_second=float(getattr(vc, "tokens_per_second", 2) or 2),
            head_dim=int(head_dim),
            rope_theta=float(theta if theta is not None else 1e6),
            mrope_section=tuple(int(s) for s in rp.get("mrope_section", default_sec)),
            max_position_embeddings=int(getattr(tc, "max_position_embeddings", 32768)),
        )
