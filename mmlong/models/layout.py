"""One parser for Qwen-VL token streams: per-row blocks and per-token arrays.

Position schemes (:mod:`mmlong.pos_encodings`), sparse prefill (:mod:`mmlong.sparse`) and
token reduction (:mod:`mmlong.tokens.reduce_model`) all read the layout built here by
:func:`parse_batch` from ``input_ids`` (or ``mm_token_type_ids``), the image / video grids,
the video times and the ``attention_mask``.

A row's :class:`~mmlong.models.blocks.Layout` cuts its unpadded tokens ``[0, length)`` into
:class:`~mmlong.models.blocks.Block` runs (the data classes live in :mod:`mmlong.models.blocks`).
Notation: ``m`` = spatial merge size; a processor grid ``(t, gh, gw)`` becomes the LLM grid
``(T, H, W) = (t, gh // m, gw // m)`` of ``T * H * W`` tokens, ``H * W`` per temporal patch.
Qwen3-VL puts timestamp text before each temporal patch, so its videos are one block per
patch (``per_frame_blocks``), all with the same ``item``.

Worked example (m = 2): 4 text tokens, a video with processor grid (3, 2, 4) -> LLM grid
(3, 1, 2) = 3 frames x 2 tokens, 2 text tokens (L = 12)::

    blocks:  text(0, 4) | video(4, 6, grid=(3, 1, 2), item=0) | text(10, 2)
    kind     0 0 0 0  2 2 2 2 2 2  0 0
    vidx     - - - -  0 1 2 3 4 5  - -      index inside the video
    frame    - - - -  0 0 1 1 2 2  - -      vidx // (H * W)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import torch

from mmlong.errors import MmlongError
from mmlong.models.blocks import KIND_ID, KINDS, Block, Layout, TokenArrays, token_arrays

__all__ = ["KINDS", "KIND_ID", "TokenSpec", "Block", "Layout", "TokenArrays", "BatchLayout", "parse_batch",
           "token_arrays", "token_kinds"]


@dataclass(frozen=True)
class TokenSpec:
    """What the parser needs from a model config.

    Attributes:
        image_token_id, video_token_id: ids of ``<|image_pad|>`` / ``<|video_pad|>`` (None: the
            kind is only found through ``mm_token_type_ids``).
        spatial_merge_size: m.
        temporal_patch_size: frames per temporal patch (2 in every released Qwen-VL).
        per_frame_blocks: True (Qwen3-VL): one block per temporal patch; False (Qwen2/2.5-VL):
            a video is one run of ``T * H * W`` tokens; None (family unknown): a block ends where
            the run of video tokens ends, in whole temporal patches (fits both).
    """

    image_token_id: int | None = None
    video_token_id: int | None = None
    spatial_merge_size: int = 2
    temporal_patch_size: int = 2
    per_frame_blocks: bool | None = None

    @classmethod
    def from_config(cls, config) -> "TokenSpec":
        """Read a transformers Qwen-VL config (composite, or with the same keys)."""
        from mmlong.models.families import family_of, text_config

        fam = family_of(config)
        tc, vc = text_config(config), getattr(config, "vision_config", None)
        return cls(int(_first(config, tc, "image_token_id")), int(_first(config, tc, "video_token_id")),
                   int(getattr(vc, "spatial_merge_size", 2)), int(getattr(vc, "temporal_patch_size", 2)),
                   fam.per_frame_timestamps)


def _first(config, tc, name):
    for obj in (config, tc):
        val = getattr(obj, name, None)
        if val is not None:
            return val
    raise MmlongError(f"model config has no {name!r}; is this a Qwen-VL config?")


@dataclass(frozen=True)
class BatchLayout:
    """The layouts of a padded (B, width) batch, one per row, and the spec they were read with."""

    rows: tuple[Layout, ...]
    width: int
    spec: TokenSpec

    def types(self) -> torch.Tensor:
        """(B, width) long: 0 text or padding, 1 image, 2 video (``mm_token_type_ids``)."""
        out = torch.zeros(len(self.rows), self.width, dtype=torch.long)
        for b, row in enumerate(self.rows):
            out[b, row.tokens.pos] = row.tokens.kind
        return out

    def mask(self, kind: str) -> torch.Tensor:
        """(B, width) bool: the columns holding ``kind`` tokens."""
        return self.types() == KIND_ID[kind]

    def items(self, kind: str) -> tuple[tuple[int, tuple[int, int, int]], ...]:
        """Per image / video (by ``item``): ``(row, LLM grid (T, H, W))``; Qwen3-VL's T counts its blocks."""
        found: dict[int, list] = {}
        for r, row in enumerate(self.rows):
            for b in row.blocks:
                if b.kind == kind and b.item >= 0:
                    rec = found.setdefault(b.item, [r, 0, b.grid[1], b.grid[2]])
                    rec[1] += b.grid[0]
        return tuple((r, (t, h, w)) for _, (r, t, h, w) in sorted(found.items()))


