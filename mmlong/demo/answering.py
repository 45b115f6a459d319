"""One question about an upload -> a :class:`Result` for the page (no browser, no gradio).

:func:`answer_question` runs the question through the store's pipeline exactly as the page
does (streaming, per-stage progress) and adds what the page shows around the answer:
citation buttons (:func:`cite_seconds` parses their labels back) and a strip of thumbnails:

* language route: frames at the cited times, then those CLIP finds most like the question
  (with ``--clip``: ``Answer.context["clip_frames"]``), then at the slide changes stage 1 saw
  (``Answer.scene_changes``), then an overview of a short video (:func:`language_strip`);
* direct route: the frames the model saw (``Answer.frame_times``), thinned to the strip
  (:func:`sampled_strip`);
* PDF: the cited pages, else the first pages.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from mmlong.demo.session import Upload
from mmlong.demo.settings import AskSettings, routes_for
from mmlong.demo.store import PipelineStore
from mmlong.errors import MmlongError

__all__ = ["Result", "answer_question", "cite_seconds", "cite_page", "render_page", "language_strip",
           "sampled_strip", "short_time", "MAX_CITES", "MAX_STRIP", "THUMB"]

MAX_CITES = 8  # citation buttons on the page
MAX_STRIP = 12  # frames / pages in the strip
THUMB = 180  # strip thumbnail height (px)
OVERVIEW = 6  # a video with fewer strip marks than this gets this many evenly spaced frames too
_NOT_STAGE1 = ("stage1_s", "context_s", "reason_s")  # language-route timings that are not one describer's


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


def cite_page(label: str) -> int | None:
    """The page of a page label (``"page 3"``, ``"page 3 cited"`` -> 3), None for other labels."""
    m = re.search(r"page (\d+)", label or "")
    return None if m is None else int(m.group(1))


def short_time(seconds: float) -> str:
    """Compact time for captions: ``m:ss`` under an hour, else ``h:mm:ss`` (``65 -> "1:05"``)."""
    t = max(0, int(seconds))
    return f"{t // 3600}:{t % 3600 // 60:02d}:{t % 60:02d}" if t >= 3600 else f"{t // 60}:{t % 60:02d}"


# ----------------------------------------------------------------------------- strips


def language_strip(cited: list[float], scene_changes: list[float], duration: float,
                   seen: list[float] = ()) -> list[tuple[float, str]]:
    """``(time, caption)`` of the language route's strip, in time order, at most :data:`MAX_STRIP`.

    The cited times first, then the frames CLIP finds most like the question (``seen``), then
    the slide changes, then (when there are fewer than :data:`OVERVIEW` of those) an evenly
    spaced overview; frames within 1 s of one already chosen are skipped. Captions:
    ``"0:42 cited"``, ``"0:30 clip"``, ``"1:05 slide"``, ``"0:05"``.
    """
    marks = [(float(t), "cited") for t in cited] + [(float(t), "clip") for t in seen]
    marks += [(float(t), "slide") for t in scene_changes]
    if duration > 0 and len(marks) < OVERVIEW:  # a short talk: add an overview
        marks += [((i + 0.5) * duration / OVERVIEW, "") for i in range(OVERVIEW)]
    chosen: list[tuple[float, str]] = []
    for t, why in marks:
        if len(chosen) >= MAX_STRIP:
            break
        if all(abs(t - c) >= 1.0 for c, _ in chosen):
            chosen.append((t, why))
    return [(t, f"{short_time(t)} {why}".strip()) for t, why in sorted(chosen)]


def sampled_strip(frame_times: list[float], cited: list[float]) -> list[tuple[float, str]]:
    """``(time, caption)`` of the direct route's strip: the frames the model saw, evenly thinned
    to :data:`MAX_STRIP` (first and last kept). Captions: ``"0:04 #5"``, ``"0:07 #8 cited"``."""
    n = len(frame_times)
    if n == 0:
        return []
    k = min(n, MAX_STRIP)
    idx = sorted({round(i * (n - 1) / max(1, k - 1)) for i in range(k)})
    near = {round(t) for t in cited}
    return [(float(frame_times[i]), f"{short_time(frame_times[i])} #{i + 1}"
             + (" cited" if round(float(frame_times[i])) in near else "")) for i in idx]


def _thumb(frame):
    import numpy as np
    from PIL import Image

    img = Image.fromarray(np.asarray(frame))
    if img.height > THUMB:
        img = img.resize((max(1, round(img.width * THUMB / img.height)), THUMB), Image.BILINEAR)
    return np.asarray(img.convert("RGB"))


def _video_strip(path: str, answer: Any, route: str) -> list[tuple[Any, str]]:
    """Thumbnails of the strip of ``answer`` (see :func:`language_strip` / :func:`sampled_strip`)."""
    from mmlong.video import open as open_video

    with open_video(path) as src:
        if route == "direct":
            items = sampled_strip(answer.frame_times, answer.cited_times)
        else:
            seen = [f["time"] for f in (answer.context or {}).get("clip_frames", [])]
            items = language_strip(answer.cited_times, answer.scene_changes, float(src.duration), seen)
        if not items:
            return []
        frames, _ = src.frames_at([t for t, _ in items])
    return [(_thumb(f), cap) for f, (_, cap) in zip(frames, items)]


def _page_strip(path: str, pages: list[int]) -> list[tuple[Any, str]]:
    from mmlong.docs import open_pdf

    with open_pdf(path) as doc:
        shown = [(p, "cited") for p in pages] or [(p, "") for p in range(1, min(len(doc.pages), 4) + 1)]
        return [(_thumb(doc.render(p - 1, max_side=2 * THUMB)), f"page {p} {why}".strip())
                for p, why in shown[:MAX_STRIP] if 0 < p <= len(doc.pages)]


def render_page(upload: Upload, page: int, max_side: int = 900):
    """A PDF page of the upload as an RGB PIL image (for the page viewer)."""
    from mmlong.docs import open_pdf

    try:
        with open_pdf(str(upload.path)) as doc:
            if not 0 < page <= len(doc.pages):
                raise MmlongError(f"page {page} is out of range (1..{len(doc.pages)})")
            return doc.render(page - 1, max_side=max_side)
    except Exception as exc:  # noqa: BLE001 - one line naming the upload, not its path on the server
        raise upload.redact(exc) from None


# ----------------------------------------------------------------------------- answering


def _streamer(pipe, on_text: Callable[[str], None] | None, on_start: Callable[[], None]):
    """A transformers streamer: ``on_start()`` when generation begins (the prompt arrives), then
    ``on_text`` with the growing answer text."""
    from transformers import TextStreamer

    class _Forward(TextStreamer):
        def __init__(self):
            super().__init__(pipe.tokenizer, skip_prompt=True, skip_special_tokens=True)
            self.text, self.started = "", False

        def put(self, value):
            if not self.started:
                self.started = True
                on_start()
            super().put(value)

        def on_finalized_text(self, text: str, stream_end: bool = False):
            self.text += text
            if on_text is not None:
                on_text(self.text)

    return _Forward()


def answer_question(store: PipelineStore, upload: Upload, question: str, s: AskSettings = AskSettings(), *,
                    on_text: Callable[[str], None] | None = None,
                    progress: Callable[..., Any] | None = None) -> Result:
    """Answer ``question`` about ``upload`` exactly as the page does (without a browser).

    Args:
        store: where the shared pipelines live.
        upload: the session's accepted upload.
        question: the question.
        s: route, scheme, frame settings, load options.
        on_text: called with the growing answer text while it is generated (streaming; not
            with token reduction, which needs the whole prompt before generating).
        progress: ``progress(fraction, desc=...)`` per stage (a ``gr.Progress`` works).

    Raises:
        MmlongError: empty question, bad settings, undecodable input (one line naming the upload by
            its name, never by its path on the server).
    """
    progress = progress if progress is not None else (lambda *a, **k: None)
    if not isinstance(question, str) or not question.strip():
        raise MmlongError("type a question first")
    if s.route not in routes_for(store.model):
        raise MmlongError(f"the {s.route!r} route needs a Qwen-VL model; restart the demo with --model <hub id or "
                          f"tiny:qwen2_5_vl>, or pick {routes_for(store.model)[0]!r}")
    try:
        return _answer(store, upload, question, s, on_text, progress)
    except Exception as exc:  # noqa: BLE001 - one line naming the upload, not its path on the server
        raise upload.redact(exc) from None


def _answer(store: PipelineStore, upload: Upload, question: str, s: AskSettings, on_text, progress) -> Result:
    path = str(upload.path)
    t0 = time.perf_counter()
    if store.lock.locked():
        progress(0.0, desc="waiting: another question is using the model")
    with store.lock:
        if store.loaded(s.route) is None:
            progress(0.02, desc=f"loading the {s.route} route's models (first question only)")
        pipe = store.get(s.route, pos=s.pos, frames=s.frames, **s.load_opts())
        if upload.kind == "pdf":
            first, then = (0.3, "reading the document"), (0.6, "the model answers")
        elif s.route == "silvr":
            first = (0.05, "stage 1: on-screen text + speech (cached after the first question)")
            then = (0.85, "stage 2: the reasoner answers")
        else:
            first, then = (0.05, "sampling the planned frames"), (0.3, "prefill + decoding over the planned frames")
        progress(first[0], desc=first[1])
        reduced = s.route == "direct" and s.reduce is not None  # a streamer would turn token reduction off
        stream = None if reduced else _streamer(pipe, on_text, lambda: progress(then[0], desc=then[1]))
        if upload.kind == "pdf":
            ans = pipe.ask(question, document=path, stream=stream)
        else:
            ans = pipe.ask(question, video=path, stream=stream)
    progress(0.95, desc="collecting frames")
    stage1 = {}
    if upload.kind == "pdf":
        cites = [(f"page {p}", float(p)) for p in ans.cited_pages[:MAX_CITES]]
        strip = _page_strip(path, ans.cited_pages)
    else:
        from mmlong.silvr.segments import hms

        cites = [(f"▶ {hms(t)}", float(t)) for t in ans.cited_times[:MAX_CITES]]
        strip = _video_strip(path, ans, s.route)
        if s.route == "silvr":
            stage1 = {k: float(v) for k, v in ans.timings.items() if k.endswith("_s") and k not in _NOT_STAGE1}
    return Result(ans, cites, strip, stage1, time.perf_counter() - t0)
