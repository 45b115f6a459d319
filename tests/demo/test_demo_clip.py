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


def test_ask_dry_run_shows_the_clip_setting(scene_clip, video, capsys):
    import json

    _, weights = scene_clip
    assert main(["ask", video, "What is shown?", "--model", "tiny:qwen2_5_vl", "--reduce", "relevance:0.5",
                 "--clip", str(weights), "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["clip"] == str(weights)
