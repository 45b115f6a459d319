"""Where the installed transformers' position ids differ from Qwen's original rule.

transformers 5.x (checked on 5.23.0) advances the text pointer by ``max(H, W)`` after every
visual block; the checkpoints were trained with "next text = block max id + 1". After a video
whose temporal extent exceeds max(H, W) the next text token then reuses a video t id.
``mmlong doctor`` prints :func:`report`; mmlong's ``native`` scheme always uses the original rule.
"""

from __future__ import annotations

import types
from dataclasses import dataclass

import torch

_CLASSES = {"qwen2_vl": "Qwen2VLModel", "qwen2_5_vl": "Qwen2_5_VLModel", "qwen3_vl": "Qwen3VLModel"}


@dataclass(frozen=True)
class Divergence:
    """The first text token after a long video: its id under transformers and under the original rule."""

    family: str
    transformers_id: int | None  # None when transformers raised
    original_id: int
    error: str | None = None

    @property
    def diverges(self) -> bool:
        return self.transformers_id != self.original_id


def check(family: str, frames: int = 6) -> Divergence:
    """Compare transformers' ``get_rope_index`` with ``native`` on: text, a (frames, 2, 2) video, text."""
    import transformers as T

    from mmlong.pos_encodings.api import position_ids

    from mmlong.models.tiny import tiny_config

    cfg = tiny_config(family)
    q3 = family == "qwen3_vl"
    row = [7, 259]
    if q3:
        for _ in range(frames):
            row += [262] * 4 + [260, 7, 259]
        row = row[:-2]
    else:
        row += [262] * (4 * frames) + [260]
    row += [7]
    ids = torch.tensor([row])
    grid = torch.tensor([[frames, 4, 4]])
    kw = {"second_per_grid_ts": torch.tensor([0.5])} if family == "qwen2_5_vl" else {}
    ours, _ = position_ids("native", ids, config=cfg, video_grid_thw=grid, **kw)
    original = int(ours[0, 0, -1])
    cls = getattr(T, _CLASSES[family])
    ns = types.SimpleNamespace(config=cfg)
    ns.get_vision_position_ids = types.MethodType(cls.get_vision_position_ids, ns)
    try:
        ref, _ = cls.get_rope_index(ns, ids, mm_token_type_ids=(ids == 262).int() * 2, video_grid_thw=grid.clone(), **kw)
        return Divergence(family, int(ref[0, 0, -1]), original)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return Divergence(family, None, original, f"{type(exc).__name__}: {exc}")


def report() -> list[Divergence]:
    """:func:`check` for every family whose classes the installed transformers has."""
    import transformers as T

    return [check(f) for f, c in _CLASSES.items() if hasattr(T, c)]
