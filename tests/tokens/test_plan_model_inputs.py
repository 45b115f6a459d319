"""A Clip becomes model inputs with true times, and those times reach the position ids.

Through ``mmlong.load("tiny:...")`` + ``Pipeline.ask`` on a variable-frame-rate video, the
patched ``get_rope_index`` is intercepted: Qwen2.5-VL video t ids follow the frames' real
pts (``p + floor((t_2k - t_0) * tokens_per_second)``), not ``k * second_per_grid_ts``;
Qwen3-VL's timestamp strings are the real patch times.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import mmlong
from mmlong.models.families import inner_model
from mmlong.pos_encodings.patch import current


@pytest.fixture(scope="module")
def vfr_clip(tmp_path_factory):
    from mmlong.video import sample
    from mmlong.data.synth_video import write_test_video

    v = write_test_video(tmp_path_factory.mktemp("vfr") / "vfr.mp4", seconds=6, fps=10, vfr=True, size=(64, 64))
    clip = sample(v.path, num_frames=8)
    assert set(np.round(np.diff(v.timestamps), 3)) == {0.1, 0.3}  # really variable frame rate
    return clip


def _spy(pipe):
    inner, calls = inner_model(pipe.model), []
    orig = inner.get_rope_index

    def spy(*args, **kwargs):
        out = orig(*args, **kwargs)
        calls.append({"args": args, "kwargs": kwargs, "out": out,
                      "stamps": current(pipe.model).extra.get("video_timestamps")})
        return out

    inner.get_rope_index = spy
    return calls


def test_qwen2_5_vl_positions_use_true_times(vfr_clip):
    pipe = mmlong.load("tiny:qwen2_5_vl", max_new_tokens=2)
    calls = _spy(pipe)
    pipe.ask("What happens?", video=vfr_clip)
    assert len(calls) >= 1
    c = calls[0]
    ts = vfr_clip.timestamps
    np.testing.assert_allclose(c["stamps"][0], ts)  # the timestamps reached the scheme
    spg = float(c["kwargs"]["second_per_grid_ts"][0])
    assert spg == pytest.approx(2 * (ts[-1] - ts[0]) / (len(ts) - 1), rel=1e-6)  # tps * mean interval
    pos, _ = c["out"]
    types = c["kwargs"]["mm_token_type_ids"][0]
    t_ids = pos[0, 0, types == 2].reshape(4, -1)  # (temporal patches, tokens per patch)
    assert bool((t_ids == t_ids[:, :1]).all())
    offsets = (t_ids[:, 0] - t_ids[0, 0]).tolist()
    true = [math.floor((ts[2 * k] - ts[0]) * 2 + 1e-4) for k in range(4)]
    uniform = [math.floor(k * spg * 2 + 1e-4) for k in range(4)]
    assert offsets == true and true != uniform  # real pts, not index * interval


def test_qwen3_vl_timestamp_text_uses_true_times(vfr_clip):
    pipe = mmlong.load("tiny:qwen3_vl", max_new_tokens=2)
    calls = _spy(pipe)
    pipe.ask("What happens?", video=vfr_clip)
    ids = calls[0]["args"][0] if calls[0]["args"] else calls[0]["kwargs"]["input_ids"]
    text = pipe.tokenizer.decode(ids[0])
    got = [float(x) for x in re.findall(r"<([\d.]+) seconds>", text)]
    ts = vfr_clip.timestamps
    assert got == [round((ts[2 * k] + ts[2 * k + 1]) / 2 + 1e-9, 1) for k in range(4)]
    assert "second_per_grid_ts" not in calls[0]["kwargs"] or calls[0]["kwargs"]["second_per_grid_ts"] is None


def test_build_inputs_from_a_clip_carries_padded_times():
    from mmlong.models.tiny import tiny_spec, tiny_tokenizer
    from mmlong.models.vision_inputs import build_inputs
    from mmlong.video.sampling import Clip

    frames = np.zeros((5, 64, 64, 3), np.uint8)
    clip = Clip.from_frames(frames, [0.0, 0.5, 2.0, 2.25, 4.0])
    inp = build_inputs("qwen2_5_vl", tiny_tokenizer(), tiny_spec("qwen2_5_vl"), "q", videos=[clip])
    assert inp["video_timestamps"] == [[0.0, 0.5, 2.0, 2.25, 4.0, 4.0]]  # odd count padded by repeating
    assert inp["video_grid_thw"][0, 0] == 3
    assert float(inp["second_per_grid_ts"][0]) == pytest.approx(2 * 4.0 / 4)
