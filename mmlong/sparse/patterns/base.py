"""What every sparse pattern produces: a per-head :class:`HeadPlan` made of kernel :class:`Part` s.

A pattern resolves (offline parameters + online estimate + layout) into a plan with two views
of the same kept set S(i):

* ``plan.mask(rows)`` — the token-level definition, written straight from the spec; the exact
  reference kernel and every recall number use it;
* ``plan.parts`` — what the fast kernel runs. A :class:`Part` orders the tokens by ``perm``
  (identity, or a permutation such as the Grid's phase-major order), cuts the query rows
  into blocks of that order, and gives each block its key *runs* (contiguous in that order)
  plus loose key *columns*. Inside them a :class:`Rule` on **original** positions removes
  what is not kept (causality included). Parts of a plan have disjoint key sets per row, so
  their partial softmaxes merge exactly with log-sum-exp.

Worked example (identity order, block 4, A-shape with 2 sinks and a window of 3): the rows
``[8, 12)`` get runs ``[(0, 2), (6, 12)]``: sinks 0-1 and keys 6..11 (= 8-3+1 .. 11); the
rule keeps key j for row i iff ``j <= i and (j < 2 or i - j < 3)``, so row 8 keeps 0, 1, 6, 7, 8.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Hashable

import numpy as np
import torch

from mmlong.errors import MmlongError, reject_unknown_fields

NEG_INF = float("-inf")


@dataclass(frozen=True)
class Budgets:
    """Run-time budgets; ``None`` keeps each head's own value (from its pattern spec or JSON)."""

    block: int = 128  # query rows per fast-kernel block (grid / A-shape / dense parts)
    vs_block: int = 64  # query rows per block for vertical-slash heads (slashes widen to this)
    last_q: int | None = None  # queries used for online estimation (default 64)
    vertical: int | None = None  # VS: vertical columns kept (>= 30)
    slash: int | None = None  # VS: slash offsets kept (>= 50)
    n_init: int | None = None  # A-shape: sink tokens
    n_local: int | None = None  # A-shape: local window
    local: int | None = None  # Grid: local window
    top_k: int | None = None  # block-sparse: key blocks per query block
    phases: int | None = None  # Grid: phases kept when estimated online

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise MmlongError(f"budget {f.name} must be a positive int or None (got {v!r})")

    @classmethod
    def from_kwargs(cls, **kw) -> "Budgets":
        """Build from keyword arguments; unknown names fail with the valid list."""
        reject_unknown_fields(cls, kw, "sparse budget")
        return cls(**kw)

    def override(self, params, mapping: dict[str, str]):
        """``params`` with each field ``mapping[budget]`` replaced by this budget when it is set."""
        upd = {p: getattr(self, b) for b, p in mapping.items() if getattr(self, b) is not None}
        return dataclasses.replace(params, **upd) if upd else params


