"""Slot maps and per-axis extensions (PI, NTK, YaRN, M-RoPE++, HoPE, VideoRoPE) pinned to hand-computed numbers."""

import math

import pytest
import torch

from conftest import make_config
from mmlong.errors import MmlongError
from mmlong.pos_encodings import frequencies
from mmlong.pos_encodings.frequencies import slot_axes

Q2_FULL = dict(head_dim=128, theta=1e6, sections=[16, 24, 24], max_pos=32768)


def test_chunked_qwen2_map():
    axis, inv, att = frequencies("native", make_config("qwen2_vl", **Q2_FULL))
    assert axis[:16].eq(0).all() and axis[16:40].eq(1).all() and axis[40:].eq(2).all()
    assert att == 1.0 and torch.allclose(inv, 1e6 ** (-torch.arange(64) * 2 / 128.0))


def test_interleaved_qwen3_map():
    axis, _, _ = frequencies("native", make_config("qwen3_vl", head_dim=128, theta=5e6, sections=[24, 20, 20]))
    assert axis[1:60:3].eq(1).all() and axis[2:60:3].eq(2).all()
    assert axis[0:60:3].eq(0).all() and axis[60:].eq(0).all()
    assert [int((axis == a).sum()) for a in range(3)] == [24, 20, 20]


def test_interleaved_on_qwen2_uses_balanced_sections():
    axis, _, _ = frequencies("interleaved", make_config("qwen2_vl", **Q2_FULL))
    assert [int((axis == a).sum()) for a in range(3)] == [24, 20, 20]


def test_lta_and_hope_zero_t():
    axis, inv, _ = frequencies("videorope", make_config("qwen2_vl", **Q2_FULL))
    assert axis[0:48:2].eq(1).all() and axis[1:48:2].eq(2).all() and axis[48:].eq(0).all()
    assert (inv > 0).all()
    axis, inv, _ = frequencies("hope", make_config("qwen2_vl", **Q2_FULL))
    assert inv[48:].eq(0).all() and (inv[:48] > 0).all()


def test_yarn_bounds_and_temperature_qwen2_32k():
    axis, inv, att = frequencies("native", make_config("qwen2_vl", **Q2_FULL), scaling="yarn", factor=4.0)
    theta = 1e6 ** (-torch.arange(64) * 2 / 128.0)
    ratio = inv / theta
    assert torch.allclose(ratio[:24], torch.ones(24))  # slots 0..23 kept (ramp starts at 23)
    assert torch.allclose(ratio[40:], torch.full((24,), 0.25))  # 40.. interpolated
    assert (ratio[24:40] < 1).all() and (ratio[24:40] > 0.25).all()
    assert att == pytest.approx(0.1 * math.log(4) + 1) and att == pytest.approx(1.1386, abs=1e-4)


def test_yarn_equals_transformers_yarn_config():
    hf = make_config("qwen2_vl", **{**Q2_FULL, "max_pos": 131072}, rope_type="yarn", factor=4.0,
                     original_max_position_embeddings=32768)
    ours = frequencies("native", make_config("qwen2_vl", **Q2_FULL), scaling="yarn", factor=4.0,
                       original_max_position_embeddings=32768)
    ref = frequencies("native", hf)  # transformers' own init for the config's rope_type
    assert torch.allclose(ours[1], ref[1], rtol=1e-6) and ours[2] == pytest.approx(ref[2])


def test_dynamic_rope_type_warns_that_it_stays_static():
    """HF's run-time ("dynamic") NTK is not re-derived inside the patched rotary: say so, use its initial freqs."""
    hf = make_config("qwen2_vl", **Q2_FULL, rope_type="dynamic", factor=2.0)
    with pytest.warns(UserWarning, match="rescales frequencies at run time"):
        _, inv, att = frequencies("native", hf)
    assert torch.allclose(inv, frequencies("native", make_config("qwen2_vl", **Q2_FULL))[1]) and att == 1.0


def test_mrope_pp_r_ramp_anchors():
    _, inv, _ = frequencies("mrope_pp", make_config("qwen2_vl", **Q2_FULL), factor=4.0)
    theta = 1e6 ** (-torch.arange(64) * 2 / 128.0)
    scale = inv / theta
    got = [round(float(scale[i]), 2) for i in (16, 17, 20, 24, 30, 39)]
    assert got == [1.00, 0.85, 0.56, 0.38, 0.28, 0.25]
    assert torch.allclose(scale[:16], torch.ones(16)) and torch.allclose(scale[40:], torch.full((24,), 0.25))


def test_mrope_pp_linear_ramp_anchors():
    _, inv, _ = frequencies("mrope_pp", make_config("qwen2_vl", **Q2_FULL), factor=4.0, ramp="linear")
    scale = inv / (1e6 ** (-torch.arange(64) * 2 / 128.0))
    assert [round(float(scale[i]), 2) for i in (16, 17, 20, 24, 30, 39)] == [1.00, 0.97, 0.88, 0.75, 0.56, 0.28]


def test_mrope_pp_interleaved_ramp_ends_at_last_h_slot():
    axis, inv, _ = frequencies("mrope_pp", make_config("qwen3_vl", head_dim=128, theta=5e6, sections=[24, 20, 20]), factor=4.0)
    scale = inv / (5e6 ** (-torch.arange(64) * 2 / 128.0))
    h = torch.nonzero(axis == 1).flatten()
    assert scale[h[0]] == pytest.approx(1.0) and scale[h[-1]] == pytest.approx(0.25)
    assert torch.allclose(scale[axis == 0], torch.ones(int((axis == 0).sum())))
    assert torch.allclose(scale[axis == 2], torch.full((int((axis == 2).sum()),), 0.25))


def test_ntk_anchors():
    _, inv, _ = frequencies("native", make_config("qwen2_vl", **Q2_FULL), scaling="ntk", factor=4.0)
    div = (1e6 ** (-torch.arange(64) * 2 / 128.0)) / inv
    assert div[0] == pytest.approx(1.0)
    assert [round(float(div[i]), 2) for i in (16, 40, 63)] == [1.42, 2.41, 4.0]


def test_pi_on_selected_axes_only():
    axis, inv, _ = frequencies("native", make_config("qwen2_vl", **Q2_FULL), scaling="pi", factor=2.0,
                               scale_axes=("w",))
    theta = 1e6 ** (-torch.arange(64) * 2 / 128.0)
    assert torch.allclose(inv[axis != 2], theta[axis != 2]) and torch.allclose(inv[axis == 2], theta[axis == 2] / 2)


def test_slot_errors():
    with pytest.raises(MmlongError, match="sum to head_dim/2"):
        slot_axes("chunked", 64, (16, 24, 16))
    with pytest.raises(MmlongError, match="unknown scaling"):
        frequencies("native", make_config("qwen2_vl"), scaling="rope9")
    with pytest.raises(MmlongError, match="factor must be >= 1"):
        frequencies("native", make_config("qwen2_vl"), scaling="pi", factor=0.5)
