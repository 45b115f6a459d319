"""The language route (SiLVR) as a pipeline: describe once, then answer many questions.

    pipe = mmlong.load("default")                   # OCR + ASR + SmolLM2, all offline
    ans = pipe.ask("What is the secret number?", video="lecture.mp4")
    print(ans.text, ans.cited_times, ans.context["granularity"])

:class:`SilvrPipeline` implements :class:`mmlong.pipeline.Pipeline`; it answers ``ask_many``
one question at a time (stage 1 is cached, so later questions about a video are cheap).

Stage 1 runs each describer (OCR on scene changes, ASR, optionally VLM captions) and caches
the result on disk by video hash + settings. Stage 2 answers from that text with grounding
(:mod:`mmlong.silvr.grounding`): by default (``mode="choose"``) the answer is a span of the
evidence (a number, a word, a label's value) chosen by the question's coverage of each
piece of evidence and the reasoner's log-likelihood; with ``mode="generate"`` the text is
fitted into the reasoner's context (adaptive granularity, relevance selection), the reasoner
writes an answer, and it stands only when a candidate span of the evidence holds it. Either
way the answer cites the time (or page) of its span, or says "Not found in the video".

With ``clip`` set (CLIP weights), the generate mode's clip selection also looks at the video:
each clip's relevance joins the text embedder's score with CLIP's score of its frames
(:mod:`mmlong.silvr.frame_relevance`, :func:`mmlong.silvr.context.combine_relevance`). The
choose mode selects no clips; there CLIP only adds the frames most like the question to the
answer (``context["clip_frames"]``, :data:`CLIP_FRAMES` of them, best first), which do not
change the answer. With ``clip`` None nothing changes.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mmlong.answer import Answer
from mmlong.errors import MmlongError
from mmlong.pipeline.base import ask_one_by_one, check_batch_size, check_max_new_tokens
from mmlong.silvr.asr import ASRDescriber, ASRSettings
from mmlong.silvr.cache import StageCache, video_hash
from mmlong.silvr.context import fit
from mmlong.silvr.evidence import units_of
from mmlong.silvr.grounding import GroundingSettings, Grounded, answer_text, ground, not_found
from mmlong.silvr.numbers import normalize
from mmlong.silvr.ocr import OCRDescriber, OCRSettings
from mmlong.silvr.reasoner import Reasoner, ReasonerSettings, build_prompt
from mmlong.silvr.segments import Transcript, hms


CLIP_FRAMES = 3  # frames CLIP finds most like the question, listed with each answer when clip= is set


@dataclass(frozen=True)
class SilvrConfig:
    """Resolved settings of the language route."""

    model: str = "default"  # what mmlong.load was given: "default", or the VLM that captions clips
    route: str = "silvr"  # the language route
    ocr: OCRSettings | None = field(default_factory=OCRSettings)  # None disables OCR
    asr: ASRSettings | None = field(default_factory=ASRSettings)  # None disables ASR
    caption_model: str | None = None  # a Qwen-VL id/path/tiny:FAMILY to caption clips; None = no captions
    reasoner: ReasonerSettings = field(default_factory=ReasonerSettings)
    grounding: GroundingSettings = field(default_factory=GroundingSettings)
    embedder: str = "packaged:all-MiniLM-L6-v2"  # sentence embedder for relevance selection
    clip: str | None = None  # CLIP weights whose frame scores join the text relevance of clips (generate mode)
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
            self.describers.append(ASRDescriber(config.asr, device="cuda" if config.device.startswith("cuda") else "cpu",
                                                cache_dir=config.cache_dir))
        if config.caption_model:
            from mmlong.silvr.captions import CaptionDescriber, CaptionSettings

            self.describers.append(CaptionDescriber(CaptionSettings(model=config.caption_model)))
        self.reasoner = Reasoner(config.reasoner, device=config.device, cache_dir=config.cache_dir)
        self.embedder = Embedder(config.embedder, device=config.device)
        self.frames = None
        if config.clip is not None:
            from mmlong.silvr.frame_relevance import FrameRelevance

            self.frames = FrameRelevance(config.clip)  # CLIP loads on the first selection
        self._units: dict[str, list] = {}  # transcript key -> its evidence units: built once per video

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
            key, kw = d.key(), {}
            if getattr(d, "uses_screen", False):  # its output depends on the OCR text it is given
                kw["screen"] = total.of("screen") if total is not None else ()
                key = {**key, "screen_from": total.settings.get("ocr") if total is not None else None}
            got = self.cache.get(vh, key)
            if got is None:
                bar = _bar(f"stage 1: {d.name}", self.progress)
                try:
                    got = d.describe(video, progress=bar, **kw)
                finally:  # an error line must not land on the same line as an unfinished bar
                    if bar:
                        bar.close()
                self.cache.put(vh, key, got)
            timings[f"{d.name}_s"] = time.perf_counter() - t0
            total = got if total is None else total.merged(got)
        if total is None:
            raise MmlongError("the language route has no describers; enable OCR, ASR or captions")
        return total, timings

    def ask(self, question: str, *, video=None, images=None, document=None, max_new_tokens: int | None = None,
            stream=None) -> Answer:
        """Answer ``question`` about ``video`` or ``document`` (paths). Images need the direct route.

        The answer is a span of the evidence with its time (or page), or "Not found in the
        video/document: <why>". ``max_new_tokens`` caps what the reasoner writes in
        ``mode="generate"`` (default: the reasoner's ``max_new_tokens``); ``stream`` (a
        transformers streamer) receives the finished answer.
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
        units = self._units_for(video, transcript)
        g, ctx = self._ground(question, transcript, units, build_prompt, max_new_tokens, video=str(video))
        t2 = time.perf_counter()
        text = answer_text(g.choice) if g.choice else not_found(g, "video")
        _stream(stream, self, text)
        cites = [round(g.choice.time, 2)] if g.choice else []
        seen = {"clip_frames": self.frames.best(str(video), question, CLIP_FRAMES)} if self.frames is not None else {}
        return Answer(
            text=text, question=question, cited_times=cites, frame_times=[],
            config={"route": "silvr", **_plain(self.config)},
            tokens={"prompt": ctx.tokens if ctx else 0, "units_kept": len(g.kept), "units_total": len(units)},
            timings={"stage1_s": t1 - t0, **stage1, "reason_s": t2 - t1},
            evidence=[_evidence(u) for u in _cited_first(g)][:3],
            notes=list(transcript.notes),
            context={"mode": self.config.grounding.mode, "granularity": ctx.granularity if ctx else None,
                     "selected": ctx.selected if ctx else True, "text": ctx.text if ctx else _render(g.kept),
                     "grounding": g.record(), **seen},
            scene_changes=[round(seg.start, 2) for seg in transcript.of("screen")],
        )

    def _units_for(self, key: str, transcript: Transcript):
        k = f"{key}:{hash(transcript.segments)}"
        if k not in self._units:
            self._units = {k: units_of(transcript)}  # one video at a time
        return self._units[k]

    def context(self, question: str, transcript: Transcript, prompt_fn=build_prompt, *, video: str | None = None):
        """The reasoner's context in generate mode (:func:`~mmlong.silvr.context.fit`): clips ranked by
        the text relevance and, with ``clip`` set and a ``video``, by CLIP's scores of its frames."""
        st = self.config.reasoner
        frames = self.frames.for_video(video) if self.frames is not None and video is not None else None
        return fit(transcript, question, prompt_fn, self.reasoner.count_tokens, self.reasoner.budget,
                   select=st.select, relevance=self.embedder.relevance, select_budget=st.select_tokens,
                   frame_relevance=frames)

    def _ground(self, question, transcript, units, prompt_fn, max_new_tokens, video=None) -> tuple[Grounded, object]:
        """Grounding in the configured mode; the fitted context too in generate mode (else None)."""
        gs = self.config.grounding
        g = ground(question, units, self.reasoner.score, gs)
        if gs.mode != "generate" or not transcript.segments:
            return g, None
        ctx = self.context(question, transcript, prompt_fn, video=video)
        written = self.reasoner.answer(ctx.text, max_new_tokens=max_new_tokens)
        said = normalize(written).lower()
        for ch in g.ranked:  # the best-ranked candidate the reasoner wrote, held to the same checks
            if re.search(rf"(?<![a-z0-9]){re.escape(ch.candidate.value.lower())}(?![a-z0-9])", said):
                return dataclasses.replace(g, choice=None if ch.rejected else ch, best=ch, reason=ch.rejected,
                                           written=written), ctx
        return dataclasses.replace(g, choice=None, reason=f"the reasoner's answer {written[:60]!r} is not in the evidence",
                                   written=written), ctx

    def ask_many(self, requests, *, batch_size: int = 4, return_exceptions: bool = False) -> list:
        """:meth:`ask` per request, in order (the reasoner answers one prompt at a time)."""
        check_batch_size(batch_size)
        return ask_one_by_one(self, requests, return_exceptions=return_exceptions)

    def _ask_document(self, question: str, path: str, stream=None, max_new_tokens: int | None = None) -> Answer:
        from mmlong.docs import open_pdf
        from mmlong.silvr.documents import doc_prompt_fn, document_units

        t0 = time.perf_counter()
        with open_pdf(path) as doc:
            transcript, page_of, units = document_units(doc.pages)
            n_pages = len(doc.pages)
        t1 = time.perf_counter()
        g, ctx = self._ground(question, transcript, units, doc_prompt_fn(page_of), max_new_tokens)
        t2 = time.perf_counter()
        text = answer_text(g.choice) if g.choice else not_found(g, "document")
        _stream(stream, self, text)
        return Answer(
            text=text, question=question, cited_pages=[g.choice.unit.page] if g.choice else [],
            config={"route": "silvr", **_plain(self.config)},
            tokens={"prompt": ctx.tokens if ctx else 0, "units_kept": len(g.kept), "units_total": len(units),
                    "pages": n_pages},
            timings={"read_s": t1 - t0, "reason_s": t2 - t1},
            evidence=[_evidence(u) for u in _cited_first(g)][:3],
            notes=list(transcript.notes),
            context={"mode": self.config.grounding.mode, "granularity": ctx.granularity if ctx else None,
                     "selected": ctx.selected if ctx else True, "text": ctx.text if ctx else _render(g.kept),
                     "unit": "chunk", "grounding": g.record()},
        )


def _cited_first(g: Grounded) -> list:
    """The kept evidence units, the chosen answer's unit first."""
    first = [g.choice.unit] if g.choice else []
    return first + [u for u in g.kept if not first or u is not first[0]]


def _evidence(unit) -> dict:
    return {**dataclasses.asdict(unit.segment), **({"page": unit.page} if unit.page is not None else {})}


def _render(units) -> str:
    """The kept evidence as the reasoner scores it: context, then the unit's own text."""
    return "\n\n".join((f"[page {u.page}] " if u.page is not None else f"[{hms(u.segment.start)}] ") + u.focus
                        for u in units)


def _stream(stream, pipe, text: str) -> None:
    """Hand a finished answer to a transformers streamer: a first ``put`` (the prompt), the answer, ``end``."""
    if stream is None:
        return
    tok = pipe.tokenizer
    import torch

    stream.put(torch.tensor([tok(" ", add_special_tokens=False)["input_ids"] or [0]]))
    stream.put(torch.tensor([tok(text, add_special_tokens=False)["input_ids"]]))
    stream.end()


def _plain(cfg) -> dict:
    d = dataclasses.asdict(cfg)
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}
