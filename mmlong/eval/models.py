"""What answers a request: the chance baseline, the oracle, or a loaded mmlong pipeline.

Every model has ``generate(request, images, clip, doc_key) -> (text, info)``.

* ``random``: a seeded draw per doc from the task's closed answer set (chance baseline).
* ``oracle``: for MMNeedle it finds each needle in the haystack by pixel matching (so a
  100% score checks stitching and the 1-based index/row/column convention end to end);
  elsewhere it returns the reference answer (a pipeline check only).
* anything else: ``mmlong.load(model, pos=..., **options)`` and ``Pipeline.ask``.
"""

from __future__ import annotations

import re

import numpy as np

from mmlong.errors import MmlongError
from mmlong.eval.tasks.base import doc_rng

class RandomModel:
    """Uniform draw from ``request.choices`` (or ``choices(rng)``; else three prompt words), seeded per doc."""

    name = "random"

    def __init__(self, seed: int = 0):
        self.seed = seed

    def generate(self, req, images, clip, doc_key: str):
        rng = doc_rng(self.seed, "random-model", doc_key)
        if callable(req.choices):
            return str(req.choices(rng)), {}
        if req.choices:
            return str(rng.choice(list(req.choices))), {}
        words = re.findall(r"\w+", req.text) or ["none"]
        return " ".join(rng.choice(words) for _ in range(3)), {}


def locate_by_pixels(haystack: list, needles: list, grid: int,
                     tol: float | None = None) -> list[tuple[int, int, int] | None]:
    """Find each needle image in the stitched haystack images by pixel matching.

    Each haystack image is cut into ``grid x grid`` equal cells; the needle is resized to a
    cell's size (PIL's default filter, as the stitcher did) and compared with every cell by
    mean absolute difference. The best cell under ``tol`` (0-255 scale) is the match.

    ``tol`` defaults to :data:`~mmlong.eval.tasks.mmneedle_haystack.MATCH_TOL`.

    Returns:
        Per needle, ``(index, row, col)`` 0-based, or None when no cell matches.
    """
    from PIL import Image

    from mmlong.eval.tasks.mmneedle_haystack import MATCH_TOL

    tol = MATCH_TOL if tol is None else tol

    arrays = [np.asarray(im.convert("RGB") if hasattr(im, "convert") else im, dtype=np.float32) for im in haystack]
    out = []
    for needle in needles:
        needle = needle if hasattr(needle, "resize") else Image.fromarray(np.asarray(needle))
        best, where = float("inf"), None
        for i, arr in enumerate(arrays):
            ch, cw = arr.shape[0] // grid, arr.shape[1] // grid
            pix = np.asarray(needle.convert("RGB").resize((cw, ch)), dtype=np.float32)
            for r in range(grid):
                for c in range(grid):
                    d = float(np.abs(arr[r * ch:(r + 1) * ch, c * cw:(c + 1) * cw] - pix).mean())
                    if d < best:
                        best, where = d, (i, r, c)
        out.append(where if best <= tol else None)
    return out


class OracleModel:
    """Pixel-matching needle finder for MMNeedle; the reference answer for other tasks."""

    name = "oracle"

    def generate(self, req, images, clip, doc_key: str):
        if "needles" in req.hidden:
            found = locate_by_pixels(images, req.hidden["needles"], req.hidden["grid"])
            return "; ".join("-1" if f is None else f"{f[0] + 1}, {f[1] + 1}, {f[2] + 1}" for f in found), {}
        if callable(req.oracle):
            return str(req.oracle(req, images, clip)), {}
        return ("" if req.oracle is None else str(req.oracle)), {}


def interleaved(req, images: list) -> tuple:
    """``(question, remaining images)`` for ``Pipeline.ask``: ``req.parts`` resolved to a content
    list (int i -> ``images[i]``), or ``(req.text, images)`` when the request is not interleaved.

    Example: parts ``[0, "\\nsub\\n", 1, "\\nQ?"]`` -> ``[img0, "\\nsub\\n", img1, "\\nQ?"], []``.
    """
    if not req.parts:
        return req.text, images
    try:
        return [p if isinstance(p, str) else images[p] for p in req.parts], []
    except (IndexError, TypeError):
        raise MmlongError(f"request parts {req.parts!r} name images that were not loaded ({len(images)} loaded); "
                          "the task's loader must return every image its parts refer to") from None


