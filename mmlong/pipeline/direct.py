"""The direct route: frames -> a patched Qwen-VL model -> greedy answer, alone or in batches.

``mmlong.load`` builds a :class:`DirectPipeline` (see :mod:`mmlong.api`). One question::

    ans = pipe.ask("What is on the slide at 12:30?", video="talk.mp4")

Many questions, ``batch_size`` at a time (left-padded into one ``generate`` call; greedy
answers are the same as asking one at a time, up to float rounding of padded matmuls; each
video path is planned and decoded once for all the questions about it)::

    answers = pipe.ask_many([{"question": q, "video": v} for q, v in items], batch_size=4)

The frames of a video given by path are exactly what :func:`mmlong.tokens.plan` plans for
the pipeline's :class:`~mmlong.video.settings.FrameSettings` (``mmlong plan`` prints it).
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Sequence

import numpy as np

from mmlong.answer import Answer, cited_times
from mmlong.errors import MmlongError
from mmlong.pipeline.base import DEFAULT_MAX_NEW_TOKENS, check_batch_size, check_max_new_tokens
from mmlong.video.settings import FrameSettings

__all__ = ["DirectPipeline", "PipelineConfig"]


@dataclass(frozen=True)
class PipelineConfig:
    """The resolved settings of a :class:`DirectPipeline` (printed and stored with every answer)."""

    model: str  # hub id, local path or tiny:FAMILY
    family: str  # qwen2_vl | qwen2_5_vl | qwen3_vl | qwen3_vl_moe
    pos: str = "native"  # position scheme (see mmlong.pos_encodings.schemes())
    pos_options: dict = field(default_factory=dict)  # scheme options (gamma, delta, scaling, ...)
    route: str = "direct"  # direct: frames -> VLM
    device: str = "cpu"  # torch device of the model
    dtype: str = "float32"  # model dtype
    attn_implementation: str = "sdpa"  # sdpa | flash_attention_2 | eager
    frames: FrameSettings = field(default_factory=FrameSettings)  # which frames of a video given by path
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS  # answer length cap
    prefill: dict | None = None  # sparse prefill: {"method", "patterns", **opts} or None
    reduce: dict | None = None  # visual token reduction (Reducer.describe()) or None
    clip: str | None = None  # CLIP weights scoring frames in reduce's relevance step (None: the model's own spaces)
    max_pages: int = 16  # documents: pages rendered as images on the direct route
    page_side: int = 896  # documents: longer side of a rendered page in pixels


def _question_content(question) -> tuple[str | list, str]:
    """``(question, readable text)``: a non-empty string, or a list of strings and images
    (images shown as ``<image>`` in the readable text). Raises a one-line error otherwise."""
    if isinstance(question, str):
        if not question.strip():
            raise MmlongError("ask() needs a non-empty question string")
        return question, question
    from mmlong.models.vision_inputs import is_image

    items = list(question) if isinstance(question, (list, tuple)) else None
    if not items or not all(isinstance(x, str) or is_image(x) for x in items):
        raise MmlongError("ask() needs a question string, or a list of strings and images (PIL / uint8 HxWx3 "
                          "arrays); pass videos with video=")
    if not any(isinstance(x, str) and x.strip() for x in items):
        raise MmlongError("the interleaved question has no text; add the question as a string item")
    return items, "".join(x if isinstance(x, str) else "<image>" for x in items)


@dataclass
class _Prepared:
    """One question turned into model inputs (what :meth:`Pipeline._answer` needs afterwards)."""

    inputs: dict  # build_inputs() output, on CPU
    prompt: str  # readable question (images as <image>)
    clip: Any  # the sampled Clip or None
    plan: Any  # the budget Plan or None
    n_pages: int  # rendered document pages shown
    limit: int  # max_new_tokens for this question
    timings: dict  # sample_s, inputs_s so far


def _free_cuda_cache() -> None:
    """Return cached CUDA blocks after a failed batch (e.g. out of memory) so retries start clean."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class DirectPipeline:
    """A loaded, patched Qwen-VL model with its tokenizer and vision settings; answers questions.

    Implements :class:`mmlong.pipeline.Pipeline`.

    Args:
        model: the (patched) ``*ForConditionalGeneration``.
        tokenizer: its tokenizer.
        spec: its :class:`~mmlong.models.vision_inputs.VisionSpec`.
        family: its :class:`~mmlong.models.families.Family`.
        config: the resolved :class:`PipelineConfig`.
        reducer: a :class:`~mmlong.tokens.reduce.Reducer` (token reduction) or None.
    """

    def __init__(self, model, tokenizer, spec, family, config: PipelineConfig, reducer=None):
        self.model, self.spec, self.family, self.config = model, spec, family, config
        self._tokenizer = tokenizer
        self.reducer = reducer
        self.progress = False

    @property
    def tokenizer(self):
        """The model's tokenizer."""
        return self._tokenizer

    def __repr__(self) -> str:
        return f"DirectPipeline({self.config})"

    def set_pos(self, pos: str, **opts) -> None:
        """Re-patch the loaded model with another position scheme (no reload) and record it in ``config``."""
        from mmlong.pos_encodings.patch import apply

        apply(self.model, pos, **opts)
        self.config = dataclasses.replace(self.config, pos=pos, pos_options=dict(opts))

    def set_frames(self, frames) -> None:
        """Use other frame settings (a FrameSettings or a dict of its fields) for the next questions; no reload."""
        self.config = dataclasses.replace(self.config, frames=FrameSettings.of(frames))

    def _pages(self, document) -> list:
        from mmlong.docs import open_pdf

        with open_pdf(str(document), max_pages=self.config.max_pages) as doc:
            return [doc.render(i, max_side=self.config.page_side) for i in range(len(doc.pages))]

    def video_input(self, video, cache: dict | None = None):
        """``(clip, spec, plan)``: the frames :meth:`ask` shows for ``video``, the vision spec to build
        them with, and their plan (None for a Clip given without a budget).

        A video path is planned with the pipeline's frame settings, refused when the plan's
        memory estimate exceeds the device's free memory (:func:`mmlong.tokens.fit.check_fits`),
        and decoded exactly as planned (``cache``, keyed by path, lets many questions share one
        decode); a Clip (e.g. a benchmark's official frames) is used as it is, fitted to the
        budget if any.
        """
        from mmlong.tokens.fit import check_fits
        from mmlong.tokens.planner import plan, sample_planned
        from mmlong.video import Clip
        from mmlong.video import open as open_video

        if isinstance(video, Clip) or hasattr(video, "frames"):
            return self._fit_clip(video) if self.config.frames.budget is not None else (video, self.spec, None)
        key = os.fspath(video)
        if cache is not None and key in cache:
            return cache[key]
        with open_video(key) as src:
            p = plan(src, self, self.config.frames, **self._estimate)

            def replan(budget):  # the same video and settings under another token budget
                return plan(src, self, dataclasses.replace(self.config.frames, budget=budget), **self._estimate)

            check_fits(p, replan, self.config.device)  # refused up front, naming the budget that fits
            got = sample_planned(src, p), p.vision_spec(self.spec), p
        if cache is not None:
            cache[key] = got
        return got

    @property
    def _estimate(self) -> dict:
        """The memory-estimate arguments of a plan for this pipeline (``mmlong ask --dry-run`` uses the same)."""
        c = self.config
        return {"max_new_tokens": c.max_new_tokens, "dtype": c.dtype, "attn_implementation": c.attn_implementation}

    def sample(self, video):
        """The frames :meth:`ask` would show the model for ``video`` (a path), as a Clip.

        A Clip passed to :meth:`ask` is shown as it is, so it can be reused for many questions
        (under a budget, the Clip is already at the planned size).
        """
        return self.video_input(video)[0]

    def _fit_clip(self, clip):
        """A pinned clip (e.g. a benchmark's official frames) under the token budget.

        The plan keeps the clip's frames and lowers the per-frame resolution; when even the
        smallest resolution does not fit, it keeps the frames nearest the planned times.
        Returns ``(clip, spec pinned to the planned size, plan)``.
        """
        from mmlong.tokens.planner import plan
        from mmlong.video.source import resize_rgb

        n = len(clip)
        pinned = dict(fps=None, num_frames=n, max_frames=n, start=None, end=None, sampling="mmlong",  # frames given:
                      total_pixels=None, resized_height=None, resized_width=None)  # no policy picks them
        p = plan(clip, self, dataclasses.replace(self.config.frames, **pinned), **self._estimate)
        times = np.asarray(clip.timestamps)
        keep = sorted({int(np.abs(times - t).argmin()) for t in p.timestamps}) if p.frames < n else range(n)
        frames = np.stack([resize_rgb(clip.frames[i], (p.height, p.width)) for i in keep])  # the processor's bicubic
        fields = {"frames": frames, "timestamps": times[list(keep)]}
        clip = dataclasses.replace(clip, **fields) if dataclasses.is_dataclass(clip) else SimpleNamespace(**fields)
        return clip, p.vision_spec(self.spec), p

    def _prepare(self, question, *, video=None, images=None, document=None, max_new_tokens=None,
                 clips: dict | None = None) -> _Prepared:
        from mmlong.models.vision_inputs import build_inputs

        question, prompt = _question_content(question)
        check_max_new_tokens(max_new_tokens)
        t0 = time.perf_counter()
        n_pages = 0
        if document is not None:
            pages = self._pages(document)
            n_pages = len(pages)
            images = list(images or []) + pages
            intro = f"The {n_pages} images are pages 1-{n_pages} of a document, in order.\n"
            question, prompt = ([intro + question] if isinstance(question, str) else [intro, *question]), intro + prompt
        clip, spec, plan = self.video_input(video, clips) if video is not None else (None, self.spec, None)
        t1 = time.perf_counter()
        inputs = build_inputs(self.family, self.tokenizer, spec, question, images=images,
                              videos=[clip] if clip is not None else None)
        return _Prepared(inputs, prompt, clip, plan, n_pages, max_new_tokens or self.config.max_new_tokens,
                         {"sample_s": t1 - t0, "inputs_s": time.perf_counter() - t1})

    def inputs(self, question, *, video=None, images=None, document=None) -> dict:
        """The model inputs :meth:`ask` builds for a question (``build_inputs`` output, on the CPU).

        ``model_inputs(pipe.inputs(q, video=path))`` is what ``generate`` receives; the offline
        sparse-pattern search and the training recipes build their inputs this way.
        """
        return self._prepare(question, video=video, images=images, document=document).inputs

    def _on_device(self, inputs: dict) -> dict:
        from mmlong.models.vision_inputs import model_inputs

        batch = {k: (v.to(self.model.device) if hasattr(v, "to") else v) for k, v in model_inputs(inputs).items()}
        for key in ("pixel_values", "pixel_values_videos"):
            if key in batch:
                batch[key] = batch[key].to(self.model.dtype)
        return batch

    def _generate(self, inputs: dict, limit: int, stream=None):
        """Greedy ``generate`` on (B, L) inputs -> (B, limit') new token ids (padded after EOS)."""
        import torch

        from mmlong.pos_encodings.patch import video_timestamps

        batch = self._on_device(inputs)
        with torch.no_grad(), video_timestamps(self.model, inputs.get("video_timestamps")):
            out = self.model.generate(**batch, max_new_tokens=limit, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id,
                                      **({"streamer": stream} if stream is not None else {}))
        return out[:, batch["input_ids"].shape[1]:]

    def _generate_reduced(self, prep: _Prepared):
        from mmlong.tokens.reduce_model import generate_reduced

        res = generate_reduced(self.model, {**self._on_device(prep.inputs), "video_timestamps":
                                            prep.inputs.get("video_timestamps")}, self.reducer,
                               max_new_tokens=prep.limit, pad_token_id=self.tokenizer.pad_token_id,
                               eos_token_id=self.model.generation_config.eos_token_id,
                               question=prep.prompt, frames=[prep.clip.frames])
        new = res.sequences[0]
        new = new[new != self.tokenizer.pad_token_id] if self.tokenizer.pad_token_id is not None else new
        return new, {"video_kept": sum(r.kept for r in res.reports), "prefill": res.kept_prompt_tokens}

    def _until_eos(self, new, limit: int):
        """The first ``limit`` tokens of one row, cut after its first EOS (as a lone generate stops there)."""
        eos = self.model.generation_config.eos_token_id
        eos = {eos} if isinstance(eos, int) else set(eos or [])
        row = new[:limit].tolist()
        end = next((i + 1 for i, t in enumerate(row) if t in eos), len(row))
        return new[:end]

    def _answer(self, prep: _Prepared, new, generate_s: float, extra_tokens: dict | None = None,
                batch: int | None = None) -> Answer:
        text = self.tokenizer.decode(new, skip_special_tokens=True).strip()
        types = prep.inputs["mm_token_type_ids"][0]
        pages = sorted({int(p) for p in re.findall(r"\bpages?\s+(\d+)", text, re.I) if 0 < int(p) <= prep.n_pages})
        return Answer(
            text=text, question=prep.prompt, cited_times=cited_times(text), cited_pages=pages,
            frame_times=[float(t) for t in prep.clip.timestamps] if prep.clip is not None else [],
            config={**dataclasses.asdict(self.config), **({"plan": prep.plan.as_dict()} if prep.plan is not None else {})},
            tokens={"prompt": int(types.numel()), "image": int((types == 1).sum()), "video": int((types == 2).sum()),
                    "generated": int(new.numel()), "pages": prep.n_pages, **(extra_tokens or {})},
            timings={**prep.timings, "generate_s": generate_s, **({"batch": batch} if batch else {})},
        )

    def ask(self, question: str | list, *, video=None, images=None, document=None, max_new_tokens: int | None = None,
            stream=None) -> Answer:
        """Answer ``question`` about a video (path or Clip), images and/or a PDF document.

        ``question`` is a string, or interleaved content: a list of strings and images (PIL /
        uint8 (H, W, 3)) read in order, e.g. ``[frame0, "subtitle", frame1, "Which option?"]``.
        The user turn is: ``images``, the document's pages, the video, then ``question``.
        A document's first ``max_pages`` pages are rendered and shown as images, in order; the
        answer's "page N" mentions become ``cited_pages``. ``stream`` is a transformers streamer.

        Returns:
            :class:`~mmlong.answer.Answer` with the text, cited times, the sampled frame times,
            token counts and stage timings.
        """
        prep = self._prepare(question, video=video, images=images, document=document, max_new_tokens=max_new_tokens)
        return self._run(prep, stream)

    def _run(self, prep: _Prepared, stream=None, batch: int | None = None) -> Answer:
        """Generate for one prepared question (token reduction when set and there is a video)."""
        t = time.perf_counter()
        if self.reducer is not None and prep.clip is not None and stream is None:
            new, extra = self._generate_reduced(prep)
        else:
            new, extra = self._generate(prep.inputs, prep.limit, stream)[0], {}
        return self._answer(prep, new, time.perf_counter() - t, extra, batch=batch)

    def ask_many(self, requests: Sequence[dict], *, batch_size: int = 4,
                 return_exceptions: bool = False) -> list[Answer | Exception]:
        """Answer many questions, ``batch_size`` per ``generate`` call.

        Args:
            requests: dicts of :meth:`ask` keyword arguments (``question`` required; no ``stream``).
            batch_size: questions per call; inputs are left-padded (``build_batch``) and each
                answer is cut at its own ``max_new_tokens`` and first EOS, so greedy answers match
                :meth:`ask` (padded matmuls round differently, so near-tied logits can flip in bf16).
                With token reduction (``load(reduce=...)``) video questions run one at a time.
            return_exceptions: put a failing question's exception in its slot instead of raising;
                when a whole batch fails (e.g. out of memory) its questions are retried one by one.

        Returns:
            One :class:`Answer` (or exception) per request, in order. ``timings["generate_s"]``
            is the batch's time, ``timings["batch"]`` its size.
        """
        batch_size = check_batch_size(batch_size)
        out: list = []
        clips: dict = {}  # video path -> planned clip: each video is decoded once
        starts = range(0, len(requests), batch_size)
        if self.progress and len(starts) > 1:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="questions", unit="batch", file=sys.stderr, leave=False)
        for start in starts:
            out += self._ask_chunk(list(requests[start:start + batch_size]), return_exceptions, clips)
        return out

    def _ask_chunk(self, requests: list[dict], return_exceptions: bool, clips: dict) -> list:
        from mmlong.models.vision_inputs import build_batch

        slots: list = [None] * len(requests)
        ready: list[tuple[int, _Prepared]] = []
        for i, req in enumerate(requests):
            try:
                if "stream" in req:
                    raise MmlongError("ask_many() does not stream; call ask(stream=...) per question")
                prep = self._prepare(**req, clips=clips)
                if self.reducer is not None and prep.clip is not None:
                    slots[i] = self._run(prep, batch=1)
                else:
                    ready.append((i, prep))
            except Exception as exc:
                if not return_exceptions:
                    raise
                slots[i] = exc
        if ready:
            try:
                t = time.perf_counter()
                pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
                new = self._generate(build_batch([p.inputs for _, p in ready], pad), max(p.limit for _, p in ready))
                took = time.perf_counter() - t
                for row, (i, prep) in enumerate(ready):
                    slots[i] = self._answer(prep, self._until_eos(new[row], prep.limit), took, batch=len(ready))
            except Exception as exc:
                if not return_exceptions:
                    raise
                if len(ready) == 1:
                    slots[ready[0][0]] = exc
                else:  # one bad or too-large question must not sink the others (inputs are reused)
                    _free_cuda_cache()
                    for i, prep in ready:
                        try:
                            slots[i] = self._run(prep, batch=1)
                        except Exception as one:
                            slots[i] = one
        return slots
