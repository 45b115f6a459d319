"""sampling="qwen-vl-utils": parity with qwen-vl-utils 0.0.14, its rules, decoding, the model inputs.

``qwen_vl_utils_0_0_14.json`` was made by running qwen-vl-utils 0.0.14's ``fetch_video`` (decord
0.6.0 reader, ``return_video_metadata=True``) on videos written by
``mmlong.data.synth_video.write_test_video``: 30 s, 10 min and 60 min at 5 to 30 fps, 64x48 to
1280x720, under default, fps, nframes, frame-cap, window and pixel settings, for Qwen2.5-VL
(patch 14) and Qwen3-VL (patch 16). Each case holds the video's metadata as qwen-vl-utils read
it, its options, and what it returned: frame indices, resized size, sample fps. (For the 10 and
60 min videos the final torchvision resize was replaced by a tensor of its output size, to keep
the run short; every number above comes before it.) ``second_per_grid_ts`` is ``2 / sample_fps``,
what the Qwen2.5-VL processor computes from the ``fps`` qwen-vl-utils returns.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from mmlong.errors import MmlongError
from mmlong.tokens.planner import plan, sample_planned
from mmlong.tokens.qwen_sampling import frame_count, frame_indices, frame_size, frame_window
from mmlong.video.settings import FrameSettings

TABLE = json.loads((Path(__file__).parent / "qwen_vl_utils_0_0_14.json").read_text())
KEYS = {"fps": "fps", "nframes": "num_frames", "min_frames": "min_frames", "max_frames": "max_frames",
        "video_start": "start", "video_end": "end", "min_pixels": "min_pixels", "max_pixels": "max_pixels",
        "total_pixels": "total_pixels", "resized_height": "resized_height", "resized_width": "resized_width"}


def settings_of(ele: dict) -> FrameSettings:
    """qwen-vl-utils' per-video options as mmlong frame settings."""
    return FrameSettings(sampling="qwen-vl-utils", **{KEYS[k]: v for k, v in ele.items()})


def meta_of(source: dict) -> dict:
    return {**source, "duration": source["num_frames"] / source["fps"]}


def _case_id(case: dict) -> str:
    opts = ",".join(f"{k}={v}" for k, v in case["ele"].items()) or "defaults"
    return f"{case['video']}-{case['family']}-{opts}"


def test_the_table_covers_the_durations_rates_and_options():
    cases = TABLE["cases"]
    minutes = {round(c["source"]["num_frames"] / c["source"]["fps"] / 60, 1) for c in cases}
    assert minutes == {0.5, 10.0, 60.0}
    assert {c["source"]["fps"] for c in cases} >= {5.0, 10.0, 24.0, 25.0, 30.0}
    assert {k for c in cases for k in c["ele"]} == set(KEYS)
    assert {c["family"] for c in cases} == {"qwen2_5_vl", "qwen3_vl"} and len(cases) > 80


@pytest.mark.parametrize("case", TABLE["cases"], ids=_case_id)
def test_same_frames_times_sizes_tokens_and_second_per_grid_as_qwen_vl_utils(case):
    p = plan(meta_of(case["source"]), case["family"], settings_of(case["ele"]))
    fps = case["source"]["fps"]
    assert p.frames == case["nframes"]
    assert p.timestamps == tuple(i / fps for i in case["indices"])  # frame i is decoded at i / fps
    assert [round(t * fps) for t in p.timestamps] == case["indices"]
    assert (p.height, p.width) == (case["height"], case["width"])
    assert (p.tokens_per_frame, p.total_tokens) == (case["tokens_per_frame"], case["total_tokens"])
    assert p.second_per_grid_ts == pytest.approx(case["second_per_grid_ts"], rel=1e-12)
    assert p.sample_fps == pytest.approx(case["sample_fps"], rel=1e-9)


