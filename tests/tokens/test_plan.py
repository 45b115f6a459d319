"""Frame planner: hand-computed plans, invariants, caps, memory, decode-free planning; FrameSettings."""

from __future__ import annotations

import itertools
import math

import pytest

from mmlong.errors import MmlongError
from mmlong.models.vision_inputs import smart_resize
from mmlong.tokens.planner import fit_resolution, frame_count, parse_tokens, plan
from mmlong.video.settings import FrameSettings

META = {"duration": 60.0, "fps": 30.0, "width": 640, "height": 360}


# -- parsing and validation -------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [
    (16384, 16384), ("16k", 16384), ("64k", 65536), ("256K", 262144), ("1.5k", 1536), ("4096", 4096),
    ("1M", 1048576), (" 8k ", 8192),
])
def test_parse_tokens(value, expected):
    assert parse_tokens(value) == expected


@pytest.mark.parametrize("bad", [0, -5, "0", "abc", "64q", None, True, 3.5, "k"])
def test_parse_tokens_rejects(bad):
    with pytest.raises(MmlongError, match="positive count"):
        parse_tokens(bad)


@pytest.mark.parametrize("kw, needle", [
    ({"max_frames": 0}, "max_frames"), ({"fps": 0}, "fps"), ({"min_frames": 1.5}, "min_frames"),
    ({"min_pixels": 10, "max_pixels": 5}, "above"), ({"max_pixels": -1}, "max_pixels"),
    ({"fps": 2, "num_frames": 4}, "not both"), ({"num_frames": 0}, "num_frames"), ({"start": 5, "end": 1}, "after"),
    ({"sampling": "nope"}, "unknown sampling"), ({"budget": "abc"}, "positive count"), ({"fps": "x"}, "fps"),
])
def test_settings_validation_is_one_line(kw, needle):
    with pytest.raises(MmlongError, match=needle) as err:
        FrameSettings(**kw)
    assert "\n" not in str(err.value)


def test_settings_of_accepts_dicts_and_overrides():
    assert FrameSettings(budget="64k").budget == 65536
    assert FrameSettings.of({"budget": "8k", "fps": 1.0}) == FrameSettings(budget=8192, fps=1.0)
    s = FrameSettings.of(FrameSettings(fps=2.0, budget=100), num_frames=8, max_frames=None)
    assert (s.fps, s.num_frames, s.rate, s.frame_cap) == (None, 8, None, 768)  # num_frames replaces fps
    assert FrameSettings.of(s, fps=0.5).num_frames is None  # and fps replaces num_frames
    assert (FrameSettings().rate, FrameSettings().frame_cap, FrameSettings(budget=1).frame_cap) == (1.0, 64, 768)
    with pytest.raises(MmlongError, match="unknown frame setting"):
        FrameSettings.of({"tokens": 5})


# -- hand-computed plans ------------------------------------------------------------------
def test_worked_example_from_the_docstring():
    # 120 frames wanted; 128-token minimum per patch -> 4096 // 128 = 32 patches = 64 frames;
    # cap 4096*784/32 = 100352 px; smart_resize(360, 640) -> 224x420 = 120 tokens; 32*120 = 3840.
    p = plan(META, "qwen2_5_vl", 4096, fps=2.0)
    assert (p.frames, p.height, p.width, p.tokens_per_frame) == (64, 224, 420, 120)
    assert (p.temporal_patches, p.total_tokens, p.max_pixels, p.min_pixels) == (32, 3840, 100352, 100352)
    assert smart_resize(360, 640, 28, 100352, 100352) == (224, 420)
    assert p.timestamps[0] == pytest.approx(60 / 64 / 2) and len(p.timestamps) == 64


def test_large_budget_is_limited_by_the_per_frame_maximum():
    # 10 s 1080p at fps 2: 20 frames; per-frame cap 768 tokens = 602112 px.
    # round: 1092x1932 too big; beta = sqrt(1080*1920/602112) = 1.8558 ->
    # h = floor(1080/1.8558/28)*28 = 560, w = floor(1920/1.8558/28)*28 = 1008 -> 720 tokens.
    p = plan({"duration": 10.0, "fps": 30.0, "width": 1920, "height": 1080}, "qwen2_5_vl", "256k", fps=2.0)
    assert (p.frames, p.height, p.width, p.tokens_per_frame, p.total_tokens) == (20, 560, 1008, 720, 7200)
    assert p.max_pixels == 602112


def test_max_frames_and_budget_together():
    # 1000 s: fps gives 2000 -> max_frames 768; 16k / 128 = 128 patches -> 256 frames at 224x420.
    p = plan({"duration": 1000.0, "fps": 30.0, "width": 640, "height": 360}, "qwen2_5_vl", "16k", fps=2.0)
    assert (p.frames, p.height, p.width, p.total_tokens) == (256, 224, 420, 15360)
    big = plan({"duration": 1000.0, "fps": 30.0, "width": 640, "height": 360}, "qwen2_5_vl", "1M", fps=2.0)
    assert big.frames == 768


