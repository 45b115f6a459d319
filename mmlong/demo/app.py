"""The ``mmlong demo`` web app (Gradio Blocks): upload a video or a PDF, ask, see why.

    from mmlong.demo.app import build_app, launch, store_for
    app = build_app(store_for("default"))          # nothing loads until the first question
    launch(app, host="127.0.0.1", port=7860)

Two layers:

* plain functions the app calls, testable without a browser or gradio: :func:`probe`
  (what was uploaded), :func:`token_plan` (frames x tokens, or the language route's stages,
  before anything runs), :func:`answer_question` (one question -> :class:`Result`: the
  :class:`~mmlong.answer.Answer`, clickable citations and a strip of frames or pages) and
  :class:`PipelineStore` (one pipeline per route per process, loaded lazily, shared by all
  sessions, used under one lock);
* :func:`build_app`, the page: upload + settings + plan on the left; player, question,
  streamed answer, citation buttons, frame strip and history on the right.

Security model: uploads go to the server's upload cache (a private 0700 dir of this process
when ``GRADIO_TEMP_DIR`` is unset), are checked by :mod:`mmlong.demo.session` and moved into a
per-session 0700 dir that is never served (it is in ``blocked_paths``; nothing is added to
``allowed_paths``). The video player plays a copy that gradio manages in its cache under an
unguessable content-hash URL; that copy, the session dir and its cached stage-1 text are
deleted when the tab closes (``demo.unload``), when the upload is replaced, or at the latest
when gradio drops the session state (``gr.State(delete_callback=...)``).

No ``from __future__ import annotations`` here: gradio reads ``request: gr.Request`` from
the handlers' evaluated annotations.
"""

import dataclasses
import html
import inspect
import math
import os
import queue
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mmlong.demo.session import DEFAULT_MAX_BYTES, VIDEO_EXTS, Session, SessionManager, Upload
from mmlong.errors import MmlongError

__all__ = ["AskSettings", "Result", "PipelineStore", "store_for", "default_factory", "routes_for", "load_toggles",
           "probe", "token_plan", "answer_question", "build_app", "launch", "cite_seconds"]

MAX_CITES = 8  # citation buttons on the page
MAX_STRIP = 12  # frames / pages in the strip
THUMB = 180  # strip thumbnail height (px)
BUDGETS = ("4k", "8k", "16k", "32k", "64k")


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class AskSettings:
    """What the settings panel chose for one question."""

    route: str = "silvr"  # silvr (language route) | direct (frames -> VLM)
    pos: str = "native"  # position scheme (direct route)
    budget: str | None = "16k"  # visual tokens for the video (direct route); None = fps x max_frames only
    fps: float = 1.0  # frames per second to sample (direct route)
    max_frames: int = 64  # cap on frames (direct route)
    prefill: str | None = None  # sparse prefill setting, when mmlong.load supports prefill=
    reduce: str | None = None  # token reduction setting, when mmlong.load supports reduce=

    def load_opts(self) -> dict:
        """Load-time options (they select a pipeline; changing one reloads it)."""
        return {k: getattr(self, k) for k in load_toggles() if getattr(self, k) not in (None, "", "off")}


def routes_for(model: str) -> tuple[str, ...]:
    """Routes a model can serve: the default (text-only) model has only the language route."""
    return ("silvr",) if model == "default" else ("direct", "silvr")


def load_toggles() -> tuple[str, ...]:
    """The optional load-time features ``mmlong.load`` declares (``prefill``, ``reduce``)."""
    from mmlong.api import load

    params = inspect.signature(load).parameters
    named = {n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_KEYWORD}
    return tuple(n for n in ("prefill", "reduce") if n in named)


# ----------------------------------------------------------------------------- pipelines


def default_factory(model: str = "default", *, device: str | None = None, cache_dir: str | None = None,
                    max_new_tokens: int = 128) -> Callable[..., Any]:
    """``factory(route, pos=None, **load_opts) -> pipeline`` built on :func:`mmlong.load`."""

    def make(route: str, pos: str | None = None, **opts):
        import mmlong

        kw: dict = dict(route=route, device=device, max_new_tokens=max_new_tokens, **opts)
        if route == "silvr":
            kw["cache_dir"] = cache_dir
        else:
            kw["pos"] = pos
        pipe = mmlong.load(model, **kw)
        if hasattr(pipe.config, "progress"):  # the language route's per-stage tqdm bars
            pipe.config = dataclasses.replace(pipe.config, progress=True)
        return pipe

    return make


