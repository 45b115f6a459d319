"""FrameSettings: one set of defaults and flags, resolved the same by every entry point."""

from __future__ import annotations

import pytest

from mmlong.cli import build_parser
from mmlong.video.settings import BUDGET_MAX_FRAMES, DEFAULT_FPS, DEFAULT_MAX_FRAMES, FrameSettings, from_args

FLAGS = ["--fps", "2", "--max-frames", "12", "--budget", "8k", "--start", "1", "--end", "9", "--min-frames", "6",
         "--max-pixels", "40000"]
EXPECTED = FrameSettings(fps=2.0, max_frames=12, budget=8192, start=1.0, end=9.0, min_frames=6, max_pixels=40000)


def _parse(*argv):
    return build_parser().parse_args(list(argv))


def _entry_points(flags: list[str]) -> dict:
    """The FrameSettings each entry point resolves for the same command-line flags."""
    import mmlong.api
    from mmlong.cli import _load_kwargs
    from mmlong.eval.cli import config_from_args

    ask = _parse("ask", "v.mp4", "q", "--model", "tiny:qwen2_5_vl", *flags)
    return {
        "ask": from_args(ask),
        "ask -> mmlong.load": mmlong.api.resolve(ask.model, **_load_kwargs(ask)).frames,
        "plan": from_args(_parse("plan", "v.mp4", "--model", "tiny:qwen2_5_vl", *flags)),
        "eval": config_from_args(_parse("eval", "--model", "tiny:qwen2_5_vl", "--tasks", "mmneedle", *flags)).frames,
        "sparse search": from_args(_parse("sparse", "search", "--model", "tiny:qwen2_5_vl", "--sample", "v.mp4",
                                          "--out", "p.json", *flags)),
    }


def test_every_entry_point_resolves_the_same_settings():
    got = _entry_points(FLAGS)
    assert got == dict.fromkeys(got, EXPECTED)
    import mmlong.api

    api = mmlong.api.resolve("tiny:qwen2_5_vl", fps=2, max_frames=12, budget="8k", start=1, end=9, min_frames=6,
                             max_pixels=40000)
    assert api.frames == EXPECTED


def test_defaults_are_declared_once_and_agree_everywhere():
    got = _entry_points([])
    assert got == dict.fromkeys(got, FrameSettings())
    s = FrameSettings()
    assert (s.rate, s.frame_cap, s.budget) == (DEFAULT_FPS, DEFAULT_MAX_FRAMES, None) == (1.0, 64, None)
    assert FrameSettings(budget="16k").frame_cap == BUDGET_MAX_FRAMES == 768


def test_old_frames_flag_still_works_with_a_warning(capsys):
    args = _parse("ask", "v.mp4", "q", "--frames", "5")
    assert from_args(args) == FrameSettings(num_frames=5)
    assert "--frames is deprecated" in capsys.readouterr().err


def test_lmms_eval_model_args_reach_the_frame_settings():
    from mmlong.eval.cli import config_from_args

    cfg = config_from_args(_parse("eval", "--tasks", "mmneedle", "--model_args",
                                  "pretrained=tiny:qwen2_vl,max_num_frames=16,fps=0.5"))
    assert cfg.model == "tiny:qwen2_vl" and cfg.frames == FrameSettings(max_frames=16, fps=0.5)


@pytest.mark.parametrize("flags, needle", [
    (["--fps", "2", "--num-frames", "4"], "pass fps or num_frames, not both"),
    (["--num-frames", "0"], "num_frames must be an integer >= 1"),
    (["--start", "9", "--end", "1"], "start (9.0) is after end (1.0)"),
    (["--budget", "lots"], "positive count"),
])
def test_bad_frame_flags_are_one_line_errors(flags, needle, tmp_path, capsys):
    from mmlong.cli import main
    from mmlong.data.synth_video import write_test_video

    video = write_test_video(tmp_path / "v.mp4", seconds=2, fps=5, size=(64, 64)).path
    for argv in (["ask", str(video), "q", "--model", "tiny:qwen2_vl"], ["plan", str(video), "--model", "tiny:qwen2_vl"]):
        assert main([*argv, *flags]) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1 and err.startswith("mmlong: error:")


def test_the_demo_panel_resolves_what_the_same_flags_resolve():
    from mmlong.demo.settings import from_page, page_defaults

    d = page_defaults()
    page = lambda budget, fps, frames: from_page("direct", "native", budget, fps, frames, "off", "off",  # noqa: E731
                                                  routes=("direct", "silvr")).frames
    cli = lambda *flags: _entry_points(list(flags))["ask -> mmlong.load"]  # noqa: E731
    assert page(d["budget"], d["fps"], d["max_frames"]) == cli() == FrameSettings()
    assert page("8k", 2, 12) == cli("--budget", "8k", "--fps", "2", "--max-frames", "12")
    assert page("8k", d["fps"], 768) == cli("--budget", "8k")  # the slider at the budget's default cap: not set
    assert page("off", 1.0, 100) == cli("--max-frames", "100")


QVU_FLAGS = ["--sampling", "qwen-vl-utils", "--fps", "1", "--min-frames", "8", "--total-pixels", "19267584",
             "--resized-height", "200", "--resized-width", "300", "--max-pixels", "200704"]
QVU = FrameSettings(sampling="qwen-vl-utils", fps=1.0, min_frames=8, total_pixels=19267584, resized_height=200,
                    resized_width=300, max_pixels=200704)


def test_qwen_vl_utils_options_reach_every_entry_point():
    got = _entry_points(QVU_FLAGS)
    assert got == dict.fromkeys(got, QVU)
    assert QVU.fps == 1.0 and QVU.rate == 1.0  # 1 fps is not this policy's default, so it is kept
    import mmlong.api

    api = mmlong.api.resolve("tiny:qwen2_5_vl", sampling="qwen-vl-utils", fps=1, min_frames=8, total_pixels=19267584,
                             resized_height=200, resized_width=300, max_pixels=200704)
    assert api.frames == QVU
    from mmlong.eval.cli import config_from_args

    cfg = config_from_args(_parse("eval", "--tasks", "mmneedle", "--model_args",
                                  "pretrained=tiny:qwen2_vl,sampling=qwen-vl-utils,total_pixels=1000000,min_frames=2"))
    assert cfg.frames == FrameSettings(sampling="qwen-vl-utils", total_pixels=1000000, min_frames=2)


def test_qwen_vl_utils_defaults_are_its_own():
    s = FrameSettings(sampling="qwen-vl-utils")
    assert (s.rate, s.frame_cap, s.min_frames) == (2.0, 768, 4)
    assert FrameSettings(sampling="qwen-vl-utils", fps=2.0) == s and FrameSettings(fps=2.0).fps == 2.0
    assert "sampling qwen-vl-utils" in s.describe()


@pytest.mark.parametrize("kw, needle", [
    ({"total_pixels": 10**6}, "total_pixels are qwen-vl-utils options; add --sampling qwen-vl-utils"),
    ({"resized_height": 100, "resized_width": 100}, "resized_height, resized_width are qwen-vl-utils options"),
    ({"sampling": "qwen-vl-utils", "resized_height": 100}, "pass resized_height and resized_width together"),
    ({"sampling": "qwen-vl-utils", "total_pixels": 0}, "total_pixels must be an integer >= 1"),
])
def test_qwen_vl_utils_options_are_checked_in_one_line(kw, needle):
    from mmlong.errors import MmlongError

    with pytest.raises(MmlongError, match=needle) as err:
        FrameSettings(**kw)
    assert "\n" not in str(err.value)
