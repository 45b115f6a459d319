"""Patch a loaded transformers Qwen-VL model in place with a position scheme; undo it.

Two instance-level overrides, no modeling file copied:

* ``inner.get_rope_index`` (``inner`` = the ``*Model`` under ``*ForConditionalGeneration``)
  returns the scheme's float (3, B, L) ids and float ``rope_deltas``. transformers calls it
  at prefill, both in ``forward`` and in ``generate`` (``_prepare_position_ids_for_generation``);
  decode steps continue each row by +1 from the last prompt token, which equals
  ``next_pos`` for prompts that end in text (every chat prompt does).
* ``rotary_emb.forward`` builds cos/sin from the scheme's slot map: slot i of token n is
  rotated by ``pos[axis[i], n] * inv_freq[i]``; cos and sin are multiplied by the scheme's
  attention scaling.

A default-mode stretch (``stretch={"keep": K, "ratio": r}``) is a function of the id value
alone, and its slope changes at K, so no rope delta reproduces it: ``get_rope_index`` then
returns the unstretched ids (transformers continues those exactly, by rope delta or by +1 in
``generate``) and the rotary module stretches every id it receives, at prefill and at each
decode step, from that token's unstretched id. A temporal-only stretch never moves text, so
``get_rope_index`` returns its stretched ids and decoding continues them by +1 as usual.

Per-call data that is not a model input (per-frame ``video_timestamps``) is handed over with
:func:`video_timestamps`::

    with mmlong.pos_encodings.patch.video_timestamps(model, [clip.timestamps]):
        model.generate(**inputs)
"""

from __future__ import annotations

import contextlib
import dataclasses
import types
import warnings
from dataclasses import dataclass, field

import torch

from mmlong.errors import MmlongError
from mmlong.pos_encodings.api import frequencies, position_ids
from mmlong.pos_encodings.context import PosContext
from mmlong.pos_encodings.options import PosOptions
from mmlong.pos_encodings.registry import get_scheme, resolve_rule
from mmlong.pos_encodings.stretch import elementwise, stretch_values

_ATTR = "_mmlong_pos"


@dataclass
class PosPatch:
    """What :func:`apply` installed on a model (kept on ``model._mmlong_pos``)."""

    scheme: str
    options: PosOptions
    ctx: PosContext
    axis: torch.Tensor  # (D/2,) long
    inv_freq: torch.Tensor  # (D/2,) float32
    attention_scaling: float
    inner: object = None
    rotary: object = None
    extra: dict = field(default_factory=dict)  # per-call inputs, e.g. video_timestamps

    def describe(self) -> dict:
        return {"scheme": self.scheme, **{k: v for k, v in self.options.as_dict().items()}}


def _patched_get_rope_index(self, input_ids, mm_token_type_ids=None, image_grid_thw=None,
                            video_grid_thw=None, second_per_grid_ts=None, attention_mask=None, **kwargs):
    st: PosPatch = getattr(self, _ATTR)
    if (video_grid_thw is not None and second_per_grid_ts is None and st.extra.get("video_timestamps") is None
            and resolve_rule(get_scheme(st.scheme), st.ctx) == "abs_time"):
        warnings.warn("Qwen2.5-VL video without second_per_grid_ts or timestamps: assuming 1 s per temporal "
                      "patch (fps 2) as transformers does; pass what the processor returned", stacklevel=2)
        second_per_grid_ts = torch.ones(len(video_grid_thw))
    if attention_mask is not None and attention_mask.ndim != 2:
        attention_mask = None
    opts = st.options
    if elementwise(opts.stretch):  # stretched in the rotary module, decode steps included
        opts = dataclasses.replace(opts, stretch=None)
    pos, deltas = position_ids(
        st.scheme, input_ids, config=st.ctx, image_grid_thw=image_grid_thw, video_grid_thw=video_grid_thw,
        second_per_grid_ts=second_per_grid_ts, video_timestamps=st.extra.get("video_timestamps"),
        attention_mask=attention_mask, options=opts,
    )
    return pos.to(input_ids.device), deltas.to(input_ids.device)


