"""Public, model-free entry points: ``position_ids``, ``frequencies``, ``schemes``.

These are what users and outside tests call without loading weights; the patch into a
model (``patch.py``) calls the same functions.
"""

from __future__ import annotations

import torch

from mmlong.errors import MmlongError
from mmlong.models.layout import BatchLayout, parse_batch
from mmlong.pos_encodings.context import PosContext
from mmlong.pos_encodings.frequencies import balanced_sections, base_inv_freq, extend, slot_axes
from mmlong.pos_encodings.options import PosOptions
from mmlong.pos_encodings.registry import SCHEMES, get_scheme, resolve_rule, resolve_slots, rule_fn
from mmlong.pos_encodings.stretch import stretch_positions

PAD_POSITION = 1.0  # Qwen's original code gives padding tokens position 1


def schemes() -> dict[str, str]:
    """Registered scheme names with their one-line descriptions."""
    return {name: s.description for name, s in SCHEMES.items()}


def _ctx(config) -> PosContext:
    return config if isinstance(config, PosContext) else PosContext.from_config(config)


def batch_layout(input_ids, config, *, image_grid_thw=None, video_grid_thw=None, second_per_grid_ts=None,
                 video_timestamps=None, attention_mask=None) -> BatchLayout:
    """The layout :func:`position_ids` reads: the strict parse (every vision token needs its grid).

    Arguments as for :func:`position_ids`; see :func:`mmlong.models.layout.parse_batch`.
    """
    return parse_batch(_ctx(config).tokens, input_ids, image_grid_thw=image_grid_thw, video_grid_thw=video_grid_thw,
                       second_per_grid_ts=second_per_grid_ts, video_timestamps=video_timestamps,
                       attention_mask=attention_mask)


def position_ids(
    scheme: str,
    input_ids: torch.Tensor,
    *,
    config,
    image_grid_thw=None,
    video_grid_thw=None,
    second_per_grid_ts=None,
    video_timestamps=None,
    attention_mask=None,
    **opts,
) -> tuple[torch.Tensor, torch.Tensor]:
    """3-D position ids of a batch under ``scheme``.

    Args:
        scheme: a name from :func:`schemes`.
        input_ids: (B, L) token ids (left or right padded).
        config: the model config (or a :class:`PosContext`).
        image_grid_thw: (n_images, 3) processor grids, in order of appearance over the batch.
        video_grid_thw: (n_videos, 3) processor grids.
        second_per_grid_ts: (n_videos,) seconds per temporal patch (Qwen2.5-VL processors).
        video_timestamps: per video, the times (s) of its sampled frames; exact for VFR clips.
        attention_mask: (B, L) 1 for tokens, 0 for padding.
        **opts: :class:`PosOptions` fields (gamma, delta, scaling, factor, ...), including the
            knowledge-preserved stretch: ``stretch={"keep": K, "ratio": r, "temporal_only": False}``
            (or flat ``stretch_keep=K, stretch_ratio=r``; see :mod:`mmlong.pos_encodings.stretch`).

    Returns:
        position_ids: (3, B, L) float32, stretched when a stretch is set; padding gets 1.
        rope_deltas: (B, 1) float32, ``next_pos - n_tokens`` per sample of the *unstretched*
            ids, so the token at cache index c (counting real tokens) decodes at ``c + delta`` on
            all axes, or, with a default-mode stretch, at ``f(c + delta)`` (``stretch_values``).

    Example:
        >>> pos, delta = position_ids("native", ids, config=model.config, video_grid_thw=g)
        >>> pos, delta = position_ids("native", ids, config=model.config, video_grid_thw=g,
        ...                           stretch={"keep": 64, "ratio": 4})
    """
    sch = get_scheme(scheme)
    ctx = _ctx(config)
    o = opts.pop("options", None) or PosOptions.from_kwargs(**opts)
    batch = batch_layout(input_ids, ctx, image_grid_thw=image_grid_thw, video_grid_thw=video_grid_thw,
                         second_per_grid_ts=second_per_grid_ts, video_timestamps=video_timestamps,
                         attention_mask=attention_mask)
    fn, rule = rule_fn(sch, ctx), resolve_rule(sch, ctx)
    out = torch.full((3, len(batch.rows), batch.width), PAD_POSITION, dtype=torch.float32)
    deltas = torch.zeros(len(batch.rows), 1, dtype=torch.float32)
    for bi, layout in enumerate(batch.rows):
        pos, nxt = fn(layout, ctx, o)
        out[:, bi, layout.tokens.pos] = stretch_positions(pos, layout, o.stretch, rule=rule)
        deltas[bi, 0] = nxt - layout.length
    return out, deltas


