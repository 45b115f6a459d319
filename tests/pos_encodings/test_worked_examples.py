"""Each scheme's ids pinned, id by id, on one hand-built layout (text, two images, a video, text).

Layout (vision start/end tokens left out, as in the spec): 3 text; image LLM grid (1, 2, 3);
2 text; image (1, 1, 1); 2 text; video (3, 2, 2); 3 text. Processor grids are the LLM grids
with h, w doubled (merge size 2).
"""

import pytest
import torch

from conftest import IMG, TEXT, VID, make_config
from mmlong.errors import MmlongError
from mmlong.pos_encodings import position_ids

IMG_GRIDS = torch.tensor([[1, 4, 6], [1, 2, 2]])
VID_GRIDS = torch.tensor([[3, 4, 4]])


def spec_ids(ts_tokens: int = 0, frames: int = 3):
    """The hand-built sequence; with ts_tokens > 0 the video is split per frame (Qwen3-VL)."""
    ids = [TEXT] * 3 + [IMG] * 6 + [TEXT] * 2 + [IMG] + [TEXT] * 2
    if ts_tokens:
        for _ in range(frames):
            ids += [TEXT] * ts_tokens + [VID] * 4
    else:
        ids += [VID] * 12
    return torch.tensor([ids + [TEXT] * 3])


def run(scheme, family="qwen2_vl", ids=None, **kw):
    cfg = make_config(family)
    pos, delta = position_ids(scheme, spec_ids() if ids is None else ids, config=cfg,
                              image_grid_thw=IMG_GRIDS, video_grid_thw=VID_GRIDS, **kw)
    return pos[:, 0], delta[0, 0].item()


def test_mrope_spec_example():
    pos, delta = run("mrope")
    t, h, w = pos.tolist()
    assert t[:3] == h[:3] == w[:3] == [0, 1, 2]
    assert t[3:9] == [3] * 6 and h[3:9] == [3, 3, 3, 4, 4, 4] and w[3:9] == [3, 4, 5, 3, 4, 5]
    assert t[9:11] == [6, 7] and pos[:, 11].tolist() == [8, 8, 8] and t[12:14] == [9, 10]
    assert t[14:26] == [11] * 4 + [12] * 4 + [13] * 4
    assert h[14:26] == [11, 11, 12, 12] * 3 and w[14:26] == [11, 12, 11, 12] * 3
    assert t[26:] == h[26:] == w[26:] == [14, 15, 16]
    assert delta == 17 - 29


def test_abs_time_spec_example_2fps():
    # 2 fps: second_per_grid_ts = 2 / 2 = 1 s, tokens_per_second = 2 -> t step 2
    pos, delta = run("mrope_abs_time", "qwen2_5_vl", second_per_grid_ts=torch.tensor([1.0]))
    assert pos[0, 14:26].tolist() == [11] * 4 + [13] * 4 + [15] * 4
    assert pos[:, 26:].tolist() == [[16, 17, 18]] * 3
    assert delta == 19 - 29


def test_abs_time_fractional_spg_is_not_truncated():
    # 4 fps -> spg 0.5, interval 1 id per patch (int-cast-first bugs give 0)
    pos, _ = run("mrope_abs_time", "qwen2_5_vl", second_per_grid_ts=torch.tensor([0.5]))
    assert pos[0, 14:26].tolist() == [11] * 4 + [12] * 4 + [13] * 4
    # 3 fps -> spg 2/3: floor(k * 2/3 * 2) = 0, 1, 2
    pos, _ = run("mrope_abs_time", "qwen2_5_vl", second_per_grid_ts=torch.tensor([2 / 3]))
    assert pos[0, 14:26].tolist() == [11] * 4 + [12] * 4 + [13] * 4


def test_abs_time_from_vfr_timestamps():
    # frames at irregular times; patch k uses its first frame: 0, 1.5, 4.0 s -> ids +0, +3, +8
    stamps = [[0.0, 0.5, 1.5, 2.0, 4.0, 4.2]]
    pos, delta = run("mrope_abs_time", "qwen2_5_vl", video_timestamps=stamps)
    assert pos[0, 14:26].tolist() == [11] * 4 + [14] * 4 + [19] * 4
    assert pos[0, 26:].tolist() == [20, 21, 22]


def test_abs_time_without_time_info_is_a_clear_error():
    with pytest.raises(MmlongError, match="second_per_grid_ts"):
        run("mrope_abs_time", "qwen2_5_vl")