def test_explicit_min_and_max_pixels_per_frame():
    b = FrameSettings(budget="64k", min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 64)
    p = plan(META, "qwen2_5_vl", b)
    assert p.height * p.width <= 28 * 28 * 64 and p.tokens_per_frame == (p.height // 28) * (p.width // 28)
    assert (p.height, p.width) == smart_resize(360, 640, 28, 28 * 28 * 4, 28 * 28 * 64)


def test_fps_cap_and_source_frame_cap():
    assert plan(META, "qwen2_5_vl", "1M", fps=1.0).frames == 60
    assert plan(META, "qwen2_5_vl", "1M", fps=0.05).frames == 4  # 3 frames -> min_frames 4
    short = {"duration": 2.0, "fps": 5.0, "width": 640, "height": 360}  # 10 source frames
    assert plan(short, "qwen2_5_vl", "1M", fps=30.0).frames == 10
    assert plan(META, "qwen2_5_vl", "1M").frames == 60  # the default rate is 1 fps
    assert plan(META, "qwen2_5_vl", "1M", num_frames=7).frames == 6  # even for temporal patches


@pytest.mark.parametrize("span, src_fps, fps, expected", [
    (60, 30, 2, 120), (1000, 30, 2, 768), (1.5, 2, 2, 2), (0.01, 30, 2, 1), (3.0, 30, 0.1, 4),
])
def test_frame_count_rule(span, src_fps, fps, expected):
    assert frame_count(span, src_fps, FrameSettings(budget=10**6, fps=fps), 2) == expected


def test_one_frame_video_and_too_small_budget():
    one = {"duration": 1 / 30, "fps": 30.0, "width": 64, "height": 64}
    p = plan(one, "qwen2_vl", 1024)
    assert (p.frames, p.temporal_patches) == (1, 1) and p.total_tokens <= 1024
    with pytest.raises(MmlongError, match="cannot hold one") as err:
        plan(META, "qwen2_5_vl", 100)
    assert "\n" not in str(err.value)
    with pytest.raises(MmlongError, match="cannot hold one"):
        fit_resolution(360, 640, 10, 10, 28, 2, 100352, 602112)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl", "tiny:qwen2_5_vl", "tiny:qwen3_vl"])
def test_invariants_over_a_grid(family):
    from mmlong.models.hub import describe

    model = describe(family)  # resolved once: tiny configs are rebuilt on every call otherwise
    for budget, dur, (h, w), fps in itertools.product(
            [1024, "16k", "64k", "256k"], [0.5, 7.3, 95.0, 3600.0], [(360, 640), (1080, 1920), (720, 406), (64, 64)],
            [0.5, 2.0, 8.0]):
        p = plan({"duration": dur, "fps": 25.0, "width": w, "height": h}, model, budget, fps=fps)
        f = p.factor
        assert p.height % f == 0 and p.width % f == 0
        assert p.total_tokens == p.temporal_patches * p.tokens_per_frame <= p.budget
        assert p.temporal_patches == math.ceil(p.frames / 2) and 1 <= p.frames <= 768
        assert p.frames <= max(1, round(dur * 25)) and p.height * p.width <= p.max_pixels
        assert p.frames <= max(p.settings.min_frames, math.floor(dur * fps)) or p.frames == 1
        assert p.frames % 2 == 0 or p.frames == 1
        assert list(p.timestamps) == sorted(p.timestamps) and 0 <= p.timestamps[0] <= dur


def test_qwen3_geometry():
    p = plan(META, "qwen3_vl", 4096)
    assert p.factor == 32 and p.height % 32 == 0 and p.total_tokens <= 4096
    assert (p.height, p.width) == smart_resize(360, 640, 32, p.min_pixels, p.max_pixels)


# -- memory ---------------------------------------------------------------------------------
def test_kv_cache_formula_on_a_locally_built_7b_config():
    import transformers as T

    cfg = T.Qwen2_5_VLConfig(
        text_config=dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                         num_key_value_heads=4, vocab_size=152064),
        vision_config=dict(hidden_size=1280, intermediate_size=3420, out_hidden_size=3584, depth=32, num_heads=16))
    p = plan(META, cfg, "16k", text_tokens=100, max_new_tokens=28)
    m = p.memory
    assert m.seq_len == p.total_tokens + 2 + 100 + 28
    assert m.kv_cache_bytes == 2 * 28 * 4 * 128 * 2 * m.seq_len  # bf16
    assert (m.layers, m.kv_heads, m.head_dim) == (28, 4, 128)
    eager = plan(META, cfg, "16k", text_tokens=100, max_new_tokens=28, attn_implementation="eager",
                 dtype="float32").memory
    assert eager.kv_cache_bytes == 2 * m.kv_cache_bytes and eager.activation_bytes > 28 * m.seq_len**2 * 4
    assert "KV cache" in p.summary() and p.as_dict()["memory"]["total_bytes"] == m.total_bytes


def test_memory_needs_a_config():
    assert plan(META, "qwen2_5_vl", "16k").memory is None  # a family name: no config
    tiny = plan(META, "tiny:qwen3_vl", "16k")  # tiny configs are built locally
    assert tiny.memory is not None and tiny.memory.seq_len == tiny.total_tokens + 9 * tiny.temporal_patches + 128 + 128
    with pytest.raises(MmlongError, match="dtype"):
        plan(META, "tiny:qwen2_vl", "16k", dtype="int3")


def test_unknown_model_is_one_line():
    with pytest.raises(MmlongError, match="unsupported model family") as err:
        plan(META, "not-a-model/xyz", "16k")
    assert "\n" not in str(err.value)