def token_kinds(spec: TokenSpec, input_ids=None, mm_token_type_ids=None) -> torch.Tensor:
    """(B, L) long kind per token (0 text, 1 image, 2 video) from the types, else from the ids."""
    if mm_token_type_ids is not None:
        kinds = torch.as_tensor(mm_token_type_ids).long()
    elif input_ids is None:
        raise MmlongError("need input_ids or mm_token_type_ids to find the modality layout")
    else:
        ids = torch.as_tensor(input_ids)
        kinds = torch.zeros_like(ids, dtype=torch.long)
        for k, tok in ((1, spec.image_token_id), (2, spec.video_token_id)):
            if tok is not None:
                kinds[ids == tok] = k
    return (kinds[None] if kinds.ndim == 1 else kinds).cpu()


def _grid_rows(g) -> tuple[tuple[int, int, int], ...]:
    if g is None:
        return ()
    g = torch.as_tensor(g)
    if g.ndim != 2 or g.shape[-1] != 3:
        raise MmlongError(f"grid_thw must have shape (n, 3), got {tuple(g.shape)}")
    return tuple(tuple(int(x) for x in row) for row in g.tolist())


def _patch_seconds(vid: int, n: int, tps: int, spg, stamps) -> tuple[float, ...] | None:
    """Seconds of each of the ``n`` temporal patches of video ``vid`` since its first frame.

    With per-frame ``stamps`` a patch's time is its first frame's (exact for VFR); otherwise
    ``k * second_per_grid_ts`` in float32, as the reference Qwen2.5-VL code computes.
    """
    if stamps is not None and vid < len(stamps) and stamps[vid] is not None:
        ts = [float(x) for x in stamps[vid]]
        if len(ts) < n * tps - tps + 1:
            raise MmlongError(f"video {vid} has {len(ts)} timestamps but its grid has {n} temporal patches "
                              f"({n * tps} frames); pass one timestamp per sampled frame")
        return tuple(ts[min(k * tps, len(ts) - 1)] - ts[0] for k in range(n))
    if spg is not None and vid < len(spg):
        ks = torch.arange(n, dtype=torch.float32) * torch.tensor(float(spg[vid]), dtype=torch.float32)
        return tuple(ks.tolist())
    return None


def _more_tokens(kind: str) -> MmlongError:
    pad = "<|image_pad|>" if kind == "image" else "<|video_pad|>"
    return MmlongError(f"more {pad} tokens than {kind}_grid_thw rows (more {kind} tokens than the grids cover); "
                       f"pass the {kind}_grid_thw the processor returned for these input_ids")


@dataclass(frozen=True)
class _Feed:
    """What the rows consume in batch order: processor grids and (memoised) per-video patch seconds."""

    spec: TokenSpec
    images: tuple
    videos: tuple
    seconds: Callable[[int], tuple | None]  # video index -> its patch seconds
    strict: bool


