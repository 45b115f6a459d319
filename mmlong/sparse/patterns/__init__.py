"""The pattern registry: one :class:`PatternType` per name, and the spec parser.

A head's pattern *spec* is a name (``"vs"``) or a dict with a ``"type"`` and that type's
parameters (``{"type": "grid", "s": true, "local": 512}``). :func:`parse_spec` validates it
into ``(PatternType, params)``; ``PatternType.resolve(params, ctx)`` gives the head's plan.

=============  =====================================================  ==========
name           kept set                                               estimated
=============  =====================================================  ==========
dense          all causal keys                                        no
a_shape        sinks + local window (+ dense trailing text)           no
tri_shape      a_shape with at least ``n_last`` dense last rows       no
vs             top vertical columns + top slash diagonals             yes
block_sparse   top-k key blocks per query block (pooled q/k)          yes
block_mass     key blocks covering mass p per query block (sampled)   yes
grid           video lines by phase/stride (v, h, s) + sinks + local  phases
q_boundary     vs per row modality                                    yes
2d_boundary    vs per (row modality, key modality) quadrant           yes
=============  =====================================================  ==========
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from mmlong.errors import MmlongError
from mmlong.sparse.patterns import ashape, block, block_mass, grid, vs
from mmlong.sparse.patterns.base import Budgets, HeadCtx, HeadPlan, from_dict


@dataclass(frozen=True)
class PatternType:
    """A registered pattern."""

    name: str  # registry key and the spec's "type"
    description: str  # one line
    params: type  # frozen dataclass of its parameters
    resolve: Callable  # (params, HeadCtx) -> HeadPlan
    estimates: Callable = lambda p: False  # params -> True when the plan depends on q / k


PATTERNS: dict[str, PatternType] = {
    t.name: t
    for t in [
        PatternType("dense", "full causal attention", ashape.DenseParams, ashape.resolve_dense),
        PatternType("a_shape", "sinks + local window; dense rows after the last visual token", ashape.AShapeParams,
                    ashape.resolve_ashape),
        PatternType("tri_shape", "A-shape + the last n_last rows dense", ashape.TriShapeParams, ashape.resolve_ashape),
        PatternType("vs", "vertical-slash: top columns + top diagonals from the last queries", vs.VSParams,
                    vs.resolve_vs, lambda p: True),
        PatternType("block_sparse", "top-k key blocks per query block from mean-pooled q/k", block.BlockParams,
                    block.resolve_block, lambda p: True),
        PatternType("block_mass", "fewest key blocks holding p of each query block's attention (sampled rows)",
                    block_mass.BlockMassParams, block_mass.resolve_block_mass, lambda p: True),
        PatternType("grid", "video grid: phase lines (v), rows (h), same-phase lines (s) over frames; permuted",
                    grid.GridParams, grid.resolve_grid, grid.needs_estimate),
        PatternType("q_boundary", "vertical-slash per query modality", vs.VSParams, vs.resolve_q_boundary,
                    lambda p: True),
        PatternType("2d_boundary", "vertical-slash per (query modality, key modality) quadrant", vs.VSParams,
                    vs.resolve_2d_boundary, lambda p: True),
    ]
}


def parse_spec(spec) -> tuple[PatternType, object]:
    """Validate one head's spec (name, dict, or an already parsed pair).

    Raises:
        MmlongError: unknown type, unknown key or bad value (one line).
    """
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], PatternType):
        return spec
    if isinstance(spec, str):
        name, d = spec, {}
    elif isinstance(spec, dict):
        if "type" not in spec:
            raise MmlongError(f"sparse pattern spec {spec!r} has no 'type'; e.g. {{'type': 'vs', 'vertical': 1000}}")
        name, d = spec["type"], spec
    else:
        raise MmlongError(f"a sparse pattern is a name or a dict with 'type' (got {type(spec).__name__})")
    pt = PATTERNS.get(name)
    if pt is None:
        raise MmlongError(f"unknown sparse pattern {name!r}; choose one of: {', '.join(PATTERNS)}")
    return pt, from_dict(pt.params, d, name)


def spec_dict(pt: PatternType, params) -> dict:
    """The JSON spec of parsed ``(pt, params)``: ``{"type": name, **fields}``."""
    return {"type": pt.name, **dataclasses.asdict(params)}


def patterns() -> dict[str, str]:
    """Registered pattern names with their one-line descriptions."""
    return {n: t.description for n, t in PATTERNS.items()}


__all__ = ["PATTERNS", "PatternType", "parse_spec", "spec_dict", "patterns", "Budgets", "HeadCtx", "HeadPlan"]
