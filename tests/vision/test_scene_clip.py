"""The tiny scene CLIP and ClipRetriever on a generated video: the trained model's top-1 frame lies within
1 s of the matching scene for >= 80% of the queries, the same model untrained (random weights) does not;
the retriever is token reduction's embed_fn, and the clip= setting's checks."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")

from mmlong.data.scenes import make_scenes, render, write_scene_video  # noqa: E402
from mmlong.errors import MmlongError  # noqa: E402
from mmlong.vision.retrieval import ClipRetriever, clip_setting, retriever_for  # noqa: E402
from mmlong.vision.scene_clip import SceneClipSettings, train_scene_clip, video_retrieval  # noqa: E402


def test_trained_scene_clip_finds_the_scene_in_a_video_and_random_weights_do_not(scene_clip, tmp_path):
    model, _ = scene_clip
    got = video_retrieval(ClipRetriever(model), tmp_path)
    assert got["queries"] == 30 and got["frames"] == 180  # 30 scenes x 3 s at 2 fps
    assert got["within"] >= 0.8, got["offsets_s"]
    torch.manual_seed(0)
    untrained = train_scene_clip(SceneClipSettings(steps=0, train_scenes=64))
    base = video_retrieval(ClipRetriever(untrained), tmp_path)
    assert base["within"] < 0.3, base["offsets_s"]  # chance is (3 + 2) / 90 = 0.056


def test_saved_state_loads_back_as_the_same_retriever(scene_clip):
    model, path = scene_clip
    frames = np.stack([render(s, 64) for s in make_scenes(5, seed=7)])
    query = make_scenes(5, seed=7)[2].compact
    a, b = ClipRetriever(model), retriever_for(path)
    np.testing.assert_allclose(b.score_frames(frames, query), a.score_frames(frames, query), rtol=0, atol=1e-5)
    assert int(np.argmax(a.score_frames(frames, query))) == 2
    assert a.scale == pytest.approx(float(model.logit_scale.exp()))
    from mmlong.vision.stretch import info

    assert info(b.model) is None and b.model.context_length == 32  # one table: a plain CLIP, not a Long-CLIP


def test_retriever_is_an_embed_fn(scene_clip):
    r = ClipRetriever(scene_clip[0])
    frames = np.stack([render(s, 64) for s in make_scenes(3, seed=8)])
    text = r("red circle, blue square, green triangle, white square.")
    assert text.shape == (64,) and float(text.norm()) == pytest.approx(1.0, abs=1e-5)
    torch.testing.assert_close(text, r.embed_text(["red circle, blue square, green triangle, white square."])[0])
    torch.testing.assert_close(r(frames), r.embed_images(frames))
    assert r(frames).shape == (3, 64)
    with pytest.raises(MmlongError, match="query is empty"):
        r("  ")


def test_scene_captions_and_video_spans(tmp_path):
    s = make_scenes(2, seed=0)
    assert s[0].compact == ", ".join(f"{c} {sh}" for c, sh in s[0].objects) + "."
    assert len(s[0].compact.split()) == 8
    assert write_scene_video(tmp_path / "v.mp4", s, seconds=1.5, fps=2.0) == [(0.0, 1.5), (1.5, 3.0)]


def test_clip_setting_is_checked_without_loading(tmp_path):
    assert clip_setting(None) is None and clip_setting("tiny") == "tiny"
    (tmp_path / "w.pt").write_bytes(b"x")
    assert clip_setting(tmp_path / "w.pt") == str(tmp_path / "w.pt")
    with pytest.raises(MmlongError, match="no CLIP weights at .*nothing.pt"):
        clip_setting(tmp_path / "nothing.pt")
    with pytest.raises(MmlongError, match="path of CLIP weights"):
        clip_setting(3)