def test_indices_differ_from_mmlong_policy_which_takes_segment_centres():
    case = next(c for c in TABLE["cases"] if c["video"] == "s30_f25_180x320" and not c["ele"])
    meta = meta_of(case["source"])
    mine = plan(meta, "qwen2_5_vl", FrameSettings(fps=2.0, max_frames=768))
    assert mine.frames == case["nframes"] == 60 and (mine.height, mine.width) == (case["height"], case["width"])
    shown = [math.floor(t * 25 + 1e-9) for t in mine.timestamps]  # the frame on screen at each time
    assert shown[:3] == [6, 18, 31] and case["indices"][:3] == [0, 13, 25]
    assert case["indices"][0] == 0 and case["indices"][-1] == 749  # first and last frame included
    assert len(set(shown) & set(case["indices"])) == 4  # 4 of 60 frames coincide


# -- the rules, by hand -----------------------------------------------------------------
def test_worked_example_of_the_module_docstring():
    s = FrameSettings(sampling="qwen-vl-utils")
    assert s.rate == 2.0 and s.frame_cap == 768
    assert frame_window(750, 25.0, None, None) == (0, 749)
    assert frame_count(750, 25.0, s, 2) == 60
    idx = frame_indices(0, 749, 60)
    assert idx[:4] == [0, 13, 25, 38] and idx[-2:] == [736, 749]
    assert frame_size(180, 320, 60, 28, s) == ((252, 448), (100352, 602112))


@pytest.mark.parametrize("num_frames, expected", [(5, 4), (7, 8), (3, 4), (6, 6), (768, 768)])
def test_num_frames_rounds_half_to_even(num_frames, expected):
    assert frame_count(1000, 25.0, FrameSettings(sampling="qwen-vl-utils", num_frames=num_frames), 2) == expected


def test_window_frames_follow_ceil_start_and_floor_end():
    assert frame_window(750, 25.0, 10.0, 20.0) == (250, 500)
    assert frame_window(750, 25.0, 3.33, None) == (84, 749)  # ceil(83.25)
    assert frame_window(750, 25.0, None, 99.0) == (0, 749)  # end clamped to the video


@pytest.mark.parametrize("kw, needle", [
    ({"num_frames": 1}, r"num_frames 1 rounds to 0, outside qwen-vl-utils' range \[2, 750\]"),
    ({"num_frames": 800}, "rounds to 800, outside"),
    ({"start": 10.0, "end": 10.01}, "needs two frames or more"),
    ({"min_pixels": 300000, "max_pixels": 300001, "total_pixels": 10**6}, None),  # cap 315000 -> fine
    ({"max_pixels": 50000}, "min_pixels .* is above the per-frame cap"),
])
def test_out_of_range_requests_are_refused_in_one_line(kw, needle):
    meta = {"duration": 30.0, "fps": 25.0, "width": 320, "height": 180, "num_frames": 750}
    s = FrameSettings(sampling="qwen-vl-utils", **kw)
    if needle is None:
        assert plan(meta, "qwen2_5_vl", s).frames == 60
        return
    with pytest.raises(MmlongError, match=needle) as err:
        plan(meta, "qwen2_5_vl", s)
    assert "\n" not in str(err.value)


def test_a_budget_is_qwen_vl_utils_total_pixels_in_tokens():
    meta = {"duration": 600.0, "fps": 10.0, "width": 640, "height": 360, "num_frames": 6000}
    by_budget = plan(meta, "qwen2_5_vl", FrameSettings(sampling="qwen-vl-utils", budget="24k"))
    by_pixels = plan(meta, "qwen2_5_vl", FrameSettings(sampling="qwen-vl-utils", total_pixels=24576 * 28 * 28))
    assert by_budget.timestamps == by_pixels.timestamps and by_budget.total_tokens == by_pixels.total_tokens
    # 768 frames: cap max(min(602112, 19267584 / 768 * 2), int(1.05 * 100352)) = 105369 px -> 224x420, 120
    # tokens x 384 patches: qwen-vl-utils' per-frame floor exceeds the budget (mmlong's policy would drop frames)
    assert (by_budget.frames, by_budget.height, by_budget.width, by_budget.total_tokens) == (768, 224, 420, 46080)


