"""``mmlong.load``: settings resolved once, then the pipeline of the chosen route.

::

    pipe = mmlong.load("default")                                   # language route, offline
    pipe = mmlong.load("Qwen/Qwen2.5-VL-7B-Instruct", pos="hope", gamma=1.5, budget="64k")
    ans = pipe.ask("When does the speaker open the laptop?", video="talk.mp4")

:func:`resolve` does everything ``load`` decides without loading a weight (the route, the
family, device and dtype, the :class:`~mmlong.video.settings.FrameSettings`, the scheme and
its options): ``mmlong ask --dry-run`` prints it. ``load`` takes a hub id or local path
exactly as transformers does, or ``tiny:FAMILY`` (a random-weight model built offline, for
tests and smoke runs); names are resolved by :mod:`mmlong.models.hub`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mmlong.errors import MmlongError
from mmlong.pipeline.base import check_max_new_tokens

__all__ = ["load", "resolve", "default_route", "split_frame_options", "ROUTES"]

ROUTES = ("silvr", "direct")  # the language route (OCR + ASR -> LLM) and frames -> a Qwen-VL model


def default_route(model: str, route: str | None = None) -> str:
    """``route``, or the one ``load`` picks for ``model``: the language route for "default", else direct."""
    route = route or ("silvr" if model == "default" else "direct")
    if route not in ROUTES:
        raise MmlongError(f"unknown route {route!r}; use 'silvr' (language route) or 'direct' (frames -> VLM)")
    return route


def split_frame_options(options: dict) -> tuple[dict, dict]:
    """``(frame settings, the rest)``: keyword options named like :class:`FrameSettings` fields go first.

    Example: ``{"fps": 2, "gamma": 1.5}`` -> ``({"fps": 2}, {"gamma": 1.5})``.
    """
    from mmlong.video.settings import FrameSettings

    names = {f.name for f in dataclasses.fields(FrameSettings)}
    return {k: v for k, v in options.items() if k in names}, {k: v for k, v in options.items() if k not in names}


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _check_device(device: str) -> str:
    """``device`` if torch can use it on this machine, else a one-line error naming the fix."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise MmlongError(f"unknown device {device!r}; use cpu, cuda, cuda:0, mps, ...") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MmlongError(f"device {device!r} needs CUDA, which this torch build or machine does not have; "
                          "use --device cpu (or install a CUDA build of torch)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise MmlongError(f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} CUDA "
                          "device(s)")
    return device


def _attn_for(device: str) -> str:
    if device.startswith("cuda"):
        try:
            import flash_attn  # noqa: F401

            return "flash_attention_2"
        except ImportError:
            return "sdpa"
    return "sdpa"


def _dtype(name: Any, device: str):
    import torch

    if name is None:
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if isinstance(name, torch.dtype):
        return name
    got = getattr(torch, str(name), None)
    if not isinstance(got, torch.dtype):
        raise MmlongError(f"unknown dtype {name!r}; use float32, bfloat16 or float16")
    return got


