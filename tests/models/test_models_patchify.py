"""patchify / smart_resize / VisionSpec against transformers' own Qwen2-VL image processor."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import Qwen2VLImageProcessorPil
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize as hf_smart_resize

from mmlong.errors import MmlongError
from mmlong.models.vision_inputs import VisionSpec, patchify, smart_resize

SIZES = [(64, 64), (100, 37), (224, 224), (333, 517), (17, 900), (28, 28), (1, 50)]


def _processor(spec: VisionSpec) -> Qwen2VLImageProcessorPil:
    return Qwen2VLImageProcessorPil(
        patch_size=spec.patch_size, merge_size=spec.merge_size, temporal_patch_size=spec.temporal_patch_size,
        min_pixels=spec.min_pixels, max_pixels=spec.max_pixels,
        image_mean=list(spec.image_mean), image_std=list(spec.image_std),
    )


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen3_vl"])
def test_patchify_matches_pil_image_processor(family):
    spec = VisionSpec.for_family(family)
    proc = _processor(spec)
    rng = np.random.default_rng(0)
    for h, w in SIZES:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        ref = proc(images=[Image.fromarray(img)], return_tensors="np")
        pv, grid = patchify(img, spec)
        assert grid.tolist() == ref["image_grid_thw"][0].tolist()
        assert pv.dtype == np.float32 and pv.shape == ref["pixel_values"].shape
        assert np.abs(pv - ref["pixel_values"]).max() <= 1e-5


def test_patchify_small_budget_and_rgba_match_processor():
    spec = VisionSpec(14, 2, 2, 84 * 84, 224 * 224, (0.48145466, 0.4578275, 0.40821073),
                      (0.26862954, 0.26130258, 0.27577711))
    proc = _processor(spec)
    rng = np.random.default_rng(1)
    rgba = Image.fromarray(rng.integers(0, 256, (50, 70, 4), dtype=np.uint8), "RGBA")
    ref = proc(images=[rgba], return_tensors="np")
    from mmlong.models.vision_inputs import _image_array

    pv, grid = patchify(_image_array(rgba), spec)
    assert grid.tolist() == ref["image_grid_thw"][0].tolist() == [1, 6, 8]
    assert np.abs(pv - ref["pixel_values"]).max() <= 1e-5


def test_smart_resize_equals_transformers():
    rnd = random.Random(0)
    for _ in range(2000):
        h, w = rnd.randint(1, 4000), rnd.randint(1, 4000)
        if max(h, w) / min(h, w) > 200:
            continue
        factor = rnd.choice([28, 32])
        lo = rnd.choice([56 * 56, 112 * 112, 65536, 4096])
        hi = rnd.choice([28 * 28 * 1280, 16777216, 224 * 224, 768 * 32 * 32])
        assert smart_resize(h, w, factor, lo, hi) == hf_smart_resize(h, w, factor, lo, hi)
    with pytest.raises(MmlongError):
        smart_resize(1, 500)


def _torch_video_patchify(videos: torch.Tensor, p: int, m: int, tps: int) -> torch.Tensor:
    """The view/permute of transformers' Qwen2VLVideoProcessor.patchify (B, T, C, H, W)."""
    b, t, c, h, w = videos.shape
    if pad := -t % tps:
        videos = torch.cat((videos, videos[:, -1:].expand(-1, pad, -1, -1, -1)), dim=1)
        t += pad
    gt, gh, gw = t // tps, h // p, w // p
    x = videos.view(b, gt, tps, c, gh // m, m, p, gw // m, m, p).permute(0, 1, 4, 7, 5, 8, 3, 2, 6, 9)
    return x.reshape(b, gt * gh * gw, c * tps * p * p)


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
@pytest.mark.parametrize("num_frames", [1, 4, 5])
def test_video_patch_layout_and_grid(family, num_frames):
    spec = VisionSpec.for_family(family)
    p, m, tps = spec.patch_size, spec.merge_size, spec.temporal_patch_size
    rng = np.random.default_rng(2)
    h, w = 2 * spec.factor, 3 * spec.factor  # already a valid size: no resize, pure layout check
    frames = rng.integers(0, 256, (num_frames, h, w, 3), dtype=np.uint8)
    pv, grid = patchify(frames, spec, resized_hw=(h, w))
    assert grid.tolist() == [-(-num_frames // tps), h // p, w // p]
    x = torch.from_numpy(frames).float().div(255).permute(0, 3, 1, 2)
    x = (x - torch.tensor(spec.image_mean).view(1, 3, 1, 1)) / torch.tensor(spec.image_std).view(1, 3, 1, 1)
    ref = _torch_video_patchify(x[None], p, m, tps)[0].numpy()
    assert np.abs(pv - ref).max() <= 1e-5


def test_video_grid_matches_processor_formula():
    spec = VisionSpec.for_family("qwen2_vl")
    for t, h, w in [(8, 360, 640), (7, 1080, 1920), (3, 64, 64)]:
        rh, rw = spec.video_hw(h, w)
        assert (rh, rw) == hf_smart_resize(h, w, 28, 128 * 28 * 28, 768 * 28 * 28)
        frames = np.zeros((t, h, w, 3), np.uint8)
        pv, grid = patchify(frames, spec, resized_hw=(rh, rw))
        assert grid.tolist() == [(t + 1) // 2, rh // 14, rw // 14]
        assert pv.shape == (grid.prod(), 3 * 2 * 14 * 14)


def test_patchify_rejects_bad_input():
    spec = VisionSpec.for_family("qwen2_vl")
    with pytest.raises(MmlongError):
        patchify(np.zeros((4, 4), np.uint8), spec)
    with pytest.raises(MmlongError):
        patchify(np.zeros((1, 56, 56, 3), np.float32), spec)
    with pytest.raises(MmlongError):
        patchify(np.zeros((1, 56, 56, 3), np.uint8), spec, resized_hw=(50, 56))


def test_for_family_defaults():
    q2 = VisionSpec.for_family("qwen2_5_vl")
    assert (q2.patch_size, q2.factor, q2.min_pixels, q2.max_pixels) == (14, 28, 56 * 56, 28 * 28 * 1280)
    q3 = VisionSpec.for_family("qwen3_vl_moe")
    assert (q3.patch_size, q3.factor, q3.image_mean, q3.min_pixels) == (16, 32, (0.5, 0.5, 0.5), 65536)
    assert q3.video_max_pixels == 768 * 32 * 32


def test_from_pretrained_local_dirs(tmp_path):
    q2 = tmp_path / "q2"
    q2.mkdir()
    (q2 / "config.json").write_text(json.dumps({"model_type": "qwen2_vl"}))
    (q2 / "preprocessor_config.json").write_text(json.dumps({
        "min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2,
        "merge_size": 2, "image_mean": [0.1, 0.2, 0.3], "image_std": [0.4, 0.5, 0.6],
        "image_processor_type": "Qwen2VLImageProcessor"}))
    spec = VisionSpec.from_pretrained(str(q2))
    assert (spec.patch_size, spec.min_pixels, spec.max_pixels) == (14, 3136, 12845056)
    assert spec.image_mean == (0.1, 0.2, 0.3) and spec.image_std == (0.4, 0.5, 0.6)
    assert (spec.video_min_pixels, spec.video_max_pixels) == (128 * 28 * 28, 768 * 28 * 28)

    q3 = tmp_path / "q3"
    q3.mkdir()
    (q3 / "config.json").write_text(json.dumps({"model_type": "qwen3_vl"}))
    common = {"patch_size": 16, "temporal_patch_size": 2, "merge_size": 2,
              "image_mean": [0.5] * 3, "image_std": [0.5] * 3}
    (q3 / "preprocessor_config.json").write_text(json.dumps(
        {**common, "size": {"longest_edge": 16777216, "shortest_edge": 65536}}))
    (q3 / "video_preprocessor_config.json").write_text(json.dumps(
        {**common, "size": {"longest_edge": 25165824, "shortest_edge": 4096}, "fps": 2,
         "video_processor_type": "Qwen3VLVideoProcessor"}))
    spec3 = VisionSpec.from_pretrained(str(q3))
    assert spec3 == VisionSpec.for_family("qwen3_vl")

    with pytest.raises(MmlongError):
        VisionSpec.from_pretrained(str(tmp_path))


def test_video_frames_resized_in_threads_equal_one_by_one():
    """Frames are resized in parallel threads; the result equals resizing them one by one with PIL bicubic."""
    spec = VisionSpec.for_family("qwen2_5_vl")
    frames = np.random.default_rng(3).integers(0, 256, (6, 50, 90, 3), dtype=np.uint8)
    h, w = 56, 112
    one_by_one = np.stack([np.asarray(Image.fromarray(f).resize((w, h), Image.BICUBIC)) for f in frames])
    a, grid_a = patchify(frames, spec, resized_hw=(h, w))
    b, grid_b = patchify(one_by_one, spec, resized_hw=(h, w))
    assert np.array_equal(a, b) and grid_a.tolist() == grid_b.tolist() == [3, 4, 8]
