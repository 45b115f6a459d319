"""Token reduction's relevance step scored by CLIP (mmlong.load(..., clip=PATH)): with the tiny scene CLIP,
relevance keeps the temporal patch of the scene the question describes, for every scene."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")

import mmlong  # noqa: E402
from mmlong.data.scenes import make_scenes, render  # noqa: E402
from mmlong.errors import MmlongError  # noqa: E402
from mmlong.models.vision_inputs import build_inputs  # noqa: E402
from mmlong.tokens.reduce import Reducer, reducer_from, with_clip  # noqa: E402
from mmlong.tokens.reduce_model import prepare_reduced  # noqa: E402
from mmlong.video.sampling import Clip  # noqa: E402
from mmlong.vision.retrieval import ClipRetriever  # noqa: E402


def test_load_with_clip_scores_relevance_by_clip(scene_clip):
    """Five scenes, each shown in the two frames of one temporal patch; relevance:1 keeps one patch."""
    _, weights = scene_clip
    pipe = mmlong.load("tiny:qwen2_5_vl", reduce="relevance:1", clip=str(weights), max_new_tokens=4)
    assert pipe.config.clip == str(weights) and isinstance(pipe.reducer.embed_fn, ClipRetriever)
    assert pipe.reducer.describe()["embed_fn"] == "ClipRetriever"
    scenes = make_scenes(5, seed=99)
    frames = np.stack([render(s, 64) for s in scenes for _ in range(2)])  # (10, 64, 64, 3)
    clip = Clip.from_frames(frames, np.arange(10) * 0.5)
    own = Reducer(redundancy=None, top_frames=1)  # the default: the tiny Qwen-VL's own (random) spaces
    own_hits = 0
    for k, scene in enumerate(scenes):
        inputs = build_inputs(pipe.family, pipe.tokenizer, pipe.spec, scene.compact, videos=[clip])
        batch = prepare_reduced(pipe.model, inputs, pipe.reducer, question=scene.compact, frames=[clip.frames])
        kept = batch.reports[0].kept_per_patch
        assert len(kept) == 5 and [i for i, n in enumerate(kept) if n] == [k], (k, kept)
        mine = prepare_reduced(pipe.model, inputs, own, question=scene.compact, frames=[clip.frames])
        own_hits += [i for i, n in enumerate(mine.reports[0].kept_per_patch) if n] == [k]
    assert own_hits <= 2  # measured 1 of 5 without CLIP


def test_with_clip_rule(scene_clip):
    model, weights = scene_clip
    for no_relevance in (reducer_from("temporal"), None):  # nothing would rank frames by the question
        with pytest.raises(MmlongError, match="relevance step, and reduce= has none"):
            with_clip(no_relevance, str(weights))
    assert with_clip(reducer_from("temporal"), None) == reducer_from("temporal")
    r = ClipRetriever(model)
    assert with_clip(reducer_from("relevance:0.5"), r).embed_fn is r
    assert with_clip(reducer_from("relevance:0.5"), None).embed_fn is None
    with pytest.raises(MmlongError, match="already has an embed_fn"):
        with_clip(Reducer(top_frames=2, embed_fn=r), str(weights))


def test_resolve_checks_clip_without_loading(tmp_path):
    cfg = mmlong.resolve("tiny:qwen2_5_vl", reduce="relevance:0.25", clip="tiny")
    assert cfg.clip == "tiny" and cfg.reduce["top_frames"] == 0.25
    assert mmlong.resolve("tiny:qwen2_5_vl").clip is None
    with pytest.raises(MmlongError, match="add one"):  # before any weight loads
        mmlong.resolve("tiny:qwen2_5_vl", reduce="temporal", clip="tiny")
    with pytest.raises(MmlongError, match="no CLIP weights at"):
        mmlong.resolve("tiny:qwen2_5_vl", reduce="relevance:0.25", clip=str(tmp_path / "none.pt"))