class PipelineStore:
    """One pipeline per route per process, created on first use and shared by every session.

    Model calls go through :attr:`lock` (a plain lock, so any thread may release it): two
    sessions never run the same model at once, whatever the queue's concurrency. Changing
    the position scheme re-patches the loaded VLM (``mmlong.apply``) instead of reloading it;
    changing a load option (``prefill``/``reduce``) reloads that route's pipeline.
    """

    def __init__(self, factory: Callable[..., Any], model: str = "default"):
        self.factory, self.model = factory, model
        self.lock = threading.Lock()
        self._pipes: dict[str, tuple[tuple, Any]] = {}

    def loaded(self, route: str):
        """The pipeline of ``route`` if it is loaded, else None (never loads)."""
        got = self._pipes.get(route)
        return got[1] if got else None

    def get(self, route: str, *, pos: str | None = None, **load_opts):
        """The pipeline of ``route`` (loading it on first use). Call with :attr:`lock` held."""
        key = tuple(sorted(load_opts.items()))
        got = self._pipes.get(route)
        if got is None or got[0] != key:
            self._pipes.pop(route, None)  # at most one pipeline per route in memory
            pipe = self.factory(route, pos=pos, **load_opts) if route == "direct" else self.factory(route, **load_opts)
            self._pipes[route] = (key, pipe)
        pipe = self._pipes[route][1]
        if route == "direct" and pos and getattr(pipe.config, "pos", pos) != pos:
            from mmlong.pos_encodings.patch import apply

            apply(pipe.model, pos)
            pipe.config = dataclasses.replace(pipe.config, pos=pos, pos_options={})
        return pipe


_STORES: dict[tuple, PipelineStore] = {}
_STORES_LOCK = threading.Lock()


def store_for(model: str = "default", *, device: str | None = None, cache_dir: str | None = None,
              max_new_tokens: int = 128) -> PipelineStore:
    """The process-wide :class:`PipelineStore` for these settings (one per process)."""
    key = (model, device, str(cache_dir) if cache_dir else None, max_new_tokens)
    with _STORES_LOCK:
        if key not in _STORES:
            _STORES[key] = PipelineStore(default_factory(model, device=device, cache_dir=cache_dir,
                                                         max_new_tokens=max_new_tokens), model)
        return _STORES[key]


# ----------------------------------------------------------------------------- upload facts and plan


def probe(upload: Upload) -> dict:
    """Metadata of an accepted upload (decoder / PDF reader check included).

    Returns:
        video: ``duration, fps, width, height, has_audio, frames``; pdf: ``pages, chars,
        page_size`` (points of page 1).

    Raises:
        MmlongError: the file does not decode as a video / does not open as a PDF.
    """
    if upload.kind == "pdf":
        from mmlong.docs import open_pdf

        with open_pdf(str(upload.path)) as doc:
            return {"pages": len(doc.pages), "chars": sum(len(p.text) for p in doc.pages),
                    "page_size": (doc.pages[0].width, doc.pages[0].height)}
    from mmlong.video import open as open_video

    with open_video(upload.path) as src:
        meta = {"duration": float(src.duration), "fps": float(src.fps), "width": int(src.width),
                "height": int(src.height), "has_audio": bool(src.has_audio), "frames": int(src.num_frames)}
    if not meta["duration"] > 0 or meta["frames"] < 1:
        raise MmlongError(f"{upload.name!r} has no video frames; upload a video with a picture track")
    return meta


def _hms(seconds: float) -> str:
    from mmlong.silvr.segments import hms

    return hms(seconds)


def _short(seconds: float) -> str:
    """Compact time for captions: ``m:ss`` under an hour, else ``h:mm:ss`` (``65 -> "1:05"``)."""
    t = max(0, int(seconds))
    return f"{t // 3600}:{t % 3600 // 60:02d}:{t % 60:02d}" if t >= 3600 else f"{t // 60}:{t % 60:02d}"


def _spec_for(store: PipelineStore):
    pipe = store.loaded("direct")
    if pipe is not None:
        return pipe.spec
    model = store.model
    if model.startswith("tiny:"):
        from mmlong.models.tiny import tiny_spec

        return tiny_spec(model[5:])
    from mmlong.models.vision_inputs import VisionSpec

    return VisionSpec.from_pretrained(model)


def _video_plan(store: PipelineStore, upload: Upload, meta: dict, s: AskSettings) -> str:
    """Frames x tokens of the direct route: ``mmlong.tokens.planner.plan`` when available."""
    try:
        from mmlong.tokens.planner import plan
    except ImportError:  # the budget module is optional here
        plan = None
    if plan is not None and s.budget:
        pipe = store.loaded("direct")
        p = plan(str(upload.path), pipe.spec if pipe is not None else store.model, s.budget, fps=s.fps,
                 max_frames=s.max_frames)
        return f"**Direct route** ({store.model}, pos `{s.pos}`): {p.summary()}"
    spec = _spec_for(store)
    n = max(1, min(s.max_frames, int(meta["duration"] * s.fps) or 1))
    h, w = spec.video_hw(meta["height"], meta["width"])
    per = h * w // spec.factor ** 2
    patches = math.ceil(n / spec.temporal_patch_size)
    return (f"**Direct route** ({store.model}, pos `{s.pos}`): {n} frames ({s.fps:g} fps, max {s.max_frames}) at "
            f"{h}x{w} -> {per} tokens x {patches} temporal patches = {per * patches} visual tokens")


