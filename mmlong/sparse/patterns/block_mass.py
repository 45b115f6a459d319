"""Mass-covering block-sparse heads: per query block, the fewest key blocks holding ``p`` of its attention.

A few rows of every query block get their exact softmax over all causal keys
(:func:`~mmlong.sparse.estimate.sampled_block_mass`); the block then keeps the first key
block (sinks), its ``local`` nearest key blocks (the diagonal included) and the highest-mass
other blocks until the estimated mass reaches ``p``
(:func:`~mmlong.sparse.estimate.cover_blocks`). The budget adapts per block and per head: a
local head keeps a handful of blocks, a head that reads everywhere keeps many, so one ``p``
serves every length. The kernel runs each query block against its kept blocks as contiguous
key runs; only the diagonal block needs a causal mask.

Worked example (block 4, L = 12, local 1, p 0.9): query block 2 (rows 8..11) with estimated
mass [0.55, 0.05, 0.40] keeps block 0 (forced), block 2 (diagonal, forced): 0.95 >= 0.9, so
its runs are [(0, 4), (8, 12)].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mmlong.errors import MmlongError
from mmlong.sparse.estimate import cover_blocks, sampled_block_mass
from mmlong.sparse.patterns.base import HeadPlan, Part, Rule, positive


@dataclass(frozen=True)
class BlockMassParams:
    """Mass-covering block-sparse settings."""

    p: float = 0.95  # estimated attention mass each query block keeps
    block: int = 128  # query / key block size of the estimate and the kernel
    samples: int = 8  # exact rows per query block in the estimate
    local: int = 2  # nearest key blocks always kept (1 = the diagonal block only)
    init: int = 1  # first key blocks always kept (sinks)

    def __post_init__(self):
        if not isinstance(self.p, (int, float)) or isinstance(self.p, bool) or not 0.0 < float(self.p) <= 1.0:
            raise MmlongError(f"block_mass: p must be a number in (0, 1] (got {self.p!r})")
        for n in ("block", "samples", "local", "init"):
            positive(n, getattr(self, n), "block_mass")


def kept_blocks(mass: torch.Tensor, p: BlockMassParams) -> torch.Tensor:
    """(nb, nb) bool kept key blocks per query block, from (nb, nb) block mass."""
    nb = mass.shape[0]
    b = torch.arange(nb)
    d = b[:, None] - b[None, :]
    forced = ((d >= 0) & (d < p.local)) | ((b[None, :] < p.init) & (d >= 0))
    return cover_blocks(mass, float(p.p), forced) & (d >= 0)


def block_runs(kept: torch.Tensor, block: int, length: int) -> list[list[tuple[int, int]]]:
    """Per query block, the kept key blocks as merged token runs (clipped to ``length``).

    Example: ``block_runs(tensor([[1, 0, 1, 1]]).bool(), 4, 14) == [[(0, 4), (8, 14)]]``.
    """
    edge = torch.diff(torch.nn.functional.pad(kept.to(torch.int8), (1, 1)), dim=1)  # +1 run start, -1 run end
    r0, c0 = (edge == 1).nonzero(as_tuple=True)
    _, c1 = (edge == -1).nonzero(as_tuple=True)  # same row order, so starts and ends pair up
    out: list[list[tuple[int, int]]] = [[] for _ in range(kept.shape[0])]
    for r, a, e in zip(r0.tolist(), (c0 * block).tolist(), (c1 * block).clamp(max=length).tolist()):
        out[r].append((a, e))
    return out


def resolve_block_mass(params: BlockMassParams, ctx) -> HeadPlan:
    L, B = ctx.layout.length, params.block
    mass = sampled_block_mass(ctx.q, ctx.k, B, params.samples, ctx.scale)
    kept = kept_blocks(mass, params)
    nb = kept.shape[0]
    rows = [(b * B, min(L, (b + 1) * B)) for b in range(nb)]
    part = Part(None, rows, block_runs(kept, B, L), [None] * nb, Rule("causal"))

    def mask_fn(qrows: torch.Tensor) -> torch.Tensor:
        kb = torch.arange(L) // B
        return kept[qrows // B][:, kb] & (torch.arange(L)[None, :] <= qrows[:, None])

    causal_blocks = nb * (nb + 1) // 2
    return HeadPlan("block_mass", L, mask_fn, [part], sig=None,
                    info={"p": float(params.p), "block": B, "kept_blocks": int(kept.sum()),
                          "block_density": round(int(kept.sum()) / causal_blocks, 4)})
