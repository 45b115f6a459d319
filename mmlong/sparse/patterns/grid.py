"""Grid heads for video (MMInference's Grid pattern), run through the phase-major permutation.

Kept set S(i), with v_s = first video token (everything before is a
sink), dense rows after the last visual token, phase ``r(j) = vidx(j) mod stride`` and P the
kept phases of j's video:

* sinks ``j < v_s``; the local window ``i - local < j``; dense trailing rows;
* ``v``: vertical lines, keys j of a video with ``r(j)`` in P;
* ``h``: horizontal rows, video rows i with ``r(i)`` in P see every key;
* ``s``: same-phase lines, a video row sees the same phase of every earlier frame of its
  video (the "slash-in-grid" variant: ``(i - j) mod g == 0`` inside a video).

P is the offline ``phase`` when given, else the ``phases`` phases with the most attention
mass from the last ``last_q`` video queries (estimated online per head).

Fast path, two parts with disjoint keys, merged exactly by log-sum-exp:

* A (original order): sinks + local window + dense rows (an A-shape part);
* B (permuted order, :mod:`mmlong.sparse.permute`): the lines, outside the window
  (rule: ``i - j >= local and j >= v_s``). A block of rows of one phase group needs only
  its own phase group (s), the phase-P groups (v), or one range (h rows) — contiguous runs.

Worked example (video of 3 frames x 2 tokens at 4..9, phase 0, s only, local 1): the
permuted order is 4,6,8 | 5,7,9; row 8 (frame 2, phase 0) keeps 4 and 6 from part B, run
(4, 6) of the permuted order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mmlong.errors import MmlongError
from mmlong.sparse.estimate import last_q_attention, phase_scores
from mmlong.models.layout import KIND_ID, token_arrays
from mmlong.sparse.patterns.ashape import AShapeParams, ashape_part, resolve_ashape, trailing_dense_from
from mmlong.sparse.patterns.base import HeadPlan, Part, Rule, chunk, merge_runs, positive
from mmlong.sparse.permute import grid_order, phase_of


@dataclass(frozen=True)
class GridParams:
    """Grid pattern parameters."""

    stride: str | int = "frame"  # "frame" (tokens per frame of each video) or a token count, e.g. a row width
    v: bool = True  # vertical lines at the kept phases
    h: bool = False  # horizontal rows at the kept phases
    s: bool = False  # same-phase lines across frames
    phase: int | None = None  # kept phase from the offline search; None = estimate online
    phases: int = 1  # phases kept when estimated online
    local: int = 1024  # local window
    last_q: int = 64  # video queries used to estimate the phases

    def __post_init__(self):
        if not (self.stride == "frame" or (isinstance(self.stride, int) and not isinstance(self.stride, bool)
                                           and self.stride > 0)):
            raise MmlongError(f"grid: stride must be 'frame' or a positive int (got {self.stride!r})")
        for n in ("v", "h", "s"):
            if not isinstance(getattr(self, n), bool):
                raise MmlongError(f"grid: {n} must be true or false (got {getattr(self, n)!r})")
        if self.phase is not None and (not isinstance(self.phase, int) or self.phase < 0):
            raise MmlongError(f"grid: phase must be an int >= 0 or null (got {self.phase!r})")
        positive("phases", self.phases, "grid")
        positive("local", self.local, "grid")
        positive("last_q", self.last_q, "grid")


BUDGET_MAP = {"local": "local", "phases": "phases", "last_q": "last_q"}


def needs_estimate(p: GridParams) -> bool:
    return p.phase is None and (p.v or p.h)


def _kept_phases(p: GridParams, ctx, arr, strides: dict[int, int]) -> dict[int, tuple[int, ...]]:
    """Kept phases per video item: the offline phase, or the top ``phases`` by estimated mass."""
    if not (p.v or p.h):
        return {m: () for m in strides}
    if p.phase is not None:
        return {m: (p.phase % g,) for m, g in strides.items()}
    last = max(strides, key=lambda m: arr.items[m][3])
    vrows = (arr.item == last).nonzero().flatten()[-p.last_q:]
    end = int(vrows[-1]) + 1
    A = last_q_attention(ctx.q[vrows], vrows, ctx.k[:end], torch.arange(end), ctx.scale)
    phase = phase_of(arr, strides)[:end]
    out = {}
    for m, g in strides.items():
        ph = torch.where(arr.item[:end] == m, phase, torch.full_like(phase, -1))
        sc = phase_scores(A, ph, g)
        out[m] = tuple(sorted(torch.topk(sc, min(p.phases, g)).indices.tolist()))
    return out


def resolve_grid(params: GridParams, ctx) -> HeadPlan:
    p = ctx.budgets.override(params, BUDGET_MAP)
    lay = ctx.layout
    L = lay.length
    arr = token_arrays(lay)
    vid = KIND_ID["video"]
    strides = {m: (it[1] if p.stride == "frame" else p.stride) for m, it in enumerate(arr.items) if it[0] == "video"}
    if not strides:  # no video: the grid has nothing to hold on to
        return resolve_ashape(AShapeParams(n_init=128, n_local=p.local), ctx)
    sink = min(arr.items[m][2] for m in strides)
    dense_from = trailing_dense_from(lay, None)
    P = _kept_phases(p, ctx, arr, strides)
    phase = phase_of(arr, strides)
    isvid = arr.kind == vid
    inP = torch.zeros(L, dtype=torch.bool)
    for m, ph in P.items():
        if ph:
            inP |= (arr.item == m) & torch.isin(phase, torch.tensor(ph))
    block = ctx.budgets.block

    def mask_fn(rows: torch.Tensor) -> torch.Tensor:
        j = torch.arange(L)[None, :]
        i = rows[:, None]
        keep = (i >= dense_from) | (j < sink) | (i - j < p.local)
        if p.h:
            keep = keep | inP[rows][:, None]
        if p.v:
            keep = keep | inP[None, :]
        if p.s:
            same = (arr.item[rows][:, None] == arr.item[None, :]) & (phase[rows][:, None] == phase[None, :])
            keep = keep | (same & isvid[rows][:, None] & isvid[None, :])
        return keep & (j <= i)

    parts = [ashape_part(L, sink, p.local, dense_from, block)]
    b = _part_b(p, arr, strides, P, sink, dense_from, block)
    if b is not None:
        parts.append(b)
    info = {"stride": {str(m): g for m, g in strides.items()}, "phases": {str(m): list(v) for m, v in P.items()},
            "sink": sink, "dense_from": dense_from}
    sig = ("grid", p.stride, p.v, p.h, p.s, p.local, tuple(sorted(P.items())), block)
    return HeadPlan("grid", L, mask_fn, parts, sig=sig, info=info)


def _part_b(p: GridParams, arr, strides, P, sink: int, dense_from: int, block: int) -> Part | None:
    """Part B in the permuted order (see module doc); None when no row has line keys."""
    order = grid_order(arr, strides)
    perm, inv = order.perm, order.inv
    pmax = torch.cummax(inv, 0).values.numpy()  # pmax[o] = last permuted position among originals <= o
    porig = perm.numpy()
    vgroups = {(g.item, g.phase): g for g in order.groups if g.item >= 0}
    rows, runs_l = [], []
    for g in order.groups:
        hrow = g.item >= 0 and p.h and g.phase in P[g.item]
        if g.item >= 0 and not (hrow or p.v or p.s):
            continue
        if g.item < 0 and not p.v:
            continue
        o = porig[g.start:g.end]
        a = g.start + int(np.searchsorted(o, sink))
        e = g.start + int(np.searchsorted(o, dense_from))
        for s, t in chunk(a, e, block):
            lim = int(porig[t - 1]) - p.local  # keys must sit at original positions <= lim
            if lim < sink:
                continue
            if hrow:
                runs_l.append([(sink, int(pmax[lim]) + 1)])
                rows.append((s, t))
                continue
            S, E = [], []
            lines = [(m, ph) for m in P for ph in P[m]] if p.v else []
            if p.s and g.item >= 0:
                lines.append((g.item, g.phase))
            for key in lines:
                vg = vgroups.get(key)
                if vg is None or porig[vg.start] > lim:
                    continue
                n = int(np.searchsorted(porig[vg.start:vg.end], lim, side="right"))
                S.append(vg.start), E.append(vg.start + n)
            runs = merge_runs(S, E)
            if runs:
                rows.append((s, t))
                runs_l.append(runs)
    if not rows:
        return None
    return Part(perm, rows, runs_l, [None] * len(rows), Rule("gap", sink, p.local))