def _silvr_plan(store: PipelineStore, meta: dict) -> str:
    from mmlong.silvr import SilvrConfig

    pipe = store.loaded("silvr")
    cfg = pipe.config if pipe is not None else SilvrConfig()
    dur = meta["duration"]
    bits = []
    if cfg.ocr is not None:
        bits.append(f"OCR at slide changes (scan {cfg.ocr.scan_fps:g} fps: ~{max(1, int(dur * cfg.ocr.scan_fps))} "
                    "frames checked)")
    if cfg.asr is not None:
        bits.append(f"speech recognition over {dur:.0f} s of audio" if meta.get("has_audio")
                    else "no audio track: speech skipped")
    if cfg.caption_model:
        bits.append(f"clip captions by {cfg.caption_model}")
    r = cfg.reasoner
    return (f"**Language route**, video {_hms(dur)} ({dur:.0f} s). Stage 1, once per upload then cached: "
            f"{'; '.join(bits) or 'no describers'}. Stage 2: `{r.model}` reads at most {r.select_tokens} tokens of "
            f"the most relevant text and answers in at most {r.max_new_tokens} tokens.")


def token_plan(store: PipelineStore, upload: Upload | None, meta: dict | None, s: AskSettings) -> str:
    """The plan shown before running: frames x tokens (direct) or the stages (language route).

    Never raises: a plan that cannot be computed says why in one line.
    """
    if upload is None or meta is None:
        return "Upload a video or a PDF to see the token plan."
    try:
        if upload.kind == "pdf":
            n = meta["pages"]
            if s.route == "direct":
                from mmlong.api import PipelineConfig

                cfg = PipelineConfig(model=store.model, family="", pos=s.pos)
                spec = _spec_for(store)
                pw, ph = meta["page_size"]
                scale = cfg.page_side / max(pw, ph, 1.0)
                h, w = spec.image_hw(max(1, round(ph * scale)), max(1, round(pw * scale)))
                k = min(n, cfg.max_pages)
                per = h * w // spec.factor ** 2
                return (f"**Direct route**, PDF: {k} of {n} pages rendered at {h}x{w} -> {per} tokens each = "
                        f"{k * per} image tokens")
            return (f"**Language route**, PDF: text layer of {n} pages ({meta['chars']:,} characters), the most "
                    "relevant chunks go to the reasoner; answers cite pages.")
        if s.route == "direct":
            return _video_plan(store, upload, meta, s)
        return _silvr_plan(store, meta)
    except Exception as exc:  # noqa: BLE001 - the plan is advisory
        return f"Plan unavailable: {_one_line(exc)}"


# ----------------------------------------------------------------------------- answering


@dataclass
class Result:
    """One answered question, ready for the page.

    Attributes:
        answer: the pipeline's Answer.
        cites: ``(label, seconds_or_page)`` per citation button; labels are ``"▶ HH:MM:SS"``
            (video times) or ``"page N"`` (PDF pages).
        strip: ``(thumbnail uint8 HxWx3, caption)``: frames at cited times and slide changes
            (language route), the sampled frames (direct route), or cited pages (PDF).
        stage1: stage-1 seconds per describer (language route; ~0 when cached).
        seconds: wall time of the question.
    """

    answer: Any
    cites: list[tuple[str, float]] = field(default_factory=list)
    strip: list[tuple[Any, str]] = field(default_factory=list)
    stage1: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def stage1_cached(self) -> bool:
        return bool(self.stage1) and sum(self.stage1.values()) < 0.5


def cite_seconds(label: str) -> float | None:
    """Seconds of a time-citation label (``"▶ 00:01:05" -> 65.0``), None for other labels."""
    m = re.search(r"(\d+):(\d{2}):(\d{2})", label or "")
    return None if m is None else int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def _cite_page(label: str) -> int | None:
    m = re.search(r"page (\d+)", label or "")
    return None if m is None else int(m.group(1))


def _streamer(pipe, on_text: Callable[[str], None]):
    """A transformers streamer that hands the growing answer text to ``on_text`` (None if no tokenizer)."""
    tok = getattr(pipe, "tokenizer", None)
    if tok is None:  # the language route keeps its reasoner's tokenizer inside (loaded lazily)
        try:
            tok = pipe.tokenizer
        except Exception:  # noqa: BLE001 - no streaming then; the answer still arrives whole
            return None
    from transformers import TextStreamer

    class _Forward(TextStreamer):
        def __init__(self):
            super().__init__(tok, skip_prompt=True, skip_special_tokens=True)
            self.text = ""

        def on_finalized_text(self, text: str, stream_end: bool = False):
            self.text += text
            on_text(self.text)

    return _Forward()


