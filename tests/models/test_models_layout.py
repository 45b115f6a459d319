"""The one token-stream parser (mmlong.models.layout) pinned on hand-built layouts, and the three
readers (pos_encodings, sparse, reduce_model) seeing the same blocks on a real batch."""

import numpy as np
import pytest
import torch

from mmlong.errors import MmlongError
from mmlong.models.layout import Block, Layout, TokenSpec, parse_batch

T, IMG, VID = 7, 261, 262  # a text id, <|image_pad|>, <|video_pad|> (the tiny tokenizer's)
QWEN25 = TokenSpec(IMG, VID, spatial_merge_size=2, temporal_patch_size=2, per_frame_blocks=False)
QWEN3 = TokenSpec(IMG, VID, spatial_merge_size=2, temporal_patch_size=2, per_frame_blocks=True)


def _blocks(row):
    return [(b.kind, b.start, b.length, b.grid, b.item, b.first_patch, b.patch_seconds) for b in row.blocks]


def test_qwen2_5_text_image_video():
    # 3 text | image (1, 4, 6) -> 1 x 2 x 3 = 6 tokens | 2 text | video (3, 4, 4) -> 3 x 2 x 2 = 12 | 1 text
    ids = torch.tensor([[T] * 3 + [IMG] * 6 + [T] * 2 + [VID] * 12 + [T]])
    (row,) = parse_batch(QWEN25, ids, image_grid_thw=torch.tensor([[1, 4, 6]]),
                         video_grid_thw=torch.tensor([[3, 4, 4]]), second_per_grid_ts=torch.tensor([1.0])).rows
    assert (row.offset, row.length) == (0, 24)
    assert _blocks(row) == [("text", 0, 3, (0, 0, 0), -1, 0, None), ("image", 3, 6, (1, 2, 3), 0, 0, None),
                            ("text", 9, 2, (0, 0, 0), -1, 0, None), ("video", 11, 12, (3, 2, 2), 0, 0, (0.0, 1.0, 2.0)),
                            ("text", 23, 1, (0, 0, 0), -1, 0, None)]
    a = row.tokens
    assert a.kind.tolist() == [0] * 3 + [1] * 6 + [0] * 2 + [2] * 12 + [0]
    assert a.item[3:9].tolist() == [0] * 6 and a.item[11:23].tolist() == [1] * 12  # row items: image 0, video 1
    assert a.frame[11:23].tolist() == [0] * 4 + [1] * 4 + [2] * 4 and a.frame[3:9].tolist() == [0] * 6
    assert a.items == (("image", 6, 3, 9, 6), ("video", 4, 11, 23, 12))
    assert a.pos.tolist() == list(range(24)) and (a.visual_start, a.visual_end) == (3, 23)


def test_qwen3_per_frame_runs_with_timestamp_text():
    # 4 text | per frame: 2 timestamp tokens + video (3, 2, 4) -> 3 frames x (1 x 2) tokens | 2 text (L = 18)
    ids = torch.tensor([[T] * 4 + [T, T, VID, VID] * 3 + [T, T]])
    stamps = [[0.0, 0.5, 1.0, 1.5, 2.0, 2.5]]  # 6 frames, tps 2 -> patches at 0, 1, 2 s
    (row,) = parse_batch(QWEN3, ids, video_grid_thw=torch.tensor([[3, 2, 4]]), video_timestamps=stamps).rows
    assert _blocks(row) == [("text", 0, 6, (0, 0, 0), -1, 0, None), ("video", 6, 2, (1, 1, 2), 0, 0, (0.0,)),
                            ("text", 8, 2, (0, 0, 0), -1, 0, None), ("video", 10, 2, (1, 1, 2), 0, 1, (1.0,)),
                            ("text", 12, 2, (0, 0, 0), -1, 0, None), ("video", 14, 2, (1, 1, 2), 0, 2, (2.0,)),
                            ("text", 16, 2, (0, 0, 0), -1, 0, None)]
    a = row.tokens
    vid = a.kind == 2
    assert a.vidx[vid].tolist() == list(range(6)) and a.frame[vid].tolist() == [0, 0, 1, 1, 2, 2]
    assert a.items == (("video", 2, 6, 16, 6),) and a.item[vid].tolist() == [0] * 6
    # family unknown (per_frame_blocks None): blocks follow the runs, the same cut here
    loose = TokenSpec(IMG, VID, per_frame_blocks=None)
    (row2,) = parse_batch(loose, ids, video_grid_thw=torch.tensor([[3, 2, 4]]), video_timestamps=stamps).rows
    assert row2 == row
    with pytest.raises(MmlongError, match="does not match the grids"):  # Qwen2.5 wants the video in one run
        parse_batch(QWEN25, ids, video_grid_thw=torch.tensor([[3, 2, 4]]))
    with pytest.raises(MmlongError, match="has 3 timestamps"):
        parse_batch(QWEN3, ids, video_grid_thw=torch.tensor([[3, 2, 4]]), video_timestamps=[[0.0, 0.5, 1.0]])


