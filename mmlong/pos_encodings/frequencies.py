"""Frequency allocation: which axis each rotary slot reads and at what frequency.

A rotary head of dim D has D/2 slots; slot i rotates channel pair (i, i + D/2) by
``pos[axis[i]] * inv_freq[i]``. Every scheme is a slot map plus optional per-slot scaling.

Slot maps (D/2 = 64 shown):
    chunked      t 0-15 | h 16-39 | w 40-63          (Qwen2/2.5-VL, sections [16,24,24])
    interleaved  h at 1,4,..,3*s_h-2; w at 2,5,..,3*s_w-1; the rest t (Qwen3-VL rule)
    lta          h even / w odd in 0-47, t in 48-63  (VideoRoPE; HoPE zeroes the t slots)

Extensions multiply ``inv_freq`` on the slots of ``scale_axes``:
    pi        theta / s
    ntk       theta * s^(-2i/(D-2))                  (base b * s^(D/(D-2)))
    yarn      HF's slot-space ramp between floor/ceil bounds, cos/sin x (0.1 ln s + 1)
    mrope_pp  t kept, w / s, h ramped 1 -> 1/s (GIRAFFE eq. 6, r-space or linear ramp)

Worked example: Qwen2-VL (b = 1e6, D = 128), YaRN s = 4, L = 32768 ramps slots 23..40 and
scales cos/sin by 1.1386; M-RoPE++ s = 4 scales h slots 16, 17, 20, 24, 30, 39 by
1.00, 0.85, 0.56, 0.38, 0.28, 0.25.
"""

from __future__ import annotations

import math

import torch

from mmlong.errors import MmlongError
from mmlong.pos_encodings.context import PosContext
from mmlong.pos_encodings.options import AXES, PosOptions


def balanced_sections(n_slots: int) -> tuple[int, int, int]:
    """Qwen3-VL's t/h/w split scaled to ``n_slots`` (64 -> (24, 20, 20), 16 -> (6, 5, 5))."""
    hw = int(round(n_slots * 20 / 64))
    return (n_slots - 2 * hw, hw, hw)


def slot_axes(kind: str, n_slots: int, sections=None) -> torch.Tensor:
    """Axis (0 = t, 1 = h, 2 = w) of each slot, shape (n_slots,) long.

    Args:
        kind: ``"chunked"``, ``"interleaved"`` or ``"lta"``.
        n_slots: D/2.
        sections: (t, h, w) slot counts for chunked / interleaved.
    """
    axis = torch.zeros(n_slots, dtype=torch.long)
    if kind == "chunked":
        sec = tuple(sections)
        if sum(sec) != n_slots:
            raise MmlongError(f"mrope sections {sec} must sum to head_dim/2 = {n_slots}")
        axis = torch.repeat_interleave(torch.arange(3), torch.tensor(sec))
    elif kind == "interleaved":
        sec = tuple(sections)
        if sum(sec) != n_slots:
            raise MmlongError(f"interleaved sections {sec} must sum to head_dim/2 = {n_slots}")
        for dim, offset in ((1, 1), (2, 2)):
            axis[offset : min(3 * sec[dim], n_slots) : 3] = dim
    elif kind == "lta":
        n_t = n_slots // 4
        sp = torch.arange(n_slots - n_t)
        axis[: n_slots - n_t] = 1 + (sp % 2)
        axis[n_slots - n_t :] = 0
    else:  # pragma: no cover - guarded by the registry
        raise MmlongError(f"unknown slot layout {kind!r}")
    return axis


def base_inv_freq(ctx: PosContext) -> torch.Tensor:
    """theta_i = b^(-2i/D), float32, shape (D/2,), computed as transformers does."""
    d = ctx.head_dim
    return 1.0 / (ctx.rope_theta ** (torch.arange(0, d, 2, dtype=torch.int64).to(torch.float) / d))


def _yarn(theta: torch.Tensor, ctx: PosContext, s: float, L: int, opts: PosOptions):
    d, b = ctx.head_dim, ctx.rope_theta

    def dim_of(rot: float) -> float:
        return (d * math.log(L / (rot * 2 * math.pi))) / (2 * math.log(b))

    low = max(math.floor(dim_of(opts.beta_fast)), 0)
    high = min(math.ceil(dim_of(opts.beta_slow)), d // 2 - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(d // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    keep = 1 - ramp  # 1 = extrapolate (keep theta), 0 = interpolate (theta / s)
    new = theta / s * (1 - keep) + theta * keep
    att = opts.attention_factor if opts.attention_factor is not None else 0.1 * math.log(s) + 1.0
    return new, att


def _mrope_pp(theta: torch.Tensor, axis: torch.Tensor, kind: str, s: float, ramp: str):
    """GIRAFFE M-RoPE++: t slots kept, w slots / s, h slots ramped from 1 to 1/s."""
    scale = torch.ones_like(theta)
    scale[axis == 2] = 1.0 / s
    h = torch.nonzero(axis == 1).flatten()
    if len(h):
        first = int(h[0])
        # chunked: the ramp ends at the h/w boundary (first w slot); interleaved: at the last h slot
        last = int(h[-1]) + 1 if kind == "chunked" and int(h[-1]) + 1 < len(theta) else int(h[-1])
        if ramp == "r":
            frac = (theta[h] - theta[last]) / (theta[first] - theta[last])
        else:
            frac = 1 - (h - first).float() / max(last - first, 1)
        scale[h] = 1.0 / s + (1 - 1.0 / s) * frac
    return theta * scale


def extend(theta, axis, kind, ctx: PosContext, opts: PosOptions, scaling: str | None):
    """Apply a per-axis extension to ``theta`` (D/2,). Returns (inv_freq, attention_scaling)."""
    if scaling is None:
        return theta, 1.0
    s = float(opts.factor if opts.factor is not None else 4.0)
    L = int(opts.original_max_position_embeddings or ctx.max_position_embeddings)
    sel = torch.zeros_like(axis, dtype=torch.bool)
    for a in opts.scale_axes:
        sel |= axis == AXES.index(a)
    att = 1.0
    if scaling == "pi":
        new = theta / s
    elif scaling == "ntk":
        d = ctx.head_dim
        new = theta * s ** (-torch.arange(0, d, 2, dtype=torch.float32) / (d - 2))
    elif scaling == "yarn":
        new, att = _yarn(theta, ctx, s, L, opts)
    else:
        new = _mrope_pp(theta, axis, kind, s, opts.ramp)
    return torch.where(sel, new, theta), att
