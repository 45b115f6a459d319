"""Recall@K pinned on a hand-built similarity; ClipRetriever and the longclip_retrieval task against a
direct computation with the same CLIP, on generated folders in the Urban-1k and COCO layouts."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")

from mmlong.cli import main  # noqa: E402
from mmlong.data.scenes import make_scenes, render, write_retrieval_folder  # noqa: E402
from mmlong.errors import MmlongError  # noqa: E402
from mmlong.vision.retrieval import ClipRetriever, ranks, recall_at_k  # noqa: E402


def test_ranks_and_recall_pinned():
    sim = [[0.1, 0.9, 0.5], [0.8, 0.2, 0.3], [0.0, 0.1, 0.2]]
    assert ranks(sim, [[2], [0], [0, 1]]) == [1, 0, 1]  # row 3: column 1 (rank 1) beats column 0 (rank 2)
    assert recall_at_k(sim, [[2], [0], [0, 1]], ks=(1, 2)) == {"r@1": pytest.approx(1 / 3), "r@2": 1.0}


@pytest.fixture(scope="module")
def retriever():
    return ClipRetriever("tiny")


def test_retriever_scores_are_the_cosines_of_its_features(retriever, synth_video):
    from mmlong.video import sample

    clip = sample(str(synth_video.path), num_frames=12)
    query = "the frame that shows the number seven"
    scores = retriever.score_frames(clip.frames, query)
    want = (retriever.embed_images(clip.frames) @ retriever.embed_text([query])[0]).numpy()
    np.testing.assert_allclose(scores, want, rtol=0, atol=1e-6)
    assert scores.shape == (12,) and np.all(np.abs(scores) <= 1 + 1e-6)
    best = int(np.argmax(scores))
    assert retriever.top_frames(clip.frames, query, k=3)[0] == best
    assert retriever.top_times(clip, query)[0] == pytest.approx(clip.timestamps[best])
    with pytest.raises(MmlongError, match="query is empty"):
        retriever.score_frames(clip.frames, " ")


def _direct(retriever, images, captions, owner):
    sim = (retriever.embed_images(images) @ retriever.embed_text(captions).t()).numpy()
    t2i = recall_at_k(sim.T, [[o] for o in owner])
    i2t = recall_at_k(sim, [[j for j, o in enumerate(owner) if o == i] for i in range(len(images))])
    return {"t2i_r@1": t2i["r@1"], "t2i_r@5": t2i["r@5"], "i2t_r@1": i2t["r@1"], "i2t_r@5": i2t["r@5"]}


def _eval(data, out):
    assert main(["eval", "--model", "random", "--tasks", "longclip_retrieval", "--data-dir", str(data),
                 "--output_path", str(out), "--run-id", "r"]) == 0
    res = json.loads((out / "random" / "r_results.json").read_text())["results"]["longclip_retrieval"]
    return {m: res[f"{m},none"] for m in ("t2i_r@1", "t2i_r@5", "i2t_r@1", "i2t_r@5")}


def test_task_on_the_urban_layout_matches_a_direct_computation(retriever, tmp_path, capsys):
    scenes = make_scenes(12, seed=4, filler=8)
    data = write_retrieval_folder(tmp_path / "urban", scenes, size=32)
    got = _eval(data, tmp_path / "out")
    want = _direct(retriever, [render(s, 32) for s in scenes], [s.long for s in scenes], list(range(12)))
    assert got == pytest.approx(want)


def test_task_on_the_coco_layout_with_several_captions(retriever, tmp_path, capsys):
    from PIL import Image

    scenes = make_scenes(8, seed=5)
    (tmp_path / "coco" / "val2017").mkdir(parents=True)
    (tmp_path / "coco" / "annotations").mkdir()
    images, anns = [], []
    for i, s in enumerate(scenes):
        Image.fromarray(render(s, 32)).save(tmp_path / "coco" / "val2017" / f"{i:012d}.png")
        images.append({"id": i, "file_name": f"{i:012d}.png"})
        anns += [{"image_id": i, "caption": s.short}, {"image_id": i, "caption": s.long}]
    (tmp_path / "coco" / "annotations" / "captions_val2017.json").write_text(
        json.dumps({"images": images, "annotations": anns}))
    got = _eval(tmp_path / "coco", tmp_path / "out")
    caps = [a["caption"] for a in anns]
    want = _direct(retriever, [render(s, 32) for s in scenes], caps, [a["image_id"] for a in anns])
    assert got == pytest.approx(want)


def test_task_without_pairs_is_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    rc = main(["eval", "--model", "random", "--tasks", "longclip_retrieval", "--data-dir", str(tmp_path / "empty"),
               "--output_path", str(tmp_path / "o")])
    assert rc == 1
    assert "no image/caption pairs in" in capsys.readouterr().err