def _direct_clip(path: str, pipe, s: AskSettings):
    """Frames for the direct route: planned for the token budget when the budget module exists."""
    if s.budget:
        try:
            from mmlong.tokens.planner import sample_for_budget
        except ImportError:
            sample_for_budget = None
        if sample_for_budget is not None:
            clip, _spec = sample_for_budget(path, pipe.spec, s.budget, fps=s.fps, max_frames=s.max_frames)
            return clip
    from mmlong.video import sample

    return sample(path, fps=s.fps, max_frames=s.max_frames)


def _thumb(frame):
    import numpy as np
    from PIL import Image

    img = Image.fromarray(np.asarray(frame))
    if img.height > THUMB:
        img = img.resize((max(1, round(img.width * THUMB / img.height)), THUMB), Image.BILINEAR)
    return np.asarray(img.convert("RGB"))


def _video_strip(path: str, cited: list[float], marks: list[tuple[float, str]]) -> list[tuple[Any, str]]:
    """Frames at the cited times first, then at ``marks`` (time, why), at most MAX_STRIP, in time order."""
    from mmlong.video import open as open_video

    chosen: list[tuple[float, str]] = []
    for t, why in [(t, "cited") for t in cited] + list(marks):
        if len(chosen) >= MAX_STRIP:
            break
        if all(abs(t - c) >= 1.0 for c, _ in chosen):
            chosen.append((float(t), why))
    if not chosen:
        return []
    chosen.sort()
    with open_video(path) as src:
        frames, _ = src.frames_at([t for t, _ in chosen])
    return [(_thumb(f), f"{_short(t)} {why}".strip()) for f, (t, why) in zip(frames, chosen)]


def _page_strip(path: str, pages: list[int], n_pages: int) -> list[tuple[Any, str]]:
    from mmlong.docs import open_pdf

    shown = [(p, "cited") for p in pages] or [(p, "") for p in range(1, min(n_pages, 4) + 1)]
    with open_pdf(path) as doc:
        return [(_thumb(doc.render(p - 1, max_side=2 * THUMB)), f"page {p} {why}".strip())
                for p, why in shown[:MAX_STRIP] if 0 < p <= len(doc.pages)]


def render_page(upload: Upload, page: int, max_side: int = 900):
    """A PDF page of the upload as an RGB PIL image (for the page viewer)."""
    from mmlong.docs import open_pdf

    with open_pdf(str(upload.path)) as doc:
        if not 0 < page <= len(doc.pages):
            raise MmlongError(f"page {page} is out of range (1..{len(doc.pages)})")
        return doc.render(page - 1, max_side=max_side)


def answer_question(store: PipelineStore, upload: Upload, question: str, s: AskSettings = AskSettings(), *,
                    on_text: Callable[[str], None] | None = None,
                    progress: Callable[..., Any] | None = None) -> Result:
    """Answer ``question`` about ``upload`` exactly as the page does (without a browser).

    Args:
        store: where the shared pipelines live.
        upload: the session's accepted upload.
        question: the question.
        s: route, scheme, budget, ...
        on_text: called with the growing answer text while it is generated (streaming).
        progress: ``progress(fraction, desc=...)`` per stage (a ``gr.Progress`` works).

    Raises:
        MmlongError: empty question, bad settings, undecodable input (one line).
    """
    progress = progress if progress is not None else (lambda *a, **k: None)
    if not isinstance(question, str) or not question.strip():
        raise MmlongError("type a question first")
    if s.route not in routes_for(store.model):
        raise MmlongError(f"the {s.route!r} route needs a Qwen-VL model; restart the demo with --model <hub id or "
                          f"tiny:qwen2_5_vl>, or pick {routes_for(store.model)[0]!r}")
    path = str(upload.path)
    t0 = time.perf_counter()
    transcript, stage1, clip = None, {}, None
    if store.lock.locked():
        progress(0.0, desc="waiting: another question is using the model")
    with store.lock:
        if store.loaded(s.route) is None:
            progress(0.02, desc=f"loading the {s.route} route's models (first question only)")
        pipe = store.get(s.route, pos=s.pos, **s.load_opts())
        stream = _streamer(pipe, on_text) if on_text else None
        if upload.kind == "pdf":
            progress(0.3, desc="reading the document")
            ans = pipe.ask(question, document=path, stream=stream)
        elif s.route == "silvr":
            progress(0.05, desc="stage 1: on-screen text + speech (cached after the first question)")
            transcript, stage1 = pipe.describe(path)
            progress(0.85, desc="stage 2: the reasoner answers")
            ans = pipe.ask(question, video=path, stream=stream)
        else:
            progress(0.05, desc="sampling frames for the token budget")
            clip = _direct_clip(path, pipe, s)
            progress(0.3, desc=f"prefill + decoding over {len(clip.timestamps)} frames")
            ans = pipe.ask(question, video=clip, stream=stream)
    progress(0.95, desc="collecting frames")
    if upload.kind == "pdf":
        cites = [(f"page {p}", float(p)) for p in ans.cited_pages[:MAX_CITES]]
        strip = _page_strip(path, ans.cited_pages, int(ans.tokens.get("pages", 0)) or 1)
    else:
        cites = [(f"▶ {_hms(t)}", float(t)) for t in ans.cited_times[:MAX_CITES]]
        if clip is not None:  # direct route: the frames the model saw (evenly thinned to the strip)
            n = len(clip.timestamps)
            k = min(n, MAX_STRIP)
            idx = sorted({round(i * (n - 1) / max(1, k - 1)) for i in range(k)})
            cited = {round(t) for t in ans.cited_times}
            strip = [(_thumb(clip.frames[i]), f"{_short(clip.timestamps[i])} #{i + 1}"
                      + (" cited" if round(float(clip.timestamps[i])) in cited else "")) for i in idx]
        else:
            marks = [(seg.start, "slide") for seg in (transcript.of("screen") if transcript else ())]
            dur = float(transcript.duration) if transcript else 0.0
            if dur > 0 and len(marks) + len(ans.cited_times) < 6:  # a short talk: add an overview
                marks += [((i + 0.5) * dur / 6, "") for i in range(6)]
            strip = _video_strip(path, list(ans.cited_times), marks)
    return Result(ans, cites, strip, stage1, time.perf_counter() - t0)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text if isinstance(exc, MmlongError) else f"{type(exc).__name__}: {text}".rstrip(": ")


