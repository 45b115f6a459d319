"""Visual token reduction: which video tokens to drop before the LLM (positions kept).

A :class:`Reducer` is a frozen config of three chained steps, applied per video:

1. ``temporal`` (``redundancy="pixels"`` or ``"vision"``): drop a merged patch (one LLM
   token) that is nearly identical to the last kept token at the same (row, column).
   *Pixels* compares the processor's ``pixel_values_videos`` (the 2 frames x 28x28 px
   behind the token, un-normalized to 0..255) by mean absolute difference, default
   threshold 4 gray levels: model-independent, cheap, robust to H.264 noise on static
   content. *Vision* compares the vision tower's output embeddings by cosine distance
   (default 0.02): it sees what the LLM sees, but costs nothing extra only because the
   tower runs anyway.
2. ``relevance`` (``top_frames=k`` or a fraction): keep only the temporal patches whose
   vectors are most similar to the question's. Vectors come from ``embed_fn`` (any
   ``embed_fn(str) -> (E,)`` and ``embed_fn(uint8 (N, H, W, 3)) -> (N, E)``, e.g. CLIP) or,
   by default, the model's own spaces: mean vision-tower output per patch vs mean input
   embedding of the question tokens (cheap and weak; pass a CLIP ``embed_fn`` for quality:
   a :class:`mmlong.vision.ClipRetriever` is one, and ``mmlong.load(..., clip=PATH)`` sets it,
   :func:`with_clip`).
3. ``budget`` (``max_tokens=K``): at most K tokens per video, most novel first.

Dropping is done by :mod:`mmlong.tokens.reduce_model`, which computes the full sequence's
3-D positions first, so each kept token keeps its original (t, h, w). Names for
``mmlong.load(reduce=...)``: ``"temporal"``, ``"temporal:6"``, ``"relevance:0.25"``,
``"budget:4096"``, joined with ``+`` (``"temporal+budget:4096"``); see :func:`reducer_from`.

Tests: ``python -m pytest tests/video -q -k reduce``.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from mmlong.errors import MmlongError
from mmlong.tokens._reduce_ops import merged_pixel_features, reduce_budget, reduce_relevance, token_novelty

__all__ = ["Reducer", "ReductionReport", "Selection", "reducer_from", "with_clip", "select_tokens", "REDUCERS",
           "DEFAULT_THRESHOLDS"]

#: Default temporal thresholds: mean |diff| in 0..255 gray levels, or cosine distance.
DEFAULT_THRESHOLDS = {"pixels": 4.0, "vision": 0.02}

#: Reducer step names accepted by :func:`reducer_from` -> the ``Reducer`` field they set.
REDUCERS = {"temporal": "threshold", "relevance": "top_frames", "budget": "max_tokens"}


@dataclass(frozen=True)
class Reducer:
    """Which visual tokens to drop (applied per video; text and images are never dropped).

    Attributes:
        redundancy: temporal pruning features: ``"pixels"``, ``"vision"`` or None (off).
        threshold: drop when the distance to the last kept token at the slot is <= this;
            None = :data:`DEFAULT_THRESHOLDS` for ``redundancy``.
        top_frames: keep the k (int) or the fraction (float in (0, 1]) of temporal patches
            most similar to the question; None = off.
        max_tokens: keep at most this many tokens per video; None = no cap.
        embed_fn: vectors for ``top_frames``; None = the model-space default.
    """

    redundancy: str | None = "pixels"
    threshold: float | None = None
    top_frames: int | float | None = None
    max_tokens: int | None = None
    embed_fn: Callable | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.redundancy not in (None, "pixels", "vision"):
            raise MmlongError(f"redundancy must be 'pixels', 'vision' or None, got {self.redundancy!r}")
        if self.threshold is not None and not (isinstance(self.threshold, numbers.Real) and self.threshold >= 0):
            raise MmlongError(f"threshold must be a number >= 0, got {self.threshold!r}")
        top = self.top_frames
        if top is not None and (isinstance(top, bool) or not ((isinstance(top, int) and top >= 1)
                                                              or (isinstance(top, float) and 0 < top <= 1))):
            raise MmlongError(f"top_frames must be an int >= 1 or a fraction in (0, 1], got {top!r}")
        if self.max_tokens is not None and (isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int)
                                            or self.max_tokens < 1):
            raise MmlongError(f"max_tokens must be an integer >= 1, got {self.max_tokens!r}")

    def effective_threshold(self) -> float | None:
        """The temporal threshold in use (None when temporal pruning is off)."""
        if self.redundancy is None:
            return None
        return float(self.threshold) if self.threshold is not None else DEFAULT_THRESHOLDS[self.redundancy]

    def describe(self) -> dict:
        """A JSON-ready dict of the settings (``embed_fn`` by name)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "embed_fn"}
        out["embed_fn"] = None if self.embed_fn is None else getattr(self.embed_fn, "__name__", type(self.embed_fn).__name__)
        return out


