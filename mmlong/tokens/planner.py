"""Token budgets for video: choose frames x resolution from metadata, before decoding.

``plan(video, model, "64k")`` answers "how many frames, at what size, for how many visual
tokens and how much memory?" from the video's metadata and the model's config alone (no
frame is decoded, no weight is loaded). :func:`sample_for_budget` then decodes exactly the
planned frames at the planned size. This is qwen-vl-utils' ``fps`` / ``min_pixels`` /
``max_pixels`` / ``total_pixels`` logic with explicit arguments instead of env vars::

    from mmlong.tokens.planner import TokenBudget, plan, sample_for_budget

    p = plan("talk.mp4", "Qwen/Qwen2.5-VL-7B-Instruct", "64k")
    print(p.summary())   # frames, HxW, tokens per frame x temporal patches, KV-cache estimate
    clip, spec = sample_for_budget("talk.mp4", "Qwen/Qwen2.5-VL-7B-Instruct", "64k")
    inputs = build_inputs(family, tokenizer, spec, question, videos=[clip])

Rules (``f`` = patch_size * merge_size, 28 or 32; ``tps`` = temporal_patch_size, 2):

1. Frames (qwen-vl-utils ``smart_nframes``, made total): ``n = span * fps`` clamped to
   ``[ceil_tps(min_frames), floor_tps(min(max_frames, source frames in the window))]``,
   floored to a multiple of ``tps``; never below 1 (a 1-frame video is padded by repeating).
2. Resolution: the per-frame pixel cap is ``min(max_pixels_per_frame,
   max_visual_tokens * f^2 / ceil(n / tps))`` and the frame is ``smart_resize``d into
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

Tests: ``python -m pytest tests/video -q -k budget``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from dataclasses import dataclass, field
from typing import Any

from mmlong.errors import MmlongError
from mmlong.tokens.memory import MemoryEstimate, ModelInfo, estimate_memory, resolve_model
from mmlong.tokens.rules import fit_resolution, frame_count, video_meta

__all__ = ["TokenBudget", "Plan", "parse_tokens", "plan", "video_meta", "sample_planned", "sample_for_budget",
           "frame_count", "fit_resolution"]

_TOKENS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")


def parse_tokens(value: Any) -> int:
    """A token count from an int or a string: ``"64k" -> 65536`` (k = 1024, M = 1024^2).

    Examples: ``parse_tokens(16384) == parse_tokens("16k") == 16384``;
    ``parse_tokens("1.5k") == 1536``; ``parse_tokens("256K") == 262144``.

    Raises:
        MmlongError: not a positive count.
    """
    if isinstance(value, bool):
        value = None
    if isinstance(value, numbers.Integral):
        n = int(value)
    elif isinstance(value, str) and (m := _TOKENS.match(value)):
        n = int(float(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2}[m.group(2).lower()])
    else:
        n = 0
    if n < 1:
        raise MmlongError(f"a token budget must be a positive count such as 16384, '16k' or '64k', got {value!r}")
    return n


@dataclass(frozen=True)
class TokenBudget:
    """How many visual tokens one video may cost, and the per-frame limits (no env vars).

    Attributes:
        max_visual_tokens: LLM tokens for all frames of the video, after the spatial merge
            (``"64k"`` = 65,536); qwen-vl-utils' ``total_pixels / f^2``.
        max_frames: cap on sampled frames (qwen-vl-utils ``FPS_MAX_FRAMES``).
        min_pixels_per_frame: smallest resized frame area; None = the model's per-frame
            minimum (``VisionSpec.video_min_pixels``, 128 tokens' worth for Qwen2/2.5-VL).
        max_pixels_per_frame: largest resized frame area; None = the model's per-frame
            maximum (``VisionSpec.video_max_pixels``, 768 tokens' worth).
        fps: sampling rate before the caps (qwen-vl-utils ``FPS``).
        min_frames: lower clamp on the frame count when the video has that many frames.
    """

    max_visual_tokens: int
    max_frames: int = 768
    min_pixels_per_frame: int | None = None
    max_pixels_per_frame: int | None = None
    fps: float = 2.0
    min_frames: int = 4

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_visual_tokens", parse_tokens(self.max_visual_tokens))
        for name in ("max_frames", "min_frames"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise MmlongError(f"TokenBudget.{name} must be an integer >= 1, got {v!r}")
        if not (isinstance(self.fps, numbers.Real) and math.isfinite(self.fps) and self.fps > 0):
            raise MmlongError(f"TokenBudget.fps must be a positive number, got {self.fps!r}")
        lo, hi = self.min_pixels_per_frame, self.max_pixels_per_frame
        for name, v in (("min_pixels_per_frame", lo), ("max_pixels_per_frame", hi)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1):
                raise MmlongError(f"TokenBudget.{name} must be a positive pixel count or None, got {v!r}")
        if lo is not None and hi is not None and lo > hi:
            raise MmlongError(f"min_pixels_per_frame ({lo}) is above max_pixels_per_frame ({hi}); swap or lower it")

    @classmethod
    def of(cls, value: Any, **overrides: Any) -> TokenBudget:
        """A budget from a TokenBudget, an int / ``"64k"`` string, or a dict of fields.

        ``overrides`` that are not None replace fields, e.g. ``TokenBudget.of("16k", fps=1.0)``.
        """
        if isinstance(value, TokenBudget):
            base = value
        elif isinstance(value, dict):
            try:
                base = cls(**value)
            except TypeError as exc:
                raise MmlongError(f"bad TokenBudget fields ({exc}); use {[f.name for f in dataclasses.fields(cls)]}") from None
        else:
            base = cls(value)
        changes = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(base, **changes) if changes else base


@dataclass(frozen=True)
class Plan:
    """Frames, resolution, tokens and memory for one video, resolved before decoding.

    Attributes:
        frames: number of frames to sample (N).
        timestamps: (N,) requested sample times in seconds (segment centres of the window);
            the decoded frames carry their actual pts, within one source frame of these.
        height: resized frame height (a multiple of ``factor``).
        width: resized frame width.
        tokens_per_frame: LLM tokens per temporal patch of ``temporal_patch_size`` frames,
            ``height * width / factor^2`` (qwen-vl-utils' per-frame token count).
        temporal_patches: ``ceil(frames / temporal_patch_size)``.
        total_tokens: ``temporal_patches * tokens_per_frame`` <= the budget.
        budget: the resolved :class:`TokenBudget`.
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
    """

    frames: int
    timestamps: tuple[float, ...]
    height: int
    width: int
    tokens_per_frame: int
    temporal_patches: int
    total_tokens: int
    budget: TokenBudget
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
        """The one-line "resolved budget", e.g.
        ``"64 frames (1.07 fps) at 224x420 -> 120 tokens x 32 temporal patches = 3840 / 4096 visual tokens"``."""
        line = (f"{self.frames} frames ({self.sample_fps:.2f} fps) at {self.height}x{self.width} -> "
                f"{self.tokens_per_frame} tokens x {self.temporal_patches} temporal patches = "
                f"{self.total_tokens} / {self.budget.max_visual_tokens} visual tokens")
        if self.memory is not None:
            gib = 1024**3
            line += (f"; seq {self.memory.seq_len}: KV cache {self.memory.kv_cache_bytes / gib:.2f} GiB, "
                     f"activations ~{self.memory.activation_bytes / gib:.2f} GiB ({self.memory.dtype})")
        return line

    def as_dict(self) -> dict:
        """JSON-ready dict of every field (the spec as a dict, timestamps as a list)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["timestamps"] = list(self.timestamps)
        out["budget"] = dataclasses.asdict(self.budget)
        out["memory"] = dataclasses.asdict(self.memory) if self.memory is not None else None
        out["spec"] = dataclasses.asdict(self.spec) if self.spec is not None else None
        out["sample_fps"] = self.sample_fps
        if self.memory is not None:
            out["memory"]["total_bytes"] = self.memory.total_bytes
        return out


def _text_tokens(info: ModelInfo, patches: int, text_tokens: int) -> int:
    """Prompt tokens besides visual ones: ``text_tokens`` + Qwen3-VL's per-patch
    ``"<12.3 seconds>"`` + vision start/end (about 9 tokens each), or 2 wrapper tokens."""
    return text_tokens + (9 * patches if info.per_frame_timestamps else 2)


def plan(video_or_meta: Any, model: Any, budget: Any, *, fps: float | None = None, max_frames: int | None = None,
         num_frames: int | None = None, start: float | None = None, end: float | None = None,
         text_tokens: int = 128, max_new_tokens: int = 128, dtype: Any = "bfloat16",
         attn_implementation: str = "sdpa") -> Plan:
    """Resolve frames x resolution for ``budget`` from metadata only (see the module rules).

    Args:
        video_or_meta: a path, VideoSource, VideoInfo, Clip or metadata dict (see :func:`video_meta`).
        model: hub id, local checkpoint, config, loaded model, family name, ``tiny:FAMILY`` or
            a VisionSpec (see :func:`~mmlong.tokens.memory.resolve_model`).
        budget: a :class:`TokenBudget`, an int, a string like ``"64k"``, or a dict of fields.
        fps: overrides ``budget.fps``.
        max_frames: overrides ``budget.max_frames``.
        num_frames: a fixed frame count instead of ``fps`` (clamped to the video and caps).
        start: window start in seconds (default 0).
        end: window end in seconds (default the duration).
        text_tokens: prompt text tokens to assume for the memory estimate.
        max_new_tokens: generated tokens to assume for the memory estimate.
        dtype: dtype of the memory estimate.
        attn_implementation: attention of the memory estimate (``"eager"`` adds L^2 scores).

    Returns:
        A :class:`Plan` with ``total_tokens <= budget.max_visual_tokens``.

    Raises:
        MmlongError: bad budget or window, unknown model, or a budget below one frame.
    """
    b = TokenBudget.of(budget, fps=fps, max_frames=max_frames)
    meta = video_meta(video_or_meta)
    info = resolve_model(model)
    spec = info.spec
    f, tps = spec.factor, spec.temporal_patch_size
    lo = b.min_pixels_per_frame or (spec.video_min_pixels if spec.video_min_pixels is not None else spec.min_pixels)
    hi = b.max_pixels_per_frame or (spec.video_max_pixels if spec.video_max_pixels is not None else spec.max_pixels)
    if lo > hi:
        raise MmlongError(f"min_pixels_per_frame ({lo}) is above the per-frame maximum ({hi}); lower it")
    t0 = min(max(0.0, float(start or 0.0)), meta["duration"])
    t1 = meta["duration"] if end is None else min(max(t0, float(end)), meta["duration"])
    if start is not None and end is not None and start > end:
        raise MmlongError(f"start ({start}) is after end ({end}); pass start <= end")
    n0 = frame_count(t1 - t0, meta["fps"], b, tps, num_frames)
    n, h, w, cap = fit_resolution(meta["height"], meta["width"], n0, b.max_visual_tokens, f, tps, lo, hi)
    from mmlong.video.sampling import sample_times

    times = sample_times(t0, t1, num_frames=n, max_frames=n, source_fps=meta["fps"])
    n = len(times)
    patches = math.ceil(n / tps)
    per = h * w // (f * f)
    seq = patches * per + _text_tokens(info, patches, text_tokens) + max_new_tokens
    mem = estimate_memory(info, seq, patches * per, temporal_patches=patches, dtype=dtype,
                          attn_implementation=attn_implementation)
    return Plan(frames=n, timestamps=tuple(float(t) for t in times), height=h, width=w, tokens_per_frame=per,
                temporal_patches=patches, total_tokens=patches * per, budget=b, model=info.name, family=info.family,
                factor=f, temporal_patch_size=tps, min_pixels=int(lo), max_pixels=int(cap), start=t0, end=t1,
                source=meta, memory=mem, spec=spec)


def sample_planned(path: Any, p: Plan, *, backend: str | None = None) -> Any:
    """Decode exactly the planned frames of ``path`` at ``(p.height, p.width)``; returns a Clip."""
    from mmlong.video.sampling import sample

    return sample(path, num_frames=p.frames, max_frames=p.frames, start=p.start, end=p.end,
                  size=(p.height, p.width), backend=backend)


def sample_for_budget(path: Any, model_or_spec: Any, budget: Any, **plan_kwargs: Any) -> tuple[Any, Any]:
    """Plan, then decode: ``(Clip, VisionSpec)`` ready for ``build_inputs(..., spec=spec, videos=[clip])``.

    Args:
        path: the video file.
        model_or_spec: anything :func:`plan` accepts as ``model`` (a Pipeline's ``spec`` works).
        budget: the token budget (``"64k"``, an int, a :class:`TokenBudget` or a dict).
        **plan_kwargs: passed to :func:`plan` (``fps``, ``max_frames``, ``start``, ``end``, ...).

    Returns:
        The sampled Clip (frames already at the planned size) and the spec pinned to that
        size (:meth:`Plan.vision_spec`), so the visual token count equals ``plan.total_tokens``.
    """
    p = plan(path, model_or_spec, budget, **plan_kwargs)
    return sample_planned(path, p), p.vision_spec()
