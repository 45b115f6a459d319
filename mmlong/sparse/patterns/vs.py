"""Vertical-Slash heads, plain (MInference) and modality-aware (Q-boundary, 2D-boundary).

One implementation covers the three:

* ``vs``: one (V, Delta) per head from the last ``last_q`` queries of the sequence;
* ``q_boundary``: rows are grouped by modality; each group gets its own (V, Delta),
  estimated from the last queries of its last span;
* ``2d_boundary``: rows *and* keys are grouped by modality; each quadrant (row kind, key kind)
  gets its own (V, Delta), in the key kind's own coordinates.

Coordinates. Keys of a key group are numbered by *rank* (0, 1, ... in original order). A row
i has coordinate ``c(i)`` = number of keys of the group at positions <= i, minus 1 (for the
group "all", c(i) = i). A vertical keeps key ranks in V; a slash delta keeps rank c - delta.
Slashes are widened to the query block as in MInference's kernel: a block with coordinates
``c_first..c_last`` keeps ranks ``[c_first - delta, c_last - delta]`` for every delta.

Worked example (group "all", block rows [64, 128), Delta = {0, 100}): ranges
[64, 127] and [0, 27] (= [64-100, 127-100] clipped at 0); a vertical at 40 is an extra
column; the rule keeps only j <= i inside them.

2D-boundary sorts tokens by modality (text, image, video; stable), so each key group is
contiguous in the kernel's order: causality is still judged on original positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mmlong.sparse.estimate import last_q_attention, slash_scores, top_indices
from mmlong.models.layout import KINDS, token_arrays
from mmlong.sparse.patterns.base import HeadPlan, Part, Rule, chunk, in_runs, merge_runs, positive


@dataclass(frozen=True)
class VSParams:
    """Vertical-Slash budgets."""

    vertical: int = 1000  # key columns kept (clamped to [30, keys])
    slash: int = 2048  # diagonals kept (clamped to [50, keys])
    last_q: int = 64  # queries used for the estimate
    init: int = 30  # first columns always kept (sinks)
    local: int = 100  # most recent diagonals always kept

    def __post_init__(self):
        for n in ("vertical", "slash", "last_q", "init", "local"):
            positive(n, getattr(self, n), "vs")


BUDGET_MAP = {"vertical": "vertical", "slash": "slash", "last_q": "last_q"}


def _groups(kind: torch.Tensor, by_kind: bool) -> list[tuple[str, torch.Tensor]]:
    if not by_kind:
        return [("all", torch.ones_like(kind, dtype=torch.bool))]
    return [(KINDS[k], kind == k) for k in range(len(KINDS)) if bool((kind == k).any())]


def _true_runs(mask: torch.Tensor) -> list[tuple[int, int]]:
    """Maximal runs of True: ``_true_runs(tensor([0, 1, 1, 0, 1]).bool()) == [(1, 3), (4, 5)]``."""
    m = np.r_[False, mask.numpy(), False].astype(np.int8)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def resolve_modal_vs(params: VSParams, ctx, rows_by_kind: bool, keys_by_kind: bool, name: str) -> HeadPlan:
    """Estimate (V, Delta) per (row group, key group) and build the plan (see module doc)."""
    p = ctx.budgets.override(params, BUDGET_MAP)
    lay = ctx.layout
    L = lay.length
    arr = token_arrays(lay)
    rgs, kgs = _groups(arr.kind, rows_by_kind), _groups(arr.kind, keys_by_kind)
    if keys_by_kind:
        perm = torch.sort(arr.kind, stable=True).indices
        inv = torch.empty_like(perm)
        inv[perm] = torch.arange(L)
    else:
        perm = inv = None
    keys = []  # per key group: (P start, orig positions (n,), cum (L,))
    p0 = 0
    for _, km in kgs:
        korig = km.nonzero().flatten()
        keys.append((p0, korig, torch.cumsum(km.long(), 0)))
        p0 += korig.numel()
    est: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}
    row_runs = []
    for ri, (_, rm) in enumerate(rgs):
        runs = _true_runs(rm)
        row_runs.append(runs)
        a, b = runs[-1]
        qrows = torch.arange(max(a, b - p.last_q), b)
        qi = ctx.q[qrows]
        for ki, (_, korig, cum) in enumerate(keys):
            n = int(cum[b - 1])
            if n == 0:
                continue
            kk = korig[:n]
            A = last_q_attention(qi, qrows, ctx.k[kk], kk, ctx.scale)
            V = top_indices(A.sum(0), max(30, min(p.vertical, n)), forced=p.init)
            ss = slash_scores(A, cum[qrows] - 1, torch.arange(n), n)
            D = top_indices(ss, max(50, min(p.slash, n)), forced=p.local)
            est[(ri, ki)] = (V, D)
    blocks = []  # (s, e, row group)
    for ri, runs in enumerate(row_runs):
        for a, b in runs:
            blocks += [(s, e, ri) for s, e in chunk(a, b, ctx.budgets.vs_block)]

    def key_ranges(s: int, e: int, ri: int):
        """Per key group: (group index, rank starts, rank ends, verticals <= c_last)."""
        out = []
        for ki, (_, korig, cum) in enumerate(keys):
            if (ri, ki) not in est:
                continue
            c_first, c_last = int(cum[s]) - 1, int(cum[e - 1]) - 1
            if c_last < 0:
                continue
            V, D = est[(ri, ki)]
            st = (c_first - D).clamp(min=0)
            en = c_last - D + 1
            out.append((ki, st, en, V[V <= c_last]))
        return out

    rows, runs_l, cols_l = [], [], []
    for s, e, ri in blocks:
        S, E, C = [], [], []
        for ki, st, en, vv in key_ranges(s, e, ri):
            off = keys[ki][0]
            S.append(st.numpy() + off), E.append(en.numpy() + off), C.append(vv.numpy() + off)
        runs = merge_runs(np.concatenate(S), np.concatenate(E)) if S else []
        cc = np.concatenate(C) if C else np.zeros(0, dtype=np.int64)
        cc = cc[~in_runs(cc, runs)]
        ps = int(inv[s]) if inv is not None else s
        rows.append((ps, ps + e - s))
        runs_l.append(runs)
        cols_l.append(torch.from_numpy(cc) if cc.size else None)
    part = Part(perm, rows, runs_l, cols_l, Rule("causal"))
    row_block = torch.full((L,), -1, dtype=torch.long)
    for bi, (s, e, _) in enumerate(blocks):
        row_block[s:e] = bi

    def mask_fn(qrows: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(len(qrows), L, dtype=torch.bool)
        rb = row_block[qrows]
        for bi in rb.unique().tolist():
            s, e, ri = blocks[bi]
            m = torch.zeros(L, dtype=torch.bool)
            for ki, st, en, vv in key_ranges(s, e, ri):
                korig = keys[ki][1]
                diff = torch.zeros(korig.numel() + 1, dtype=torch.long)
                ok = en > st
                diff.index_add_(0, st[ok], torch.ones(int(ok.sum()), dtype=torch.long))
                diff.index_add_(0, en[ok], -torch.ones(int(ok.sum()), dtype=torch.long))
                cover = diff.cumsum(0)[:-1] > 0
                cover[vv] = True
                m[korig[cover]] = True
            out[rb == bi] = m
        return out & (torch.arange(L)[None, :] <= qrows[:, None])

    info = {"groups": [[rgs[r][0], kgs[k][0], int(V.numel()), int(D.numel())] for (r, k), (V, D) in est.items()]}
    return HeadPlan(name, L, mask_fn, [part], sig=None, info=info)


def resolve_vs(params, ctx):
    return resolve_modal_vs(params, ctx, False, False, "vs")


def resolve_q_boundary(params, ctx):
    return resolve_modal_vs(params, ctx, True, False, "q_boundary")


def resolve_2d_boundary(params, ctx):
    return resolve_modal_vs(params, ctx, True, True, "2d_boundary")