# -- decoding and the model inputs ----------------------------------------------------------
@pytest.fixture(scope="module")
def short_video(tmp_path_factory):
    """The table's 30 s 10 fps 64x96 video, written again the same way."""
    from mmlong.data.synth_video import write_test_video

    return write_test_video(tmp_path_factory.mktemp("qvu") / "s30_f10_64x96.mp4", seconds=30, fps=10,
                            size=(64, 96), gop=50)


def _reference_frames(path, indices) -> np.ndarray:
    """A plain PyAV decode of every frame, kept at ``indices`` (the frames a reader by index returns)."""
    import av

    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return np.stack([frames[i] for i in indices])


@pytest.mark.parametrize("ele", [{}, {"nframes": 7}, {"video_start": 3.3, "video_end": 17.9}, {"fps": 4.0}])
def test_decoded_frames_are_the_frames_at_qwen_vl_utils_indices(short_video, ele):
    from mmlong.data.synth_video import read_frame_index
    from mmlong.video.sampling import decode_at

    case = next(c for c in TABLE["cases"] if c["video"] == "s30_f10_64x96" and c["ele"] == ele
                and c["family"] == "qwen2_5_vl")
    p = plan(short_video.path, "qwen2_5_vl", settings_of(ele))
    assert p.source["num_frames"] == case["source"]["num_frames"] and p.source["fps"] == case["source"]["fps"]
    assert [round(t * 10) for t in p.timestamps] == case["indices"]
    clip = decode_at(short_video.path, p.timestamps)  # before resizing
    ref = _reference_frames(short_video.path, case["indices"])
    assert np.abs(clip.frames.astype(np.int16) - ref).mean() <= 2  # within 2/255 mean absolute difference
    assert [read_frame_index(f) for f in clip.frames] == case["indices"]
    np.testing.assert_allclose(clip.timestamps, np.array(case["indices"]) / 10, atol=1e-6)


def test_the_model_is_told_qwen_vl_utils_second_per_grid_ts(short_video):
    import mmlong

    pipe = mmlong.load("tiny:qwen2_5_vl", sampling="qwen-vl-utils", num_frames=8, max_new_tokens=1)
    inputs = pipe.inputs("What?", video=short_video.path)
    case_spg = 2 / (8 / 300 * 10)  # tps / (n / total * fps) = 7.5 s, not 2 x the frames' spacing (8.54 s)
    assert float(inputs["second_per_grid_ts"][0]) == pytest.approx(case_spg, rel=1e-6)
    assert inputs["video_grid_thw"].tolist() == [[4, 20, 28]]  # smart_resize(64, 96) -> 280x392 (floor 100352 px)
    assert [round(t * 10) for t in inputs["video_timestamps"][0]] == frame_indices(0, 299, 8)
    clip = sample_planned(short_video.path, plan(short_video.path, pipe, pipe.config.frames))
    assert clip.second_per_grid_ts == pytest.approx(case_spg)


def test_plan_and_ask_take_the_sampling_flag(short_video, capsys):
    from mmlong.cli import main

    flags = ["--sampling", "qwen-vl-utils", "--num-frames", "6", "--total-pixels", "200000"]
    assert main(["plan", str(short_video.path), "--model", "tiny:qwen2_5_vl", "--json", *flags]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned["settings"]["sampling"] == "qwen-vl-utils" and planned["settings"]["total_pixels"] == 200000
    assert [round(t * 10) for t in planned["timestamps"]] == frame_indices(0, 299, 6)
    assert planned["second_per_grid_ts"] == pytest.approx(2 / (6 / 300 * 10))
    assert main(["ask", str(short_video.path), "What?", "--model", "tiny:qwen2_5_vl", "--max-new-tokens", "1",
                 "--json", *flags]) == 0
    asked = json.loads(capsys.readouterr().out)
    assert asked["config"]["plan"]["timestamps"] == planned["timestamps"]
    assert asked["tokens"]["video"] == planned["total_tokens"]