def frequencies(scheme: str, config, **opts) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Slot map of ``scheme`` on a model.

    Args:
        scheme: a name from :func:`schemes`.
        config: the model config (or a :class:`PosContext`).
        **opts: :class:`PosOptions` fields (sections, scaling, factor, ...).

    Returns:
        axis: (D/2,) long, the axis (0 t, 1 h, 2 w) each rotary slot reads.
        inv_freq: (D/2,) float32 frequency per slot (0 = no rotation).
        attention_scaling: float multiplying cos and sin (YaRN's temperature, else 1).

    Example (Qwen2-VL, D = 128): ``axis[:16] == 0``, ``axis[16:40] == 1``, ``axis[40:] == 2``.
    """
    sch = get_scheme(scheme)
    ctx = _ctx(config)
    o = opts.pop("options", None) or PosOptions.from_kwargs(**opts)
    kind = resolve_slots(sch, ctx)
    n = ctx.head_dim // 2
    if o.sections is not None:
        sections = o.sections
    elif kind == "interleaved" and ctx.native_scheme != "interleaved":
        sections = balanced_sections(n)
    else:
        sections = ctx.mrope_section
    axis = slot_axes(kind, n, sections)
    scaling = o.scaling or sch.scaling
    theta, att0 = _config_rope(config, ctx) if scaling is None else (base_inv_freq(ctx), 1.0)
    inv, att = extend(theta, axis, kind, ctx, o, scaling)
    att = att * att0
    if sch.zero_t:
        inv = torch.where(axis == 0, torch.zeros_like(inv), inv)
    return axis, inv.to(torch.float32), float(att)


#: transformers rope types whose frequencies change with the sequence length inside forward
DYNAMIC_ROPE_TYPES = ("dynamic", "longrope")


def _config_rope(config, ctx: PosContext) -> tuple[torch.Tensor, float]:
    """theta and cos/sin scale as the config's own ``rope_type`` gives them (e.g. a YaRN config).

    With ``rope_type: default`` this is ``b^(-2i/D)``; otherwise transformers' init function
    is used, so ``native`` reproduces a checkpoint's configured scaling exactly.
    """
    if isinstance(config, PosContext):
        return base_inv_freq(ctx), 1.0
    from mmlong.models.families import text_config

    tc = text_config(config)
    rp = dict(getattr(tc, "rope_parameters", None) or {})
    rope_type = rp.get("rope_type", "default")
    if rope_type == "default":
        return base_inv_freq(ctx), 1.0
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    if rope_type not in ROPE_INIT_FUNCTIONS:
        raise MmlongError(f"the config's rope_type {rope_type!r} is not known to transformers")
    if rope_type in DYNAMIC_ROPE_TYPES:
        import warnings

        warnings.warn(f"rope_type {rope_type!r} rescales frequencies at run time as sequences grow; mmlong uses its "
                      "initial (unscaled) frequencies. For long inputs pass a static extension instead, e.g. "
                      "scaling='ntk' or 'yarn' with factor=...", stacklevel=3)
    inv, att = ROPE_INIT_FUNCTIONS[rope_type](tc)
    return inv.to(torch.float32), float(att)
