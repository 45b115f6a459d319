"""sampling="lmms-eval" / "lmms-eval-chat": the frames, sizes and second_per_grid_ts lmms-eval 0.7.3's
Qwen2.5-VL wrappers hand the model.

``lmms_eval_0_7_3.json`` was made outside the project by running the wrappers' own frame
arithmetic (``lmms_eval/models/simple/qwen2_5_vl.py``: qwen-vl-utils at its defaults, then
``np.unique(np.linspace(0, n - 1, max_num_frames, dtype=int))`` plus the last; ``chat/qwen2_5_vl.py``:
``nframes = min(max_num_frames, N)`` floored to even) with qwen-vl-utils 0.0.14's ``smart_nframes``
and ``smart_resize`` on each video's metadata, and ``second_per_grid_ts`` = ``2 / sampled_fps`` of
transformers 5.24's ``VideoMetadata`` built as the wrapper leaves it (simple: no metadata; chat:
qwen-vl-utils' ``fps``, ``frames_indices``, ``total_num_frames``). Videos: 8 s, 30 s, 10 min, 60 min
at 5 to 30 fps, each wrapper at its defaults, ``max_num_frames=16`` and ``max_num_frames=64`` with
other pixel bounds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlong.errors import MmlongError
from mmlong.tokens.lmms_sampling import chat_nframes, keep_indices
from mmlong.tokens.planner import plan
from mmlong.video.settings import FrameSettings

TABLE = json.loads((Path(__file__).parent / "lmms_eval_0_7_3.json").read_text())
POLICY = {"simple": "lmms-eval", "chat": "lmms-eval-chat"}


def _settings(case) -> FrameSettings:
    o = case["opts"]
    return FrameSettings(sampling=POLICY[case["wrapper"]], num_frames=o.get("max_num_frames"),
                         min_pixels=o.get("min_pixels"), max_pixels=o.get("max_pixels"))


def _id(case) -> str:
    return f"{case['wrapper']}-{case['video']}-" + (",".join(f"{k}={v}" for k, v in case["opts"].items()) or "defaults")


@pytest.mark.parametrize("case", TABLE["cases"], ids=_id)
def test_same_frames_times_sizes_and_second_per_grid_as_lmms_evals_wrappers(case):
    src = case["source"]
    p = plan({**src, "duration": src["num_frames"] / src["fps"]}, "qwen2_5_vl", _settings(case))
    assert [round(t * src["fps"]) for t in p.timestamps] == case["indices"]
    assert p.timestamps == tuple(i / src["fps"] for i in case["indices"])  # frame i is decoded at i / fps
    assert (p.height, p.width) == (case["height"], case["width"])
    assert p.second_per_grid_ts == pytest.approx(case["second_per_grid_ts"], rel=1e-12)


def test_the_table_covers_both_wrappers_short_and_long_videos():
    cases = TABLE["cases"]
    assert {c["wrapper"] for c in cases} == {"simple", "chat"} and len(cases) == 42
    simple = {c["video"]: c for c in cases if c["wrapper"] == "simple" and not c["opts"]}
    assert len(simple["m60_f25_48x64"]["indices"]) == 32 and simple["m60_f25_48x64"]["indices"][-1] == 89999
    assert len(simple["s8_f10_64x96"]["indices"]) == 16  # 8 s at 2 fps: fewer than 32, all kept
    assert simple["s30_f25_180x320"]["second_per_grid_ts"] == pytest.approx(2 / 24)


def test_the_wrappers_index_rules_on_hand_built_counts():
    assert keep_indices(120)[:8] == [0, 3, 7, 11, 15, 19, 23, 26] and keep_indices(120)[-2:] == [115, 119]
    assert len(keep_indices(768)) == 32 and keep_indices(20) == list(range(20))
    assert keep_indices(33, 16) == [0, 2, 4, 6, 8, 10, 12, 14, 17, 19, 21, 23, 25, 27, 29, 32]
    assert [chat_nframes(n) for n in (1, 2, 31, 32, 900)] == [2, 2, 30, 32, 32]


def test_options_the_wrappers_lack_are_refused_in_one_line():
    meta = {"num_frames": 750, "fps": 25.0, "height": 180, "width": 320, "duration": 30.0}
    for bad in ({"budget": "16k"}, {"start": 2.0}, {"fps": 4.0}, {"max_frames": 8}):
        with pytest.raises(MmlongError, match="lmms-eval's Qwen2.5-VL wrapper, which has no"):
            plan(meta, "qwen2_5_vl", FrameSettings(sampling="lmms-eval", **bad))


def test_longvideobench_frames_model_shows_lmms_evals_frames(tmp_path):
    """longvideobench_val_v with frames=model: the pipeline under sampling="lmms-eval" builds the inputs
    from lmms-eval's frames (2 fps over 30 s = 60, 32 of them kept) and tells the model 2 / 24 s per grid."""
    import mmlong
    from mmlong.data.benchmark_files import write_longvideobench
    from mmlong.eval.tasks import get_task
    from mmlong.tokens.qwen_sampling import frame_indices

    root = write_longvideobench(tmp_path / "LongVideoBench", n=1, seconds=(30,), fps=10)
    task = get_task("longvideobench_val_v", data_dir=str(root), frames="model")
    req = task.request(task.docs()[0])
    assert isinstance(req.video, str) and req.video.endswith("vid0.mp4")
    pipe = mmlong.load("tiny:qwen2_5_vl", sampling="lmms-eval", device="cpu")
    inputs = pipe.inputs(req.text, video=req.video)
    expected = [frame_indices(0, 299, 60)[k] / 10 for k in keep_indices(60)]
    assert len(expected) == 32 and inputs["video_timestamps"][0] == pytest.approx(expected, abs=1e-6)
    assert inputs["second_per_grid_ts"].tolist() == pytest.approx([2 / 24])
    assert inputs["video_grid_thw"][0, 0].item() == 16
    from mmlong.eval import EvalConfig, evaluate

    run = evaluate(EvalConfig(model="tiny:qwen2_5_vl", tasks=("longvideobench_val_v",), data_dirs={"*": str(root)},
                              task_options={"longvideobench_val_v": {"frames": "model"}},
                              frames={"sampling": "lmms-eval"}, max_new_tokens=1, output_path=str(tmp_path / "runs"),
                              log_samples=True), echo=False)
    (sample,) = [json.loads(line) for line in open(tmp_path / "runs" / "tiny__qwen2_5_vl"
                                                   / run["files"]["longvideobench_val_v"]["samples"])]
    assert sample["error"] is None and sample["input_media"]["frame_times"] == [round(t, 4) for t in expected]
    with pytest.raises(MmlongError, match="frames=model applies to the _v tasks"):
        get_task("longvideobench_val_i", data_dir=str(root), frames="model")
