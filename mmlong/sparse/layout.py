"""Modality layout of one sequence: which tokens are text, image or video, and the video frames.

A :class:`SeqLayout` cuts ``[0, L)`` into :class:`Span` runs. Visual spans carry an ``item``
id (one per image / video) and, for video, ``frame_tokens`` g = tokens per frame (Qwen-VL:
``(h / m) * (w / m)`` per temporal patch after the m x m merge). Qwen3-VL puts timestamp text
between the frames of one video, so one video is several spans with the same ``item``.
Patterns never look at token ids, only at the per-token arrays of :func:`token_arrays`.

Worked example: 4 text tokens, a video of 3 frames x 2 tokens, 2 text tokens (L = 12)::

    >>> lay = SeqLayout.video(12, start=4, frames=3, frame_tokens=2)
    >>> [(s.kind, s.start, s.end) for s in lay.spans]
    [('text', 0, 4), ('video', 4, 10), ('text', 10, 12)]
    >>> a = token_arrays(lay)
    >>> a.vidx[4:10].tolist()          # index of each video token inside its video
    [0, 1, 2, 3, 4, 5]
    >>> (a.vidx[4:10] % 2).tolist()    # phase r = vidx mod g; frame t = vidx // g
    [0, 1, 0, 1, 0, 1]
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import torch

from mmlong.errors import MmlongError

KINDS = ("text", "image", "video")
KIND_ID = {k: i for i, k in enumerate(KINDS)}


@dataclass(frozen=True)
class Span:
    """A run ``[start, end)`` of tokens of one modality.

    Attributes:
        kind: ``"text"``, ``"image"`` or ``"video"``.
        start: first token (inclusive).
        end: last token + 1.
        frame_tokens: video only: tokens per frame g (0 = unknown: the whole item is one frame).
        item: visual only: id of the image / video; spans of one video share it (-1: own item).
    """

    kind: str
    start: int
    end: int
    frame_tokens: int = 0
    item: int = -1


@dataclass(frozen=True)
class SeqLayout:
    """The spans of one sequence of ``length`` tokens; they cover ``[0, length)`` in order."""

    length: int
    spans: tuple[Span, ...]

    def __post_init__(self):
        pos = 0
        for s in self.spans:
            if s.kind not in KINDS:
                raise MmlongError(f"layout span kind {s.kind!r} is not one of {', '.join(KINDS)}")
            if s.start != pos or s.end <= s.start:
                raise MmlongError(
                    f"layout spans must be non-empty and contiguous from 0: span {s.kind}[{s.start}, {s.end}) "
                    f"should start at {pos}; build it with SeqLayout.from_spans or SeqLayout.text(L)")
            if s.frame_tokens < 0:
                raise MmlongError(f"frame_tokens must be >= 0 (got {s.frame_tokens})")
            pos = s.end
        if pos != self.length:
            raise MmlongError(f"layout spans cover [0, {pos}) but the layout length is {self.length}; "
                              "the spans must cover the whole sequence")

    @classmethod
    def text(cls, length: int) -> "SeqLayout":
        """An all-text layout of ``length`` tokens."""
        if length <= 0:
            raise MmlongError(f"layout length must be > 0 (got {length})")
        return cls(int(length), (Span("text", 0, int(length)),))

    @classmethod
    def video(cls, length: int, *, start: int, frames: int, frame_tokens: int) -> "SeqLayout":
        """Text ``[0, start)``, one video of ``frames`` x ``frame_tokens`` tokens, then text up to ``length``."""
        end = start + frames * frame_tokens
        if start < 0 or frames <= 0 or frame_tokens <= 0 or end > length:
            raise MmlongError(f"video of {frames} x {frame_tokens} tokens at {start} does not fit a length-{length} "
                              "sequence; check start, frames and frame_tokens")
        spans = ([Span("text", 0, start)] if start else []) + [Span("video", start, end, frame_tokens, 0)]
        if end < length:
            spans.append(Span("text", end, length))
        return cls(int(length), tuple(spans))

    @classmethod
    def from_spans(cls, spans: Sequence, length: int | None = None) -> "SeqLayout":
        """Build from :class:`Span` objects or ``(kind, start, end[, frame_tokens[, item]])`` tuples."""
        out = [s if isinstance(s, Span) else Span(*s) for s in spans]
        if not out:
            raise MmlongError("a layout needs at least one span")
        return cls(int(length if length is not None else out[-1].end), tuple(out))

    @property
    def has_visual(self) -> bool:
        return any(s.kind != "text" for s in self.spans)

    @property
    def has_video(self) -> bool:
        return any(s.kind == "video" for s in self.spans)

    def describe(self) -> dict:
        """A JSON-friendly summary: length, token counts per kind, videos with tokens per frame."""
        counts = {k: sum(s.end - s.start for s in self.spans if s.kind == k) for k in KINDS}
        vids = sorted({(s.item, s.frame_tokens) for s in self.spans if s.kind == "video"})
        return {"length": self.length, "tokens": counts, "video_frame_tokens": [g for _, g in vids]}


@dataclass(frozen=True, eq=False)
class TokenArrays:
    """Per-token views of a layout (all (L,) int64 tensors) and per-item facts.

    Attributes:
        kind: 0 text, 1 image, 2 video.
        item: visual item id (-1 for text).
        vidx: index of the token among its item's visual tokens (-1 for text).
        items: per item id: ``(kind, frame_tokens, first, last + 1, n_tokens)``.
        visual_start: first visual token (L when none).
        visual_end: last visual token + 1 (0 when none).
    """

    kind: torch.Tensor
    item: torch.Tensor
    vidx: torch.Tensor
    items: tuple[tuple[str, int, int, int, int], ...]
    visual_start: int
    visual_end: int


@functools.lru_cache(maxsize=32)
def token_arrays(layout: SeqLayout) -> TokenArrays:
    """Per-token kind / item / in-item index of ``layout`` (cached per layout)."""
    L = layout.length
    kind = torch.zeros(L, dtype=torch.long)
    item = torch.full((L,), -1, dtype=torch.long)
    vidx = torch.full((L,), -1, dtype=torch.long)
    ids: dict[int, int] = {}
    info: list[list] = []
    for s in layout.spans:
        if s.kind == "text":
            continue
        key = s.item if s.item >= 0 else -(s.start + 1)
        if key not in ids:
            ids[key] = len(info)
            info.append([s.kind, s.frame_tokens, s.start, s.end, 0])
        m = ids[key]
        rec = info[m]
        if rec[0] != s.kind:
            raise MmlongError(f"visual item {s.item} mixes {rec[0]} and {s.kind} spans; give each item one kind")
        n = s.end - s.start
        kind[s.start:s.end] = KIND_ID[s.kind]
        item[s.start:s.end] = m
        vidx[s.start:s.end] = torch.arange(rec[4], rec[4] + n)
        rec[3], rec[4] = s.end, rec[4] + n
    items = tuple((k, (g if g > 0 else n), a, b, n) for k, g, a, b, n in info)
    vis = [s for s in layout.spans if s.kind != "text"]
    return TokenArrays(kind, item, vidx, items, vis[0].start if vis else L, vis[-1].end if vis else 0)


def layouts_from_inputs(input_ids=None, *, mm_token_type_ids=None, image_grid_thw=None, video_grid_thw=None,
                        attention_mask=None, spatial_merge_size: int = 2, image_token_id: int | None = None,
                        video_token_id: int | None = None) -> list[tuple[int, SeqLayout]]:
    """Layouts of a Qwen-VL batch, one per row, over its unpadded tokens.

    Video tokens are consumed in order against ``video_grid_thw`` rows: video n with
    processor grid (t, gh, gw) has ``g = (gh/m) * (gw/m)`` tokens per frame and ``t * g``
    tokens in one run (Qwen2/2.5-VL) or ``t`` runs of ``g`` (Qwen3-VL, timestamps between).
    Without grids each visual run is its own one-frame item.

    Args:
        input_ids: (B, L) ids; used with ``image_token_id`` / ``video_token_id`` when
            ``mm_token_type_ids`` is missing.
        mm_token_type_ids: (B, L) 0 text, 1 image, 2 video (what the processors return).
        image_grid_thw, video_grid_thw: (n, 3) processor grids in order over the batch.
        attention_mask: (B, L) 1 = token, 0 = padding; valid tokens must be contiguous.
        spatial_merge_size: m.

    Returns:
        Per row ``(offset, layout)``: the row's tokens are ``[offset, offset + layout.length)``.

    Raises:
        MmlongError: no way to tell the modalities, non-contiguous padding, runs that do not
            match the grids.
    """
    if mm_token_type_ids is None:
        if input_ids is None:
            raise MmlongError("need input_ids or mm_token_type_ids to find the modality layout")
        types = torch.zeros_like(torch.as_tensor(input_ids))
        if image_token_id is not None:
            types[input_ids == image_token_id] = 1
        if video_token_id is not None:
            types[input_ids == video_token_id] = 2
    else:
        types = torch.as_tensor(mm_token_type_ids)
    if types.ndim == 1:
        types = types[None]
    B, L = types.shape
    m = int(spatial_merge_size)
    vgrids = [] if video_grid_thw is None else [tuple(int(x) for x in r)
                                                for r in torch.as_tensor(video_grid_thw).tolist()]
    vcur = [0, 0]  # video index, tokens of it consumed
    out = []
    for b in range(B):
        lo, hi = 0, L
        if attention_mask is not None:
            am = torch.as_tensor(attention_mask)[b].bool()
            nz = am.nonzero().flatten()
            if nz.numel() == 0:
                raise MmlongError(f"batch row {b} has no tokens (attention_mask all 0)")
            lo, hi = int(nz[0]), int(nz[-1]) + 1
            if int(am[lo:hi].sum()) != hi - lo:
                raise MmlongError("sparse prefill needs contiguous (left or right) padding in attention_mask")
        row = types[b, lo:hi].tolist()
        spans, i, n = [], 0, len(row)
        while i < n:
            j = i + 1
            while j < n and row[j] == row[i]:
                j += 1
            if row[i] == 0:
                spans.append(Span("text", i, j))
            elif row[i] == 1:
                spans.append(Span("image", i, j))
            else:
                pos = i
                while pos < j:
                    if vcur[0] >= len(vgrids):
                        if vgrids:
                            raise MmlongError("more video tokens than video_grid_thw rows; pass the grids the "
                                              "processor returned for these input_ids")
                        spans.append(Span("video", pos, j))
                        pos = j
                        break
                    t, gh, gw = vgrids[vcur[0]]
                    g = (gh // m) * (gw // m)
                    take = min(j - pos, t * g - vcur[1])
                    spans.append(Span("video", pos, pos + take, g, 10_000 + vcur[0]))
                    vcur[1] += take
                    pos += take
                    if vcur[1] == t * g:
                        vcur[0], vcur[1] = vcur[0] + 1, 0
            i = j
        out.append((lo, SeqLayout(n, tuple(spans))))
    return out
