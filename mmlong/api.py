"""``mmlong.load`` and the :class:`Pipeline` it returns (direct route).

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
import re
import time
from dataclasses import dataclass, field
from typing import Any

from mmlong.answer import Answer, cited_times
from mmlong.errors import MmlongError, first_line


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

    route = route or ("silvr" if model == "default" else "direct")
    if route not in ("silvr", "direct"):
        raise MmlongError(f"unknown route {route!r}; use 'silvr' (language route) or 'direct' (frames -> VLM)")
    device = device or _default_device()
    if route == "silvr":
        if budget is not None or reduce is not None or prefill is not None:
            raise MmlongError("budget=, reduce= and prefill= apply to the direct route (frames -> VLM); use --route direct")
        return _load_silvr(model, device, max_new_tokens, reasoner, cache_dir, pos, adapter_opts)
    from mmlong.video.budget import TokenBudget
    from mmlong.video.reduce import reducer_from

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


class Pipeline:
    """A loaded, patched model with its tokenizer and vision settings; answers questions."""

    def __init__(self, model, tokenizer, spec, family, config: PipelineConfig):
        self.model, self.tokenizer, self.spec, self.family, self.config = model, tokenizer, spec, family, config
        self.budget = None  # a mmlong.video.budget.TokenBudget, set by load(budget=...)
        self.reducer = None  # a mmlong.video.reduce.Reducer, set by load(reduce=...)

    def __repr__(self) -> str:
        return f"Pipeline({self.config})"

    def _pages(self, document) -> list:
        from mmlong.docs import open_pdf

        with open_pdf(str(document), max_pages=self.config.max_pages) as doc:
            return [doc.render(i, max_side=self.config.page_side) for i in range(len(doc.pages))]

    def _clip(self, video, **overrides):
        """(clip, spec, plan): the sampled frames, the vision spec to use, and the budget plan (or None)."""
        from mmlong.video import Clip, sample

        if isinstance(video, Clip) or hasattr(video, "frames"):
            return video, self.spec, None
        c = dataclasses.replace(self.config, **{k: v for k, v in overrides.items() if v is not None})
        if self.budget is not None:
            from mmlong.video.budget import plan, sample_planned

            p = plan(str(video), self, self.budget, fps=c.fps, max_frames=c.max_frames, num_frames=c.num_frames)
            return sample_planned(str(video), p), p.vision_spec(self.spec), p
        return sample(str(video), fps=None if c.num_frames else c.fps, num_frames=c.num_frames,
                      max_frames=c.max_frames), self.spec, None

    def ask(self, question: str, *, video=None, images=None, document=None, max_new_tokens: int | None = None,
            num_frames: int | None = None, fps: float | None = None, stream=None) -> Answer:
        """Answer ``question`` about a video (path or Clip), images and/or a PDF document.

        A document's first ``max_pages`` pages are rendered and shown as images, in order; the
        answer's "page N" mentions become ``cited_pages``. ``stream`` is a transformers streamer.

        Returns:
            :class:`~mmlong.answer.Answer` with the text, cited times, the sampled frame times,
            token counts and stage timings.
        """
        import torch

        from mmlong.models.vision_inputs import build_inputs, model_inputs
        from mmlong.pos_encodings.patch import video_timestamps

        if not isinstance(question, str) or not question.strip():
            raise MmlongError("ask() needs a non-empty question string")
        t0 = time.perf_counter()
        n_pages = 0
        if document is not None:
            pages = self._pages(document)
            n_pages = len(pages)
            images = list(images or []) + pages
            question = f"The {n_pages} images are pages 1-{n_pages} of a document, in order.\n{question}"
        clip, spec, plan = self._clip(video, num_frames=num_frames, fps=fps) if video is not None else (None, self.spec, None)
        t1 = time.perf_counter()
        inputs = build_inputs(self.family, self.tokenizer, spec, question, images=images,
                              videos=[clip] if clip is not None else None)
        stamps = inputs.get("video_timestamps")
        batch = {k: (v.to(self.model.device) if hasattr(v, "to") else v) for k, v in model_inputs(inputs).items()}
        for key in ("pixel_values", "pixel_values_videos"):
            if key in batch:
                batch[key] = batch[key].to(self.model.dtype)
        t2 = time.perf_counter()
        limit = max_new_tokens or self.config.max_new_tokens
        extra_tokens = {}
        if self.reducer is not None and clip is not None and stream is None:
            from mmlong.video.reduce_model import generate_reduced

            res = generate_reduced(self.model, {**batch, "video_timestamps": stamps}, self.reducer,
                                   max_new_tokens=limit, pad_token_id=self.tokenizer.pad_token_id,
                                   eos_token_id=self.model.generation_config.eos_token_id,
                                   question=question, frames=[clip.frames])
            new = res.sequences[0]
            new = new[new != self.tokenizer.pad_token_id] if self.tokenizer.pad_token_id is not None else new
            extra_tokens = {"video_kept": sum(r.kept for r in res.reports), "prefill": res.kept_prompt_tokens}
        else:
            with torch.no_grad(), video_timestamps(self.model, stamps):
                out = self.model.generate(**batch, max_new_tokens=limit, do_sample=False,
                                          pad_token_id=self.tokenizer.pad_token_id,
                                          **({"streamer": stream} if stream is not None else {}))
            new = out[0, batch["input_ids"].shape[1]:]
        t3 = time.perf_counter()
        text = self.tokenizer.decode(new, skip_special_tokens=True).strip()
        types = inputs["mm_token_type_ids"][0]
        pages = sorted({int(p) for p in re.findall(r"\bpages?\s+(\d+)", text, re.I) if 0 < int(p) <= n_pages})
        return Answer(
            text=text, question=question, cited_times=cited_times(text), cited_pages=pages,
            frame_times=[float(t) for t in clip.timestamps] if clip is not None else [],
            config={**dataclasses.asdict(self.config), **({"plan": plan.as_dict()} if plan is not None else {})},
            tokens={"prompt": int(types.numel()), "image": int((types == 1).sum()), "video": int((types == 2).sum()),
                    "generated": int(new.numel()), "pages": n_pages, **extra_tokens},
            timings={"sample_s": t1 - t0, "inputs_s": t2 - t1, "generate_s": t3 - t2},
        )
