"""The Grid permutation: video tokens sorted by phase first, frame second.

Index a video's tokens by their in-video index ``x = t * g + r`` (frame t, phase r, stride g).
The permutation pi sends ``(t, r)`` to ``(r, t)``: inside each video, tokens are ordered by
phase, then frame. Text, images and anything else keep their original order. Under pi a
vertical line (all frames of phase p) and the same-phase line of a query are contiguous runs,
so the Grid pattern becomes a few dense blocks. Causality is never judged on permuted
positions: ``perm[p]`` gives the original position of permuted position p.

Worked example: 4 text tokens, then a video of T = 3 frames x g = 2 tokens at positions
4..9, then 2 text tokens::

    >>> from mmlong.sparse.layout import SeqLayout, token_arrays
    >>> order = grid_order(token_arrays(SeqLayout.video(12, start=4, frames=3, frame_tokens=2)), {0: 2})
    >>> order.perm.tolist()            # phase 0: frames 0,1,2 = 4,6,8; phase 1 = 5,7,9
    [0, 1, 2, 3, 4, 6, 8, 5, 7, 9, 10, 11]
    >>> [(g.start, g.end, g.item, g.phase) for g in order.groups]
    [(0, 4, -1, -1), (4, 7, 0, 0), (7, 10, 0, 1), (10, 12, -1, -1)]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mmlong.models.layout import KIND_ID, TokenArrays


@dataclass(frozen=True)
class Group:
    """A contiguous run of the permuted order.

    Attributes:
        start, end: ``[start, end)`` in permuted positions.
        item: video item id, or -1 for a run of other tokens (text, images, separators).
        phase: phase r of a video group, -1 otherwise.
    """

    start: int
    end: int
    item: int
    phase: int


@dataclass(frozen=True, eq=False)
class GridOrder:
    """``perm`` (L,) original position of each permuted position; ``inv`` its inverse; ``groups``."""

    perm: torch.Tensor
    inv: torch.Tensor
    groups: tuple[Group, ...]


def phase_of(arr: TokenArrays, strides: dict[int, int]) -> torch.Tensor:
    """(L,) phase ``vidx mod stride`` of every video token (-1 elsewhere)."""
    out = torch.full_like(arr.vidx, -1)
    for m, g in strides.items():
        sel = arr.item == m
        out[sel] = arr.vidx[sel] % g
    return out


def grid_order(arr: TokenArrays, strides: dict[int, int]) -> GridOrder:
    """The permutation of :func:`phase_of` for the videos in ``strides`` (item id -> stride).

    Sort key: (anchor, phase, frame), where a video token's anchor is its video's first
    position and any other token's anchor is its own position (phase -1, frame 0).
    """
    L = arr.kind.numel()
    pos = torch.arange(L)
    isvid = torch.zeros(L, dtype=torch.bool)
    anchor, frame = pos.clone(), torch.zeros(L, dtype=torch.long)
    for m, g in strides.items():
        sel = (arr.item == m) & (arr.kind == KIND_ID["video"])
        isvid |= sel
        anchor[sel] = arr.items[m][2]
        frame[sel] = arr.vidx[sel] // g
    phase = phase_of(arr, strides)
    idx = torch.sort(frame, stable=True).indices
    idx = idx[torch.sort(phase[idx], stable=True).indices]
    perm = idx[torch.sort(anchor[idx], stable=True).indices]
    inv = torch.empty_like(perm)
    inv[perm] = pos
    it = torch.where(isvid, arr.item, torch.full_like(pos, -1))[perm]
    ph = phase[perm]
    change = torch.ones(L, dtype=torch.bool)
    change[1:] = (it[1:] != it[:-1]) | (ph[1:] != ph[:-1])
    starts = change.nonzero().flatten().tolist() + [L]
    groups = tuple(Group(a, b, int(it[a]), int(ph[a])) for a, b in zip(starts[:-1], starts[1:]))
    return GridOrder(perm, inv, groups)
