"""build_inputs / build_batch / prompt: token counts, types, timestamps, second_per_grid_ts."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor

from mmlong.errors import MmlongError
from mmlong.models.prompt import chat_parts, encode, patch_timestamps, render, video_parts
from mmlong.models.tiny import tiny_spec, tiny_tokenizer
from mmlong.models.vision_inputs import build_batch, build_inputs, model_inputs

TOK = tiny_tokenizer()
IMG, VID, VS, VE = (TOK.convert_tokens_to_ids(t) for t in
                    ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>"))


def _clip(n, fps=2.0, h=64, w=64, seed=0):
    frames = np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    return SimpleNamespace(frames=frames, timestamps=np.arange(n) / fps)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def test_token_counts_match_grids(family):
    spec = tiny_spec(family)
    img = Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 100, 3), dtype=np.uint8))
    inp = build_inputs(family, TOK, spec, "Hi", images=[img, np.zeros((40, 40, 3), np.uint8)],
                       videos=[_clip(6), _clip(3)])
    ids, types = inp["input_ids"][0], inp["mm_token_type_ids"][0]
    m2 = spec.merge_size**2
    assert (ids == IMG).sum() == inp["image_grid_thw"].prod(-1).sum() // m2
    assert (ids == VID).sum() == inp["video_grid_thw"].prod(-1).sum() // m2
    assert inp["pixel_values"].shape[0] == inp["image_grid_thw"].prod(-1).sum()
    assert inp["pixel_values_videos"].shape[0] == inp["video_grid_thw"].prod(-1).sum()
    assert torch.equal(types, (ids == IMG).long() + 2 * (ids == VID).long())
    assert inp["attention_mask"].eq(1).all() and ids.dtype == torch.long
    assert inp["video_grid_thw"][:, 0].tolist() == [3, 2]
    n_blocks = 2 + (5 if family.startswith("qwen3") else 2)  # Qwen3: one block per temporal patch
    assert (ids == VS).sum() == (ids == VE).sum() == n_blocks
    assert ("second_per_grid_ts" in inp) == (family == "qwen2_5_vl")


def test_qwen2_prompt_string_and_encoding():
    spec = tiny_spec("qwen2_vl")
    inp = build_inputs("qwen2_vl", TOK, spec, "Describe.", images=[np.zeros((64, 64, 3), np.uint8)])
    n = int(inp["image_grid_thw"][0].prod()) // 4
    expect = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
              "<|vision_start|>" + "<|image_pad|>" * n + "<|vision_end|>Describe.<|im_end|>\n"
              "<|im_start|>assistant\n")
    assert TOK.decode(inp["input_ids"][0]) == expect
    assert inp["input_ids"][0].tolist() == TOK(expect, add_special_tokens=False)["input_ids"]
    no_sys = build_inputs("qwen2_vl", TOK, spec, "x", system="", add_generation_prompt=False)
    assert TOK.decode(no_sys["input_ids"][0]) == "<|im_start|>user\nx<|im_end|>\n"
    assert "pixel_values" not in no_sys and no_sys["mm_token_type_ids"].eq(0).all()


def test_qwen3_timestamp_strings():
    spec = tiny_spec("qwen3_vl")
    clip = (np.zeros((4, 64, 64, 3), np.uint8), [0.0, 0.5, 1.0, 1.5])
    inp = build_inputs("qwen3_vl", TOK, spec, "When?", videos=clip)
    text = TOK.decode(inp["input_ids"][0])
    per = spec.video_hw(64, 64)[0] // spec.factor * (spec.video_hw(64, 64)[1] // spec.factor)
    block = "<|vision_start|>" + "<|video_pad|>" * per + "<|vision_end|>"
    assert text == ("<|im_start|>user\n<0.2 seconds>" + block + "<1.2 seconds>" + block
                    + "When?<|im_end|>\n<|im_start|>assistant\n")
    assert inp["video_timestamps"] == [[0.0, 0.5, 1.0, 1.5]]
    # encode() of the parts equals tokenizing the rendered string
    parts = chat_parts("qwen3_vl", "When?", video_parts("qwen3_vl", [2, 6, 6], 2, [0.0, 0.5, 1.0, 1.5]))
    assert encode(parts, TOK) == TOK(render(parts), add_special_tokens=False)["input_ids"]


def test_patch_timestamps_match_transformers():
    for indices, fps in [([0, 1, 2, 3, 4], 2.0), ([0, 7, 15, 22, 30, 37], 29.97), ([3], 1.0)]:
        ref = Qwen3VLProcessor._calculate_timestamps(None, list(indices), fps, 2)
        times = [i / fps for i in indices] + [indices[-1] / fps] * (len(indices) % 2)
        assert patch_timestamps(times, 2) == pytest.approx(ref)


@pytest.mark.parametrize("fps", [1.0, 2.0, 3.7])
def test_second_per_grid_ts_uniform(fps):
    inp = build_inputs("qwen2_5_vl", TOK, tiny_spec("qwen2_5_vl"), "q", videos=[_clip(8, fps), _clip(1)])
    assert inp["second_per_grid_ts"].dtype == torch.float32
    assert inp["second_per_grid_ts"].tolist() == pytest.approx([2 / fps, 1.0])


def test_second_per_grid_ts_vfr_uses_mean_interval():
    clip = (np.zeros((4, 64, 64, 3), np.uint8), [0.0, 0.1, 0.2, 3.0])
    inp = build_inputs("qwen2_5_vl", TOK, tiny_spec("qwen2_5_vl"), "q", videos=[clip])
    assert inp["second_per_grid_ts"].item() == pytest.approx(2 * 3.0 / 3)


def test_odd_frame_count_is_padded():
    spec = tiny_spec("qwen2_5_vl")
    inp = build_inputs("qwen2_5_vl", TOK, spec, "q", videos=[_clip(5)])
    t, h, w = inp["video_grid_thw"][0].tolist()
    assert t == 3 and inp["pixel_values_videos"].shape[0] == t * h * w
    assert inp["video_timestamps"] == [[0.0, 0.5, 1.0, 1.5, 2.0, 2.0]]
    # the padded frame repeats the last one: patch 2's two frames are identical
    pv = inp["pixel_values_videos"].view(t, h * w, 3, 2, -1)
    assert torch.equal(pv[2, :, :, 0], pv[2, :, :, 1])


def test_build_batch_left_and_right():
    spec = tiny_spec("qwen2_5_vl")
    a = build_inputs("qwen2_5_vl", TOK, spec, "short", videos=[_clip(4)])
    b = build_inputs("qwen2_5_vl", TOK, spec, "a longer question", images=[np.zeros((64, 64, 3), np.uint8)],
                     videos=[_clip(2, fps=1.0)])
    la, lb = a["input_ids"].shape[1], b["input_ids"].shape[1]
    batch = build_batch([a, b], pad_token_id=TOK.pad_token_id)
    assert batch["input_ids"].shape == (2, max(la, lb))
    assert torch.equal(batch["input_ids"][0, -la:], a["input_ids"][0])
    assert batch["input_ids"][0, : lb - la].eq(TOK.pad_token_id).all()
    assert batch["attention_mask"].sum(1).tolist() == [la, lb]
    assert batch["video_grid_thw"].shape == (2, 3) and batch["image_grid_thw"].shape == (1, 3)
    assert batch["second_per_grid_ts"].tolist() == pytest.approx([1.0, 2.0])
    assert len(batch["video_timestamps"]) == 2
    right = build_batch([a, b], TOK.pad_token_id, padding_side="right")
    assert torch.equal(right["input_ids"][0, :la], a["input_ids"][0])
    assert right["mm_token_type_ids"][0, la:].eq(0).all()
    assert "video_timestamps" not in model_inputs(batch)
    with pytest.raises(MmlongError):
        build_batch([], 0)
    with pytest.raises(MmlongError):
        build_batch([{**a, "foo": 1}], 0)


def test_input_errors():
    spec = tiny_spec("qwen2_vl")
    with pytest.raises(MmlongError):
        build_inputs("qwen2_vl", TOK, spec, "bad <|image_pad|>")
    with pytest.raises(MmlongError):
        build_inputs("qwen2_vl", TOK, spec, "q", videos=[(np.zeros((3, 64, 64, 3), np.uint8), [0.0, 1.0])])
    with pytest.raises(MmlongError):
        build_inputs("qwen2_vl", TOK, spec, "q", videos=[(np.zeros((2, 64, 64, 3), np.uint8), [1.0, 0.0])])
    with pytest.raises(MmlongError):
        build_inputs("llava", TOK, spec, "q")


def _expand_pads(text: str, grids, merge: int = 2) -> str:
    """HF-processor step: each single <|image_pad|> becomes t*h*w/merge^2 of them, in order."""
    pieces = text.split("<|image_pad|>")
    out = pieces[0]
    for grid, rest in zip(grids, pieces[1:]):
        out += "<|image_pad|>" * (int(np.prod(grid)) // merge**2) + rest
    return out


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen3_vl"])
def test_interleaved_content_matches_chat_template(family):
    spec = tiny_spec(family)
    rng = np.random.default_rng(1)
    imgs = [rng.integers(0, 256, (64, 64 + 32 * i, 3), dtype=np.uint8) for i in range(3)]
    content = ["Frames and subtitles:\n", imgs[0], "hello there\n", imgs[1], imgs[2], "\nWhich option?"]
    inp = build_inputs(family, TOK, spec, content, system="")
    messages = [{"role": "user", "content": [{"type": "text", "text": c} if isinstance(c, str) else {"type": "image"}
                                             for c in content]}]
    template = TOK.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    expect = _expand_pads(template, inp["image_grid_thw"].tolist(), spec.merge_size)
    assert TOK.decode(inp["input_ids"][0]) == expect
    assert inp["input_ids"][0].tolist() == TOK(expect, add_special_tokens=False)["input_ids"]
    # pixel rows follow the order the images appear in
    alone = [build_inputs(family, TOK, spec, "x", images=[im]) for im in imgs]
    assert torch.equal(inp["pixel_values"], torch.cat([a["pixel_values"] for a in alone]))
    assert torch.equal(inp["image_grid_thw"], torch.cat([a["image_grid_thw"] for a in alone]))
    # images= first, then the content list: the same as putting them at the front of the list
    front = build_inputs(family, TOK, spec, content[1:], images=[imgs[0]], system="")
    assert front["input_ids"][0].tolist() == build_inputs(family, TOK, spec, [imgs[0], *content[1:]],
                                                          system="")["input_ids"][0].tolist()


def test_interleaved_video_and_errors():
    spec = tiny_spec("qwen2_5_vl")
    clip = _clip(4)
    inp = build_inputs("qwen2_5_vl", TOK, spec, ["intro ", clip, " then ", np.zeros((64, 64, 3), np.uint8), " q"])
    ids = inp["input_ids"][0]
    first_vid, first_img = int((ids == VID).nonzero()[0]), int((ids == IMG).nonzero()[0])
    assert first_vid < first_img and inp["video_timestamps"] == [[0.0, 0.5, 1.0, 1.5]]
    assert inp["second_per_grid_ts"].tolist() == [1.0]
    with pytest.raises(MmlongError, match="reserved"):
        build_inputs("qwen2_vl", TOK, spec, ["ok", "bad <|video_pad|>"])
    with pytest.raises(MmlongError, match="content items"):
        build_inputs("qwen2_vl", TOK, spec, ["ok", 3])
