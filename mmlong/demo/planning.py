"""What the demo knows before anything runs: :func:`probe` (the upload) and :func:`token_plan`.

The direct route's plan is :func:`mmlong.tokens.planner.plan` for the question's
:class:`~mmlong.video.settings.FrameSettings`, the same call ``DirectPipeline.ask(video=path)``
makes, so the frames and tokens shown are those the model then sees (with or without a
budget). The model is read with :func:`mmlong.models.hub.describe` (no weights) until the
direct route is loaded, then from the loaded pipeline.
"""

from __future__ import annotations

from mmlong.demo.session import Upload
from mmlong.demo.settings import AskSettings
from mmlong.demo.store import PipelineStore
from mmlong.errors import MmlongError

__all__ = ["probe", "token_plan", "video_plan", "NO_UPLOAD"]

NO_UPLOAD = "Upload a video or a PDF to see the token plan."


def probe(upload: Upload) -> dict:
    """Metadata of an accepted upload (decoder / PDF reader check included).

    Returns:
        video: ``duration, fps, width, height, has_audio, frames``; pdf: ``pages, chars,
        page_size`` (points of page 1).

    Raises:
        MmlongError: the file does not decode as a video / does not open as a PDF (named by the
            upload's name, never its path on the server).
    """
    try:
        if upload.kind == "pdf":
            from mmlong.docs import open_pdf

            with open_pdf(str(upload.path)) as doc:
                return {"pages": len(doc.pages), "chars": sum(len(p.text) for p in doc.pages),
                        "page_size": (doc.pages[0].width, doc.pages[0].height)}
        from mmlong.video import open as open_video

        with open_video(upload.path) as src:
            meta = {"duration": float(src.duration), "fps": float(src.fps), "width": int(src.width),
                    "height": int(src.height), "has_audio": bool(src.has_audio), "frames": int(src.num_frames)}
    except Exception as exc:  # noqa: BLE001 - one line naming the upload, not its path on the server
        raise upload.redact(exc) from None
    if not meta["duration"] > 0 or meta["frames"] < 1:
        raise MmlongError(f"{upload.name!r} has no video frames; upload a video with a picture track")
    return meta


def _model(store: PipelineStore):
    """The direct route's model for ``describe``: the loaded pipeline, else the model name."""
    pipe = store.loaded("direct")
    return store.model if pipe is None else pipe


def video_plan(store: PipelineStore, upload: Upload, s: AskSettings):
    """The :class:`~mmlong.tokens.planner.Plan` the direct route will follow for ``upload`` under ``s``."""
    from mmlong.tokens.planner import plan

    cfg = store.config("direct")
    return plan(str(upload.path), _model(store), s.frames, max_new_tokens=cfg.max_new_tokens, dtype=cfg.dtype,
                attn_implementation=cfg.attn_implementation)


def _silvr_plan(store: PipelineStore, meta: dict) -> str:
    from mmlong.silvr.segments import hms

    cfg = store.config("silvr")
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
    return (f"**Language route**, video {hms(dur)} ({dur:.0f} s). Stage 1, once per upload then cached: "
            f"{'; '.join(bits) or 'no describers'}. Stage 2: `{r.model}` reads at most {r.select_tokens} tokens of "
            f"the most relevant text and answers in at most {r.max_new_tokens} tokens.")


def _pdf_plan(store: PipelineStore, meta: dict, s: AskSettings) -> str:
    n = meta["pages"]
    if s.route != "direct":
        return (f"**Language route**, PDF: text layer of {n} pages ({meta['chars']:,} characters), the most "
                "relevant chunks go to the reasoner; answers cite pages.")
    from mmlong.models.hub import describe

    cfg = store.config("direct")
    spec = describe(_model(store)).spec
    pw, ph = meta["page_size"]  # pages are rendered with their longer side at page_side, then fitted by the model
    scale = cfg.page_side / max(pw, ph, 1.0)
    h, w = spec.image_hw(max(1, round(ph * scale)), max(1, round(pw * scale)))
    k = min(n, cfg.max_pages)
    per = h * w // spec.factor ** 2
    return (f"**Direct route**, PDF: {k} of {n} pages rendered at {h}x{w} -> {per} tokens each = "
            f"{k * per} image tokens")


def token_plan(store: PipelineStore, upload: Upload | None, meta: dict | None, s: AskSettings) -> str:
    """The plan shown before running: frames x tokens (direct) or the stages (language route).

    Never raises: a plan that cannot be computed says why in one line.
    """
    if upload is None or meta is None:
        return NO_UPLOAD
    try:
        if upload.kind == "pdf":
            return _pdf_plan(store, meta, s)
        if s.route == "direct":
            return f"**Direct route** ({store.model}, pos `{s.pos}`): {video_plan(store, upload, s).summary()}"
        return _silvr_plan(store, meta)
    except Exception as exc:  # noqa: BLE001 - the plan is advisory
        return f"Plan unavailable: {upload.redact(exc)}"
