"""mmlong.load / Pipeline.ask on tiny random models and a generated video (direct route)."""

import pytest

import mmlong
from mmlong.answer import cited_times
from mmlong.errors import MmlongError


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    from mmlong.data.synth_video import write_test_video

    path = tmp_path_factory.mktemp("v") / "clip.mp4"
    write_test_video(str(path), seconds=6, fps=10, size=(64, 64))
    return str(path)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def test_ask_video_direct_route(family, video):
    pipe = mmlong.load(f"tiny:{family}", num_frames=6, max_new_tokens=5)
    ans = pipe.ask("What happens at the start?", video=video)
    assert isinstance(ans.text, str) and ans.tokens["generated"] <= 5
    assert len(ans.frame_times) == 6 and ans.tokens["video"] > 0
    assert ans.config["pos"] == "native" and ans.config["family"] == family
    assert ans.frame_times == sorted(ans.frame_times) and 0 <= ans.frame_times[0] < 6


def test_ask_with_scheme_options_and_image(video):
    import numpy as np

    pipe = mmlong.load("tiny:qwen2_5_vl", pos="hope", gamma=0.75, num_frames=4, max_new_tokens=3)
    img = np.zeros((64, 64, 3), dtype=np.uint8)
    ans = pipe.ask("Compare.", video=video, images=[img])
    assert ans.tokens["image"] > 0 and ans.tokens["video"] > 0
    assert ans.config["pos_options"] == {"gamma": 0.75}


def test_load_errors():
    with pytest.raises(MmlongError, match="unknown position scheme"):
        mmlong.load("tiny:qwen2_vl", pos="nope")
    with pytest.raises(MmlongError, match="unsupported model family"):
        mmlong.load("tiny:llama")
    with pytest.raises(MmlongError, match="cannot"):
        mmlong.load("/definitely/not/a/checkpoint")
    pipe = mmlong.load("tiny:qwen2_vl")
    with pytest.raises(MmlongError, match="non-empty question"):
        pipe.ask("")


def test_cited_times():
    assert cited_times("at 1:05 and again at 90s, then 1:05") == [65.0, 90.0]
    assert cited_times("around 12.5 seconds in; at 1:02:03") == [12.5, 3723.0]
    assert cited_times("no times here") == []


def test_budget_and_reduction_on_direct_route(video):
    pipe = mmlong.load("tiny:qwen2_5_vl", budget="2k", reduce="temporal+budget:16", max_new_tokens=3)
    ans = pipe.ask("What changes?", video=video)
    plan = ans.config["plan"]
    assert plan["total_tokens"] <= 2048 and ans.tokens["video"] == plan["total_tokens"]
    assert ans.tokens["video_kept"] <= 16 and ans.tokens["prefill"] < ans.tokens["prompt"]
    with pytest.raises(MmlongError, match="direct route"):
        mmlong.load("default", budget="16k")


def test_sparse_prefill_through_load_and_apply(video):
    import torch

    from mmlong.sparse.patch import current as sparse_state

    pipe = mmlong.load("tiny:qwen2_5_vl", prefill="mminference", patterns="vs", prefill_opts={"min_len": 0},
                       num_frames=4, max_new_tokens=3)
    assert sparse_state(pipe.model) is not None and pipe.config.prefill["method"] == "mminference"
    pipe.ask("What changes?", video=video)
    mmlong.remove(pipe.model)
    assert sparse_state(pipe.model) is None
    from mmlong.pos_encodings.patch import current as pos_state

    assert pos_state(pipe.model) is None
    with pytest.raises(MmlongError, match="need pos="):
        mmlong.apply(pipe.model, gamma=1.0, prefill="mminference")
    assert torch.is_tensor(pipe.model.lm_head.weight)