@dataclass(frozen=True)
class Rule:
    """Token-level keep rule inside a block's runs, on original positions q (rows) and k (keys).

    * ``causal``: ``k <= q``;
    * ``ashape``: ``k <= q and (q >= dense_from or k < sink or q - k < window)``;
    * ``gap``: ``q - k >= window and k >= sink`` (keys outside a local window; ``window >= 1``).
    """

    kind: str = "causal"
    sink: int = 0
    window: int = 1
    dense_from: int = 1 << 62

    def trivial_vec(self, qmin: int, qmax: int, kmin: torch.Tensor, kmax: torch.Tensor) -> torch.Tensor:
        """Per key chunk, True when every (q, k) with q in [qmin, qmax] and k in the chunk's [kmin, kmax] is kept.

        ``kmin`` / ``kmax``: (c,) per-chunk bounds; returns (c,) bool.
        """
        if self.kind == "causal":
            return kmax <= qmin
        if self.kind == "ashape":
            return (kmax <= qmin) & ((qmin >= self.dense_from) | (kmax < self.sink) | (qmax - kmin < self.window))
        return (qmin - kmax >= self.window) & (kmin >= self.sink)

    def keep(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """(n, m) bool: keep[a, b] for rows ``q`` (n,) and keys ``k`` (m,) (original positions)."""
        d = q[:, None] - k[None, :]
        if self.kind == "causal":
            return d >= 0
        if self.kind == "ashape":
            extra = (q >= self.dense_from)[:, None] | (k < self.sink)[None, :] | (d < self.window)
            return (d >= 0) & extra
        return (d >= self.window) & (k >= self.sink)[None, :]


@dataclass(eq=False)
class Part:
    """One pass of the fast kernel over the order ``perm``.

    Attributes:
        perm: (L,) int64 original index of each position of this order, or None (identity).
        rows: per query block, ``(start, end)`` in this order.
        runs: per query block, sorted disjoint key runs ``[(start, end), ...]`` in this order.
        cols: per query block, extra key positions (int64 tensor, in this order, outside the
            runs) or None.
        rule: the keep rule applied on original positions.
    """

    perm: torch.Tensor | None
    rows: list[tuple[int, int]]
    runs: list[list[tuple[int, int]]]
    cols: list[torch.Tensor | None]
    rule: Rule

    def pairs(self) -> int:
        """(query, key) pairs the kernel computes for one head (masked ones included)."""
        tot = 0
        for (s, e), rr, cc in zip(self.rows, self.runs, self.cols):
            tot += (e - s) * (sum(b - a for a, b in rr) + (0 if cc is None else int(cc.numel())))
        return tot


@dataclass(eq=False)
class HeadPlan:
    """A resolved pattern for one head.

    Attributes:
        name: pattern type, e.g. ``"vs"``.
        length: sequence length L.
        mask_fn: ``rows (n,) int64 -> (n, L) bool``, the kept set by definition (causal included).
        parts: fast-kernel parts; ``None`` for dense (one causal SDPA call).
        sig: hashable description for sharing one plan across heads, or None (head-specific).
        info: resolved parameters (JSON-friendly), e.g. estimated phases.
    """

    name: str
    length: int
    mask_fn: Callable[[torch.Tensor], torch.Tensor]
    parts: list[Part] | None
    sig: Hashable | None = None
    info: dict = field(default_factory=dict)

    def mask(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """(n, L) bool kept set for ``rows`` (default all rows)."""
        if rows is None:
            rows = torch.arange(self.length)
        return self.mask_fn(torch.as_tensor(rows, dtype=torch.long))

    @property
    def dense(self) -> bool:
        return self.parts is None

    def pairs(self) -> int:
        """Pairs computed by the fast kernel (dense: L (L + 1) / 2)."""
        if self.parts is None:
            return self.length * (self.length + 1) // 2
        return sum(p.pairs() for p in self.parts)


def causal_mask(rows: torch.Tensor, L: int) -> torch.Tensor:
    """(n, L) bool: ``j <= rows[a]``."""
    return torch.arange(L)[None, :] <= rows[:, None]


def chunk(start: int, end: int, size: int) -> list[tuple[int, int]]:
    """``[start, end)`` cut into pieces of at most ``size``: ``chunk(0, 10, 4) == [(0, 4), (4, 8), (8, 10)]``."""
    return [(a, min(a + size, end)) for a in range(start, end, size)]


def merge_runs(starts: np.ndarray, ends: np.ndarray) -> list[tuple[int, int]]:
    """Union of half-open intervals as sorted disjoint runs.

    Example: ``merge_runs([5, 0, 3], [8, 2, 6]) == [(0, 2), (3, 8)]``.
    """
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    if starts.size == 0:
        return []
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    cmax = np.maximum.accumulate(e)
    new = np.ones(s.size, dtype=bool)
    new[1:] = s[1:] > cmax[:-1]
    idx = np.flatnonzero(new)
    out_s = s[idx]
    out_e = cmax[np.r_[idx[1:] - 1, s.size - 1]]
    return list(zip(out_s.tolist(), out_e.tolist()))


def in_runs(pos: np.ndarray, runs: list[tuple[int, int]]) -> np.ndarray:
    """bool per position: inside one of the sorted disjoint ``runs``."""
    if not runs:
        return np.zeros(len(pos), dtype=bool)
    r = np.asarray(runs, dtype=np.int64)
    i = np.searchsorted(r[:, 0], pos, side="right") - 1
    ok = i >= 0
    return ok & (pos < r[np.clip(i, 0, None), 1])


def check_keys(d: dict, valid: set[str], what: str) -> None:
    bad = sorted(set(d) - valid - {"type", "recall"})
    if bad:
        raise MmlongError(f"unknown key(s) {', '.join(bad)} for sparse pattern {what!r}; "
                          f"valid: {', '.join(sorted(valid))}")


def from_dict(cls, d: dict, what: str):
    """Build the frozen params dataclass ``cls`` from a spec dict, rejecting unknown keys."""
    names = {f.name for f in dataclasses.fields(cls)}
    check_keys(d, names, what)
    try:
        return cls(**{k: v for k, v in d.items() if k in names})
    except TypeError as exc:
        raise MmlongError(f"bad parameters for sparse pattern {what!r}: {exc}") from None


def positive(name: str, v, what: str, allow_none: bool = False) -> None:
    if v is None and allow_none:
        return
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise MmlongError(f"{what}: {name} must be a positive int (got {v!r})")


@dataclass(eq=False)
class HeadCtx:
    """What a pattern may read when it resolves one head.

    Attributes:
        layout: the sequence's modality layout.
        budgets: run-time budgets.
        scale: softmax scale.
        q: (L, D) float32 queries of this head (None for patterns that estimate nothing).
        k: (L, D) float32 keys of its key/value head.
    """

    layout: object
    budgets: Budgets
    scale: float
    q: torch.Tensor | None = None
    k: torch.Tensor | None = None
