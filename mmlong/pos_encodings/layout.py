"""Parse a token sequence into a layout of text runs and visual blocks.

A *layout* is what every position scheme reads: the unpadded sequence of one sample cut
into runs. Text runs are plain token spans; visual blocks carry their LLM grid (after the
spatial merge) and, for videos, the time of each temporal patch. Schemes never look at
token ids, configs or models, only at layouts (see ``schemes.py``).

Notation: ``m`` = spatial merge size, a processor grid ``(t, gh, gw)`` becomes the LLM grid
``(T, H, W) = (t, gh // m, gw // m)`` and covers ``T * H * W`` tokens.

Worked example (m = 2, one image with processor grid (1, 4, 6), Qwen2-VL)::

    ids:    [u, u, <vs>, I, I, I, I, I, I, <ve>, q]      I = <|image_pad|>
    blocks: text(0, 3) | image(3, 6, grid=(1, 2, 3)) | text(9, 2)

Qwen3-VL splits a video into one block per temporal patch, separated by timestamp text, so
its video grid row ``(T, gh, gw)`` is consumed as ``T`` blocks of ``H * W`` tokens each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Sequence

import torch

from mmlong.errors import MmlongError


@dataclass(frozen=True)
class PosContext:
    """What position schemes need from a model config (no weights).

    Built with :meth:`from_config`; every field is plain data.
    """

    family: str  # "qwen2_vl" | "qwen2_5_vl" | "qwen3_vl" | "qwen3_vl_moe"
    native_scheme: str  # the family's own scheme name
    image_token_id: int  # id of <|image_pad|>
    video_token_id: int  # id of <|video_pad|>
    spatial_merge_size: int  # m: processor grid h, w are divided by this in the LLM
    temporal_patch_size: int  # frames per temporal patch (2 in every released Qwen-VL)
    tokens_per_second: float  # Qwen2.5-VL temporal ids per second (2 in released configs)
    per_frame_blocks: bool  # Qwen3-VL: each temporal patch is its own block
    head_dim: int  # rotary dim D; D/2 frequency slots
    rope_theta: float  # base b
    mrope_section: tuple[int, ...]  # slots per axis (t, h, w) as in the config
    max_position_embeddings: int  # the config's context length

    @classmethod
    def from_config(cls, config) -> "PosContext":
        """Read a transformers Qwen-VL config (composite or a dict-like with the same keys)."""
        from mmlong.models.families import family_of, text_config

        fam = family_of(config)
        tc = text_config(config)
        vc = getattr(config, "vision_config", None)
        rp = dict(getattr(tc, "rope_parameters", None) or getattr(tc, "rope_scaling", None) or {})
        theta = rp.get("rope_theta", getattr(tc, "rope_theta", None))
        head_dim = getattr(tc, "head_dim", None) or tc.hidden_size // tc.num_attention_heads
        default_sec = (24, 20, 20) if fam.native_scheme == "interleaved" else (16, 24, 24)
        return cls(
            family=fam.name,
            native_scheme=fam.native_scheme,
            image_token_id=int(_first(config, tc, "image_token_id")),
            video_token_id=int(_first(config, tc, "video_token_id")),
            spatial_merge_size=int(getattr(vc, "spatial_merge_size", 2)),
            temporal_patch_size=int(getattr(vc, "temporal_patch_size", 2)),
            tokens_per_second=float(getattr(vc, "tokens_per_second", 2) or 2),
            per_frame_blocks=fam.per_frame_timestamps,
            head_dim=int(head_dim),
            rope_theta=float(theta if theta is not None else 1e6),
            mrope_section=tuple(int(s) for s in rp.get("mrope_section", default_sec)),
            max_position_embeddings=int(getattr(tc, "max_position_embeddings", 32768)),
        )


def _first(config, tc, name):
    for obj in (config, tc):
        val = getattr(obj, name, None)
        if val is not None:
            return val
    raise MmlongError(f"model config has no {name!r}; is this a Qwen-VL config?")


@dataclass(frozen=True)
class Block:
    """One run of the unpadded sequence.

    Attributes:
        kind: ``"text"``, ``"image"`` or ``"video"``.
        start: index of the first token in the unpadded sequence.
        length: number of tokens (``T * H * W`` for visual blocks).
        grid: LLM grid ``(T, H, W)`` after the spatial merge; ``(0, 0, 0)`` for text.
        item: global index of the image / video across the batch (-1 for text).
        first_patch: index of this block's first temporal patch within its video.
        patch_seconds: per temporal patch, seconds since the video's first frame,
            or ``None`` when unknown (Qwen2-VL without timestamps).
    """

    kind: str
    start: int
    length: int
    grid: tuple[int, int, int] = (0, 0, 0)
    item: int = -1
    first_patch: int = 0
    patch_seconds: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Layout:
    """The parsed unpadded sequence of one sample: ``blocks`` cover ``[0, length)``."""

    blocks: tuple[Block, ...]
    length: int
    visual: tuple[Block, ...] = field(default=(), compare=False)


def _patch_seconds(
    vid: int, n_patches: int, ctx: PosContext, spg: Sequence[float] | None, stamps
) -> tuple[float, ...] | None:
    """Seconds of each temporal patch since the first frame of video ``vid``.

    With per-frame ``stamps`` the patch time is its first frame's time (exact for VFR).
    Otherwise ``k * second_per_grid_ts`` in float32, as the reference Qwen2.5-VL code computes.
    """
    if stamps is not None and vid < len(stamps) and stamps[vid] is not None:
        ts = [float(x) for x in stamps[vid]]
        tps = ctx.temporal_patch_size
        need = n_patches * tps
        if len(ts) < need - tps + 1:
            raise MmlongError(
                f"video {vid} has {len(ts)} timestamps but its grid has {n_patches} temporal patches "
                f"({need} frames); pass one timestamp per sampled frame"
            )
        return tuple(ts[min(k * tps, len(ts) - 1)] - ts[0] for k in range(n_patches))
    if spg is not None and vid < len(spg):
        ks = torch.arange(n_patches, dtype=torch.float32) * torch.tensor(float(spg[vid]), dtype=torch.float32)
        return tuple(ks.tolist())
    return None


def parse_layout(
    ids: Sequence[int],
    ctx: PosContext,
    image_grids: Iterator,
    video_grids: "VideoGridCursor",
) -> Layout:
    """Cut one unpadded sample into blocks, consuming grids in order.

    Args:
        ids: token ids of one sample, padding removed, length L.
        ctx: the model's :class:`PosContext`.
        image_grids: iterator over ``(index, (t, gh, gw))`` processor grids of images.
        video_grids: a :class:`VideoGridCursor` over the batch's videos.

    Returns:
        A :class:`Layout` whose blocks cover ``[0, L)``.

    Raises:
        MmlongError: when the vision tokens do not match the grids.
    """
    m = ctx.spatial_merge_size
    blocks: list[Block] = []
    n = len(ids)
    i = 0
    vis_ids = (ctx.image_token_id, ctx.video_token_id)
    while i < n:
        tok = ids[i]
        j = i + 1
        while j < n and (ids[j] == tok if tok in vis_ids else ids[j] not in vis_ids):
            j += 1
        if tok not in vis_ids:
            blocks.append(Block("text", i, j - i))
        else:
            pos = i
            while pos < j:
                if tok == ctx.image_token_id:
                    try:
                        idx, g = next(image_grids)
                    except StopIteration:
                        raise MmlongError(
                            "more <|image_pad|> tokens than image_grid_thw rows; pass the image_grid_thw "
                            "the processor returned for these input_ids"
                        ) from None
                    t, h, w = int(g[0]), int(g[1]) // m, int(g[2]) // m
                    blocks.append(Block("image", pos, t * h * w, (t, h, w), idx))
                else:
                    blocks.append(video_grids.next_block(pos, ctx))
                pos += blocks[-1].length
            if pos != j:
                raise MmlongError(
                    f"a run of {j - i} vision tokens at position {i} does not match the grids "
                    f"(they cover {pos - i}); pass the *_grid_thw the processor returned for these input_ids"
                )
        i = j
    return Layout(tuple(blocks), n, tuple(b for b in blocks if b.kind != "text"))


class VideoGridCursor:
    """Hands out video blocks in order; on Qwen3-VL one block per temporal patch."""

    def __init__(self, grids, ctx: PosContext, spg=None, stamps=None):
        self.grids = [tuple(int(x) for x in g) for g in (grids if grids is not None else [])]
        self.spg = None if spg is None else [float(x) for x in spg]
        self.stamps = stamps
        self.vid = 0
        self.patch = 0
        self.ctx = ctx

    def next_block(self, pos: int, ctx: PosContext) -> Block:
        if self.vid >= len(self.grids):
            raise MmlongError(
                "more <|video_pad|> tokens than video_grid_thw rows; pass the video_grid_thw "
                "the processor returned for these input_ids"
            )
        t, gh, gw = self.grids[self.vid]
        m = ctx.spatial_merge_size
        h, w = gh // m, gw // m
        secs = _patch_seconds(self.vid, t, ctx, self.spg, self.stamps)
        if ctx.per_frame_blocks:
            k = self.patch
            blk = Block("video", pos, h * w, (1, h, w), self.vid, k, None if secs is None else (secs[k],))
            self.patch += 1
            if self.patch == t:
                self.vid, self.patch = self.vid + 1, 0
            return blk
        blk = Block("video", pos, t * h * w, (t, h, w), self.vid, 0, secs)
        self.vid += 1
        return blk

    def finished(self) -> bool:
        return self.vid == len(self.grids) and self.patch == 0
