"""``mmlong.load`` and the :class:`~mmlong.pipeline.Pipeline` it returns (direct route).

The direct route: frames (seek-sampled with timestamps) -> mmlong's Qwen-VL input builder
-> a transformers model patched with a position scheme -> greedy ``generate``::

    pipe = mmlong.load("Qwen/Qwen2.5-VL-7B-Instruct", pos="hope", gamma=1.5)
    ans = pipe.ask("When does the speaker open the laptop?", video="talk.mp4")
    print(ans.text, ans.cited_times)

``load`` takes a hub id or local path exactly as transformers does, or ``tiny:FAMILY``
(a random-weight model built offline, for tests and smoke runs).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from mmlong.errors import MmlongError, first_line
from mmlong.pipeline import Pipeline

__all__ = ["load", "default_route", "Pipeline", "PipelineConfig"]


@dataclass(frozen=True)
class PipelineConfig:
    """The resolved settings of a :class:`Pipeline` (printed and stored with every answer)."""

    model: str  # hub id, local path or tiny:FAMILY
    family: str  # qwen2_vl | qwen2_5_vl | qwen3_vl | qwen3_vl_moe
    pos: str  # position scheme (see mmlong.pos_encodings.schemes())
    pos_options: dict = field(default_factory=dict)  # scheme options (gamma, delta, scaling, ...)
    route: str = "direct"  # direct: frames -> VLM
    device: str = "cpu"  # torch device of the model
    dtype: str = "float32"  # model dtype
    attn_implementation: str = "sdpa"  # sdpa | flash_attention_2 | eager
    fps: float | None = 1.0  # video sampling rate when num_frames is None
    num_frames: int | None = None  # fixed frame count (overrides fps)
    max_frames: int = 64  # cap on sampled frames
    max_new_tokens: int = 128  # answer length cap
    prefill: dict | None = None  # sparse prefill: {"method", "patterns", **opts} or None
    budget: dict | None = None  # visual token budget (TokenBudget fields) or None = fps/max_frames sampling
    reduce: dict | None = None  # visual token reduction (Reducer.describe()) or None
    max_pages: int = 16  # documents: pages rendered as images on the direct route
    page_side: int = 896  # documents: longer side of a rendered page in pixels


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _attn_for(device: str) -> str:
    if device.startswith("cuda"):
        try:
            import flash_attn  # noqa: F401

            return "flash_attention_2"
        except ImportError:
            return "sdpa"
    return "sdpa"


def _load_hf(name: str, family, device: str, dtype, attn: str):
    """Model, tokenizer and vision spec from a hub id or local path (transformers resolution)."""
    from transformers import AutoTokenizer

    from mmlong.models.vision_inputs import VisionSpec

    try:
        model = family.load_class().from_pretrained(name, dtype=dtype, attn_implementation=attn)
        tokenizer = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise MmlongError(
            f"cannot load model {name!r}: {first_line(exc)}; pass a hub id, a local checkpoint folder, or tiny:qwen2_5_vl"
        ) from None
    return model.to(device).eval(), tokenizer, VisionSpec.from_pretrained(name)


def default_route(model: str, route: str | None = None) -> str:
    """``route``, or the one ``load`` picks for ``model``: the language route for "default", else direct."""
    return route or ("silvr" if model == "default" else "direct")


def load(model: str = "default", *, route: str | None = None, pos: str | None = None, device: str | None = None,
         dtype: Any = None, fps: float | None = 1.0, num_frames: int | None = None, max_frames: int = 64,
         max_new_tokens: int = 128, reasoner: str | None = None, cache_dir: str | None = None,
         budget=None, reduce=None, prefill: str | None = None, patterns=None, prefill_opts: dict | None = None,
         **adapter_opts):
    """Load a pipeline: the language route (SiLVR) or a Qwen-VL model patched with a position scheme.

    Args:
        model: ``"default"`` (the offline language route: OCR + ASR + SmolLM2), a hub id
            (``"Qwen/Qwen2.5-VL-7B-Instruct"``), local checkpoint folder, or
            ``"tiny:qwen2_vl" | "tiny:qwen2_5_vl" | "tiny:qwen3_vl" | "tiny:qwen3_vl_moe"``.
        route: ``"silvr"`` (language route; a VLM ``model`` then captions clips) or ``"direct"``
            (frames -> VLM); None = silvr for ``"default"``, direct otherwise.
        reasoner: language route only: the text LLM (``"smollm2"`` default, or an id / path).
        cache_dir: language route only: where stage-1 results and converted models are cached.
        budget: direct route: a total visual token budget (``16384``, ``"64k"``, a dict of
            ``TokenBudget`` fields); frames x resolution are planned from metadata before decoding.
        reduce: direct route: visual token reduction (``"temporal"``, ``"temporal+budget:4096"``, a
            dict or a ``Reducer``); kept tokens keep their original 3-D positions.
        prefill: direct route: ``"mminference"`` sparse prefill attention (decode stays dense).
        patterns: sparse patterns (``mmlong sparse search`` JSON, a dict or one spec name).
        prefill_opts: sparse budgets, e.g. ``{"local": 512, "min_len": 8192}``.
        pos: position scheme; None = ``"native"`` (the family's own, with Qwen's original ids).
        device: ``"cpu"``, ``"cuda"``, ...; None = CUDA when available.
        dtype: torch dtype or name; None = bfloat16 on CUDA, float32 on CPU.
        fps, num_frames, max_frames: how videos are sampled (num_frames wins over fps).
        max_new_tokens: answer length cap.
        **adapter_opts: scheme options, e.g. ``gamma=1.5`` (see ``PosOptions``).

    Raises:
        MmlongError: unknown model, family, scheme or option.
    """
    import torch

    from mmlong.pos_encodings.patch import apply
    from mmlong.pos_encodings.registry import get_scheme

    route = default_route(model, route)
    if route not in ("silvr", "direct"):
        raise MmlongError(f"unknown route {route!r}; use 'silvr' (language route) or 'direct' (frames -> VLM)")
    device = device or _default_device()
    if route == "silvr":
        if budget is not None or reduce is not None or prefill is not None:
            raise MmlongError("budget=, reduce= and prefill= apply to the direct route (frames -> VLM); use --route direct")
        return _load_silvr(model, device, max_new_tokens, reasoner, cache_dir, pos, adapter_opts)
    from mmlong.tokens.planner import TokenBudget
    from mmlong.tokens.reduce import reducer_from

    budget_obj = TokenBudget.of(budget) if budget is not None else None
    reducer = reducer_from(reduce)
    if model == "default":
        raise MmlongError("the direct route needs a Qwen-VL model: pass --model with a hub id, a local "
                          "checkpoint or tiny:qwen2_5_vl, or use --route silvr")
    pos = pos or "native"
    get_scheme(pos)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None) or _bad_dtype(dtype)
    dtype = dtype or (torch.bfloat16 if device.startswith("cuda") else torch.float32)
    attn = _attn_for(device)
    if model.startswith("tiny:"):
        from mmlong.models.tiny import tiny

        b = tiny(model[5:], dtype=dtype)
        net, tok, spec, fam = b.model.to(device), b.tokenizer, b.spec, b.family
    else:
        fam = _family_from_hub(model)
        net, tok, spec = _load_hf(model, fam, device, dtype, attn)
    apply(net, pos, **adapter_opts)
    if prefill is not None:
        from mmlong.sparse import apply_prefill

        apply_prefill(net, prefill, patterns, **(prefill_opts or {}))
    cfg = PipelineConfig(model=model, family=fam.name, pos=pos, pos_options=dict(adapter_opts), device=device,
                         dtype=str(dtype).replace("torch.", ""), attn_implementation=attn, fps=fps,
                         num_frames=num_frames, max_frames=max_frames, max_new_tokens=max_new_tokens,
                         budget=dataclasses.asdict(budget_obj) if budget_obj else None,
                         reduce=reducer.describe() if reducer else None,
                         prefill={"method": prefill, "patterns": str(patterns) if patterns is not None else None,
                                  **(prefill_opts or {})} if prefill else None)
    pipe = Pipeline(net, tok, spec, fam, cfg)
    pipe.budget, pipe.reducer = budget_obj, reducer
    return pipe


def _load_silvr(model: str, device: str, max_new_tokens: int, reasoner: str | None, cache_dir, pos, adapter_opts):
    """The language route; a VLM ``model`` (not "default") captions clips."""
    from mmlong.silvr import SilvrConfig, SilvrPipeline
    from mmlong.silvr.reasoner import ReasonerSettings

    if pos or adapter_opts:
        raise MmlongError("position schemes apply to the direct route; drop --pos/--opt or use --route direct")
    return SilvrPipeline(SilvrConfig(
        caption_model=None if model == "default" else model,
        reasoner=ReasonerSettings(model=reasoner or "smollm2", max_new_tokens=min(max_new_tokens, 64)),
        cache_dir=cache_dir, device=device))


def _bad_dtype(name: str):
    raise MmlongError(f"unknown dtype {name!r}; use float32, bfloat16 or float16")


def _family_from_hub(name: str):
    from transformers import AutoConfig

    from mmlong.models.families import family_of

    try:
        return family_of(AutoConfig.from_pretrained(name))
    except (OSError, ValueError) as exc:
        if isinstance(exc, MmlongError):
            raise
        raise MmlongError(
            f"cannot read the config of {name!r}: {first_line(exc)}; pass a hub id (with network or a filled HF cache), "
            "a local checkpoint folder, or tiny:qwen2_5_vl"
        ) from None
