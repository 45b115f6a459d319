"""The scheme registry: one entry per named scheme, resolved lazily by name.

A scheme is a position rule (``positions.py``), a slot layout (``frequencies.py``), whether
its temporal slots are zeroed (HoPE's NoPE), and a default per-axis extension.
Add a scheme by adding one :class:`Scheme` to ``SCHEMES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from mmlong.errors import MmlongError
from mmlong.pos_encodings import positions as P
from mmlong.models.layout import Layout
from mmlong.pos_encodings.context import PosContext
from mmlong.pos_encodings.options import PosOptions


@dataclass(frozen=True)
class Scheme:
    """A named position scheme."""

    name: str  # registry key
    description: str  # one line, shown by `mmlong.pos_encodings.schemes()`
    rule: str  # position rule: "mrope" | "abs_time" | "native_rule" | "diagonal_gamma" | "diagonal_delta" | "v2pe"
    slots: str  # slot layout: "chunked" | "interleaved" | "lta" | "native"
    zero_t: bool = False  # zero the temporal slots' frequency (NoPE)
    scaling: str | None = None  # default extension (overridable with scaling=...)


SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in [
        Scheme("native", "the family's own: mrope (Qwen2-VL), mrope_abs_time (Qwen2.5-VL), interleaved (Qwen3-VL)", "native_rule", "native"),
        Scheme("mrope", "Qwen2-VL M-RoPE: chunked t|h|w slots, t = p + k, next text = block max + 1", "mrope", "chunked"),
        Scheme("mrope_abs_time", "Qwen2.5-VL: M-RoPE with t aligned to absolute time (tokens_per_second)", "abs_time", "chunked"),
        Scheme("interleaved", "Qwen3-VL interleaved MRoPE slots (t,h,w,t,h,w,...) over the family's position ids", "native_rule", "interleaved"),
        Scheme("mrope_pp", "M-RoPE++ (GIRAFFE): t extrapolated, h ramped 1->1/s, w interpolated by s (factor=s)", "native_rule", "native", scaling="mrope_pp"),
        Scheme("hope", "HoPE: diagonal layout, t slots NoPE, dynamic temporal scaling gamma", "diagonal_gamma", "lta", zero_t=True),
        Scheme("videorope", "VideoRoPE: diagonal layout, low-frequency t slots, temporal spacing delta", "diagonal_delta", "lta"),
        Scheme("v2pe", "V2PE: 1-D ids, visual tokens step by v2pe_delta (< 1), text by 1", "v2pe", "native"),
    ]
}

NATIVE_RULE = {"mrope": "mrope", "mrope_abs_time": "abs_time", "interleaved": "mrope"}
NATIVE_SLOTS = {"mrope": "chunked", "mrope_abs_time": "chunked", "interleaved": "interleaved"}


def get_scheme(name: str) -> Scheme:
    """Look up a scheme by name; unknown names fail with the list of known ones."""
    if isinstance(name, Scheme):
        return name
    try:
        return SCHEMES[name]
    except KeyError:
        raise MmlongError(f"unknown position scheme {name!r}; choose one of: {', '.join(SCHEMES)}") from None


def resolve_rule(scheme: Scheme, ctx: PosContext) -> str:
    if scheme.rule == "native_rule":
        return NATIVE_RULE[ctx.native_scheme]
    return scheme.rule


def resolve_slots(scheme: Scheme, ctx: PosContext) -> str:
    return NATIVE_SLOTS[ctx.native_scheme] if scheme.slots == "native" else scheme.slots


def rule_fn(scheme: Scheme, ctx: PosContext) -> Callable[[Layout, PosContext, PosOptions], tuple]:
    """The position function ``(layout, ctx, opts) -> (pos (3, L) float32, next_pos)``."""
    rule = resolve_rule(scheme, ctx)
    if rule == "mrope":
        return P.mrope_positions
    if rule == "abs_time":
        return lambda lay, c, o: P.mrope_positions(lay, c, o, abs_time=True)
    if rule == "diagonal_gamma":
        return lambda lay, c, o: P.diagonal_positions(lay, c, o, step=o.gamma)
    if rule == "diagonal_delta":
        return lambda lay, c, o: P.diagonal_positions(lay, c, o, step=o.delta)
    return P.v2pe_positions