def test_left_padded_batch_of_two():
    P = 0  # pad id
    # row 0: 2 pads | 3 text | video (2, 4, 4) = 2 x 4 tokens | 2 text
    # row 1: 1 text | image (1, 2, 2) = 1 token | 2 text | video (1, 4, 4) = 4 tokens | 7 text
    ids = torch.tensor([[P, P] + [T] * 3 + [VID] * 8 + [T] * 2,
                        [T] + [IMG] + [T] * 2 + [VID] * 4 + [T] * 7])
    mask = torch.tensor([[0, 0] + [1] * 13, [1] * 15])
    batch = parse_batch(QWEN25, ids, image_grid_thw=torch.tensor([[1, 2, 2]]),
                        video_grid_thw=torch.tensor([[2, 4, 4], [1, 4, 4]]), attention_mask=mask)
    r0, r1 = batch.rows
    assert (r0.offset, r0.length, r1.offset, r1.length) == (2, 13, 0, 15)
    assert _blocks(r0) == [("text", 0, 3, (0, 0, 0), -1, 0, None), ("video", 3, 8, (2, 2, 2), 0, 0, None),
                           ("text", 11, 2, (0, 0, 0), -1, 0, None)]
    assert [(b.kind, b.start, b.item) for b in r1.blocks] == [("text", 0, -1), ("image", 1, 0), ("text", 2, -1),
                                                              ("video", 4, 1), ("text", 8, -1)]
    assert r0.tokens.pos.tolist() == list(range(2, 15)) and r0.tokens.vidx[3:11].tolist() == list(range(8))
    assert r1.tokens.item[[1, 4]].tolist() == [0, 1]  # row-local items: the image, then the video
    assert torch.equal(batch.types(), torch.where(ids == VID, 2, torch.where(ids == IMG, 1, 0)))
    assert batch.mask("video").sum(1).tolist() == [8, 4]
    assert batch.items("video") == ((0, (2, 2, 2)), (1, (1, 2, 2))) and batch.items("image") == ((1, (1, 1, 1)),)


def test_padding_inside_a_row_and_lenient_runs():
    ids = torch.tensor([[T, T, VID, VID, VID, T]])
    holes = torch.tensor([[1, 0, 1, 1, 1, 1]])
    (row,) = parse_batch(QWEN25, ids, video_grid_thw=torch.tensor([[3, 2, 2]]), attention_mask=holes).rows
    assert row.length == 5 and row.tokens.pos.tolist() == [0, 2, 3, 4, 5]
    with pytest.raises(MmlongError, match="contiguous"):
        parse_batch(QWEN25, ids, video_grid_thw=torch.tensor([[3, 2, 2]]), attention_mask=holes, contiguous=True)
    # lenient: no grids -> each visual run is its own one-frame item; strict: an error
    (row,) = parse_batch(QWEN25, torch.tensor([[T, VID, VID, T, VID, T]]), strict=False).rows
    assert [(b.kind, b.start, b.length, b.item) for b in row.visual] == [("video", 1, 2, -1), ("video", 4, 1, -1)]
    assert row.tokens.items == (("video", 2, 1, 3, 2), ("video", 1, 4, 5, 1))
    with pytest.raises(MmlongError, match="more <\\|video_pad\\|> tokens"):
        parse_batch(QWEN25, torch.tensor([[T, VID, T]]))
    with pytest.raises(MmlongError, match="more rows"):
        parse_batch(QWEN25, torch.tensor([[T, T]]), image_grid_thw=torch.tensor([[1, 2, 2]]))