def test_qwen3_per_frame_spec_example():
    ids = spec_ids(ts_tokens=4)
    pos, delta = run("native", "qwen3_vl", ids=ids)
    t, h, w = pos.tolist()
    starts = [i for i in range(14, len(t)) if ids[0, i] == VID and ids[0, i - 1] != VID]
    assert [t[i] for i in starts] == [15, 21, 27]
    for s in starts:
        assert t[s : s + 4] == [t[s]] * 4 and h[s : s + 4] == [t[s], t[s], t[s] + 1, t[s] + 1]
    assert t[-3:] == [29, 30, 31] and delta == 32 - len(t)


def test_hope_spec_example_gamma_1_5():
    pos, delta = run("hope", gamma=1.5)
    t, h, w = pos.tolist()
    assert t[3:9] == [3] * 6 and sorted(set(h[3:9])) == [3, 4] and sorted(set(w[3:9])) == [2, 3, 4]
    assert t[9:11] == [4, 5] and pos[:, 11].tolist() == [6, 6, 6] and t[12:14] == [7, 8]
    assert t[14:26] == [9] * 4 + [10.5] * 4 + [12] * 4
    # 2x2 frame: centred offsets r - (H-1)//2 = r, so h = t + r
    assert h[14:18] == [9, 9, 10, 10] and w[14:18] == [9, 10, 9, 10]
    assert t[26:] == h[26:] == w[26:] == [13, 14, 15]
    assert delta == 16 - 29


def test_videorope_delta_2():
    pos, delta = run("videorope", delta=2.0)
    assert pos[0, 14:26].tolist() == [9] * 4 + [11] * 4 + [13] * 4
    assert pos[0, 26:].tolist() == [14, 15, 16]  # t_last + 1 (the released code's rule)


def test_hope_gamma_choices_are_seeded_per_item():
    a, _ = run("hope", gamma_choices=(0.5, 0.75, 1.0, 1.25, 1.5), seed=3)
    b, _ = run("hope", gamma_choices=(0.5, 0.75, 1.0, 1.25, 1.5), seed=3)
    assert torch.equal(a, b)
    step = a[0, 18] - a[0, 14]
    assert float(step) in (0.5, 0.75, 1.0, 1.25, 1.5)


def test_v2pe_fractional_visual_steps():
    pos, delta = run("v2pe", v2pe_delta=0.25)
    t = pos[0].tolist()
    assert torch.equal(pos[0], pos[1]) and torch.equal(pos[0], pos[2])
    assert t[3:9] == [3, 3.25, 3.5, 3.75, 4, 4.25]
    assert t[9] == 6  # ceil(4.25) + 1
    assert t[11] == 8 and t[12] == 9  # single-token image at 8, next text 9
    assert t[14:26] == [11 + 0.25 * i for i in range(12)] and t[26] == 15  # ceil(13.75) + 1


def test_interleaved_scheme_on_qwen2_uses_native_ids():
    a, _ = run("interleaved", "qwen2_5_vl", second_per_grid_ts=torch.tensor([1.0]))
    b, _ = run("native", "qwen2_5_vl", second_per_grid_ts=torch.tensor([1.0]))
    assert torch.equal(a, b)


@pytest.mark.parametrize("scheme", ["native", "mrope", "hope", "videorope", "v2pe", "interleaved", "mrope_pp"])
def test_text_only_is_1d(scheme):
    ids = torch.tensor([[TEXT] * 9])
    pos, delta = position_ids(scheme, ids, config=make_config("qwen2_vl"))
    assert pos[:, 0].tolist() == [list(range(9))] * 3 and delta.item() == 0


def test_grid_mismatch_errors():
    cfg = make_config("qwen2_vl")
    with pytest.raises(MmlongError, match="grid"):
        position_ids("native", spec_ids(), config=cfg, image_grid_thw=torch.tensor([[1, 4, 6], [1, 4, 4]]),
                     video_grid_thw=VID_GRIDS)
    with pytest.raises(MmlongError, match="more <\\|video_pad"):
        position_ids("native", spec_ids(), config=cfg, image_grid_thw=IMG_GRIDS)
    with pytest.raises(MmlongError, match="more rows"):
        position_ids("native", spec_ids(), config=cfg, image_grid_thw=torch.cat([IMG_GRIDS, IMG_GRIDS]),
                     video_grid_thw=VID_GRIDS)


def test_bad_options_error():
    cfg = make_config("qwen2_vl")
    with pytest.raises(MmlongError, match="unknown position scheme"):
        position_ids("nope", spec_ids(), config=cfg)
    with pytest.raises(MmlongError, match="gamma must be > 0"):
        position_ids("hope", spec_ids(), config=cfg, gamma=0)
    with pytest.raises(MmlongError, match="unknown position option"):
        position_ids("hope", spec_ids(), config=cfg, gama=1.0)
