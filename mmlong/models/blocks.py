"""The data of a parsed token stream: :class:`Block`, :class:`Layout` and per-token arrays.

:func:`mmlong.models.layout.parse_batch` builds these from model inputs; the constructors
here (:meth:`Layout.text`, :meth:`Layout.video`, :meth:`Layout.from_spans`) build them by hand.
A visual block carries an ``item`` (one per image / video); Qwen3-VL's per-frame blocks of
one video share it. Consumers read the per-token arrays of :attr:`Layout.tokens`.

Worked example: 4 text tokens, a video of 3 frames x 2 tokens, 2 text tokens (L = 12)::

    >>> lay = Layout.video(12, start=4, frames=3, frame_tokens=2)
    >>> [(b.kind, b.start, b.end, b.grid) for b in lay.blocks]
    [('text', 0, 4, (0, 0, 0)), ('video', 4, 10, (3, 1, 2)), ('text', 10, 12, (0, 0, 0))]
    >>> a = lay.tokens
    >>> a.vidx[4:10].tolist()          # index of each video token inside its video
    [0, 1, 2, 3, 4, 5]
    >>> a.frame[4:10].tolist()         # frame t = vidx // g; phase r = vidx mod g
    [0, 0, 1, 1, 2, 2]
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Sequence

import torch

from mmlong.errors import MmlongError

__all__ = ["KINDS", "KIND_ID", "Block", "Layout", "TokenArrays", "token_arrays"]

KINDS = ("text", "image", "video")
KIND_ID = {k: i for i, k in enumerate(KINDS)}


@dataclass(frozen=True)
class Block:
    """One run of a row's unpadded tokens.

    Attributes:
        kind: ``"text"``, ``"image"`` or ``"video"``.
        start: first token in the unpadded row.
        length: number of tokens (``T * H * W`` for a visual block with a known grid).
        grid: LLM grid ``(T, H, W)`` after the merge; ``(0, 0, 0)`` for text and for visual
            runs without grids. Hand-built spans know only tokens per frame g: ``(n / g, 1, g)``.
        item: index of the image / video within its kind across the batch; -1 = its own item.
        first_patch: index of the block's first temporal patch within its video.
        patch_seconds: per temporal patch of the block, seconds since the video's first
            frame, or None when unknown.
    """

    kind: str
    start: int
    length: int
    grid: tuple[int, int, int] = (0, 0, 0)
    item: int = -1
    first_patch: int = 0
    patch_seconds: tuple[float, ...] | None = None

    def __post_init__(self):
        if self.kind not in KIND_ID:
            raise MmlongError(f"layout span kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if not (isinstance(self.grid, tuple) and len(self.grid) == 3):
            raise MmlongError(f"block grid must be a (T, H, W) tuple (got {self.grid!r}); build spans with "
                              "Layout.from_spans([(kind, start, end, frame_tokens, item), ...])")

    @property
    def end(self) -> int:
        return self.start + self.length

    @property
    def frame_tokens(self) -> int:
        """Tokens per temporal patch ``H * W`` (0 = unknown: the whole item is one frame)."""
        return self.grid[1] * self.grid[2]


@dataclass(frozen=True)
class Layout:
    """One row: ``blocks`` cover ``[0, length)`` in order.

    ``offset`` is the row's first column in the padded batch; ``columns`` (n,) long gives every
    token's column when the padding is not one contiguous side (None: ``offset + i``). Neither
    takes part in equality. ``tokens`` holds the per-token arrays (computed once).
    """

    length: int
    blocks: tuple[Block, ...]
    offset: int = field(default=0, compare=False)
    columns: torch.Tensor | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        pos = 0
        for b in self.blocks:
            if b.start != pos or b.length <= 0:
                raise MmlongError(
                    f"layout blocks must be non-empty and contiguous from 0: block {b.kind}[{b.start}, {b.end}) "
                    f"should start at {pos}; build it with Layout.from_spans or Layout.text(L)")
            T, H, W = b.grid
            if b.kind != "text" and T and T * H * W != b.length:
                raise MmlongError(f"{b.kind} block at {b.start} has {b.length} tokens but its grid {b.grid} "
                                  f"holds {T * H * W}; give a grid that covers the block")
            pos = b.end
        if pos != self.length:
            raise MmlongError(f"layout blocks cover [0, {pos}) but the layout length is {self.length}; "
                              "the blocks must cover the whole sequence")

    @classmethod
    def text(cls, length: int) -> "Layout":
        """An all-text layout of ``length`` tokens."""
        if length <= 0:
            raise MmlongError(f"layout length must be > 0 (got {length})")
        return cls(int(length), (Block("text", 0, int(length)),))

    @classmethod
    def video(cls, length: int, *, start: int, frames: int, frame_tokens: int) -> "Layout":
        """Text ``[0, start)``, one video of ``frames`` x ``frame_tokens`` tokens, then text up to ``length``."""
        end = start + frames * frame_tokens
        if start < 0 or frames <= 0 or frame_tokens <= 0 or end > length:
            raise MmlongError(f"video of {frames} x {frame_tokens} tokens at {start} does not fit a length-{length} "
                              "sequence; check start, frames and frame_tokens")
        spans = [("text", 0, start)] * bool(start) + [("video", start, end, frame_tokens, 0)]
        return cls.from_spans(spans + [("text", end, length)] * (end < length), length)

    @classmethod
    def from_spans(cls, spans: Sequence, length: int | None = None) -> "Layout":
        """Build from :class:`Block` objects or ``(kind, start, end[, frame_tokens[, item]])`` tuples.

        A visual span of ``n`` tokens with ``frame_tokens`` g gets grid ``(n / g, 1, g)``.
        """
        out, patches = [], {}
        for s in spans:
            if not isinstance(s, Block):
                g, item = (s[3] if len(s) > 3 else 0), (s[4] if len(s) > 4 else -1)
                s = _span_block(s[0], int(s[1]), int(s[2]), int(g), int(item), patches)
            out.append(s)
        if not out:
            raise MmlongError("a layout needs at least one span")
        return cls(int(length if length is not None else out[-1].end), tuple(out))

    @property
    def spans(self) -> tuple[Block, ...]:
        """The blocks (the name the sparse API used)."""
        return self.blocks

    @property
    def visual(self) -> tuple[Block, ...]:
        return tuple(b for b in self.blocks if b.kind != "text")

    @property
    def has_visual(self) -> bool:
        return any(b.kind != "text" for b in self.blocks)

    @property
    def has_video(self) -> bool:
        return any(b.kind == "video" for b in self.blocks)

    def describe(self) -> dict:
        """A JSON-friendly summary: length, token counts per kind, videos with tokens per frame."""
        counts = {k: sum(b.length for b in self.blocks if b.kind == k) for k in KINDS}
        vids = sorted({(b.item, b.frame_tokens) for b in self.blocks if b.kind == "video"})
        return {"length": self.length, "tokens": counts, "video_frame_tokens": [g for _, g in vids]}

    @functools.cached_property
    def tokens(self) -> "TokenArrays":
        return _token_arrays(self)


def _span_block(kind: str, start: int, end: int, g: int, item: int, patches: dict) -> Block:
    """A hand-built span as a block; ``patches`` counts the frames seen per item (first_patch)."""
    if g < 0:
        raise MmlongError(f"frame_tokens must be >= 0 (got {g})")
    n = end - start
    if kind == "text" or g == 0 or n <= 0:
        return Block(kind, start, n, item=item)
    if n % g:
        raise MmlongError(f"{kind} span [{start}, {end}) has {n} tokens, not whole frames of {g}; "
                          "give frame_tokens that divide the span length")
    first = patches.get((kind, item), 0) if item >= 0 else 0
    patches[(kind, item)] = first + n // g
    return Block(kind, start, n, (n // g, 1, g), item, first)


def token_arrays(layout: Layout) -> "TokenArrays":
    """Per-token arrays of ``layout`` (``layout.tokens``, computed once per layout)."""
    return layout.tokens


@dataclass(frozen=True, eq=False)
class TokenArrays:
    """Per-token views of one row (each (L,) int64) and per-item facts.

    Items are numbered per row in order of first appearance (images and videos together).

    Attributes:
        kind: 0 text, 1 image, 2 video.
        item: the token's row item (index into ``items``), -1 for text.
        vidx: index of the token among its item's tokens, -1 for text.
        frame: temporal patch of the token in its item (``vidx // frame_tokens``), -1 for text.
        pos: the token's column in the padded batch row.
        items: per row item ``(kind, frame_tokens, first, last + 1, n_tokens)``.
        visual_start: first visual token (L when none).
        visual_end: last visual token + 1 (0 when none).
    """

    kind: torch.Tensor
    item: torch.Tensor
    vidx: torch.Tensor
    frame: torch.Tensor
    pos: torch.Tensor
    items: tuple[tuple[str, int, int, int, int], ...]
    visual_start: int
    visual_end: int


def _token_arrays(lay: Layout) -> TokenArrays:
    L = lay.length
    kind = torch.zeros(L, dtype=torch.long)
    item, vidx, frame = (torch.full((L,), -1, dtype=torch.long) for _ in range(3))
    ids: dict[tuple, int] = {}
    info: list[list] = []  # per item: kind, frame_tokens, first, end, n so far
    for b in lay.blocks:
        if b.kind == "text":
            continue
        key = (b.kind, b.item) if b.item >= 0 else ("own", b.start)
        if key not in ids:
            ids[key] = len(info)
            info.append([b.kind, b.frame_tokens, b.start, b.end, 0])
        rec = info[ids[key]]
        idx = torch.arange(rec[4], rec[4] + b.length)
        kind[b.start:b.end], item[b.start:b.end], vidx[b.start:b.end] = KIND_ID[b.kind], ids[key], idx
        frame[b.start:b.end] = idx // rec[1] if rec[1] else 0
        rec[3], rec[4] = b.end, rec[4] + b.length
    items = tuple((k, (g if g > 0 else n), a, e, n) for k, g, a, e, n in info)
    vis = lay.visual
    pos = lay.columns if lay.columns is not None else lay.offset + torch.arange(L)
    return TokenArrays(kind, item, vidx, frame, pos, items, vis[0].start if vis else L, vis[-1].end if vis else 0)