class PipelineModel:
    """A loaded :class:`mmlong.pipeline.Pipeline` (either route); frames and images come pinned by the task."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.name = pipe.config.model
        self.can_batch = pipe.config.route == "direct"  # the language route answers one question at a time

    @staticmethod
    def _kwargs(req, images, clip) -> dict:
        question, images = interleaved(req, images)
        return {"question": question, "video": clip, "images": images or None, "max_new_tokens": req.max_new_tokens}

    @staticmethod
    def _result(ans) -> tuple[str, dict]:
        return ans.text, {"token_counts": ans.tokens, "timings": ans.timings,
                          "frame_times": getattr(ans, "frame_times", None)}

    def generate(self, req, images, clip, doc_key: str):
        return self._result(self.pipe.ask(**self._kwargs(req, images, clip)))

    def generate_batch(self, items: list) -> list:
        """``[(req, images, clip, doc_key), ...]`` -> ``(text, info)`` or the exception, per item.

        One ``Pipeline.ask_many`` call (a left-padded batch on the direct route, see :attr:`can_batch`).
        """
        kwargs = []
        for req, images, clip, _ in items:
            try:
                kwargs.append(self._kwargs(req, images, clip))
            except Exception as exc:
                kwargs.append(exc)
        asked = [k for k in kwargs if not isinstance(k, Exception)]
        answers = iter(self.pipe.ask_many(asked, batch_size=max(1, len(asked)), return_exceptions=True))
        out = []
        for k in kwargs:
            ans = k if isinstance(k, Exception) else next(answers)
            out.append(ans if isinstance(ans, Exception) else self._result(ans))
        return out


def load_kwargs(cfg) -> dict:
    """Keyword arguments for ``mmlong.load`` from an :class:`EvalConfig` (what ``--dry-run`` prints).

    Raises:
        MmlongError: a scheme option (``--opt``) that clashes with a dedicated flag.
    """
    import dataclasses

    from mmlong.video.settings import FrameSettings

    kwargs = {"pos": cfg.pos, "device": cfg.device, "dtype": cfg.dtype, "frames": cfg.frames,
              "max_new_tokens": cfg.max_new_tokens}
    kwargs.update({name: getattr(cfg, name) for name in ("prefill", "reduce") if getattr(cfg, name)})
    if cfg.prefill is not None and (cfg.patterns or cfg.prefill_options):
        kwargs.update(patterns=cfg.patterns, prefill_opts=dict(cfg.prefill_options))
    clash = sorted(set(cfg.pos_options) & (set(kwargs) | {f.name for f in dataclasses.fields(FrameSettings)}))
    if clash:
        raise MmlongError(f"--opt {', '.join(clash)} clashes with a dedicated flag; use --{clash[0].replace('_', '-')}")
    return {**kwargs, **cfg.pos_options}


def check_settings(cfg) -> dict:
    """``mmlong.load`` keywords for ``cfg``, checked without loading a weight (what ``evaluate`` runs first).

    A pipeline model's settings go through :func:`mmlong.api.resolve` (model name, device,
    dtype, scheme options, frame settings, answer cap); the random and oracle models ignore
    the model settings, but a device, dtype or answer cap that is given is checked all the same.

    Raises:
        MmlongError: the first bad setting, in one line.
    """
    from mmlong.api import _check_device, _dtype, resolve

    kwargs = load_kwargs(cfg)
    if cfg.model in ("random", "oracle"):
        if cfg.device is not None:
            _check_device(cfg.device)
        if cfg.dtype is not None:
            _dtype(cfg.dtype, cfg.device or "cpu")
    else:
        resolve(cfg.model, **kwargs)
    return kwargs


def build_model(cfg, shard=None):
    """The model for ``cfg.model`` (random / oracle / mmlong.load of anything else)."""
    kwargs = check_settings(cfg)  # validates the options for every model kind
    if cfg.model == "random":
        return RandomModel(cfg.seed)
    if cfg.model == "oracle":
        return OracleModel()
    from mmlong.api import load

    if shard is not None and shard.world_size > 1 and kwargs["device"] is None:
        from accelerate import PartialState

        kwargs["device"] = str(PartialState().device)
    return PipelineModel(load(cfg.model, **kwargs))
