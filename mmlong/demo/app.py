"""The ``mmlong demo`` web page (Gradio Blocks): upload a video or a PDF, ask, see why.

    from mmlong.demo.app import build_app, launch, store_for
    app = build_app(store_for("default"))          # nothing loads until the first question
    launch(app, host="127.0.0.1", port=7860)

This module is the page only: the layout, CSS/JS and thin event handlers. What they call is
plain and tested without a browser or gradio:

* :mod:`mmlong.demo.store`: :class:`PipelineStore` / :func:`store_for` (one pipeline per
  route per process, loaded lazily with ``mmlong.load``, shared by all sessions, one lock);
* :mod:`mmlong.demo.settings`: the settings panel's raw values -> one :class:`AskSettings`
  (route, scheme, load options and a ``FrameSettings``);
* :mod:`mmlong.demo.planning`: :func:`probe` (what was uploaded) and :func:`token_plan`
  (frames x tokens, or the language route's stages, before anything runs);
* :mod:`mmlong.demo.answering`: :func:`answer_question` (one question -> :class:`Result`: the
  Answer, clickable citations and a strip of frames or pages);
* :mod:`mmlong.demo.views`: the status, answer and history text;
* :mod:`mmlong.demo.session`: upload checks, private dirs, cleanup.

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

import contextvars
import html
import os
import queue
import secrets
import threading
from pathlib import Path
from typing import Any

from mmlong.demo.answering import MAX_CITES, Result, answer_question, cite_page, cite_seconds, render_page
from mmlong.demo.planning import NO_UPLOAD, probe, token_plan
from mmlong.demo.session import DEFAULT_MAX_BYTES, VIDEO_EXTS, Session, SessionManager
from mmlong.demo.settings import (BUDGETS, MAX_FRAMES_SLIDER, OFF, REDUCE_CHOICES, AskSettings, default_cap,
                                  from_page, page_defaults, prefill_choices, routes_for)
from mmlong.demo.store import PipelineStore, default_factory, forget_stage1, store_for
from mmlong.demo.views import describe_upload, error_md, history_md, show_result, status_html
from mmlong.errors import MmlongError, user_line
from mmlong.video.settings import BUDGET_MAX_FRAMES, DEFAULT_MAX_FRAMES

__all__ = ["build_app", "launch", "store_for", "CSS", "SEEK_JS",
           # re-exported from the plain modules
           "AskSettings", "Result", "PipelineStore", "default_factory", "routes_for", "probe", "token_plan",
           "answer_question", "render_page", "cite_seconds"]

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


def _remove_cached(path: str) -> None:
    """Delete a file of gradio's cache and its content-hash dir (when empty)."""
    p = Path(path)
    p.unlink(missing_ok=True)
    try:
        p.parent.rmdir()  # gradio keeps one dir per content hash
    except OSError:
        pass


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
    defaults = page_defaults()
    max_bytes = int(max_upload_mb) * 1024 * 1024 if max_upload_mb else DEFAULT_MAX_BYTES

    def settings_of(*values) -> AskSettings:
        return from_page(*values, routes=routes)

    def plan_of(s, values) -> str:
        """The plan box for the session's upload under the panel's raw ``values``."""
        try:
            st = settings_of(*values)
        except MmlongError as exc:
            return f"Plan unavailable: {user_line(exc)}"
        if not isinstance(s, Session):
            return NO_UPLOAD
        return token_plan(store, s.upload, s.meta, st)

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
                    pos = gr.Dropdown(sorted(schemes()), value=defaults["pos"], label="Position scheme (direct route)",
                                      interactive=direct)
                    budget = gr.Dropdown([OFF, *BUDGETS], value=defaults["budget"], allow_custom_value=True,
                                         label="Visual token budget (direct route)", interactive=direct)
                    with gr.Row():
                        fps = gr.Number(defaults["fps"], label="Frames per second", minimum=0.05, maximum=30,
                                        interactive=direct)
                        max_frames = gr.Slider(*MAX_FRAMES_SLIDER, value=defaults["max_frames"], step=2,
                                               label="Max frames", interactive=direct)
                    prefill = gr.Dropdown(prefill_choices(), value=defaults["prefill"], allow_custom_value=True,
                                          interactive=direct, label="Sparse prefill (direct route)")
                    reduce = gr.Dropdown(list(REDUCE_CHOICES), value=defaults["reduce"], allow_custom_value=True,
                                         interactive=direct, label="Token reduction (direct route; answers whole)")
                plan_md = gr.Markdown(NO_UPLOAD, elem_id="mmlong-plan")
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
                history_box = gr.Markdown("", elem_id="mmlong-history")
        settings_inputs = [route, pos, budget, fps, max_frames, prefill, reduce]
        direct_only = settings_inputs[1:]

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

        def cite_buttons(labels=()):
            return ([gr.Button(value=lbl, visible=True) for lbl in labels]
                    + [gr.Button(value="", visible=False) for _ in range(MAX_CITES - len(labels))])

        n_upload_out = 10 + MAX_CITES

        def on_upload(file, s, route_v, pos_v, budget_v, fps_v, frames_v, prefill_v, reduce_v, request: gr.Request):
            values = (route_v, pos_v, budget_v, fps_v, frames_v, prefill_v, reduce_v)
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
                return [None, status_html(False, "Upload refused: " + html.escape(user_line(exc))),
                        gr.Video(value=None, visible=False), gr.Image(value=None, visible=False),
                        NO_UPLOAD, "", "", [], "", *cite_buttons(), s]
            drop_server_copy(file)
            s.meta = meta
            if up.kind == "video":
                if private_stage_cache:
                    forget_stage1(store, s, up)
                cached = player.move_resource_to_block_cache(str(up.path))  # gradio's copy, served by hash
                s.on_cleanup(lambda p=cached: _remove_cached(p))
                vid, page = gr.Video(value=cached, visible=True), gr.Image(value=None, visible=False)
            else:
                vid = gr.Video(value=None, visible=False)
                page = gr.Image(value=served(s, page_view, render_page(up, 1), "page"), visible=True, label="page 1")
            # the File box is cleared: the upload now lives in the session's private dir
            return [None, status_html(True, describe_upload(up, meta)), vid, page, plan_of(s, values), "", "", [], "",
                    *cite_buttons(), s]

        upload_outputs = [upload, status, player, page_view, plan_md, stage_md, answer_md, strip, history_box,
                          *cite_btns, sess]

        def on_settings(s, *values):
            inter = (values[0] or routes[0]) == "direct"
            updates = [gr.update(interactive=inter) for _ in direct_only]
            budget_v, frames_v = values[2], values[4]
            if frames_v in (DEFAULT_MAX_FRAMES, BUDGET_MAX_FRAMES) and frames_v != default_cap(budget_v):
                # the budget was switched on or off with the slider at the default cap: follow the default
                updates[direct_only.index(max_frames)] = gr.update(interactive=inter, value=default_cap(budget_v))
            return [plan_of(s, values)] + updates

        def on_ask(q, s, route_v, pos_v, budget_v, fps_v, frames_v, prefill_v, reduce_v,
                   progress=gr.Progress(track_tqdm=True)):
            values = (route_v, pos_v, budget_v, fps_v, frames_v, prefill_v, reduce_v)
            keep = [gr.skip()] * MAX_CITES
            if not isinstance(s, Session) or s.upload is None:
                yield ["", "⚠ **Upload a video or a PDF first.**", gr.skip(), gr.skip(), *keep]
                return
            try:
                st = settings_of(*values)
            except MmlongError as exc:
                yield ["", error_md(user_line(exc)), gr.skip(), gr.skip(), *keep]
                return
            events: queue.Queue = queue.Queue()
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
                    yield [gr.skip(), html.escape(val) + " ▌", gr.skip(), gr.skip(), *keep]
                elif kind == "error":
                    yield ["", error_md(user_line(val)), [], gr.skip(), *cite_buttons()]
                    return
                else:
                    break
            res: Result = val
            shown = show_result(res, q, st.route, s.upload.kind)
            s.history.append(shown.entry)
            strip_items = [(served(s, strip, img, "frame"), cap) for img, cap in res.strip]
            s.strip_captions = [cap for _, cap in res.strip]
            labels = [lbl for lbl, _ in res.cites]
            yield [shown.done, shown.text, strip_items, history_md(s.history), *cite_buttons(labels)]

        def on_page(label, s):
            page = cite_page(label)
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
            comp.change(on_settings, [sess, *settings_inputs], [plan_md, *direct_only],
                        show_progress="hidden", concurrency_limit=None)
        ask_inputs = [question, sess, *settings_inputs]
        ask_outputs = [stage_md, answer_md, strip, history_box, *cite_btns]
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