def resolve(model: str = "default", *, route: str | None = None, pos: str | None = None, device: str | None = None,
            dtype: Any = None, frames: Any = None, max_new_tokens: int | None = None, reasoner: str | None = None,
            cache_dir: str | None = None, reduce: Any = None, prefill: str | None = None, patterns: Any = None,
            prefill_opts: dict | None = None, clip: Any = None, **options):
    """The settings :func:`load` would use, without loading weights (what ``--dry-run`` prints).

    Arguments are :func:`load`'s. Returns a :class:`~mmlong.pipeline.direct.PipelineConfig`
    (direct route) or a :class:`~mmlong.silvr.route.SilvrConfig` (language route).

    Raises:
        MmlongError: unknown route, model, family, scheme, option, device or dtype.
    """
    from mmlong.video.settings import FrameSettings
    from mmlong.vision.retrieval import clip_setting

    route = default_route(model, route)
    clip = clip_setting(clip)
    frame_kw, pos_opts = split_frame_options(options)
    settings = FrameSettings.of(frames, **frame_kw)
    max_new_tokens = check_max_new_tokens(max_new_tokens)
    device = _check_device(device or _default_device())
    if route == "silvr":
        if cache_dir is not None:
            from mmlong.paths import check_output_dir

            check_output_dir(cache_dir, "cache_dir")
        if settings != FrameSettings() or reduce is not None or prefill is not None:
            raise MmlongError("frame settings (fps, frames, budget), reduce= and prefill= apply to the direct route "
                              "(frames -> VLM); use --route direct")
        if pos or pos_opts:
            raise MmlongError("position schemes apply to the direct route; drop --pos/--opt or use --route direct")
        from mmlong.silvr import SilvrConfig
        from mmlong.silvr.reasoner import ReasonerSettings

        rs = ReasonerSettings(**{k: v for k, v in (("model", reasoner), ("max_new_tokens", max_new_tokens))
                                 if v is not None})
        return SilvrConfig(model=model, caption_model=None if model == "default" else model, reasoner=rs,
                           cache_dir=cache_dir, device=device, clip=clip)
    if model == "default":
        raise MmlongError("the direct route needs a Qwen-VL model: pass --model with a hub id, a local "
                          "checkpoint or tiny:qwen2_5_vl, or use --route silvr")
    if reasoner is not None or cache_dir is not None:
        raise MmlongError("reasoner= and cache_dir= apply to the language route; use --route silvr")
    from mmlong.models.hub import family_for, trained_scheme
    from mmlong.pipeline.direct import PipelineConfig
    from mmlong.pos_encodings.options import PosOptions, merge_options
    from mmlong.pos_encodings.registry import get_scheme
    from mmlong.tokens.reduce import check_clip, reducer_from

    if pos is None:  # the scheme the checkpoint was trained with (mmlong.json), else native
        pos, recorded = trained_scheme(model)
        pos_opts = merge_options(recorded, pos_opts)
    get_scheme(pos)
    PosOptions.from_kwargs(**pos_opts)  # unknown or bad scheme options fail here, before any weight loads
    if prefill is None and (patterns is not None or prefill_opts):
        raise MmlongError("patterns/prefill_opts need prefill='mminference'")
    red = reducer_from(reduce)
    check_clip(red, clip)  # before any weight loads
    fam = family_for(model)
    torch_dtype = _dtype(dtype, device)
    defaults = {} if max_new_tokens is None else {"max_new_tokens": max_new_tokens}
    return PipelineConfig(
        model=model, family=fam.name, pos=pos, pos_options=dict(pos_opts), device=device,
        dtype=str(torch_dtype).replace("torch.", ""), attn_implementation=_attn_for(device), frames=settings,
        reduce=red.describe() if red else None, clip=clip,
        prefill={"method": prefill, "patterns": str(patterns) if patterns is not None else None,
                 **(prefill_opts or {})} if prefill else None, **defaults)