@torch.no_grad()
def _patched_rotary_forward(self, x, position_ids):
    st: PosPatch = getattr(self, _ATTR)
    if position_ids.ndim == 2:
        position_ids = position_ids[None].expand(3, -1, -1)
    pos = position_ids.expand(3, -1, -1).to(device=x.device, dtype=torch.float32)  # (3, B, L)
    s = st.options.stretch
    if elementwise(s):  # every token's id from its unstretched id, prefill and decode alike
        pos = stretch_values(pos, s.keep, s.ratio)
    axis = self._mmlong_axis.to(x.device)
    inv = self._mmlong_inv_freq.to(device=x.device, dtype=torch.float32)
    freqs = pos[axis] * inv[:, None, None]  # (D/2, B, L): slot i reads its axis
    freqs = freqs.permute(1, 2, 0)  # (B, L, D/2)
    emb = torch.cat((freqs, freqs), dim=-1)  # (B, L, D)
    cos = emb.cos() * st.attention_scaling
    sin = emb.sin() * st.attention_scaling
    return cos.to(dtype=x.dtype), sin.to(dtype=x.dtype)


def apply(model, pos: str = "native", **opts):
    """Patch ``model`` in place with position scheme ``pos``; returns the model.

    Args:
        model: a loaded ``Qwen2VL``/``Qwen2_5_VL``/``Qwen3VL(Moe)`` ``ForConditionalGeneration``
            (or its ``*Model``).
        pos: scheme name (see ``mmlong.pos_encodings.schemes()``).
        **opts: :class:`~mmlong.pos_encodings.options.PosOptions` fields, e.g. ``gamma=0.75``,
            or the stretch ``stretch={"keep": 64, "ratio": 4}`` / ``stretch_keep=64, stretch_ratio=4``.

    Raises:
        MmlongError: unsupported model family, unknown scheme or option, bad option value.
    """
    from mmlong.models.families import inner_model, rotary_module

    get_scheme(pos)
    options = PosOptions.from_kwargs(**opts)
    if getattr(model, _ATTR, None) is not None:
        remove(model)
    ctx = PosContext.from_config(model.config)
    axis, inv, att = frequencies(pos, model.config, options=options)
    inner, rot = inner_model(model), rotary_module(model)
    st = PosPatch(pos, options, ctx, axis, inv, att, inner, rot)
    dev = rot.inv_freq.device if hasattr(rot, "inv_freq") else None
    rot.register_buffer("_mmlong_axis", axis.to(dev), persistent=False)
    rot.register_buffer("_mmlong_inv_freq", inv.to(dev), persistent=False)
    for obj in (model, inner, rot):
        setattr(obj, _ATTR, st)
    inner.get_rope_index = types.MethodType(_patched_get_rope_index, inner)
    rot.forward = types.MethodType(_patched_rotary_forward, rot)
    inner.rope_deltas = None
    return model


def remove(model):
    """Undo :func:`apply`; the model is back to its stock behaviour. Returns the model."""
    st: PosPatch | None = getattr(model, _ATTR, None)
    if st is None:
        return model
    for name in ("_mmlong_axis", "_mmlong_inv_freq"):
        st.rotary._buffers.pop(name, None)
    st.inner.__dict__.pop("get_rope_index", None)
    st.rotary.__dict__.pop("forward", None)
    for obj in (model, st.inner, st.rotary):
        obj.__dict__.pop(_ATTR, None)
    st.inner.rope_deltas = None
    return model


def current(model) -> PosPatch | None:
    """The active patch of ``model``, or ``None``."""
    return getattr(model, _ATTR, None)


@contextlib.contextmanager
def draw_seed(model, seed: int):
    """Use ``seed`` for the scheme's per-item draws (HoPE's ``gamma_choices``) in the calls inside.

    Training passes a new seed every step, so each video gets a fresh gamma; outside the
    context the patch's own ``seed`` option is used (one fixed draw per item).
    """
    st = current(model)
    if st is None:
        raise MmlongError("model is not patched; call mmlong.apply(model, pos=...) first")
    old = st.options
    st.options = dataclasses.replace(old, seed=int(seed))
    try:
        yield
    finally:
        st.options = old


@contextlib.contextmanager
def video_timestamps(model, stamps):
    """Hand per-video frame times (seconds) to the patched model for the calls inside."""
    st = current(model)
    if st is None:
        raise MmlongError("model is not patched; call mmlong.apply(model, pos=...) first")
    old = st.extra.get("video_timestamps")
    st.extra["video_timestamps"] = stamps
    try:
        yield
    finally:
        st.extra["video_timestamps"] = old