def reducer_from(value: Any) -> Reducer | None:
    """A :class:`Reducer` from a Reducer, a dict of fields, a name string, or None/False.

    Examples:
        ``"temporal"`` -> ``Reducer()``; ``"temporal:6"`` -> threshold 6;
        ``"vision:0.05"`` -> vision features, threshold 0.05; ``"budget:4096"`` ->
        ``Reducer(redundancy=None, max_tokens=4096)``; ``"temporal+relevance:0.25"`` ->
        pixels pruning and the best quarter of the patches; ``"none"`` -> None.

    Raises:
        MmlongError: unknown step or bad value.
    """
    if value is None or value is False or (isinstance(value, str) and value.strip().lower() in ("", "none", "off")):
        return None
    if value is True:
        return Reducer()
    if isinstance(value, Reducer):
        return value
    if isinstance(value, dict):
        try:
            return Reducer(**value)
        except TypeError as exc:
            raise MmlongError(f"bad reducer fields ({exc}); use {[f.name for f in dataclasses.fields(Reducer)]}") from None
    if not isinstance(value, str):
        raise MmlongError(f"reduce= takes a Reducer, a dict or a name like 'temporal+budget:4096', got {value!r}")
    kw: dict = {"redundancy": None}
    for part in value.split("+"):
        name, _, arg = part.strip().partition(":")
        name = name.strip().lower()
        if name not in ("temporal", "pixels", "vision", "relevance", "budget"):
            raise MmlongError(f"unknown reducer step {name!r}; use {', '.join(REDUCERS)} (or vision), "
                              "e.g. 'temporal+budget:4096'")
        try:
            if name == "relevance":
                kw["top_frames"] = (float(arg) if "." in arg else int(arg)) if arg else 0.25
            elif name == "budget":
                kw["max_tokens"] = int(arg)
            else:
                kw["redundancy"] = "vision" if name == "vision" else "pixels"
                kw["threshold"] = float(arg) if arg else None
        except ValueError:
            raise MmlongError(f"bad value in reducer step {part!r}; e.g. temporal:4, relevance:0.25, budget:4096") from None
    return Reducer(**kw)


def check_clip(reducer: Reducer | None, clip) -> None:
    """Refuse a ``clip=`` setting the reducer cannot use: CLIP scores frames for the relevance
    step only, and replaces the reducer's own ``embed_fn``.

    Raises:
        MmlongError: ``clip`` is set and the reducer has no relevance step, or already has an ``embed_fn``.
    """
    if clip is None:
        return
    if reducer is None or reducer.top_frames is None:
        raise MmlongError("clip= ranks frames for reduce='s relevance step, and reduce= has none; add one "
                          "(e.g. reduce='temporal+relevance:0.25') or drop clip=")
    if reducer.embed_fn is not None:
        raise MmlongError("the reducer already has an embed_fn; pass clip= or Reducer(embed_fn=...), not both")


def with_clip(reducer: Reducer | None, clip) -> Reducer | None:
    """``reducer`` with its relevance step scored by the CLIP of the ``clip=`` setting (a path, or a
    :class:`~mmlong.vision.ClipRetriever`): frames and question embedded by CLIP. Unchanged when
    ``clip`` is None.

    Raises:
        MmlongError: what :func:`check_clip` refuses.
    """
    check_clip(reducer, clip)
    if clip is None:
        return reducer
    from mmlong.vision.retrieval import retriever_for

    return dataclasses.replace(reducer, embed_fn=retriever_for(clip))


@dataclass(frozen=True)
class ReductionReport:
    """What a reducer kept of one video.

    Attributes:
        video: index of the video in the batch (order of ``video_grid_thw``).
        total: LLM tokens of the video before reduction.
        kept: tokens kept.
        kept_per_patch: kept tokens per temporal patch.
        after: kept tokens after each step that ran, e.g. ``{"temporal": 900, "budget": 512}``.
        patch_times: first-frame time (s) of each temporal patch, when known.
    """

    video: int
    total: int
    kept: int
    kept_per_patch: tuple[int, ...]
    after: dict = field(default_factory=dict)
    patch_times: tuple[float, ...] | None = None

    @property
    def ratio(self) -> float:
        """``total / kept`` (how many times fewer tokens)."""
        return self.total / max(self.kept, 1)