def load(model: str = "default", *, route: str | None = None, pos: str | None = None, device: str | None = None,
         dtype: Any = None, frames: Any = None, max_new_tokens: int | None = None, reasoner: str | None = None,
         cache_dir: str | None = None, reduce: Any = None, prefill: str | None = None, patterns: Any = None,
         prefill_opts: dict | None = None, clip: Any = None, **options):
    """Load a pipeline: the language route (SiLVR) or a Qwen-VL model patched with a position scheme.

    Args:
        model: ``"default"`` (the offline language route: OCR + ASR + SmolLM2), a hub id
            (``"Qwen/Qwen2.5-VL-7B-Instruct"``), local checkpoint folder, or
            ``"tiny:qwen2_vl" | "tiny:qwen2_5_vl" | "tiny:qwen3_vl" | "tiny:qwen3_vl_moe"``.
        route: ``"silvr"`` (language route; a VLM ``model`` then captions clips) or ``"direct"``
            (frames -> VLM); None = silvr for ``"default"``, direct otherwise.
        pos: position scheme; None = the scheme the checkpoint was trained with (its ``mmlong.json``,
            written by ``mmlong train``; e.g. ``tiny-vniah:hope``), else ``"native"`` (the family's own,
            with Qwen's original ids).
        device: ``"cpu"``, ``"cuda"``, ...; None = CUDA when available.
        dtype: torch dtype or name; None = bfloat16 on CUDA, float32 on CPU.
        frames: direct route: a :class:`~mmlong.video.settings.FrameSettings` or a dict of its
            fields; the same fields may be passed as keywords (``fps=2``, ``num_frames=8``,
            ``max_frames``, ``min_frames``, ``start``, ``end``, ``min_pixels``, ``max_pixels``,
            ``sampling`` (``"mmlong"``, ``"qwen-vl-utils"``, which also takes ``total_pixels``,
            ``resized_height``, ``resized_width``, or ``"lmms-eval"`` / ``"lmms-eval-chat"``, the frames of
            lmms-eval's Qwen2.5-VL wrappers), and ``budget`` = visual tokens per video,
            ``16384`` or ``"64k"``: frames x resolution are then planned from metadata before decoding).
        max_new_tokens: answer length cap (None = the route's default).
        reasoner: language route only: the text LLM (``"smollm2"`` default, or an id / path).
        cache_dir: language route only: where stage-1 results and converted models are cached.
        reduce: direct route: visual token reduction (``"temporal"``, ``"temporal+budget:4096"``, a
            dict or a ``Reducer``); kept tokens keep their original 3-D positions.
        prefill: direct route: ``"mminference"`` sparse prefill attention (decode stays dense).
        patterns: sparse patterns (``mmlong sparse search`` JSON, a dict or one spec name).
        prefill_opts: sparse budgets, e.g. ``{"local": 512, "min_len": 16384}``.
        clip: CLIP weights (a ``.pt`` checkpoint, Long-CLIP or OpenAI layout, or a transformers CLIP
            folder) that score video frames against the question: on the direct route in the
            ``relevance`` step of ``reduce`` (else unused); on the language route in the clip
            selection of ``mode="generate"``, and every answer about a video lists the frames CLIP
            finds most like the question (``Answer.context["clip_frames"]``;
            :mod:`mmlong.silvr.frame_relevance`). None = no CLIP.
        **options: frame settings (above) and scheme options, e.g. ``gamma=1.5`` (see ``PosOptions``).

    Returns:
        A :class:`mmlong.pipeline.Pipeline`: a ``DirectPipeline`` or a ``SilvrPipeline``.

    Raises:
        MmlongError: unknown model, family, scheme, option, device or dtype.
    """
    cfg = resolve(model, route=route, pos=pos, device=device, dtype=dtype, frames=frames,
                  max_new_tokens=max_new_tokens, reasoner=reasoner, cache_dir=cache_dir, reduce=reduce,
                  prefill=prefill, patterns=patterns, prefill_opts=prefill_opts, clip=clip, **options)
    if cfg.route == "silvr":
        from mmlong.silvr import SilvrPipeline

        return SilvrPipeline(cfg)
    from mmlong.models.hub import load_model
    from mmlong.pipeline.direct import DirectPipeline
    from mmlong.pos_encodings.patch import apply
    from mmlong.tokens.reduce import reducer_from, with_clip

    m = load_model(cfg.model, device=cfg.device, dtype=_dtype(cfg.dtype, cfg.device),
                   attn_implementation=cfg.attn_implementation)
    apply(m.model, cfg.pos, **cfg.pos_options)
    if prefill is not None:
        from mmlong.sparse import apply_prefill

        apply_prefill(m.model, prefill, patterns, **(prefill_opts or {}))
    return DirectPipeline(m.model, m.tokenizer, m.spec, m.family, cfg, reducer=with_clip(reducer_from(reduce), cfg.clip))
