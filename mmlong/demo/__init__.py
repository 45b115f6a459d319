"""``mmlong demo``: a Gradio page to upload a long video or a PDF and ask questions about it.

    mmlong demo                              # offline language route, http://127.0.0.1:7860
    mmlong demo --model tiny:qwen2_5_vl      # + the direct route (frames -> VLM), for smoke tests

Modules: ``session`` (upload checks, private temp dirs, cleanup), ``settings`` (the settings
panel -> ``AskSettings``), ``store`` (the shared pipelines), ``planning`` (upload probe, token
plan), ``answering`` (one question -> ``Result``: answer, citations, frame strip), ``views``
(the page's text) are plain and need no gradio; ``app`` is the page and imports gradio only
inside :func:`~mmlong.demo.app.build_app` (``pip install 'mmlong[ui]'``).
"""

from mmlong.demo.session import Session, SessionManager, Upload, UploadError

__all__ = ["Session", "SessionManager", "Upload", "UploadError", "build_app", "launch"]


def __getattr__(name: str):
    if name in ("build_app", "launch"):
        from mmlong.demo import app

        return getattr(app, name)
    raise AttributeError(f"module 'mmlong.demo' has no attribute {name!r}")
