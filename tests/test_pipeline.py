"""Pipeline.ask_many: batched greedy answers equal one-at-a-time answers; interleaved questions; errors."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

import mmlong
from mmlong.errors import MmlongError
from mmlong.models.vision_inputs import build_batch, build_inputs, model_inputs
from mmlong.pos_encodings.patch import video_timestamps


def _requests(n: int, seed: int = 0) -> list[dict]:
    """Mixed lengths and media: text only, image, video, image + video; caps 3..3+n."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        clip = SimpleNamespace(frames=rng.integers(0, 256, (2 + 2 * (i % 3), 56, 56 + 28 * (i % 2), 3), dtype=np.uint8),
                               timestamps=np.arange(2 + 2 * (i % 3)) * (0.5 + 0.25 * i))
        img = rng.integers(0, 256, (56 + 28 * i, 56, 3), dtype=np.uint8)
        out.append({"question": "describe it " * (1 + i), "max_new_tokens": 3 + i,
                    "images": [img] if i % 2 else None, "video": clip if i % 4 != 3 else None})
    return out


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def test_left_padded_batch_scores_equal_single(family):
    """Per-step logits of a left-padded batch of 4 equal each question run alone (prefill + cached decode)."""
    pipe = mmlong.load(f"tiny:{family}", pos="native")
    items = [pipe._prepare(**{k: v for k, v in r.items() if k != "max_new_tokens"}).inputs for r in _requests(4)]

    def scores(inputs):
        with torch.no_grad(), video_timestamps(pipe.model, inputs.get("video_timestamps")):
            out = pipe.model.generate(**model_inputs(inputs), max_new_tokens=4, do_sample=False, output_scores=True,
                                      return_dict_in_generate=True, pad_token_id=pipe.tokenizer.pad_token_id,
                                      eos_token_id=None)
        return torch.stack(out.scores, 1), out.sequences[:, inputs["input_ids"].shape[1]:]

    batch_scores, batch_ids = scores(build_batch(items, pipe.tokenizer.pad_token_id))
    assert len({it["input_ids"].shape[1] for it in items}) == 4  # real padding in the batch
    for row, it in enumerate(items):
        s, ids = scores(it)
        torch.testing.assert_close(batch_scores[row], s[0], atol=1e-5, rtol=0)  # measured ~5e-7
        assert torch.equal(batch_ids[row], ids[0])


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_ask_many_equals_ask(family):
    pipe = mmlong.load(f"tiny:{family}", pos="hope")
    reqs = _requests(5, seed=1)
    one = [pipe.ask(**r) for r in reqs]
    for bs in (1, 4):
        many = pipe.ask_many(reqs, batch_size=bs)
        assert [a.text for a in many] == [a.text for a in one]
        assert [a.tokens["generated"] for a in many] == [a.tokens["generated"] for a in one]
        assert [a.tokens["prompt"] for a in many] == [a.tokens["prompt"] for a in one]
        assert [a.timings["batch"] for a in many] == ([1] * 5 if bs == 1 else [4, 4, 4, 4, 1])
        assert [a.frame_times for a in many] == [a.frame_times for a in one]


def test_ask_many_errors_stay_in_their_slot():
    pipe = mmlong.load("tiny:qwen2_vl", max_new_tokens=3)
    reqs = [{"question": "a"}, {"question": ""}, {"question": "b", "video": "/no/such/video.mp4"}, {"question": "c"}]
    out = pipe.ask_many(reqs, batch_size=4, return_exceptions=True)
    assert isinstance(out[1], MmlongError) and isinstance(out[2], MmlongError)
    assert out[0].text == pipe.ask("a").text and out[3].text == pipe.ask("c").text
    with pytest.raises(MmlongError):
        pipe.ask_many(reqs, batch_size=2)
    with pytest.raises(MmlongError, match="batch_size"):
        pipe.ask_many(reqs, batch_size=0)


def test_interleaved_question():
    pipe = mmlong.load("tiny:qwen2_vl", max_new_tokens=3)
    imgs = [np.full((56, 56, 3), 40 * i, np.uint8) for i in range(3)]
    ans = pipe.ask([imgs[0], "first line\n", imgs[1], imgs[2], "\nWhich?"])
    assert ans.question == "<image>first line\n<image><image>\nWhich?" and ans.tokens["image"] > 0
    with pytest.raises(MmlongError, match="no text"):
        pipe.ask([imgs[0]])
    with pytest.raises(MmlongError, match="list of strings and images"):
        pipe.ask(["x", 3])
    ref = build_inputs(pipe.family, pipe.tokenizer, pipe.spec, [imgs[0], "first line\n", imgs[1], imgs[2], "\nWhich?"])
    assert ans.tokens["prompt"] == ref["input_ids"].shape[1]


def test_ask_many_with_sparse_prefill_equals_ask():
    """Sparse prefill runs each padded row on its own span, so batches answer as single questions do."""
    pipe = mmlong.load("tiny:qwen2_5_vl", prefill="mminference", patterns="vs", prefill_opts={"min_len": 0})
    reqs = _requests(4, seed=2)
    one = [pipe.ask(**r) for r in reqs]
    state = pipe.model._mmlong_sparse
    sparse_calls = state.calls["sparse"]
    many = pipe.ask_many(reqs, batch_size=4)
    assert state.calls["sparse"] > sparse_calls  # the batched prefill took the sparse path
    assert [a.text for a in many] == [a.text for a in one]


def test_budget_applies_to_pinned_clips():
    """A benchmark's pinned frames: the plan lowers their resolution, then drops frames, to fit the budget."""
    from mmlong.video import Clip

    frames = np.random.default_rng(0).integers(0, 256, (16, 360, 640, 3), dtype=np.uint8)
    clip = Clip.from_frames(frames, np.arange(16) * 2.0, source_fps=30)
    free = mmlong.load("tiny:qwen2_5_vl", max_new_tokens=2).ask("what?", video=clip)
    for budget, frames_kept in ((100, 16), (40, 8)):
        ans = mmlong.load("tiny:qwen2_5_vl", budget=budget, max_new_tokens=2).ask("what?", video=clip)
        plan = ans.config["plan"]
        assert ans.tokens["video"] == plan["total_tokens"] <= budget < free.tokens["video"]
        assert len(ans.frame_times) == plan["frames"] == frames_kept
        assert set(ans.frame_times) <= set(clip.timestamps.tolist())  # kept frames are the clip's own


def test_a_failed_batch_is_retried_one_by_one(monkeypatch):
    """A batch that fails as a whole (e.g. out of memory) is retried question by question."""
    pipe = mmlong.load("tiny:qwen2_vl", max_new_tokens=3)
    real = pipe._generate

    def no_batches(inputs, limit, stream=None):
        if inputs["input_ids"].shape[0] > 1:
            raise RuntimeError("CUDA out of memory (simulated)")
        return real(inputs, limit, stream)

    monkeypatch.setattr(pipe, "_generate", no_batches)
    reqs = [{"question": "a"}, {"question": "bb"}, {"question": "ccc"}]
    out = pipe.ask_many(reqs, batch_size=3, return_exceptions=True)
    assert [a.text for a in out] == [pipe.ask(**r).text for r in reqs]
    assert [a.timings["batch"] for a in out] == [1, 1, 1]
    with pytest.raises(RuntimeError, match="out of memory"):
        pipe.ask_many(reqs, batch_size=3)  # without return_exceptions the failure surfaces
