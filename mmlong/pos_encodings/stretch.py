"""Knowledge-preserved stretching: ids below K stay as trained, the tail advances by 1/r.

A :class:`~mmlong.pos_encodings.options.Stretch` ``(keep=K, ratio=r)`` is applied to the ids a
scheme computed, before any frequency (so it composes with every scheme and with per-axis
PI / NTK / YaRN / M-RoPE++)::

    f(v) = v                    for v < K
    f(v) = K + (v - K) / r      for v >= K

* **default** (``temporal_only=False``): every id value goes through ``f``: t, h and w of
  every token, so text keeps equal ids on all axes (1-D RoPE behaviour is kept), and an input
  whose ids all lie below K is unchanged.
* **temporal_only**: only the temporal offset ``o = t - t0`` of a video's tokens is stretched
  (``t0`` = the video's first t id): ``t -> t0 + f(o)``. Text ids are untouched. Spatial ids
  keep their offset from what they are anchored to: under M-RoPE rules (``h = p + r``,
  anchored at the block pointer) they are untouched; under rules whose h and w are built from
  t (diagonal VideoRoPE / HoPE: ``h = t + centred offset``; V2PE: one id on all axes) they
  move with t.

Worked example: M-RoPE ids of 2 text tokens, a video (T = 4, H = 1, W = 2), 1 text::

    ids                t: 0 1 | 2 2 3 3 4 4 5 5 | 6     h: 0 1 | 2 2 2 2 2 2 2 2 | 6
                       w: 0 1 | 2 3 2 3 2 3 2 3 | 6     (t = p + k, h = p + r, w = p + c)
    default K=4, r=2   t: 0 1 | 2 2 3 3 4 4 4.5 4.5 | 5   (h, w: 6 -> 5, the rest below 4 stay)
    temporal K=1, r=2  t: 0 1 | 2 2 3 3 3.5 3.5 4 4 | 6   (offsets 0 1 2 3 -> 0 1 1.5 2; h, w, text stay)

Decoding: the slope changes at K, so no constant rope delta gives the stretched ids of decoded
tokens. In the default mode ``f`` depends on the id value only (:func:`elementwise`), so the
model patch keeps transformers' bookkeeping (rope deltas, the +1 continuation of
``position_ids`` in ``generate``) on the unstretched ids and applies ``f`` to every id the rotary
module receives: each decoded token's stretched id is computed from its unstretched id at every
step, for every row of a left-padded batch. In the temporal-only mode decoded tokens are text,
which it never moves, so the ids are stretched once at prefill.
"""

from __future__ import annotations

import torch

from mmlong.models.layout import Layout
from mmlong.pos_encodings.options import Stretch

#: position rules whose h and w ids are built from t (they move with a stretched t)
SPATIAL_FROM_T = ("diagonal_gamma", "diagonal_delta", "v2pe")


def stretch_values(v: torch.Tensor, keep: float, ratio: float) -> torch.Tensor:
    """``f`` elementwise on any float tensor: ``v`` below ``keep``, ``keep + (v - keep) / ratio`` beyond.

    Example: keep 8, ratio 4: [0, 7, 8, 12, 16] -> [0, 7, 8, 9, 10].
    """
    v = v.to(torch.float32) if not v.is_floating_point() else v
    return torch.where(v < keep, v, keep + (v - keep) / ratio)


def elementwise(s: Stretch | None) -> bool:
    """True when the stretch is a function of the id value alone (the default mode)."""
    return s is not None and not s.temporal_only


def stretch_positions(pos: torch.Tensor, layout: Layout, s: Stretch | None, *, rule: str) -> torch.Tensor:
    """Stretch one sample's ids.

    Args:
        pos: (3, L) float32 (t, h, w) ids of one unpadded sample, as the scheme computed them.
        layout: that sample's :class:`~mmlong.models.layout.Layout` (which tokens are video).
        s: the stretch setting (None: ``pos`` is returned as is).
        rule: the scheme's resolved position rule (``registry.resolve_rule``); decides whether
            h and w move with t in the temporal-only mode (:data:`SPATIAL_FROM_T`).

    Returns:
        (3, L) float32, a new tensor (``pos`` is not modified).
    """
    if s is None:
        return pos
    if not s.temporal_only:
        return stretch_values(pos, s.keep, s.ratio)
    out = pos.clone()
    items: dict[int, list[torch.Tensor]] = {}
    for b in layout.blocks:
        if b.kind == "video":
            items.setdefault(b.item, []).append(torch.arange(b.start, b.start + b.length))
    follow = rule in SPATIAL_FROM_T
    for idx in items.values():
        cols = torch.cat(idx)
        t = pos[0, cols]
        t0 = t[0]
        shift = t0 + stretch_values(t - t0, s.keep, s.ratio) - t
        out[0, cols] = t + shift
        if follow:
            out[1:, cols] = pos[1:, cols] + shift
    return out
