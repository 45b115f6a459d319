"""`mmlong plan` (text and --json), planning without decoding, decoding the plan, and plan == what ask feeds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmlong.cli import main
from mmlong.tokens.planner import plan, sample_planned


@pytest.fixture
def video(synth_video):
    return synth_video  # the shared 6 s, 10 fps, 64x64 test video


def test_plan_text_output(video, capsys):
    assert main(["plan", str(video.path), "--model", "tiny:qwen2_5_vl", "--budget", "1k", "--fps", "1"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == ["video", "model", "frames", "plan", "memory"]
    p = plan(video.path, "tiny:qwen2_5_vl", "1k", fps=1.0)
    assert f"{p.frames} frames" in lines[3] and f"{p.height}x{p.width}" in lines[3]
    assert f"= {p.total_tokens} visual tokens" in lines[3] and "KV cache" in lines[4]
    assert "6.0 s" in lines[0] and "1024 visual tokens" in lines[2]


def test_plan_json(video, capsys):
    assert main(["plan", str(video.path), "--model", "qwen3_vl", "--budget", "16k", "--fps", "2", "--max-frames", "8",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["frames"] == 8 and d["total_tokens"] <= 16384 and d["family"] == "qwen3_vl"
    assert d["settings"]["budget"] == 16384 and d["memory"] is None and len(d["timestamps"]) == 8
    assert d["source"]["duration"] == pytest.approx(6.0) and d["factor"] == 32


@pytest.mark.parametrize("argv, needle", [
    (["plan", "VIDEO", "--model", "tiny:qwen2_vl", "--budget", "lots"], "positive count"),
    (["plan", "VIDEO"], "pass --model"),
    (["plan", "/no/such.mp4", "--model", "tiny:qwen2_vl"], "cannot read video"),
    (["plan", "VIDEO", "--model", "tiny:qwen2_vl", "--budget", "10", "--min-pixels", "20000"], "cannot hold one"),
    (["plan", "VIDEO", "--model", "gpt2"], "unsupported model family"),
])
def test_plan_errors_are_one_line(argv, needle, video, capsys):
    argv = [str(video.path) if a == "VIDEO" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and err.startswith("mmlong: error:")


def test_plan_reads_metadata_only(video, monkeypatch):
    from mmlong.video._pyav import PyAVSource

    def boom(*a, **k):
        raise AssertionError("plan must not decode frames")

    monkeypatch.setattr(PyAVSource, "frames_at", boom)
    assert plan(video.path, "tiny:qwen2_vl", "2k").frames > 0


def test_sample_planned_gives_the_planned_tokens(video):
    from mmlong.data.synth_video import read_frame_index
    from mmlong.models.tiny import tiny_spec, tiny_tokenizer
    from mmlong.models.vision_inputs import build_inputs

    p = plan(video.path, "tiny:qwen2_5_vl", 300, fps=2.0)
    clip, spec = sample_planned(video.path, p), p.vision_spec(tiny_spec("qwen2_5_vl"))
    assert clip.frames.shape == (p.frames, p.height, p.width, 3) and p.total_tokens <= 300
    assert spec.video_min_pixels == spec.video_max_pixels == p.height * p.width
    np.testing.assert_allclose(clip.timestamps, p.timestamps, atol=1 / 10 + 1e-6)  # within one source frame
    idx = [read_frame_index(f) for f in clip.frames]
    assert idx == list(video.index_at(clip.timestamps))
    inp = build_inputs("qwen2_5_vl", tiny_tokenizer(), spec, "q", videos=[clip])
    assert int((inp["mm_token_type_ids"] == 2).sum()) == p.total_tokens


def test_a_planned_clip_through_a_pipeline(video):
    import mmlong

    pipe = mmlong.load("tiny:qwen3_vl", max_new_tokens=2, budget=200, fps=1.0, max_frames=6)
    p = plan(video.path, pipe, pipe.config.frames)
    clip = sample_planned(video.path, p)
    assert clip.num_frames == 6
    ans = pipe.ask("What?", video=clip)  # a Clip is fitted to the pipeline's budget: already at the planned size
    assert ans.tokens["video"] == p.total_tokens <= 200 and ans.frame_times == list(clip.timestamps)


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
@pytest.mark.parametrize("flags", [[], ["--budget", "600"], ["--budget", "2k", "--fps", "2"], ["--num-frames", "5"],
                                   ["--max-frames", "3", "--start", "1", "--end", "5"],
                                   ["--budget", "300", "--max-pixels", "20000"],
                                   ["--sampling", "qwen-vl-utils", "--num-frames", "6", "--total-pixels", "300000"]])
def test_plan_prints_exactly_what_ask_feeds_the_model(family, flags, video, capsys):
    """`mmlong plan V FLAGS` and `mmlong ask V q FLAGS`: same frames, times, frame size and visual tokens."""
    model = f"tiny:{family}"
    assert main(["plan", str(video.path), "--model", model, "--json", *flags]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert main(["ask", str(video.path), "What?", "--model", model, "--max-new-tokens", "1", "--json", *flags]) == 0
    asked = json.loads(capsys.readouterr().out)
    fed = asked["config"]["plan"]
    assert {k: planned[k] for k in ("frames", "timestamps", "height", "width", "total_tokens", "settings")} == \
        {k: fed[k] for k in ("frames", "timestamps", "height", "width", "total_tokens", "settings")}
    assert asked["tokens"]["video"] == planned["total_tokens"]
    assert len(asked["frame_times"]) == planned["frames"]
    np.testing.assert_allclose(asked["frame_times"], planned["timestamps"], atol=1 / 10 + 1e-6)  # real pts