def test_hand_built_layouts():
    lay = Layout.video(12, start=4, frames=3, frame_tokens=2)
    assert lay.blocks[1] == Block("video", 4, 6, (3, 1, 2), 0)
    assert lay.tokens.frame[4:10].tolist() == [0, 0, 1, 1, 2, 2] and lay.tokens is lay.tokens  # computed once
    per_frame = Layout.from_spans([("text", 0, 2), ("video", 2, 4, 2, 0), ("text", 4, 5), ("video", 5, 7, 2, 0)])
    assert [b.first_patch for b in per_frame.visual] == [0, 1] and per_frame.tokens.frame[5:7].tolist() == [1, 1]
    with pytest.raises(MmlongError, match="whole frames"):
        Layout.from_spans([("video", 0, 5, 2)])
    with pytest.raises(MmlongError, match="grid must be"):
        Block("video", 3, 8, 4, 10000)


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_pos_encodings_sparse_and_reduce_model_see_the_same_blocks(family):
    from mmlong.models.tiny import tiny
    from mmlong.models.vision_inputs import build_batch, build_inputs, model_inputs
    from mmlong.pos_encodings.api import batch_layout
    from mmlong.sparse import apply_prefill, remove_prefill
    from mmlong.sparse.patch import current
    from mmlong.tokens.reduce_model import input_layout
    from mmlong.video import Clip

    rng = np.random.default_rng(0)
    b = tiny(family)
    clip = Clip.from_frames(rng.integers(0, 255, (8, 64, 64, 3), dtype=np.uint8), [0.0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5])
    short = Clip.from_frames(rng.integers(0, 255, (4, 64, 64, 3), dtype=np.uint8), [0.0, 1.0, 2.0, 3.0])
    img = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    items = [build_inputs(b.family, b.tokenizer, b.spec, "What?", videos=[clip]),
             build_inputs(b.family, b.tokenizer, b.spec, "And here, what changes?", images=[img], videos=[short])]
    inputs = build_batch(items, b.tokenizer.pad_token_id)
    seen = {}
    pos = batch_layout(inputs["input_ids"], b.model.config, image_grid_thw=inputs["image_grid_thw"],
                       video_grid_thw=inputs["video_grid_thw"], second_per_grid_ts=inputs.get("second_per_grid_ts"),
                       video_timestamps=inputs["video_timestamps"], attention_mask=inputs["attention_mask"])
    seen["pos_encodings"] = [(r.offset, r) for r in pos.rows]
    seen["reduce_model"] = [(r.offset, r) for r in input_layout(b.model, inputs).rows]
    apply_prefill(b.model, patterns="dense", min_len=0)
    try:
        with torch.no_grad():
            b.model(**model_inputs(inputs))
        seen["sparse"] = current(b.model).layouts
    finally:
        remove_prefill(b.model)

    def cut(rows):  # patch_seconds left out: only pos_encodings is handed the frame times
        return [(off, [(x.kind, x.start, x.length, x.grid, x.item, x.first_patch) for x in r.blocks])
                for off, r in rows]

    assert cut(seen["sparse"]) == cut(seen["pos_encodings"]) == cut(seen["reduce_model"])
    assert torch.equal(pos.types(), inputs["mm_token_type_ids"])
    assert [r for r, _ in pos.items("video")] == [0, 1] and [r for r, _ in pos.items("image")] == [1]
    n_blocks = len([x for x in pos.rows[0].blocks if x.kind == "video"])
    assert n_blocks == (4 if family == "qwen3_vl" else 1)  # Qwen3-VL: one block per temporal patch
    pads = (inputs["attention_mask"] == 0).sum(1).tolist()
    assert [r.offset for r in pos.rows] == pads and max(pads) > 0  # left padding on the shorter row
