"""Training data: the sharegpt layout, skipped rows counted by reason, labels on assistant tokens only,
frames exactly as `mmlong ask` samples them, HoPE's per-step gamma draws, the data order."""

import pytest
import torch

import mmlong
from mmlong.train.data import ConversationData, collate, read_conversations
from mmlong.train.sampler import epoch_batches, position


@pytest.fixture(scope="module")
def pipe():
    return mmlong.load("tiny:qwen2_5_vl", fps=1.0, max_frames=60)


def test_bad_rows_are_skipped_and_counted(mixed_data):
    rows, skipped = read_conversations(mixed_data)
    assert [r.line for r in rows] == [1, 2, 3]
    assert dict(skipped) == {"malformed JSON": 1, "no assistant turn": 1, "missing media file missing.mp4": 1,
                             "0 <video> / 0 <image> markers for 1 videos / 0 images": 1,
                             "media markers outside the first user turn": 1, "more than one video": 1}
    assert rows[2].turns == (("Say hi.", "hi"),) and rows[1].system == "Be brief."


def test_labels_cover_the_assistant_answers_only(mixed_data, pipe):
    rows, _ = read_conversations(mixed_data)
    data = ConversationData(rows, pipe, max_tokens=4096)
    ex = data[1]  # system + image + two turns
    tok = pipe.tokenizer
    text = tok.decode(ex["input_ids"][0])
    n_img = int((ex["mm_token_type_ids"] == 1).sum())
    assert text == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n<|vision_start|>"
                    + "<|image_pad|>" * n_img + "<|vision_end|>Colour?<|im_end|>\n<|im_start|>assistant\n"
                    "grey<|im_end|>\n<|im_start|>user\nSure?<|im_end|>\n<|im_start|>assistant\nyes<|im_end|>")
    trained = ex["labels"][0][ex["labels"][0] != -100]
    assert tok.decode(trained) == "grey<|im_end|>yes<|im_end|>"
    assert ex["input_ids"].shape == ex["labels"].shape == ex["mm_token_type_ids"].shape
    assert data.lengths[1] >= ex["input_ids"].shape[1] * 0.8  # the length estimate (no decoding) is close


def test_video_frames_are_what_ask_feeds_the_model(mixed_data, pipe):
    rows, _ = read_conversations(mixed_data)
    ex = ConversationData(rows, pipe, max_tokens=4096)[0]
    asked = pipe.inputs("What shape is shown?", video=rows[0].videos[0])
    for key in ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts"):
        assert torch.equal(ex[key], asked[key])
    assert ex["video_timestamps"] == asked["video_timestamps"]
    n = asked["input_ids"].shape[1]
    assert torch.equal(ex["input_ids"][0, :n], asked["input_ids"][0])  # the prompt, then the answer


def test_too_long_and_collate(mixed_data, pipe):
    rows, _ = read_conversations(mixed_data)
    short = ConversationData(rows, pipe, max_tokens=40)
    assert short.skipped["too many tokens"] >= 2 and len(short) == 3 - short.skipped["too many tokens"]
    data = ConversationData(rows, pipe, max_tokens=4096)
    batch = collate([data[0], None, data[2]], pipe.tokenizer.pad_token_id)
    assert batch["dropped"] == 1 and batch["input_ids"].shape[0] == batch["labels"].shape[0] == 2
    n2 = data[2]["input_ids"].shape[1]
    assert (batch["labels"][1, n2:] == -100).all() and (batch["attention_mask"][1, n2:] == 0).all()
    assert collate([None], 0) is None


def test_hope_draws_a_new_gamma_every_step():
    from mmlong.models.tiny import tiny
    from mmlong.models.vision_inputs import build_inputs, model_inputs
    from mmlong.pos_encodings.patch import draw_seed

    b = tiny("qwen2_5_vl")
    mmlong.apply(b.model, "hope", gamma_choices=(0.5, 1.0, 1.5))
    clip = (torch.randint(0, 255, (8, 64, 64, 3), dtype=torch.uint8).numpy(), [float(t) for t in range(8)])
    inp = model_inputs(build_inputs(b.family, b.tokenizer, b.spec, "q", videos=[clip]))
    ids = lambda: b.model.model.get_rope_index(inp["input_ids"], inp["mm_token_type_ids"],  # noqa: E731
                                               video_grid_thw=inp["video_grid_thw"],
                                               second_per_grid_ts=inp["second_per_grid_ts"])[0]
    steps = []
    for seed in range(6):
        with draw_seed(b.model, seed):
            steps.append(ids())
    with draw_seed(b.model, 3):
        assert torch.equal(ids(), steps[3])  # the same step draws the same gamma
    last_video_t = {float(p[0, 0, (inp["mm_token_type_ids"][0] == 2).nonzero().max()]) for p in steps}
    assert len(last_video_t) >= 2  # different steps, different gammas


def test_data_order_is_a_pure_function_of_seed_and_epoch():
    lengths = [5, 1, 9, 2, 7, 3, 8, 4]
    a = epoch_batches(lengths, 2, seed=3, epoch=1)
    assert a == epoch_batches(lengths, 2, seed=3, epoch=1) and a != epoch_batches(lengths, 2, seed=3, epoch=2)
    assert sorted(i for b in a for i in b) == list(range(8))
    assert all(abs(lengths[x] - lengths[y]) <= 3 for x, y in a)  # grouped by length
    assert position(9, per_epoch=4) == (2, 1)
    with pytest.raises(ValueError, match="cannot fill one batch"):
        epoch_batches([1, 2], 4, seed=0, epoch=0)