def _visual_block(kind: str, pos: int, avail: int, feed: _Feed, cur: tuple) -> tuple[Block, tuple]:
    """The block starting at ``pos`` (``avail`` tokens left in the run); cursor (image, video, patch)."""
    img, vid, patch = cur
    grids, n = (feed.images, img) if kind == "image" else (feed.videos, vid)
    if n >= len(grids):
        if grids or feed.strict:
            raise _more_tokens(kind)
        return Block(kind, pos, avail), cur  # no grids: the run is its own one-frame item
    m = feed.spec.spatial_merge_size
    T, H, W = grids[n][0], grids[n][1] // m, grids[n][2] // m
    if T * H * W == 0:
        raise MmlongError(f"{kind}_grid_thw row {n} {grids[n]} gives no tokens after the {m}x{m} merge; "
                          "pass the grids the processor returned")
    if kind == "image":
        return Block("image", pos, T * H * W, (T, H, W), img), (img + 1, vid, patch)
    mode = feed.spec.per_frame_blocks
    k = 1 if mode else T - patch if mode is False else max(1, min(avail // (H * W), T - patch))
    secs = feed.seconds(vid)
    blk = Block("video", pos, k * H * W, (k, H, W), vid, patch, None if secs is None else secs[patch:patch + k])
    return blk, ((img, vid + 1, 0) if patch + k == T else (img, vid, patch + k))


def _cut_row(kinds: list[int], feed: _Feed, cur: tuple) -> tuple[tuple[Block, ...], tuple]:
    """Blocks of one unpadded row (kinds as ints); returns them and the advanced cursor."""
    blocks: list[Block] = []
    i, n = 0, len(kinds)
    while i < n:
        j = i + 1
        while j < n and kinds[j] == kinds[i]:
            j += 1
        if kinds[i] == 0:
            blocks.append(Block("text", i, j - i))
        else:
            pos = i
            while pos < j:
                blk, cur = _visual_block(KINDS[kinds[i]], pos, j - pos, feed, cur)
                blocks.append(blk)
                pos = blk.end
            if pos != j:
                raise MmlongError(
                    f"a run of {j - i} vision tokens at position {i} does not match the grids (they cover "
                    f"{pos - i}); pass the *_grid_thw the processor returned for these input_ids")
        i = j
    return tuple(blocks), cur


def _row_columns(mask, b: int, L: int, contiguous: bool) -> torch.Tensor | None:
    """(n,) columns of row ``b``'s tokens; None = all of ``[0, L)``."""
    if mask is None:
        return None
    cols = mask[b].nonzero().flatten()
    if contiguous and cols.numel() == 0:
        raise MmlongError(f"batch row {b} has no tokens (attention_mask all 0)")
    if contiguous and int(cols[-1] - cols[0]) + 1 != cols.numel():
        raise MmlongError(f"attention_mask row {b} has padding between tokens; this needs contiguous (left or "
                          "right) padding: pad every row on one side")
    return cols


def parse_batch(spec: TokenSpec, input_ids=None, *, mm_token_type_ids=None, image_grid_thw=None,
                video_grid_thw=None, second_per_grid_ts=None, video_timestamps=None, attention_mask=None,
                strict: bool = True, contiguous: bool = False) -> BatchLayout:
    """Cut a (left or right padded) Qwen-VL batch into one :class:`Layout` per row.

    Grids are consumed in order over the batch: image n / video n of the batch gets ``item`` n.

    Args:
        spec: the model's :class:`TokenSpec`.
        input_ids: (B, L) or (L,) ids; read with the spec's token ids when
            ``mm_token_type_ids`` is not given.
        mm_token_type_ids: (B, L) 0 text, 1 image, 2 video (what the processors return).
        image_grid_thw, video_grid_thw: (n, 3) processor grids, in order over the batch.
        second_per_grid_ts: (n_videos,) seconds per temporal patch (Qwen2.5-VL processors).
        video_timestamps: per video, the times (s) of its sampled frames (exact for VFR).
        attention_mask: (B, L) 1 = token, 0 = padding.
        strict: True: vision tokens need grids and every grid row must be used. False: a
            kind without grids makes each of its runs a one-frame item of its own, and unused
            rows are not checked.
        contiguous: require each row's tokens to be one run of columns (and non-empty).

    Returns:
        A :class:`BatchLayout`; row b's token i sits at column ``rows[b].tokens.pos[i]``.

    Example (m = 2, left padding): row 0 = 2 pads, 3 text, video grid (2, 4, 4), 2 text;
    row 1 = 4 text, the same video, 3 text (width 15)::

        rows[0]: offset 2, length 13: text(0, 3) | video(3, 8, grid=(2, 2, 2), item=0) | text(11, 2)
        rows[1]: offset 0, length 15: text(0, 4) | video(4, 8, grid=(2, 2, 2), item=1) | text(12, 3)

    Raises:
        MmlongError: no ids or types; grids that do not match the vision tokens; timestamps
            shorter than a video's grid; padding between tokens when ``contiguous``.
    """
    kinds = token_kinds(spec, input_ids, mm_token_type_ids)
    B, L = kinds.shape
    mask = None if attention_mask is None else torch.as_tensor(attention_mask).bool().cpu()
    if mask is not None and mask.ndim == 1:
        mask = mask[None]
    spg = None if second_per_grid_ts is None else [float(x) for x in torch.as_tensor(second_per_grid_ts).flatten()]
    videos = _grid_rows(video_grid_thw)
    seconds = functools.cache(lambda v: _patch_seconds(v, videos[v][0], spec.temporal_patch_size, spg,
                                                       video_timestamps))
    feed = _Feed(spec, _grid_rows(image_grid_thw), videos, seconds, strict)
    cur, rows = (0, 0, 0), []
    for b in range(B):
        cols = _row_columns(mask, b, L, contiguous)
        row = kinds[b] if cols is None else kinds[b, cols]
        blocks, cur = _cut_row(row.tolist(), feed, cur)
        offset = int(cols[0]) if cols is not None and cols.numel() else 0
        ranged = cols is None or cols.numel() == 0 or int(cols[-1]) - offset + 1 == cols.numel()
        rows.append(Layout(row.numel(), blocks, offset, None if ranged else cols))
    if strict and (cur[0] < len(feed.images) or cur[1] < len(videos) or cur[2]):
        raise MmlongError("image_grid_thw/video_grid_thw have more rows than the input_ids have vision blocks; "
                          "pass the grids the processor returned for these input_ids")
    return BatchLayout(tuple(rows), L, spec)
