"""Position-id rules as pure functions of a :class:`~mmlong.models.layout.Layout`.

Each rule returns ``(pos, next_pos)``: ``pos`` is a float32 tensor of shape (3, L) holding
the (t, h, w) ids of every token of one unpadded sample, and ``next_pos`` is the id the next
(generated) token gets on all three axes. Generation uses ``rope_delta = next_pos - L``.

Worked example (vision start/end tokens left out): 3 text tokens,
an image with LLM grid (1, 2, 3), 2 text, a (1, 1, 1) image, 2 text, a video (3, 2, 2),
3 text. ``mrope`` gives::

    text 0,1,2 | img t=3, h=3..4, w=3..5 | text 6,7 | img (8,8,8) | text 9,10 |
    video t=11,12,13, h,w in {11,12} | text 14,15,16        next_pos = 17

``diagonal`` with step 1.5 (HoPE gamma): image h in {3,4}, w in {2,3,4}; video t = 9, 10.5,
12; trailing text 13, 14, 15.
"""

from __future__ import annotations

import math

import torch

from mmlong.errors import MmlongError
from mmlong.models.layout import Block, Layout
from mmlong.pos_encodings.context import PosContext
from mmlong.pos_encodings.options import PosOptions


def _grid(block: Block) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Row-major (k, r, c) indices of a (T, H, W) block, each of shape (T*H*W,)."""
    T, H, W = block.grid
    k, r, c = torch.meshgrid(torch.arange(T), torch.arange(H), torch.arange(W), indexing="ij")
    return k.reshape(-1), r.reshape(-1), c.reshape(-1)


def _fill_text(out: torch.Tensor, block: Block, p: float) -> float:
    out[:, block.start : block.start + block.length] = p + torch.arange(block.length, dtype=torch.float32)
    return p + block.length


def mrope_positions(layout: Layout, ctx: PosContext, opts: PosOptions, *, abs_time: bool = False):
    """Qwen's original M-RoPE ids (Qwen2-VL; Qwen2.5-VL with ``abs_time``; Qwen3-VL).

    Text: shared ids ``p, p+1, ...``. Visual block at pointer p: ``t = p + k`` (or, with
    ``abs_time``, ``p + floor(patch_seconds[k] * tokens_per_second)`` computed in float32 as the
    reference code does), ``h = p + r``, ``w = p + c``; the next text starts at the block's max
    id + 1 (transformers 5.x advances by max(H, W) only, which is wrong for long videos).
    """
    out = torch.empty(3, layout.length, dtype=torch.float32)
    p = 0.0
    for b in layout.blocks:
        if b.kind == "text":
            p = _fill_text(out, b, p)
            continue
        k, r, c = _grid(b)
        if abs_time and b.kind == "video" and not ctx.tokens.per_frame_blocks and b.grid[0] > 1:
            if b.patch_seconds is None:
                raise MmlongError(
                    "mrope_abs_time needs second_per_grid_ts or video_timestamps for each video; "
                    "pass what the processor returned (Qwen2.5-VL processors return second_per_grid_ts)"
                )
            secs = torch.tensor(b.patch_seconds, dtype=torch.float32)
            off = torch.floor(secs * ctx.tokens_per_second + 1e-4)[k]
        else:
            off = k.to(torch.float32)
        seg = torch.stack([p + off, p + r.float(), p + c.float()])
        out[:, b.start : b.start + b.length] = seg
        p = float(seg.max()) + 1.0
    return out, p


def _gamma_for(block: Block, opts: PosOptions, step: float) -> float:
    if opts.gamma_choices is None:
        return step
    g = torch.Generator().manual_seed(opts.seed * 1_000_003 + block.item * 7919 + (block.kind == "video"))
    return float(opts.gamma_choices[int(torch.randint(len(opts.gamma_choices), (1,), generator=g))])


def diagonal_positions(layout: Layout, ctx: PosContext, opts: PosOptions, *, step: float):
    """VideoRoPE / HoPE diagonal layout.

    A visual block starting at pointer ``b0`` puts temporal patch k at ``t_k = b0 + step*k``
    and centres each frame on its t: ``h = t_k + r - (H-1)//2``, ``w = t_k + c - (W-1)//2``
    (offsets may be negative). The next text starts at ``t_last + 1``; an image advances the
    pointer by 1. ``step`` is VideoRoPE's delta or HoPE's gamma (``gamma_choices`` draws one
    per visual item, seeded, for training).
    """
    out = torch.empty(3, layout.length, dtype=torch.float32)
    p = 0.0
    for b in layout.blocks:
        if b.kind == "text":
            p = _fill_text(out, b, p)
            continue
        s = _gamma_for(b, opts, step)
        T, H, W = b.grid
        k, r, c = _grid(b)
        t = p + s * k.to(torch.float32)
        h = t + (r - (H - 1) // 2).float()
        w = t + (c - (W - 1) // 2).float()
        out[:, b.start : b.start + b.length] = torch.stack([t, h, w])
        p = p + s * (T - 1) + 1.0
    return out, p


def v2pe_positions(layout: Layout, ctx: PosContext, opts: PosOptions):
    """V2PE: one shared id per token; visual tokens step by ``v2pe_delta``, text by 1.

    Visual tokens of a block get ``p, p+d, ..., p+(n-1)d`` on all axes; text resumes at
    ``ceil(last visual id) + 1``.
    """
    out = torch.empty(3, layout.length, dtype=torch.float32)
    p = 0.0
    d = opts.v2pe_delta
    for b in layout.blocks:
        if b.kind == "text":
            p = _fill_text(out, b, p)
            continue
        ids = p + d * torch.arange(b.length, dtype=torch.float64)
        out[:, b.start : b.start + b.length] = ids.to(torch.float32)
        p = float(math.ceil(float(ids[-1]) - 1e-9)) + 1.0
    return out, p
