"""Plan the frames of a video before decoding: frames x resolution x tokens x memory.

``plan(video, model, settings)`` answers "which frames, at what size, for how many visual
tokens and how much memory?" from the video's metadata and the model's config alone (no
frame is decoded, no weight is loaded); :func:`sample_planned` then decodes exactly the
planned frames at the planned size. ``mmlong plan`` prints it, and ``mmlong ask`` /
``Pipeline.ask`` feed the model exactly what it says::

    from mmlong.tokens import plan, sample_planned
    from mmlong.video import FrameSettings

    p = plan("talk.mp4", "Qwen/Qwen2.5-VL-7B-Instruct", FrameSettings(budget="64k"))
    print(p.summary())   # frames, HxW, tokens per frame x temporal patches, KV-cache estimate
    clip = sample_planned("talk.mp4", p)
    inputs = build_inputs(family, tokenizer, p.vision_spec(spec), question, videos=[clip])

The frames come from the settings' sampling policy (:data:`mmlong.tokens.policies.POLICIES`:
``"mmlong"``, the default, or ``"qwen-vl-utils"``, see :mod:`mmlong.tokens.qwen_sampling`);
mmlong's own (:func:`plan_mmlong`) follows these rules (``f`` = patch_size * merge_size, 28
or 32; ``tps`` = temporal_patch_size, 2):

**Without a budget**: the times of :func:`mmlong.video.sampling.sample_times` (``rate`` fps
exactly ``1/fps`` apart, or segment centres when a frame cap or ``num_frames`` applies), each
frame ``smart_resize``d into the model's per-frame pixel range (or ``min_pixels`` /
``max_pixels``), the size the processor would give it.

**With a budget** (qwen-vl-utils' ``fps`` / ``min_pixels`` / ``max_pixels`` / ``total_pixels``
logic with explicit arguments instead of env vars):

1. Frames (qwen-vl-utils ``smart_nframes``, made total): ``n = span * fps`` clamped to
   ``[ceil_tps(min_frames), floor_tps(min(frame_cap, source frames in the window))]``,
   floored to a multiple of ``tps``; never below 1 (a 1-frame video is padded by repeating).
2. Resolution: the per-frame pixel cap is ``min(max_pixels_per_frame,
   budget * f^2 / ceil(n / tps))`` and the frame is ``smart_resize``d into
   ``[min_pixels_per_frame, cap]``. qwen-vl-utils lets ``1.05 * min_pixels`` override the
   total budget; mmlong never exceeds the budget and drops frames (``n -= tps``) instead.
3. Tokens: a temporal patch of ``tps`` frames at ``h x w`` costs ``h * w / f^2`` LLM tokens
   (``tokens_per_frame``, qwen-vl-utils' "tokens per frame"); ``total = ceil(n / tps) * that``.

Worked example (Qwen2.5-VL, f = 28, per-frame pixels 100,352..602,112, a 60 s 30 fps
640x360 clip, budget 4096 tokens, fps 2): rule 1 gives ``n = 60 * 2 = 120``. At the
per-frame minimum a temporal patch costs 100352 / 784 = 128 tokens, so at most
``floor(4096 / 128) = 32`` patches fit: start at ``n = 64``. Cap ``= min(602112,
4096 * 784 / 32) = 100352``; ``smart_resize(360, 640, 28, 100352, 100352)``: rounding gives
364x644 (too big), ``beta = sqrt(360 * 640 / 100352) = 1.515``, ``h = floor(360 / 1.515 / 28)
* 28 = 224``, ``w = floor(640 / 1.515 / 28) * 28 = 420`` -> 224 * 420 / 784 = 120 tokens per
patch, ``32 * 120 = 3840 <= 4096``. Plan: 64 frames at 224x420, 3840 tokens.

Tests: ``python -m pytest tests/tokens -q``.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from dataclasses import dataclass, field
from typing import Any

from mmlong.errors import MmlongError
from mmlong.tokens.memory import MemoryEstimate, estimate_memory
from mmlong.tokens.rules import fit_resolution, frame_count, video_meta
from mmlong.video.settings import FrameSettings, parse_tokens

__all__ = ["Plan", "plan", "plan_mmlong", "finish_plan", "frame_settings", "parse_tokens", "video_meta", "sample_planned",
           "frame_count", "fit_resolution"]


@dataclass(frozen=True)
class Plan:
    """Frames, resolution, tokens and memory for one video, resolved before decoding.

    Attributes:
        frames: number of frames to sample (N).
        timestamps: (N,) requested sample times in seconds; the decoded frames carry their
            actual pts, within one source frame of these.
        height: resized frame height (a multiple of ``factor``).
        width: resized frame width.
        tokens_per_frame: LLM tokens per temporal patch of ``temporal_patch_size`` frames,
            ``height * width / factor^2`` (qwen-vl-utils' per-frame token count).
        temporal_patches: ``ceil(frames / temporal_patch_size)``.
        total_tokens: ``temporal_patches * tokens_per_frame`` (<= the budget when there is one).
        settings: the :class:`~mmlong.video.settings.FrameSettings` planned for.
        model: label of the model.
        family: mmlong family name, or None.
        factor: ``patch_size * merge_size``.
        temporal_patch_size: frames per temporal patch.
        min_pixels: the per-frame minimum area used.
        max_pixels: the per-frame cap used (budget- and model-limited).
        start: window start (s).
        end: window end (s).
        source: the video's metadata (``duration``, ``fps``, ``width``, ``height``, ``num_frames``).
        memory: estimated memory, when the model config is known.
        spec: the model's base VisionSpec (see :meth:`vision_spec`).
        second_per_grid_ts: seconds per temporal patch a Qwen2.5-VL model is told; None =
            from the decoded frames' times (mmlong), ``tps / sample_fps`` under qwen-vl-utils.
    """

    frames: int
    timestamps: tuple[float, ...]
    height: int
    width: int
    tokens_per_frame: int
    temporal_patches: int
    total_tokens: int
    settings: FrameSettings
    model: str
    family: str | None
    factor: int
    temporal_patch_size: int
    min_pixels: int
    max_pixels: int
    start: float
    end: float
    source: dict = field(default_factory=dict)
    memory: MemoryEstimate | None = None
    spec: Any = field(default=None, repr=False)
    second_per_grid_ts: float | None = None

    @property
    def budget(self) -> int | None:
        """The visual token budget planned for, or None."""
        return self.settings.budget

    @property
    def sample_fps(self) -> float:
        """Frames per second of video time: ``frames / (end - start)`` (``frames`` for a 0-s window)."""
        span = self.end - self.start
        return self.frames / span if span > 0 else float(self.frames)

    def vision_spec(self, base: Any = None) -> Any:
        """``base`` (default: the model's spec) pinned to this plan's frame size.

        ``video_min_pixels = video_max_pixels = height * width``, so ``build_inputs`` keeps
        frames sampled at ``(height, width)`` exactly as they are.
        """
        base = base if base is not None else self.spec
        return dataclasses.replace(base, video_min_pixels=self.height * self.width,
                                   video_max_pixels=self.height * self.width)

    def summary(self) -> str:
        """The one-line plan, e.g. ``"64 frames (1.07 fps) at 224x420 -> 120 tokens x 32 temporal
        patches = 3840 / 4096 visual tokens"`` (``"... = 3840 visual tokens, no budget"`` without one)."""
        of = f" / {self.budget}" if self.budget is not None else ""
        line = (f"{self.frames} frames ({self.sample_fps:.2f} fps) at {self.height}x{self.width} -> "
                f"{self.tokens_per_frame} tokens x {self.temporal_patches} temporal patches = "
                f"{self.total_tokens}{of} visual tokens" + ("" if of else ", no budget"))
        if self.memory is not None:
            gib = 1024**3
            line += (f"; seq {self.memory.seq_len}: KV cache {self.memory.kv_cache_bytes / gib:.2f} GiB, "
                     f"activations ~{self.memory.activation_bytes / gib:.2f} GiB ({self.memory.dtype})")
        return line

    def as_dict(self) -> dict:
        """JSON-ready dict of every field (the spec as a dict, timestamps as a list)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["timestamps"] = list(self.timestamps)
        out["settings"] = self.settings.as_dict()
        out["memory"] = dataclasses.asdict(self.memory) if self.memory is not None else None
        out["spec"] = dataclasses.asdict(self.spec) if self.spec is not None else None
        out["sample_fps"] = self.sample_fps
        if self.memory is not None:
            out["memory"]["total_bytes"] = self.memory.total_bytes
        return out


def frame_settings(settings: Any = None, **overrides: Any) -> FrameSettings:
    """A :class:`FrameSettings` from settings, a dict, or a budget (``16384``, ``"64k"``), plus overrides.

    Example: ``frame_settings("16k", fps=2) == FrameSettings(fps=2, budget=16384)``.
    """
    if isinstance(settings, (str, int)) and not isinstance(settings, bool):
        settings = {"budget": parse_tokens(settings)}
    return FrameSettings.of(settings, **overrides)


def _text_tokens(info: Any, patches: int, text_tokens: int) -> int:
    """Prompt tokens besides visual ones: ``text_tokens`` + Qwen3-VL's per-patch
    ``"<12.3 seconds>"`` + vision start/end (about 9 tokens each), or 2 wrapper tokens."""
    return text_tokens + (9 * patches if info.per_frame_timestamps else 2)


def plan(video_or_meta: Any, model: Any, settings: Any = None, *, text_tokens: int = 128,
         max_new_tokens: int = 128, dtype: Any = "bfloat16", attn_implementation: str = "sdpa",
         **overrides: Any) -> Plan:
    """Resolve frames x resolution for a video from metadata only (see the module rules).

    Args:
        video_or_meta: a path, VideoSource, VideoInfo, Clip or metadata dict (see :func:`video_meta`).
        model: hub id, local checkpoint, config, loaded model, family name, ``tiny:FAMILY``,
            a VisionSpec or a direct-route pipeline (see :func:`mmlong.models.hub.describe`).
        settings: a :class:`~mmlong.video.settings.FrameSettings`, a dict of its fields, a
            budget (``16384``, ``"64k"``), or None (the defaults: no budget).
        text_tokens: prompt text tokens to assume for the memory estimate.
        max_new_tokens: generated tokens to assume for the memory estimate.
        dtype: dtype of the memory estimate.
        attn_implementation: attention of the memory estimate (``"eager"`` adds L^2 scores).
        **overrides: FrameSettings fields that replace those of ``settings`` (``fps=2``,
            ``num_frames=8``, ``max_frames``, ``start``, ``end``, ``budget``, ...).

    Returns:
        A :class:`Plan`; with a budget, ``total_tokens <= budget``.

    Raises:
        MmlongError: bad settings or window, unknown model, or a budget below one frame.
    """
    from mmlong.models.hub import describe
    from mmlong.tokens.policies import POLICIES

    s = frame_settings(settings, **overrides)
    module, _, name = POLICIES[s.sampling].partition(":")
    policy = getattr(importlib.import_module(module), name)
    return policy(video_meta(video_or_meta), describe(model), s, text_tokens=text_tokens,
                  max_new_tokens=max_new_tokens, dtype=dtype, attn_implementation=attn_implementation)


def plan_mmlong(meta: dict, info: Any, s: FrameSettings, *, text_tokens: int = 128, max_new_tokens: int = 128,
                dtype: Any = "bfloat16", attn_implementation: str = "sdpa") -> Plan:
    """mmlong's sampling policy (the module rules): real-time spacing, segment centres when capped."""
    from mmlong.models.vision_inputs import smart_resize
    from mmlong.video.sampling import sample_times

    spec = info.spec
    f, tps = spec.factor, spec.temporal_patch_size
    lo = s.min_pixels or (spec.video_min_pixels if spec.video_min_pixels is not None else spec.min_pixels)
    hi = s.max_pixels or (spec.video_max_pixels if spec.video_max_pixels is not None else spec.max_pixels)
    if lo > hi:
        raise MmlongError(f"min_pixels ({lo}) is above the model's per-frame maximum ({hi}); lower --min-pixels")
    t0 = min(max(0.0, float(s.start or 0.0)), meta["duration"])
    t1 = meta["duration"] if s.end is None else min(max(t0, float(s.end)), meta["duration"])
    if s.budget is None:
        times = sample_times(t0, t1, fps=s.rate, num_frames=s.num_frames, max_frames=s.frame_cap,
                             min_frames=s.min_frames, source_fps=meta["fps"])
        h, w = smart_resize(meta["height"], meta["width"], f, lo, hi)
        cap = hi
    else:
        n0 = frame_count(t1 - t0, meta["fps"], s, tps)
        n, h, w, cap = fit_resolution(meta["height"], meta["width"], n0, s.budget, f, tps, lo, hi)
        times = sample_times(t0, t1, num_frames=n, max_frames=n, source_fps=meta["fps"])
    return finish_plan(meta, info, s, times, (h, w), (lo, cap), (t0, t1), text_tokens=text_tokens,
                       max_new_tokens=max_new_tokens, dtype=dtype, attn_implementation=attn_implementation)


def finish_plan(meta: dict, info: Any, s: FrameSettings, times: Any, size: tuple[int, int],
                pixels: tuple[int, float], window: tuple[float, float], *, second_per_grid_ts: float | None = None,
                text_tokens: int = 128, max_new_tokens: int = 128, dtype: Any = "bfloat16",
                attn_implementation: str = "sdpa") -> Plan:
    """The :class:`Plan` of a policy's choice: (N,) ``times``, ``size`` = (h, w), ``pixels`` = the
    per-frame (min, cap) used, ``window`` = (start, end) s; adds token counts and the memory estimate."""
    spec = info.spec
    f, tps = spec.factor, spec.temporal_patch_size
    h, w = size
    n = len(times)
    patches = math.ceil(n / tps)
    per = h * w // (f * f)
    seq = patches * per + _text_tokens(info, patches, text_tokens) + max_new_tokens
    mem = estimate_memory(info, seq, patches * per, temporal_patches=patches, dtype=dtype,
                          attn_implementation=attn_implementation)
    return Plan(frames=n, timestamps=tuple(float(t) for t in times), height=h, width=w, tokens_per_frame=per,
                temporal_patches=patches, total_tokens=patches * per, settings=s, model=info.name, family=info.family,
                factor=f, temporal_patch_size=tps, min_pixels=int(pixels[0]), max_pixels=int(pixels[1]),
                start=window[0], end=window[1], source=meta, memory=mem, spec=spec,
                second_per_grid_ts=second_per_grid_ts)


def sample_planned(video: Any, p: Plan, *, backend: str | None = None) -> Any:
    """Decode exactly the planned frames of ``video`` (a path or open VideoSource) at ``(p.height, p.width)``.

    The Clip carries the plan's ``second_per_grid_ts`` (None: the model is told its frames' times)."""
    from mmlong.video.sampling import decode_at

    clip = decode_at(video, p.timestamps, size=(p.height, p.width), backend=backend)
    return dataclasses.replace(clip, second_per_grid_ts=p.second_per_grid_ts) if p.second_per_grid_ts else clip
