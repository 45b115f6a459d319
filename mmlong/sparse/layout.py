"""The sparse API's names for the shared token-stream layout (:mod:`mmlong.models.layout`).

``SeqLayout`` is :class:`~mmlong.models.blocks.Layout` and ``Span`` is its
:class:`~mmlong.models.blocks.Block`; patterns read ``token_arrays(layout)`` (= ``layout.tokens``).

    >>> lay = SeqLayout.video(12, start=4, frames=3, frame_tokens=2)   # 4 text, 3 x 2 video, 2 text
    >>> token_arrays(lay).vidx[4:10].tolist()
    [0, 1, 2, 3, 4, 5]
"""

from __future__ import annotations

from mmlong.models.layout import KIND_ID, KINDS, Block, Layout, TokenArrays, TokenSpec, parse_batch, token_arrays

SeqLayout = Layout
Span = Block

__all__ = ["KINDS", "KIND_ID", "SeqLayout", "Span", "TokenArrays", "token_arrays", "layouts_from_inputs"]


def layouts_from_inputs(input_ids=None, *, mm_token_type_ids=None, image_grid_thw=None, video_grid_thw=None,
                        attention_mask=None, spatial_merge_size: int = 2, image_token_id: int | None = None,
                        video_token_id: int | None = None, spec: TokenSpec | None = None) -> list[tuple[int, Layout]]:
    """Per batch row ``(offset, layout)``, read leniently for sparse prefill.

    :func:`~mmlong.models.layout.parse_batch` with ``strict=False`` (a kind without grids:
    each run is its own one-frame item) and ``contiguous=True`` (row b's tokens are columns
    ``[offset, offset + layout.length)``). Without ``spec`` the ids and merge size given here are
    used and video blocks follow the runs (Qwen2/2.5-VL one run, Qwen3-VL one run per frame).
    """
    spec = spec or TokenSpec(image_token_id, video_token_id, int(spatial_merge_size), per_frame_blocks=None)
    batch = parse_batch(spec, input_ids, mm_token_type_ids=mm_token_type_ids, image_grid_thw=image_grid_thw,
                        video_grid_thw=video_grid_thw, attention_mask=attention_mask, strict=False, contiguous=True)
    return [(row.offset, row) for row in batch.rows]