# ----------------------------------------------------------------------------- the page

CSS = """
#mmlong-status .mmlong-error {color: #b42318; background: #fef3f2; border: 1px solid #fda29b; padding: 8px 10px;
  border-radius: 6px; font-weight: 600}
#mmlong-status .mmlong-ok {color: #067647; background: #ecfdf3; border: 1px solid #abefc6; padding: 8px 10px;
  border-radius: 6px}
#mmlong-cites {gap: 6px; flex-wrap: wrap}
.mmlong-cite {min-width: 120px !important; max-width: 160px; flex-grow: 0 !important}
#mmlong-frames {min-height: 150px}
#mmlong-history th {white-space: nowrap}
"""

# Seek the player to the first time in a label: "▶ 00:01:05" (buttons) or "1:05 cited" (strip captions).
SEEK_JS = """
(label) => {
  const m = /(?:(\\d+):)?(\\d+):(\\d{2})/.exec(label || "");
  if (m) {
    const t = (+(m[1] || 0)) * 3600 + (+m[2]) * 60 + (+m[3]);
    const v = document.querySelector('#mmlong-player video');
    if (v) { v.currentTime = t; v.play().catch(() => {}); v.scrollIntoView({block: 'nearest'}); }
  }
  return [];
}
"""


def _status(ok: bool, text: str) -> str:
    cls, icon = ("mmlong-ok", "✓") if ok else ("mmlong-error", "⚠")
    return f'<div class="{cls}" role="{"status" if ok else "alert"}">{icon} {text}</div>'


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KB" if n < 1024 ** 2 else f"{n / 1024 ** 2:.1f} MB"


def _describe_upload(up: Upload, meta: dict) -> str:
    name = html.escape(up.name)
    if up.kind == "pdf":
        return f"Loaded <b>{name}</b>: PDF, {meta['pages']} pages, {_size(up.size)}. Ask a question."
    audio = "with audio" if meta["has_audio"] else "no audio"
    return (f"Loaded <b>{name}</b>: video, {_hms(meta['duration'])} ({meta['duration']:.0f} s), "
            f"{meta['width']}x{meta['height']}, {audio}, {_size(up.size)}. Ask a question.")


def _history_md(history: list[dict]) -> str:
    if not history:
        return ""
    rows = ["| # | question | answer | cited | stage 1 | total |", "|---|---|---|---|---|---|"]
    for i, h in enumerate(history, 1):
        cell = lambda x: str(x).replace("|", "\\|").replace("\n", " ")  # noqa: E731
        rows.append(f"| {i} | {cell(h['question'])} | {cell(h['answer'])} | {cell(h['cited'])} | {h['stage1']} | "
                    f"{h['seconds']:.1f} s |")
    return "\n".join(rows)