@dataclass(frozen=True)
class Selection:
    """Keep mask over all video tokens of a batch plus one report per video.

    Attributes:
        keep: (N_video_tokens,) bool on the CPU, in ``<|video_pad|>`` order over the batch.
        reports: one :class:`ReductionReport` per video.
    """

    keep: torch.Tensor
    reports: tuple[ReductionReport, ...]


def _split(x, sizes: Sequence[int], what: str) -> list | None:
    if x is None:
        return None
    if isinstance(x, (list, tuple)):
        parts = list(x)
    else:
        if x.shape[0] != sum(sizes):
            raise MmlongError(f"{what} has {x.shape[0]} rows but the grids need {sum(sizes)}; pass the tensors "
                              "the processor returned with these grids")
        parts = list(torch.split(x, list(sizes)))
    if len(parts) != len(sizes):
        raise MmlongError(f"{what} has {len(parts)} videos but video_grid_thw has {len(sizes)}")
    return parts


def select_tokens(reducer: Reducer, video_grid_thw, *, merge_size: int = 2, pixel_values_videos=None,
                  video_embeds=None, image_std=None, patch_vectors=None, query_vectors=None,
                  patch_times=None) -> Selection:
    """Run the reducer's steps on every video; return the keep mask and reports.

    Args:
        reducer: the :class:`Reducer`.
        video_grid_thw: (n_videos, 3) processor grids.
        merge_size: spatial merge m.
        pixel_values_videos: (sum t*gh*gw, C*tps*p*p) patch rows (needed for ``"pixels"``).
        video_embeds: (N_video_tokens, D) vision-tower outputs, or a list of (N_i, D)
            (needed for ``"vision"``).
        image_std: (3,) normalization std of the pixel rows (to measure in gray levels).
        patch_vectors: per video (T_i, E) vectors (needed for ``top_frames``).
        query_vectors: per video (E,) question vectors (needed for ``top_frames``).
        patch_times: per video (T_i,) seconds, copied into the reports.

    Returns:
        A :class:`Selection`; ``keep`` is all True when the reducer has no step on.

    Raises:
        MmlongError: a step's inputs are missing or do not match the grids.
    """
    m = merge_size
    grids = [tuple(int(v) for v in g) for g in torch.as_tensor(video_grid_thw).tolist()]
    n_tok = [t * (gh // m) * (gw // m) for t, gh, gw in grids]
    pixels = _split(pixel_values_videos, [t * gh * gw for t, gh, gw in grids], "pixel_values_videos")
    embeds = _split(video_embeds, n_tok, "video_embeds")
    thr = reducer.effective_threshold()
    keeps, reports = [], []
    for i, (t, gh, gw) in enumerate(grids):
        S = (gh // m) * (gw // m)
        needs_feats = reducer.redundancy is not None or reducer.max_tokens is not None
        feats, metric = None, "mad"
        if needs_feats:
            src = reducer.redundancy or ("pixels" if pixels is not None else "vision")
            if (pixels if src == "pixels" else embeds) is None:
                raise MmlongError(f"this reducer measures {src}: pass "
                                  f"{'pixel_values_videos' if src == 'pixels' else 'video_embeds'} (the model inputs)")
            if src == "pixels":
                feats = merged_pixel_features(pixels[i], (t, gh, gw), m, image_std)
            else:
                feats, metric = embeds[i].reshape(t, S, -1), "cosine"
        keep = torch.ones(t, S, dtype=torch.bool, device=feats.device if feats is not None else "cpu")
        after: dict = {}
        score = None
        if feats is not None:
            score, tkeep = token_novelty(feats, metric=metric, threshold=thr)
            if thr is not None:
                keep &= tkeep
                after["temporal"] = int(keep.sum())
        if reducer.top_frames is not None:
            if patch_vectors is None or query_vectors is None:
                raise MmlongError("top_frames needs patch and query vectors; pass embed_fn or use reduce_model")
            pkeep, _ = reduce_relevance(torch.as_tensor(patch_vectors[i]), torch.as_tensor(query_vectors[i]),
                                        reducer.top_frames)
            keep &= pkeep[:, None].to(keep.device)
            after["relevance"] = int(keep.sum())
        if reducer.max_tokens is not None:
            keep = reduce_budget(keep, score, reducer.max_tokens)
            after["budget"] = int(keep.sum())
        times = None if patch_times is None or patch_times[i] is None else tuple(float(x) for x in patch_times[i])
        keep = keep.cpu()
        keeps.append(keep.reshape(-1))
        reports.append(ReductionReport(i, t * S, int(keep.sum()), tuple(int(x) for x in keep.sum(1)), after, times))
    keep_all = torch.cat(keeps) if keeps else torch.zeros(0, dtype=torch.bool)
    return Selection(keep_all, tuple(reports))
