"""Token reduction steps: worked examples, parsing, errors, and slide changes kept on real H.264."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mmlong.errors import MmlongError
from mmlong.tokens._reduce_ops import merged_pixel_features, reduce_budget, reduce_relevance, token_novelty
from mmlong.tokens.reduce import Reducer, reducer_from, select_tokens


def test_novelty_compares_with_the_last_kept_token():
    feats = torch.tensor([0.0, 1.0, 2.0, 10.0]).reshape(4, 1, 1)  # T=4, S=1, F=1
    dist, keep = token_novelty(feats, threshold=1.5)
    assert keep[:, 0].tolist() == [True, False, True, True]
    assert dist[1:, 0].tolist() == [1.0, 2.0, 8.0] and math.isinf(dist[0, 0])
    dist, keep = token_novelty(feats)  # no threshold: distances to the previous patch, all kept
    assert keep.all() and dist[1:, 0].tolist() == [1.0, 1.0, 8.0]


def test_slow_fade_is_not_dropped_forever():
    feats = torch.arange(20, dtype=torch.float32).reshape(20, 1, 1) * 0.5  # +0.5 per patch
    _, keep = token_novelty(feats, threshold=1.2)
    assert keep[:, 0].nonzero().squeeze(1).tolist() == [0, 3, 6, 9, 12, 15, 18]  # re-anchored every 1.5


def test_relevance_and_budget_examples():
    vecs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 2.0]])
    keep, scores = reduce_relevance(vecs, torch.tensor([0.0, 1.0]), 2)
    assert keep.tolist() == [False, True, False, True] and scores[1] == pytest.approx(1.0)
    assert reduce_relevance(vecs, torch.tensor([0.0, 1.0]), 0.5)[0].tolist() == keep.tolist()
    k = torch.ones(3, 2, dtype=torch.bool)
    sc = torch.tensor([[math.inf, math.inf], [9.0, 8.0], [5.0, 0.0]])
    assert reduce_budget(k, sc, 4).tolist() == [[True, True], [True, False], [True, False]]
    assert reduce_budget(k, sc, 4, spread=False).tolist() == [[True, True], [True, True], [False, False]]
    assert reduce_budget(k, sc, 10).all()
    with pytest.raises(MmlongError, match="max_tokens"):
        reduce_budget(k, sc, 0)
    with pytest.raises(MmlongError, match="top_frames"):
        reduce_relevance(vecs, torch.tensor([0.0, 1.0]), 1.5)


def test_merged_pixel_features_follow_the_patch_layout():
    from mmlong.models.vision_inputs import VisionSpec, patchify

    spec = VisionSpec.for_family("qwen2_5_vl")
    frames = np.zeros((4, 56, 84, 3), np.uint8)
    frames[2:, 28:, 28:56] = 200  # patch 1 (frames 2-3), merged token row 1, col 1
    pv, grid = patchify(frames, spec, resized_hw=(56, 84))
    feats = merged_pixel_features(torch.from_numpy(pv), grid, 2, spec.image_std)  # (2, 6, 4*3*2*14*14)
    diff = (feats[1] - feats[0]).abs().mean(-1)
    assert feats.shape == (2, 6, 4 * 1176) and diff.argmax().item() == 4  # slot = row 1 * 3 + col 1
    assert diff[4].item() == pytest.approx(200.0, abs=1e-3)  # both frames of patch 1: 0 -> 200 gray levels
    assert diff[[0, 1, 2, 3, 5]].abs().max().item() < 1e-4


@pytest.mark.parametrize("text, expected", [
    ("temporal", Reducer()), ("temporal:6", Reducer(threshold=6.0)), ("vision:0.05", Reducer("vision", 0.05)),
    ("budget:4096", Reducer(redundancy=None, max_tokens=4096)),
    ("temporal+relevance:0.25", Reducer(top_frames=0.25)), ("relevance:8", Reducer(redundancy=None, top_frames=8)),
    ("temporal+budget:100", Reducer(max_tokens=100)), ("none", None), (None, None), (True, Reducer()),
    ({"max_tokens": 5}, Reducer(max_tokens=5)),
])
def test_reducer_from(text, expected):
    assert reducer_from(text) == expected


@pytest.mark.parametrize("bad, needle", [
    ("spatial", "unknown reducer step"), ("budget:lots", "bad value"), ("budget:0", "max_tokens"),
    ({"k": 1}, "bad reducer fields"), (3, "reduce= takes"), ("relevance:2.5", "top_frames"),
])
def test_reducer_errors_are_one_line(bad, needle):
    with pytest.raises(MmlongError, match=needle) as err:
        reducer_from(bad)
    assert "\n" not in str(err.value)


def test_select_tokens_needs_its_inputs():
    grid = torch.tensor([[2, 4, 4]])
    with pytest.raises(MmlongError, match="pixel_values_videos"):
        select_tokens(Reducer(), grid)
    with pytest.raises(MmlongError, match="video_embeds"):
        select_tokens(Reducer("vision"), grid, pixel_values_videos=torch.zeros(32, 1176))
    with pytest.raises(MmlongError, match="rows"):
        select_tokens(Reducer(), grid, pixel_values_videos=torch.zeros(30, 1176))
    sel = select_tokens(Reducer(redundancy=None), grid)  # identity needs nothing
    assert sel.keep.all() and sel.reports[0].kept == sel.reports[0].total == 8


def test_vision_features_and_relevance_through_select_tokens():
    emb = torch.randn(3, 4, 8)
    emb[1] = emb[0] * 1.001  # patch 1 repeats patch 0 -> dropped by cosine
    vecs = [torch.eye(3)]
    sel = select_tokens(Reducer("vision", top_frames=2), torch.tensor([[3, 4, 4]]), video_embeds=emb.reshape(12, 8),
                        patch_vectors=vecs, query_vectors=[torch.tensor([0.0, 0.0, 1.0])], patch_times=[[0, 1, 2]])
    rep = sel.reports[0]
    assert rep.kept_per_patch == (4, 0, 4) and rep.after == {"temporal": 8, "relevance": 8}
    assert rep.patch_times == (0.0, 1.0, 2.0) and rep.ratio == pytest.approx(1.5)
    sel = select_tokens(Reducer(redundancy=None, top_frames=1), torch.tensor([[3, 4, 4]]),
                        patch_vectors=vecs, query_vectors=[torch.tensor([0.0, 0.0, 1.0])])
    assert sel.reports[0].kept_per_patch == (0, 0, 4)


@pytest.fixture(scope="module")
def lecture(tmp_path_factory):
    from mmlong.data.synth_slides import write_lecture_video

    return write_lecture_video(tmp_path_factory.mktemp("lec") / "lecture.mp4", seconds=100, fps=2,
                               size=(180, 320), every=(20, 30), seed=3)


def test_slide_changes_kept_and_static_slides_dropped(lecture):
    from mmlong.models.tiny import tiny_tokenizer
    from mmlong.models.vision_inputs import build_inputs
    from mmlong.tokens.planner import plan, sample_planned

    p = plan(lecture.path, "qwen2_5_vl", "4k", fps=1.0)
    clip = sample_planned(lecture.path, p)
    spec = p.vision_spec()
    inp = build_inputs("qwen2_5_vl", tiny_tokenizer(), spec, "q", videos=[clip])
    S = (p.height // 28) * (p.width // 28)
    y0, y1, x0, x1 = lecture.inset
    sy, sx = p.height / 180, p.width / 320
    r, c = np.divmod(np.arange(S), p.width // 28)
    inset = torch.from_numpy(((r + 1) * 28 > y0 * sy) & (r * 28 < y1 * sy) & ((c + 1) * 28 > x0 * sx) & (c * 28 < x1 * sx))
    changes = [next(k for k in range(p.temporal_patches) if clip.timestamps[min(2 * k + 1, p.frames - 1)] >= t)
               for t in lecture.change_times[1:]]
    assert len(changes) >= 2
    for name in ("temporal", f"temporal+budget:{p.total_tokens // 12}", f"budget:{p.total_tokens // 12}"):
        sel = select_tokens(reducer_from(name), inp["video_grid_thw"], pixel_values_videos=inp["pixel_values_videos"],
                            image_std=spec.image_std)
        keep = sel.keep.reshape(p.temporal_patches, S)
        assert keep[0].all()  # the first patch is always kept
        for k in changes:  # every slide change keeps slide tokens (outside the moving inset)
            assert int(keep[k][~inset].sum()) >= 1, (name, k)
        rep = sel.reports[0]
        assert rep.ratio >= 4.0, (name, rep)
        quiet = [k for k in range(1, p.temporal_patches) if k not in changes and k - 1 not in changes]
        assert int(keep[quiet][:, ~inset].sum()) <= len(quiet)  # static slides: (almost) nothing kept
