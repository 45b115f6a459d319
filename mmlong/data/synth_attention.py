"""Synthetic q / k / v with a known video grid structure (tests and benchmarks).

A text prefix, a video of ``frames`` x ``g`` tokens and
a text suffix. The query and key of video token (frame t, slot r) are

    3 * S[r] + T[t] + noise,   S[r] a random unit vector per slot, T[t] a smooth sinusoidal
                               code over frames (unit norm), noise ~ N(0, 0.5^2) per dimension,

drawn per key/value head (query heads add their own noise), so a query attends along its own
slot across frames. Text tokens get ``3 * U + noise`` with random unit U. Values are N(0, 1).

The scores are meant to be used **unscaled** (``scale=1``): with 1/sqrt(D) the slot term
9 / sqrt(D) is smaller than the noise and the attention has no structure to exploit.

``needle`` puts one key in the middle of the video that the suffix queries point at.
"""

from __future__ import annotations

import math

import torch

from mmlong.sparse.layout import SeqLayout

SCALE = 1.0  # the softmax scale these inputs are meant for


def frame_code(frames: int, dim: int, period: float = 64.0) -> torch.Tensor:
    """(frames, dim) unit-norm sinusoidal code; ``T[t] . T[u]`` decays smoothly with ``|t - u|``."""
    half = dim // 2
    w = 1.0 / (period ** (torch.arange(half, dtype=torch.float64) / max(1, half - 1)))
    ang = torch.arange(frames, dtype=torch.float64)[:, None] * w[None]
    code = torch.cat([ang.sin(), ang.cos()], -1) / math.sqrt(half)
    return code.float()


def grid_qkv(frames: int, frame_tokens: int, *, heads: int = 4, kv_heads: int = 2, dim: int = 64, prefix: int = 64,
             suffix: int = 64, slot_scale: float = 3.0, noise: float = 0.5, needle: bool = False, seed: int = 0):
    """Grid-structured ``(q (1, heads, L, dim), k, v (1, kv_heads, L, dim), layout)``, L = prefix + frames*g + suffix.

    With ``needle``, the key at the middle video token is ``6 * u`` (``u`` a random unit
    vector) and every suffix query gets ``+ 6 * u``, so the question retrieves it; its
    position is ``layout.spans[1].start + frames * frame_tokens // 2``.
    """
    gen = torch.Generator().manual_seed(seed)
    g, T = frame_tokens, frames
    L = prefix + T * g + suffix
    rep = heads // kv_heads
    code = frame_code(T, dim)

    def unit(n):
        x = torch.randn(n, dim, generator=gen)
        return x / x.norm(dim=-1, keepdim=True)

    q = torch.empty(1, heads, L, dim)
    k = torch.empty(1, kv_heads, L, dim)
    v = torch.randn(1, kv_heads, L, dim, generator=gen)
    mid = prefix + T * g // 2
    for j in range(kv_heads):
        S = unit(g)
        base = torch.cat([slot_scale * unit(prefix), (slot_scale * S[None] + code[:, None]).reshape(T * g, dim),
                          slot_scale * unit(suffix)])
        k[0, j] = base + noise * torch.randn(L, dim, generator=gen)
        for h in range(j * rep, (j + 1) * rep):
            q[0, h] = base + noise * torch.randn(L, dim, generator=gen)
        if needle:
            u = unit(1)[0]
            k[0, j, mid] = 6 * u
            q[0, j * rep:(j + 1) * rep, L - suffix:] += 6 * u
    return q, k, v, SeqLayout.video(L, start=prefix, frames=T, frame_tokens=g)