def build_app(pipeline_factory: Any = None, *, model: str | None = None, sessions: SessionManager | None = None,
              max_upload_mb: int = 2048, concurrency: int = 1, private_stage_cache: bool = False):
    """The demo page as a ``gr.Blocks`` (not launched; see :func:`launch`).

    Args:
        pipeline_factory: a :class:`PipelineStore`, or ``factory(route, pos=None, **opts) ->
            pipeline`` (wrapped in a new store); None = :func:`store_for` ``(model)``.
        model: the model label (routes offered, plans); default the store's.
        sessions: where uploads live (default: a new private :class:`SessionManager`).
        max_upload_mb: upload size limit (also pass it to :func:`launch`).
        concurrency: the queue's ``default_concurrency_limit``.
        private_stage_cache: the language route's stage-1 cache is private to this demo:
            delete a video's cached text with its session.

    Returns:
        The Blocks, with ``mmlong_sessions``, ``mmlong_store`` and ``mmlong_max_upload_mb``
        attributes for :func:`launch` and tests.
    """
    if isinstance(pipeline_factory, PipelineStore):
        store = pipeline_factory
    elif pipeline_factory is None:
        store = store_for(model or "default")
    else:
        store = PipelineStore(pipeline_factory, model or "default")
    model = model or store.model
    sessions = SessionManager() if sessions is None else sessions
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("GRADIO_TEMP_DIR", str(sessions.server_dir()))  # uploads land in a private dir
    from mmlong.errors import require

    gr = require("gradio", "ui")
    from mmlong.pos_encodings import schemes

    routes = routes_for(model)
    toggles = load_toggles()
    max_bytes = int(max_upload_mb) * 1024 * 1024 if max_upload_mb else DEFAULT_MAX_BYTES

    def settings_of(route, pos, budget, fps, max_frames, prefill, reduce) -> AskSettings:
        off = (None, "", "off")
        return AskSettings(route=route or routes[0], pos=pos or "native", budget=None if budget in off else str(budget),
                           fps=float(fps or 1.0), max_frames=int(max_frames or 64),
                           prefill=None if prefill in off else prefill, reduce=None if reduce in off else reduce)

    with gr.Blocks(title="mmlong demo", delete_cache=(1800, 6 * 3600)) as demo:
        sess = gr.State(None, delete_callback=lambda s: s.close() if isinstance(s, Session) else None)
        gr.Markdown(f"## mmlong: ask a long video or a PDF\nModel `{model}`. Upload a video "
                    f"({', '.join(e[1:] for e in VIDEO_EXTS)}) or a PDF up to {max_upload_mb} MB; files stay in a "
                    "private temp dir and are deleted when you close the tab.")
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                upload = gr.File(label="Video or PDF", file_count="single", type="filepath", elem_id="mmlong-upload")
                status = gr.HTML("", elem_id="mmlong-status")
                with gr.Accordion("Settings", open=True):
                    route = gr.Radio(list(routes), value=routes[0], label="Route",
                                     info="silvr: OCR + speech -> text LLM (offline default); direct: frames -> VLM")
                    direct = routes[0] == "direct"
                    pos = gr.Dropdown(sorted(schemes()), value="native", label="Position scheme (direct route)",
                                      interactive=direct)
                    budget = gr.Dropdown(["off", *BUDGETS], value="16k", allow_custom_value=True,
                                         label="Visual token budget (direct route)", interactive=direct)
                    with gr.Row():
                        fps = gr.Number(1.0, label="Frames per second", minimum=0.05, maximum=30, interactive=direct)
                        max_frames = gr.Slider(2, 768, value=64, step=2, label="Max frames", interactive=direct)
                    # shown only when mmlong.load declares prefill= / reduce= (values are passed through)
                    prefill = gr.Dropdown(["off"], value="off", allow_custom_value=True, interactive=direct,
                                          label="Sparse prefill (direct route)", visible="prefill" in toggles)
                    reduce = gr.Dropdown(["off", "temporal", "temporal+budget:4096", "relevance:0.25"], value="off",
                                         allow_custom_value=True, interactive=direct,
                                         label="Token reduction (direct route)", visible="reduce" in toggles)
                plan_md = gr.Markdown("Upload a video or a PDF to see the token plan.", elem_id="mmlong-plan")
            with gr.Column(scale=3, min_width=400):
                player = gr.Video(label="Video", interactive=False, elem_id="mmlong-player", visible=False, height=300)
                page_view = gr.Image(label="Page", interactive=False, visible=False, elem_id="mmlong-page", height=400)
                with gr.Row():
                    question = gr.Textbox(label="Question", placeholder="e.g. What is the secret number?", scale=4,
                                          elem_id="mmlong-question", lines=1)
                    ask_btn = gr.Button("Ask", variant="primary", scale=1, elem_id="mmlong-ask")
                stage_md = gr.Markdown("", elem_id="mmlong-stage", min_height=70, container=True)
                answer_md = gr.Markdown("", elem_id="mmlong-answer", label="Answer")
                with gr.Row(elem_id="mmlong-cites"):
                    cite_btns = [gr.Button("", visible=False, size="sm", elem_classes=["mmlong-cite"])
                                 for _ in range(MAX_CITES)]
                strip = gr.Gallery(label="Frames (cited times, slide changes / sampled frames / pages)",
                                   columns=6, height=230, object_fit="contain", elem_id="mmlong-frames",
                                   interactive=False)
                strip_pick = gr.Textbox(visible=False, elem_id="mmlong-strip-pick")  # caption of the clicked frame
                history_md = gr.Markdown("", elem_id="mmlong-history")
        settings_inputs = [route, pos, budget, fps, max_frames, prefill, reduce]

        def served(s: Session, comp, image, name: str) -> str:
            """Hand ``image`` (array or PIL) to the page as a gradio-cache copy deleted with the session."""
            import numpy as np
            from PIL import Image

            img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
            local = s.dir / f"{name}-{secrets.token_hex(4)}.jpg"
            img.convert("RGB").save(local, quality=85)
            cached = comp.move_resource_to_block_cache(str(local))
            local.unlink(missing_ok=True)
            s.on_cleanup(lambda p=cached: _remove_cached(p))
            return cached

        def drop_server_copy(file: str) -> None:
            """Remove what is left of an upload in gradio's cache (adopt() moved or deleted the file)."""
            cache = Path(demo.GRADIO_CACHE).resolve()
            if cache in Path(file).resolve().parents:
                _remove_cached(file)

        def _hidden_cites():
            return [gr.Button(value="", visible=False) for _ in range(MAX_CITES)]

        n_upload_out = 10 + MAX_CITES

        def on_upload(file, s, route_v, pos_v, budget_v, fps_v, frames_v, prefill_v, reduce_v, request: gr.Request):
            if file is None:
                return [gr.skip()] * n_upload_out
            key = getattr(request, "session_hash", None) if request is not None else None
            if not isinstance(s, Session) or s.closed:
                s = sessions.open(key)
            try:
                up = s.adopt(file, max_bytes=max_bytes, name=Path(file).name)
                meta = probe(up)
            except Exception as exc:  # noqa: BLE001 - shown in the page, never a traceback
                s.discard()
                drop_server_copy(file)
                # the File box is cleared: a refused upload is already deleted
                return [None, _status(False, "Upload refused: " + html.escape(_one_line(exc))),
                        gr.Video(value=None, visible=False), gr.Image(value=None, visible=False),
                        "Upload a video or a PDF to see the token plan.", "", "", [], "", *_hidden_cites(), s]
            drop_server_copy(file)
            s.meta = meta
            if up.kind == "video":
                if private_stage_cache:
                    _forget_stage1(store, s, up)
                cached = player.move_resource_to_block_cache(str(up.path))  # gradio's copy, served by hash
                s.on_cleanup(lambda p=cached: _remove_cached(p))
                vid, page = gr.Video(value=cached, visible=True), gr.Image(value=None, visible=False)
            else:
                vid = gr.Video(value=None, visible=False)
                page = gr.Image(value=served(s, page_view, render_page(up, 1), "page"), visible=True, label="page 1")
            st = settings_of(route_v, pos_v, budget_v, fps_v, frames_v, prefill_v, reduce_v)
            plan = token_plan(store, up, meta, st)
            # the File box is cleared: the upload now lives in the session's private dir
            return [None, _status(True, _describe_upload(up, meta)), vid, page, plan, "", "", [], "",
                    *_hidden_cites(), s]

        upload_outputs = [upload, status, player, page_view, plan_md, stage_md, answer_md, strip, history_md,
                          *cite_btns, sess]

        def on_settings(s, *values):
            st = settings_of(*values)
            up = s.upload if isinstance(s, Session) else None
            plan = token_plan(store, up, getattr(s, "meta", None), st)
            inter = st.route == "direct"
            return [plan] + [gr.update(interactive=inter) for _ in range(6)]

        def on_ask(q, s, route_v, pos_v, budget_v, fps_v, frames_v, prefill_v, reduce_v,
                   progress=gr.Progress(track_tqdm=True)):
            n_out = 4 + MAX_CITES
            if not isinstance(s, Session) or s.upload is None:
                yield ["", "⚠ **Upload a video or a PDF first.**", gr.skip(), gr.skip(), *[gr.skip()] * MAX_CITES]
                return
            st = settings_of(route_v, pos_v, budget_v, fps_v, frames_v, prefill_v, reduce_v)
            events: queue.Queue = queue.Queue()
            import contextvars

            ctx = contextvars.copy_context()  # gradio's progress lives in context variables

            def work():
                try:
                    res = answer_question(store, s.upload, q, st, on_text=lambda t: events.put(("text", t)),
                                          progress=progress)
                    events.put(("done", res))
                except Exception as exc:  # noqa: BLE001 - shown in the page
                    events.put(("error", exc))

            threading.Thread(target=ctx.run, args=(work,), daemon=True).start()
            while True:
                kind, val = events.get()
                if kind == "text":
                    yield [gr.skip(), html.escape(val) + " ▌", gr.skip(), gr.skip(), *[gr.skip()] * MAX_CITES]
                    continue
                if kind == "error":
                    yield ["", "⚠ **Error:** " + html.escape(_one_line(val)), [], gr.skip(), *_hidden_cites()]
                    return
                break
            res: Result = val
            a = res.answer
            cited = ", ".join(lbl.lstrip("▶ ") for lbl, _ in res.cites) or "none"
            stage1 = (("cached" if res.stage1_cached else f"{sum(res.stage1.values()):.1f} s") if res.stage1 else "-")
            short = a.text if len(a.text) <= 160 else a.text[:157] + "..."
            s.history.append({"question": q.strip(), "answer": short or "(empty)", "cited": cited, "stage1": stage1,
                              "seconds": res.seconds})
            text = html.escape(a.text) if a.text else "*(the model gave an empty answer)*"
            text = "**Answer:** " + text
            if res.cites:
                hint = "seek the video" if s.upload.kind == "video" else "show the page"
                text += f"\n\n**Cited:** {cited} (buttons below {hint})"
            notes = "".join(f"\n\n*note: {html.escape(n)}*" for n in a.notes)
            done = (f"Answered in {res.seconds:.1f} s · route {st.route} · stage 1 {stage1} · "
                    f"prompt {a.tokens.get('prompt', '?')} tokens")
            btns = [gr.Button(value=lbl, visible=True) for lbl, _ in res.cites]
            btns += [gr.Button(value="", visible=False) for _ in range(MAX_CITES - len(btns))]
            strip_items = [(served(s, strip, img, "frame"), cap) for img, cap in res.strip]
            s.strip_captions = [cap for _, cap in res.strip]
            yield [done, text + notes, strip_items, _history_md(s.history), *btns][:n_out]

        def on_page(label, s):
            page = _cite_page(label)
            if page is None or not isinstance(s, Session) or s.upload is None or s.upload.kind != "pdf":
                return gr.skip()
            try:
                img = served(s, page_view, render_page(s.upload, page), "page")
                return gr.Image(value=img, visible=True, label=f"page {page}")
            except Exception:  # noqa: BLE001
                return gr.skip()

        def on_strip(s, evt: gr.SelectData):
            """The clicked thumbnail's caption ("1:05 cited", "page 3"): the next step seeks or shows the page."""
            value = evt.value if isinstance(evt.value, dict) else {}
            caption = value.get("caption")
            if not caption and isinstance(s, Session) and isinstance(evt.index, int) \
                    and 0 <= evt.index < len(s.strip_captions):
                caption = s.strip_captions[evt.index]
            return str(caption or "")

        def on_unload(request: gr.Request):
            sessions.close(getattr(request, "session_hash", None))

        # Only questions count against --concurrency (they share one pool); uploads, plans and
        # page views never wait behind a long question.
        upload.upload(on_upload, [upload, sess, *settings_inputs], upload_outputs, show_progress_on=[status],
                      concurrency_limit=None)
        for comp in settings_inputs:
            comp.change(on_settings, [sess, *settings_inputs], [plan_md, pos, budget, fps, max_frames, prefill, reduce],
                        show_progress="hidden", concurrency_limit=None)
        ask_inputs = [question, sess, *settings_inputs]
        ask_outputs = [stage_md, answer_md, strip, history_md, *cite_btns]
        for trigger in (ask_btn.click, question.submit):
            trigger(on_ask, ask_inputs, ask_outputs, show_progress_on=[stage_md], concurrency_id="mmlong-ask")
        for b in cite_btns:
            b.click(None, [b], None, js=SEEK_JS)
            b.click(on_page, [b, sess], [page_view], show_progress="hidden", concurrency_limit=None)
        picked = strip.select(on_strip, [sess], [strip_pick], show_progress="hidden", concurrency_limit=None)
        picked.then(None, [strip_pick], None, js=SEEK_JS)
        picked.then(on_page, [strip_pick, sess], [page_view], show_progress="hidden", concurrency_limit=None)
        demo.unload(on_unload)
    demo.queue(default_concurrency_limit=max(1, int(concurrency)))
    demo.mmlong_sessions, demo.mmlong_store, demo.mmlong_max_upload_mb = sessions, store, max_upload_mb
    return demo


