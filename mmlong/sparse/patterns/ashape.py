"""Dense (causal) and A-shape / Tri-shape heads.

A-shape keeps ``n_init`` sink keys and a local window of ``n_local`` keys; Tri-shape adds
dense rows at the end. On inputs with images or video the rows
after the last visual token are always dense (the question), so an A-shape head runs as
Tri-shape there. Nothing is estimated: the plan depends only on the layout.

Worked example (L = 10, n_init = 2, n_local = 3, n_last = 2): row 6 keeps keys 0, 1
(sinks) and 4, 5, 6 (window); rows 8 and 9 are dense.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mmlong.errors import MmlongError
from mmlong.models.layout import Layout, token_arrays
from mmlong.sparse.patterns.base import (
    HeadPlan, Part, Rule, causal_mask, chunk, merge_runs, positive,
)


@dataclass(frozen=True)
class DenseParams:
    """Dense causal attention (no parameters)."""


@dataclass(frozen=True)
class AShapeParams:
    """A-shape: sinks + local window (+ dense trailing rows)."""

    n_init: int = 128  # sink tokens at the start
    n_local: int = 4096  # local window (keys i - n_local < j <= i)
    n_last: int | None = None  # dense rows at the end; None = rows after the last visual token (0 for text)

    def __post_init__(self):
        positive("n_init", self.n_init, "a_shape")
        positive("n_local", self.n_local, "a_shape")
        if self.n_last is not None and (not isinstance(self.n_last, int) or self.n_last < 0):
            raise MmlongError(f"a_shape: n_last must be an int >= 0 or None (got {self.n_last!r})")


@dataclass(frozen=True)
class TriShapeParams(AShapeParams):
    """Tri-shape: A-shape with at least ``n_last`` dense rows at the end (default 64)."""

    n_last: int | None = 64


BUDGET_MAP = {"n_init": "n_init", "n_local": "n_local"}


def dense_plan(L: int) -> HeadPlan:
    """Full causal attention (one SDPA call in the fast path)."""
    return HeadPlan("dense", L, lambda rows: causal_mask(rows, L), None, sig=("dense",))


def ashape_part(L: int, sink: int, window: int, dense_from: int, block: int) -> Part:
    """The identity-order part for sinks ``[0, sink)``, a window and dense rows ``>= dense_from``.

    Row blocks never straddle ``dense_from``. A block ``[s, e)`` gets runs ``[0, min(sink, e))``
    and ``[max(0, s - window + 1), e)``, merged; a dense block gets ``[0, e)``.
    """
    dense_from = max(0, min(dense_from, L))
    rows = chunk(0, dense_from, block) + chunk(dense_from, L, block)
    runs = []
    for s, e in rows:
        if s >= dense_from:
            runs.append([(0, e)])
        else:
            runs.append(merge_runs([0, max(0, s - window + 1)], [min(sink, e), e]))
    return Part(None, rows, runs, [None] * len(rows), Rule("ashape", sink, window, dense_from))


def ashape_mask(L: int, sink: int, window: int, dense_from: int):
    """The definition: ``j <= i and (j < sink or i - j < window or i >= dense_from)``."""
    def fn(rows: torch.Tensor) -> torch.Tensor:
        j = torch.arange(L)[None, :]
        i = rows[:, None]
        return (j <= i) & ((j < sink) | (i - j < window) | (i >= dense_from))
    return fn


def trailing_dense_from(layout: Layout, n_last: int | None) -> int:
    """First dense row: after the last visual token (if text follows), or ``L - n_last``."""
    L = layout.length
    arr = token_arrays(layout)
    cands = [L]
    if arr.visual_end and arr.visual_end < L:
        cands.append(arr.visual_end)
    if n_last:
        cands.append(max(0, L - n_last))
    return min(cands)


def resolve_dense(params: DenseParams, ctx) -> HeadPlan:
    return dense_plan(ctx.layout.length)


def resolve_ashape(params: AShapeParams, ctx) -> HeadPlan:
    p = ctx.budgets.override(params, BUDGET_MAP)
    L = ctx.layout.length
    dense_from = trailing_dense_from(ctx.layout, p.n_last)
    block = ctx.budgets.block
    part = ashape_part(L, p.n_init, p.n_local, dense_from, block)
    info = {"n_init": p.n_init, "n_local": p.n_local, "dense_from": dense_from}
    return HeadPlan("a_shape", L, ashape_mask(L, p.n_init, p.n_local, dense_from), [part],
                    sig=("a_shape", p.n_init, p.n_local, dense_from, block), info=info)

