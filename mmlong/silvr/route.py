"""The language route (SiLVR) as a pipeline: describe once, then answer many questions.

    pipe = mmlong.load("default")                   # OCR + ASR + SmolLM2, all offline
    ans = pipe.ask("What is the secret number?", video="lecture.mp4")
    print(ans.text, ans.cited_times, ans.context["granularity"])

:class:`SilvrPipeline` implements :class:`mmlong.pipeline.Pipeline`; it answers ``ask_many``
one question at a time (stage 1 is cached, so later questions about a video are cheap).

Stage 1 runs each describer (OCR on scene changes, ASR, optionally VLM captions) and caches
the result on disk by video hash + settings; stage 2 fits the text into the reasoner's
context (adaptive granularity, relevance selection) and generates a grounded answer.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mmlong.answer import Answer, cited_times
from mmlong.errors import MmlongError
from mmlong.pipeline.base import ask_one_by_one, check_batch_size, check_max_new_tokens
from mmlong.silvr.asr import ASRDescriber, ASRSettings
from mmlong.silvr.cache import StageCache, video_hash
from mmlong.silvr.context import fit, kept_segments
from mmlong.silvr.ocr import OCRDescriber, OCRSettings
from mmlong.silvr.reasoner import Reasoner, ReasonerSettings, build_prompt, ground
from mmlong.silvr.segments import Transcript


@dataclass(frozen=True)
class SilvrConfig:
    """Resolved settings of the language route."""

    model: str = "default"  # what mmlong.load was given: "default", or the VLM that captions clips
    route: str = "silvr"  # the language route
    ocr: OCRSettings | None = field(default_factory=OCRSettings)  # None disables OCR
    asr: ASRSettings | None = field(default_factory=ASRSettings)  # None disables ASR
    caption_model: str | None = None  # a Qwen-VL id/path/tiny:FAMILY to caption clips; None = no captions
    reasoner: ReasonerSettings = field(default_factory=ReasonerSettings)
    embedder: str = "packaged:all-MiniLM-L6-v2"  # sentence embedder for relevance selection
    cache_dir: str | None = None  # None = ~/.cache/mmlong
    device: str = "cpu"


def _bar(desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    bar = tqdm(total=100, desc=desc, file=sys.stderr, leave=False)

    def update(done, total):
        bar.update(max(0, int(100 * done / max(total, 1e-9)) - bar.n))

    update.close = bar.close  # type: ignore[attr-defined]
    return update


class SilvrPipeline:
    """Video -> stage-1 text (cached) -> adaptive context -> reasoner answer."""

    route = "silvr"

    def __init__(self, config: SilvrConfig = SilvrConfig()):
        from mmlong.llm.loader import default_cache_dir
        from mmlong.silvr.embed import Embedder

        self.config = config
        self.progress = False  # per-stage progress bars on stderr
        self.cache = StageCache(config.cache_dir or default_cache_dir())
        self.describers = []
        if config.ocr is not None:
            self.describers.append(OCRDescriber(config.ocr))
        if config.asr is not None:
            self.describers.append(ASRDescriber(config.asr, device="cuda" if config.device.startswith("cuda") else "cpu"))
        if config.caption_model:
            from mmlong.silvr.captions import CaptionDescriber, CaptionSettings

            self.describers.append(CaptionDescriber(CaptionSettings(model=config.caption_model)))
        self.reasoner = Reasoner(config.reasoner, device=config.device)
        self.embedder = Embedder(config.embedder, device=config.device)

    def __repr__(self) -> str:
        return f"SilvrPipeline({self.config})"

    @property
    def tokenizer(self):
        """The reasoner's tokenizer (loads the reasoner), e.g. for a ``TextIteratorStreamer``."""
        return self.reasoner.tokenizer

    def describe(self, video: str) -> tuple[Transcript, dict]:
        """Stage 1 for ``video`` (cached). Returns the transcript and per-describer seconds (0 when cached)."""
        if not isinstance(video, (str, os.PathLike)) or not os.path.exists(video):
            raise MmlongError(f"video {video!r} does not exist; the language route needs a video file path")
        video = str(video)
        if not os.path.isfile(video):
            raise MmlongError(f"{video!r} is a directory, not a video file; pass the path of a video file")
        if not os.access(video, os.R_OK):
            raise MmlongError(f"{video!r} is not readable (permission denied); fix its permissions or copy it")
        vh = video_hash(video)
        total, timings = None, {}
        for d in self.describers:
            t0 = time.perf_counter()
            got = self.cache.get(vh, d.key())
            if got is None:
                bar = _bar(f"stage 1: {d.name}", self.progress)
                try:
                    got = d.describe(video, progress=bar)
                finally:  # an error line must not land on the same line as an unfinished bar
                    if bar:
                        bar.close()
                self.cache.put(vh, d.key(), got)
            timings[f"{d.name}_s"] = time.perf_counter() - t0
            total = got if total is None else total.merged(got)
        if total is None:
            raise MmlongError("the language route has no describers; enable OCR, ASR or captions")
        return total, timings

    def ask(self, question: str, *, video=None, images=None, document=None, max_new_tokens: int | None = None,
            stream=None) -> Answer:
        """Answer ``question`` about ``video`` or ``document`` (paths). Images need the direct route.

        ``max_new_tokens`` caps this answer (default: the reasoner's ``max_new_tokens``).
        """
        check_max_new_tokens(max_new_tokens)
        if not isinstance(question, str) or not question.strip():
            raise MmlongError("ask() needs a non-empty question string (interleaved image/text lists need the direct "
                              "route: mmlong.load(MODEL, route='direct'))")
        if document is not None:
            return self._ask_document(question, str(document), stream, max_new_tokens)
        if video is None:
            raise MmlongError("the language route answers questions about a video or a document: pass video= or document=")
        if images:
            raise MmlongError("the language route takes no images; use a Qwen-VL model (--route direct) for images")
        t0 = time.perf_counter()
        transcript, stage1 = self.describe(video)
        t1 = time.perf_counter()
        st = self.config.reasoner
        ctx = fit(transcript, question, build_prompt, self.reasoner.count_tokens, self.reasoner.budget,
                  select=st.select, relevance=self.embedder.relevance, select_budget=st.select_tokens)
        t2 = time.perf_counter()
        text = self.reasoner.answer(ctx.text, stream=stream, max_new_tokens=max_new_tokens)
        t3 = time.perf_counter()
        evidence = ground(text, question, kept_segments(transcript, ctx)) or ground(text, question, transcript.segments)
        cites = [round(s.start, 2) for s in evidence[:3]] or cited_times(text)
        return Answer(
            text=text, question=question, cited_times=cites, frame_times=[],
            config={"route": "silvr", **_plain(self.config)},
            tokens={"prompt": ctx.tokens, "clips_kept": len(ctx.clips), "clips_total": ctx.total_clips},
            timings={"stage1_s": t1 - t0, **stage1, "context_s": t2 - t1, "reason_s": t3 - t2},
            evidence=[dataclasses.asdict(s) for s in evidence[:3]], notes=list(transcript.notes),
            context={"granularity": ctx.granularity, "selected": ctx.selected, "text": ctx.text},
            scene_changes=[round(seg.start, 2) for seg in transcript.of("screen")],
        )

    def ask_many(self, requests, *, batch_size: int = 4, return_exceptions: bool = False) -> list:
        """:meth:`ask` per request, in order (the reasoner answers one prompt at a time)."""
        check_batch_size(batch_size)
        return ask_one_by_one(self, requests, return_exceptions=return_exceptions)

    def _ask_document(self, question: str, path: str, stream=None, max_new_tokens: int | None = None) -> Answer:
        from mmlong.docs import open_pdf
        from mmlong.silvr.documents import doc_prompt_fn, document_transcript

        t0 = time.perf_counter()
        with open_pdf(path) as doc:
            transcript, page_of = document_transcript(doc.pages)
            n_pages = len(doc.pages)
        t1 = time.perf_counter()
        st = self.config.reasoner
        ctx = fit(transcript, question, doc_prompt_fn(page_of), self.reasoner.count_tokens, self.reasoner.budget,
                  select=st.select, relevance=self.embedder.relevance, select_budget=st.select_tokens)
        t2 = time.perf_counter()
        text = self.reasoner.answer(ctx.text, stream=stream, max_new_tokens=max_new_tokens) if transcript.segments else ""
        t3 = time.perf_counter()
        evidence = ground(text, question, transcript.segments)
        pages = []
        for s in evidence:
            p = page_of[int(s.start)]
            if p not in pages:
                pages.append(p)
        return Answer(
            text=text, question=question, cited_pages=pages[:3], config={"route": "silvr", **_plain(self.config)},
            tokens={"prompt": ctx.tokens, "clips_kept": len(ctx.clips), "clips_total": ctx.total_clips, "pages": n_pages},
            timings={"read_s": t1 - t0, "context_s": t2 - t1, "reason_s": t3 - t2},
            evidence=[{**dataclasses.asdict(s), "page": page_of[int(s.start)]} for s in evidence[:3]],
            notes=list(transcript.notes), context={"granularity": ctx.granularity, "selected": ctx.selected,
                                                   "text": ctx.text, "unit": "chunk"},
        )


def _plain(cfg) -> dict:
    d = dataclasses.asdict(cfg)
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}