def _remove_cached(path: str) -> None:
    p = Path(path)
    p.unlink(missing_ok=True)
    try:
        p.parent.rmdir()  # gradio keeps one dir per content hash
    except OSError:
        pass


def _forget_stage1(store: PipelineStore, s: Session, up: Upload) -> None:
    """Delete this video's cached stage-1 text with the session (private cache only)."""
    from mmlong.silvr.cache import video_hash

    vh = video_hash(str(up.path))[:24]

    def forget():
        pipe = store.loaded("silvr")
        d = getattr(getattr(pipe, "cache", None), "dir", None)
        if d is not None:
            for f in Path(d).glob(f"{vh}-*.json"):
                f.unlink(missing_ok=True)

    s.on_cleanup(forget)


def launch(app, *, host: str = "127.0.0.1", port: int = 7860, prevent_thread_lock: bool = False, quiet: bool = False):
    """Serve ``app`` (from :func:`build_app`) on ``host:port`` (loopback by default).

    Uploads above the limit are refused by the server itself (``max_file_size``); the
    sessions' dirs are in ``blocked_paths`` so they are never served, even by path.
    """
    sessions: SessionManager = app.mmlong_sessions
    return app.launch(server_name=host, server_port=int(port), share=False, ssr_mode=False,
                      max_file_size=f"{int(app.mmlong_max_upload_mb)}mb", blocked_paths=[str(sessions.sessions_dir)],
                      prevent_thread_lock=prevent_thread_lock, quiet=quiet, css=CSS, show_error=False,
                      footer_links=[])
