"""The demo's pipelines: one per route per process, loaded on first use, shared by all sessions.

::

    store = store_for("tiny:qwen2_5_vl", device="cpu")     # the same store for the same settings
    store = store_for("default", clip="longclip-B.pt")      # CLIP frame scores on both routes (mmlong.load(clip=))
    with store.lock:
        pipe = store.get("direct", pos="hope", frames=FrameSettings(budget="16k"))
    store.config("direct")      # the resolved config (mmlong.api.resolve) even before anything loads

Pipelines come from :func:`mmlong.load` (:func:`default_factory`) or from any
``factory(route, pos=None, **load_opts) -> pipeline`` (tests pass fakes). Nothing here
imports gradio; torch is imported only when a pipeline loads or a config is resolved.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

__all__ = ["PipelineStore", "store_for", "default_factory", "forget_stage1"]


def _route_kwargs(route: str, pos: str | None, device: str | None, cache_dir: str | None,
                  max_new_tokens: int | None, clip: str | None = None, reduce=None) -> dict:
    """``mmlong.load`` / ``resolve`` keywords for ``route``: the stage-1 cache is the language route's,
    the position scheme the direct route's; ``clip`` (CLIP weights) the language route's, and the
    direct route's when its ``reduce`` has a relevance step (the one step CLIP scores)."""
    from mmlong.tokens.reduce import reducer_from

    kw: dict = {"route": route, "device": device, "max_new_tokens": max_new_tokens, "clip": clip}
    if route == "silvr":
        kw["cache_dir"] = cache_dir
    else:
        kw["pos"] = pos
        red = reducer_from(reduce)
        if red is None or red.top_frames is None:
            kw["clip"] = None
    return kw


def default_factory(model: str = "default", *, device: str | None = None, cache_dir: str | None = None,
                    max_new_tokens: int | None = None, clip: str | None = None) -> Callable[..., Any]:
    """``factory(route, pos=None, **load_opts) -> pipeline`` built on :func:`mmlong.load`.

    The pipelines show their per-stage progress bars (``pipe.progress = True``), which the
    page follows through ``gr.Progress(track_tqdm=True)``.
    """

    def make(route: str, pos: str | None = None, **opts):
        import mmlong

        pipe = mmlong.load(model, **_route_kwargs(route, pos, device, cache_dir, max_new_tokens, clip,
                                                  opts.get("reduce")), **opts)
        pipe.progress = True
        return pipe

    return make


class PipelineStore:
    """One pipeline per route per process, created on first use and shared by every session.

    Model calls go through :attr:`lock` (a plain lock, so any thread may release it): two
    sessions never run the same model at once, whatever the queue's concurrency. On the
    direct route a new position scheme re-patches the loaded model (``set_pos``) and new
    frame settings replace those in its config; a new load option (``prefill`` / ``reduce``)
    reloads that route's pipeline.

    Args:
        factory: ``factory(route, pos=None, **load_opts) -> pipeline``; None = :func:`default_factory`
            over ``model`` and ``load_kwargs``.
        model: the model label (routes offered, plans).
        **load_kwargs: ``device``, ``cache_dir``, ``max_new_tokens``, ``clip`` of ``mmlong.load``.
    """

    def __init__(self, factory: Callable[..., Any] | None = None, model: str = "default", **load_kwargs):
        self.model = model
        self.load_kwargs = {"device": None, "cache_dir": None, "max_new_tokens": None, "clip": None, **load_kwargs}
        self.factory = factory if factory is not None else default_factory(model, **self.load_kwargs)
        self.lock = threading.Lock()
        self._pipes: dict[str, tuple[tuple, Any]] = {}
        self._resolved: dict[str, Any] = {}

    def loaded(self, route: str):
        """The pipeline of ``route`` if it is loaded, else None (never loads)."""
        got = self._pipes.get(route)
        return got[1] if got else None

    def get(self, route: str, *, pos: str | None = None, frames: Any = None, **load_opts):
        """The pipeline of ``route`` (loading it on first use or when ``load_opts`` change).

        Call with :attr:`lock` held. ``pos`` and ``frames`` (a FrameSettings) apply to the
        direct route and change the loaded pipeline in place.
        """
        key = tuple(sorted(load_opts.items()))
        got = self._pipes.get(route)
        if got is None or got[0] != key:
            self._pipes.pop(route, None)  # at most one pipeline per route in memory
            pipe = self.factory(route, pos=pos, **load_opts) if route == "direct" else self.factory(route, **load_opts)
            self._pipes[route] = (key, pipe)
        pipe = self._pipes[route][1]
        if route == "direct":
            if pos and pipe.config.pos != pos:
                pipe.set_pos(pos)
            if frames is not None and pipe.config.frames != frames:
                pipe.set_frames(frames)  # ask(video=path) plans with these: the next question's frames, no reload
        return pipe

    def config(self, route: str):
        """The config of ``route``: the loaded pipeline's, else what ``mmlong.load`` would resolve (no weights).

        Raises:
            MmlongError: the model cannot serve ``route`` (e.g. the direct route of "default").
        """
        pipe = self.loaded(route)
        if pipe is not None:
            return pipe.config
        if route not in self._resolved:
            from mmlong.api import resolve

            kw = self.load_kwargs
            self._resolved[route] = resolve(self.model, **_route_kwargs(route, None, kw["device"], kw["cache_dir"],
                                                                        kw["max_new_tokens"], kw["clip"]))
        return self._resolved[route]

    def stage1_dir(self) -> Path:
        """Where the language route caches stage-1 text for this store's ``cache_dir``."""
        from mmlong.llm.loader import default_cache_dir
        from mmlong.silvr.cache import StageCache

        return StageCache(self.load_kwargs["cache_dir"] or default_cache_dir()).dir


_STORES: dict[tuple, PipelineStore] = {}
_STORES_LOCK = threading.Lock()


def store_for(model: str = "default", *, device: str | None = None, cache_dir: str | None = None,
              max_new_tokens: int | None = None, clip: str | None = None) -> PipelineStore:
    """The process-wide :class:`PipelineStore` for these settings (one per process)."""
    cache_dir = str(cache_dir) if cache_dir else None
    clip = str(clip) if clip else None
    key = (model, device, cache_dir, max_new_tokens, clip)
    with _STORES_LOCK:
        if key not in _STORES:
            _STORES[key] = PipelineStore(None, model, device=device, cache_dir=cache_dir,
                                         max_new_tokens=max_new_tokens, clip=clip)
        return _STORES[key]


def forget_stage1(store: PipelineStore, session, upload) -> None:
    """Delete ``upload``'s cached stage-1 text when ``session`` drops it (for a cache private to the demo)."""
    from mmlong.silvr.cache import video_hash

    vh = video_hash(str(upload.path))[:24]
    where = store.stage1_dir()

    def forget():
        for f in where.glob(f"{vh}-*.json"):
            f.unlink(missing_ok=True)

    session.on_cleanup(forget)
