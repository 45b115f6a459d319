"""mmlong.load / Pipeline.ask on tiny random models and a generated video (direct route)."""

import pytest

import mmlong
from mmlong.answer import cited_times
from mmlong.errors import MmlongError


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def test_ask_video_direct_route(family, video, synth_video):
    import torch

    from mmlong.data.synth_video import read_frame_index
    from mmlong.models.vision_inputs import model_inputs
    from mmlong.pos_encodings.patch import video_timestamps

    pipe = mmlong.load(f"tiny:{family}", num_frames=6, max_new_tokens=5)
    ans = pipe.ask("What happens at the start?", video=video)
    # the answer is the greedy continuation of exactly the inputs the pipeline builds
    inputs = pipe.inputs("What happens at the start?", video=video)
    with torch.no_grad(), video_timestamps(pipe.model, inputs["video_timestamps"]):
        out = pipe.model.generate(**model_inputs(inputs), max_new_tokens=5, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1]:]
    assert ans.text == pipe.tokenizer.decode(new, skip_special_tokens=True).strip()
    assert ans.tokens["generated"] == len(new) <= 5
    # 6 frames at the centres of 6 one-second segments, with the pts of the frames shown there
    clip = pipe.sample(video)
    assert [read_frame_index(f) for f in clip.frames] == list(synth_video.index_at([0.5, 1.5, 2.5, 3.5, 4.5, 5.5]))
    assert ans.frame_times == list(clip.timestamps) == list(synth_video.timestamps[[5, 15, 25, 35, 45, 55]])
    assert ans.tokens["video"] == ans.config["plan"]["total_tokens"] == 3 * ans.config["plan"]["tokens_per_frame"]
    assert ans.config["pos"] == "native" and ans.config["family"] == family


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
    with pytest.raises(MmlongError, match="unsupported model family 'llama'"):
        mmlong.load("tiny:llama")
    with pytest.raises(MmlongError, match=r"^cannot read the config of '/definitely/not/a/checkpoint': .*; pass a hub "
                                          r"id \(with network or a filled HF cache\), a local checkpoint folder, or "
                                          r"tiny:qwen2_5_vl$"):
        mmlong.load("/definitely/not/a/checkpoint")
    with pytest.raises(MmlongError, match="unknown device 'nosuch'"):
        mmlong.load("tiny:qwen2_vl", device="nosuch")
    with pytest.raises(MmlongError, match="max_new_tokens must be an integer >= 1"):
        mmlong.load("tiny:qwen2_vl", max_new_tokens=0)
    with pytest.raises(MmlongError, match="position option gamma must be a number, got 'abc'"):
        mmlong.load("tiny:qwen2_vl", pos="hope", gamma="abc")
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
    # removed: the model computes exactly what a freshly built stock model (same seed) computes
    from mmlong.models.tiny import tiny
    from mmlong.models.vision_inputs import model_inputs

    inputs = model_inputs(pipe.inputs("What changes?", video=video))
    stock = tiny("qwen2_5_vl").model
    with torch.no_grad():
        assert torch.equal(pipe.model(**inputs).logits, stock(**inputs).logits)
