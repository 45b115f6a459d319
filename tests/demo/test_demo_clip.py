"""The demo's --clip setting reaches both routes (settings level: no browser, no gradio)."""

import pytest

pytest.importorskip("open_clip")

from mmlong.cli import main  # noqa: E402
from mmlong.demo.store import PipelineStore, store_for  # noqa: E402
from mmlong.errors import MmlongError  # noqa: E402
from mmlong.vision.retrieval import ClipRetriever  # noqa: E402


def test_clip_reaches_the_language_route(scene_clip):
    _, weights = scene_clip
    store = store_for("default", clip=weights)
    assert store is store_for("default", clip=str(weights)) and store is not store_for("default")
    assert store.load_kwargs["clip"] == str(weights)
    assert store.config("silvr").clip == str(weights)  # resolved, nothing loaded
    with store.lock:
        pipe = store.get("silvr")
    assert pipe.config.clip == str(weights) and pipe.frames.clip == str(weights)
    assert store_for("default").config("silvr").clip is None


def test_clip_reaches_the_direct_routes_relevance_step(scene_clip):
    _, weights = scene_clip
    store = PipelineStore(None, "tiny:qwen2_5_vl", device="cpu", clip=str(weights))
    with store.lock:
        assert store.get("direct", reduce="temporal").reducer.embed_fn is None  # nothing ranks frames
        pipe = store.get("direct", reduce="relevance:0.25")
    assert isinstance(pipe.reducer.embed_fn, ClipRetriever) and pipe.config.clip == str(weights)


def test_demo_refuses_missing_clip_weights_before_serving(tmp_path, capsys):
    assert main(["demo", "--clip", str(tmp_path / "none.pt")]) != 0
    err = capsys.readouterr().err.strip()
    assert "no CLIP weights at" in err and len(err.splitlines()) == 1
    with pytest.raises(MmlongError, match="no CLIP weights"):
        store_for("default", clip=tmp_path / "none.pt").config("silvr")


def test_language_strip_puts_clips_frames_after_the_cited_ones():
    from mmlong.demo.answering import language_strip

    got = language_strip([42.0], [0.0, 10.0, 20.0, 30.0, 40.0, 50.0], 60.0, seen=[30.5, 42.4, 7.0])
    assert got == [(0.0, "0:00 slide"), (7.0, "0:07 clip"), (10.0, "0:10 slide"), (20.0, "0:20 slide"),
                   (30.5, "0:30 clip"), (40.0, "0:40 slide"), (42.0, "0:42 cited"), (50.0, "0:50 slide")]
    # 30.0 (slide) is within 1 s of the clip frame 30.5 and 42.4 of the cited 42.0: skipped


def test_language_route_answer_and_demo_strip_show_the_frames_clip_finds(scene_clip, tmp_path):
    """The default model's language route on a silent video of six scenes: the answer (choose mode) is
    the same with or without clip=; with it, the answer lists CLIP's best frames, the first inside the
    described scene, and the demo's strip shows it."""
    import dataclasses

    from mmlong.data.scenes import make_scenes, write_scene_video
    from mmlong.demo.answering import _video_strip, short_time
    from mmlong.silvr.route import SilvrConfig, SilvrPipeline

    _, weights = scene_clip
    scenes = make_scenes(6, seed=321)
    video = tmp_path / "scenes.mp4"
    spans = write_scene_video(video, scenes, seconds=4.0, fps=2.0)
    pipe = SilvrPipeline(SilvrConfig(clip=str(weights), cache_dir=str(tmp_path / "cache")))
    plain = SilvrPipeline(dataclasses.replace(pipe.config, clip=None))
    plain.describers, plain.reasoner = pipe.describers, pipe.reasoner  # the same models
    q = scenes[3].compact
    ans, without = pipe.ask(q, video=str(video)), plain.ask(q, video=str(video))
    assert ans.text == without.text and "clip_frames" not in without.context
    best = ans.context["clip_frames"]
    assert len(best) == 3 and best[0]["score"] >= best[1]["score"] >= best[2]["score"]
    start, end = spans[3]
    assert start <= best[0]["time"] < end
    assert f"{short_time(best[0]['time'])} clip" in [cap for _, cap in _video_strip(str(video), ans, "silvr")]
    assert all(not cap.endswith("clip") for _, cap in _video_strip(str(video), without, "silvr"))

