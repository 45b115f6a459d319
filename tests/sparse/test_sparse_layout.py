"""Modality layouts: spans, per-token arrays, and layouts read from Qwen-VL model inputs."""

import pytest
import torch

from mmlong.errors import MmlongError
from mmlong.sparse.layout import SeqLayout, layouts_from_inputs, token_arrays


def test_worked_example():
    lay = SeqLayout.video(12, start=4, frames=3, frame_tokens=2)
    assert [(s.kind, s.start, s.end) for s in lay.spans] == [("text", 0, 4), ("video", 4, 10), ("text", 10, 12)]
    a = token_arrays(lay)
    assert a.vidx[4:10].tolist() == [0, 1, 2, 3, 4, 5] and a.kind.tolist() == [0] * 4 + [2] * 6 + [0] * 2
    assert (a.visual_start, a.visual_end) == (4, 10) and a.items == (("video", 2, 4, 10, 6),)


def test_items_group_spans_of_one_video():
    lay = SeqLayout.from_spans([("text", 0, 2), ("video", 2, 6, 4, 5), ("text", 6, 8), ("video", 8, 12, 4, 5),
                                ("image", 12, 15)])
    a = token_arrays(lay)
    assert a.item[2:6].tolist() == [0] * 4 and a.item[8:12].tolist() == [0] * 4 and a.item[12] == 1
    assert a.vidx[8:12].tolist() == [4, 5, 6, 7]  # counting continues over the timestamp text
    assert a.items[1] == ("image", 3, 12, 15, 3)  # an image is one frame
    assert lay.describe() == {"length": 15, "tokens": {"text": 4, "image": 3, "video": 8}, "video_frame_tokens": [4]}


def test_from_qwen2_inputs_with_left_padding():
    # row 0: 2 pads, 3 text, video grid (2, 4, 4) -> 2 frames x 4 tokens, 2 text; row 1 unpadded
    types = torch.tensor([[0, 0, 0, 0, 0] + [2] * 8 + [0, 0], [0] * 4 + [2] * 8 + [0] * 3])
    mask = torch.tensor([[0, 0] + [1] * 13, [1] * 15])
    out = layouts_from_inputs(mm_token_type_ids=types, video_grid_thw=torch.tensor([[2, 4, 4], [2, 4, 4]]),
                              attention_mask=mask)
    (o0, l0), (o1, l1) = out
    v0, v1 = l0.spans[1], l1.spans[1]
    assert o0 == 2 and l0.length == 13 and (v0.kind, v0.start, v0.end, v0.frame_tokens, v0.item) == ("video", 3, 11, 4, 0)
    assert o1 == 0 and (v1.kind, v1.start, v1.end, v1.frame_tokens, v1.item) == ("video", 4, 12, 4, 1)


def test_from_qwen3_inputs_per_frame_runs_make_one_video():
    vid = 262
    ids = torch.tensor([[7, 7] + ([7, 7, vid, vid, vid, vid]) * 3 + [7]])
    (off, lay), = layouts_from_inputs(ids, video_grid_thw=torch.tensor([[3, 4, 4]]), video_token_id=vid)
    a = token_arrays(lay)
    assert len(a.items) == 1 and a.items[0][1] == 4 and a.vidx[a.kind == 2].tolist() == list(range(12))


def test_from_inputs_errors_are_one_line():
    with pytest.raises(MmlongError, match="contiguous"):
        layouts_from_inputs(mm_token_type_ids=torch.zeros(1, 5, dtype=torch.long),
                            attention_mask=torch.tensor([[1, 0, 1, 1, 1]]))
    with pytest.raises(MmlongError, match="more video tokens"):
        layouts_from_inputs(mm_token_type_ids=torch.tensor([[0] + [2] * 8]), video_grid_thw=torch.tensor([[1, 4, 4]]))
    with pytest.raises(MmlongError, match="need input_ids"):
        layouts_from_inputs()


def test_video_constructor_rejects_overflow():
    with pytest.raises(MmlongError, match="does not fit"):
        SeqLayout.video(10, start=4, frames=3, frame_tokens=3)
