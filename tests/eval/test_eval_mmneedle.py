"""MMNeedle: official construction and prompt, oracle 100% by pixel matching, random near chance;
the released pre-built files read in their official layout."""

import json
import pickle
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from mmlong.errors import MmlongError
from mmlong.eval import EvalConfig, evaluate
from mmlong.eval.tasks import mmneedle_haystack as H
from mmlong.eval.models import locate_by_pixels
from mmlong.eval.tasks import get_task
from mmlong.eval.tasks.mmneedle import needle_answer, needle_prompt
from mmlong.data.benchmark_files import write_coco


def _run(model, out=None, **opts):
    opts = {"m": 3, "n": 2, "size": 24, "n_seq": 40, **opts}
    return evaluate(EvalConfig(model=model, tasks=("mmneedle",), output_path=out, task_options={"mmneedle": opts}),
                    echo=False)


def test_prompt_is_the_official_text():
    p = needle_prompt(1, 1, ["a cat"])
    assert p == ("Given 1 image indexed from 1 to 1, each divided into 1*1 subimage, identify the subimage that best "
                 "matches the provided caption. Respond with 'index, row, column' and nothing else. For example, "
                 "'1, 2, 3' indicates the subimage in the first image, second row, and third column. If no match is "
                 "found, respond only with '-1'.\nCaption: a cat")
    p = needle_prompt(10, 4, ["a", "b"])
    assert p.startswith("Given 10 images indexed from 1 to 10, each divided into 4*4 subimages, identify the subimages "
                        "that best match the provided 2 captions. Respond in the format: index_1, row_1, column_1; "
                        "index_2, row_2, column_2. Only provide this information.")
    assert p.endswith("respond with '-1' for that caption.\nCaption_1: a\nCaption_2: b")


def test_stitch_places_row_col_at_official_pixels():
    pool = H.scene_pool(4, 16)
    imgs = [pool.load(k) for k in pool.keys]
    big = np.asarray(H.stitch(imgs, 2, 16))
    assert big.shape == (32, 32, 3)
    for r in range(2):
        for c in range(2):  # sub-image r*n + c pasted at (x = c*S, y = r*S)
            assert np.array_equal(big[r * 16:(r + 1) * 16, c * 16:(c + 1) * 16], np.asarray(imgs[r * 2 + c]))
    assert locate_by_pixels([big], [imgs[2]], 2) == [(0, 1, 0)]


def test_sequences_follow_the_official_sampling():
    pool = H.scene_pool(200, 8)
    meta = H.stitch_metadata(pool.keys, 12, 2, unique=True)
    assert len({v for m in meta.values() for v in m.values()}) == 48  # unique across stitched images
    recs = H.sample_sequences(meta, pool.keys, 3, 2, 10)
    for rec in recs[:5]:  # positives: the target is the sub-image at (index, row, col)
        assert meta[rec["image_ids"][rec["index"]]][f"{rec['row']}_{rec['col']}"] == rec["target"]
    for rec in recs[5:]:  # negatives: -1 and a needle absent from the haystack
        assert (rec["index"], rec["row"], rec["col"]) == (-1, -1, -1)
        assert rec["target"] not in {v for s in rec["image_ids"] for v in meta[s].values()}
    multi = H.sample_sequences(meta, pool.keys, 3, 2, 4, needles=2)
    assert len(set(zip(multi[0]["index"], multi[0]["row"], multi[0]["col"]))) == 2
    assert multi[3]["index"] == [-1, -1] and len(set(multi[3]["target"])) == 2
    one = H.sample_sequences(H.stitch_metadata(pool.keys, 4, 1), pool.keys, 1, 1, 4)
    assert [r["image_ids"] for r in one] == [[f"stitched_{i:04d}.png"] for i in range(4)]  # M=1: i-th stitched


@pytest.mark.parametrize("needles", [1, 2])
def test_oracle_scores_100_and_random_near_chance(needles):
    r = _run("oracle", needles=needles)["results"]["mmneedle"]
    for m in ("exist_acc", "index_acc", "exact_acc", "neg_exist_acc"):
        assert r[f"{m},none"] == 1.0, m
    if needles > 1:
        assert r["all_exact_acc,none"] == 1.0 and r["first_index_acc,none"] == 1.0
    rnd = _run("random", needles=needles)["results"]["mmneedle"]
    assert rnd["exact_acc,none"] < 0.35  # chance: 1/13 per needle
    assert rnd["index_acc,none"] < 0.7


def test_coco_layout_haystack(tmp_path):
    root = write_coco(tmp_path / "coco", n=30, size=40)
    task = get_task("mmneedle", data_dir=str(root), m=2, n=2, size=20, n_seq=10, n_stitched=12)
    docs = task.docs()
    req = task.request(docs[0])
    cap = task.pool.captions[docs[0].data["target"]]
    assert cap.startswith("a ") and "background" in cap  # the *last* annotation of the image
    assert req.text.endswith("Caption: " + cap)
    r = evaluate(EvalConfig(model="oracle", tasks=("mmneedle",), data_dirs={"mmneedle": str(root)},
                            task_options={"mmneedle": {"m": 2, "n": 2, "size": 20, "n_seq": 10, "n_stitched": 12}}),
                 echo=False)
    assert r["results"]["mmneedle"]["exact_acc,none"] == 1.0 and r["results"]["mmneedle"]["neg_exist_acc,none"] == 1.0


def test_breakdowns_and_empty_ids():
    class Silent:
        def generate(self, req, images, clip, doc_key):
            return (None if doc_key.endswith("/1") else "1, 1, 1"), {}

    opts = {"mmneedle": {"m": 2, "n": 2, "size": 8, "n_seq": 6}}
    r = evaluate(EvalConfig(model="x", tasks=("mmneedle",), task_options=opts), model=Silent(), echo=False)
    b = r["breakdowns"]["mmneedle"]
    assert b["empty_ids"] == ["1"] and set(b["exact_acc_by_index"]) <= {"1", "2"}
    assert r["sample_errors"]["mmneedle"]["doc_ids"] == ["1"]  # a None answer is recorded as an error


def test_bad_options():
    with pytest.raises(MmlongError, match="unknown option"):
        get_task("mmneedle", q=1)
    with pytest.raises(MmlongError, match="pool"):
        get_task("mmneedle", pool="nope").docs()
    with pytest.raises(MmlongError, match="COCO folder"):
        get_task("mmneedle", data_dir="/nonexistent").docs()


# --------------------------------------------------------------------------- released files
def write_released(root, m=2, n=2, cell=24, per_half=4, needle_counts=(1, 2), captions="pkl") -> Path:
    """A small folder in the released MMNeedle layout (as the official repo / archives ship it).

    ``val2014/COCO_val2014_%012d.jpg`` (drawn scenes at 2 x cell px, the needles' own images),
    ``images_stitched/{n}_{n}/COCO_val2014_stitched_%04d.jpg`` (n x n cells of ``cell`` px, JPEG),
    ``metadata_stitched/{n}_{n}.json`` and ``[K_]annotations_{m}_{n}_{n}.json`` (ids 0.. positive,
    then negatives with -1), and the captions as ``annotations_trainval/file_to_caption.pkl``
    (``captions="pkl"``, keyed by bare file name) or COCO's ``annotations/captions_val2014.json``
    (``"coco"``, two captions per image, the last one exact).
    """
    from PIL import Image

    root, rng = Path(root), random.Random(0)
    n_stitched, cells = max(2 * m, 4), n * n
    pool = H.scene_pool(n_stitched * cells + 12, 2 * cell)
    coco = [f"val2014/COCO_val2014_{i:012d}.jpg" for i in range(len(pool.keys))]
    (root / "val2014").mkdir(parents=True)
    for key, path in zip(pool.keys, coco):
        pool.load(key).save(root / path, quality=95)
    meta, folder = {}, root / "images_stitched" / f"{n}_{n}"
    folder.mkdir(parents=True)
    for i in range(n_stitched):  # stitched i holds coco[i*n*n:(i+1)*n*n], row-major
        name, subs = f"COCO_val2014_stitched_{i:04d}.jpg", coco[i * cells:(i + 1) * cells]
        meta[name] = {f"{r}_{c}": subs[r * n + c] for r in range(n) for c in range(n)}
        H.stitch([Image.open(root / s) for s in subs], n, cell).save(folder / name, quality=95)
    (root / "metadata_stitched").mkdir()
    (root / "metadata_stitched" / f"{n}_{n}.json").write_text(json.dumps(meta, indent=4))
    unused = coco[n_stitched * cells:]
    for k in needle_counts:
        recs = []
        for i in range(2 * per_half):
            seq = rng.sample(sorted(meta), m)
            if i < per_half:  # slot j = index*n*n + row*n + col, spread so index > 0 and row != col occur
                slots = [(3 + 5 * i + 3 * t) % (m * cells) for t in range(k)]
                idx, row, col = [j // cells for j in slots], [j % cells // n for j in slots], [j % n for j in slots]
                target = [meta[seq[a]][f"{r}_{c}"] for a, r, c in zip(idx, row, col)]
            else:
                idx = row = col = [-1] * k
                target = rng.sample(unused, k)
            one = (lambda v: v[0]) if k == 1 else (lambda v: v)
            recs.append({"id": i, "image_ids": [f"images_stitched/{n}_{n}/{s}" for s in seq], "index": one(idx),
                         "row": one(row), "col": one(col), "target": one(target)})
        name = f"annotations_{m}_{n}_{n}.json" if k == 1 else f"{k}_annotations_{m}_{n}_{n}.json"
        (root / "metadata_stitched" / name).write_text(json.dumps(recs, indent=4))
    if captions == "pkl":
        (root / "annotations_trainval").mkdir()
        with open(root / "annotations_trainval" / "file_to_caption.pkl", "wb") as f:
            pickle.dump({p.split("/")[-1]: pool.captions[k] for k, p in zip(pool.keys, coco)}, f)
    elif captions == "coco":
        images = [{"id": i, "file_name": p.split("/")[-1]} for i, p in enumerate(coco)]
        anns = [{"image_id": i, "caption": cap} for i, k in enumerate(pool.keys)
                for cap in ("a stale caption", pool.captions[k])]
        (root / "annotations").mkdir()
        (root / "annotations" / "captions_val2014.json").write_text(json.dumps({"images": images, "annotations": anns}))
    return root


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    return write_released(tmp_path_factory.mktemp("released"))


def _released_run(root, model, **opts):
    opts = {"m": 2, "n": 2, "n_seq": 100, **opts}
    return evaluate(EvalConfig(model=model, tasks=("mmneedle",), data_dirs={"mmneedle": str(root)},
                               task_options={"mmneedle": opts}), echo=False)


def test_released_docs_are_the_file_records(released):
    recs = json.loads((released / "metadata_stitched" / "annotations_2_2_2.json").read_text())
    task = get_task("mmneedle", data_dir=str(released), m=2, n=2, n_seq=100)
    docs = task.docs()
    assert [d.doc_id for d in docs] == [str(r["id"]) for r in recs] and [d.data for d in docs] == recs
    with open(released / "annotations_trainval" / "file_to_caption.pkl", "rb") as f:
        caps = pickle.load(f)
    req = task.request(docs[2])
    assert req.text.endswith("Caption: " + caps[recs[2]["target"].split("/")[-1]])
    assert [im.size for im in req.images()] == [(48, 48)] * 2  # the released stitched files, as stored
    assert req.hidden["grid"] == 2 and req.hidden["needles"][0].size == (48, 48)  # the needle's own COCO file
    assert task.reference(docs[2])[0] == needle_answer(recs[2]) == "2, 1, 2"  # slot 13 % 8 = 5: index 1, (0, 1)
    sub = get_task("mmneedle", data_dir=str(released), m=2, n=2, n_seq=4).docs()
    assert [d.doc_id for d in sub] == ["0", "1", "4", "5"]  # README protocol: first positives, first negatives
    multi = get_task("mmneedle", data_dir=str(released), m=2, n=2, needles=2, n_seq=100)
    assert [d.data for d in multi.docs()] == json.loads(
        (released / "metadata_stitched" / "2_annotations_2_2_2.json").read_text())
    assert multi.request(multi.docs()[-1]).text.count("\nCaption_") == 2


@pytest.mark.parametrize("needles", [1, 2])
def test_released_oracle_scores_100_and_random_runs(released, needles):
    r = _released_run(released, "oracle", needles=needles)
    assert r["n-samples"]["mmneedle"]["effective"] == 8
    res = r["results"]["mmneedle"]
    names = ["exist_acc", "index_acc", "exact_acc", "neg_exist_acc"]
    names += ["first_index_acc", "first_exact_acc", "all_index_acc", "all_exact_acc"] if needles > 1 else []
    for m in names:
        assert res[f"{m},none"] == 1.0, m
    rnd = _released_run(released, "random", needles=needles)["results"]["mmneedle"]
    assert 0.0 <= rnd["exact_acc,none"] < 1.0 and rnd["neg_exist_acc,none"] is not None


def test_released_without_needle_images_falls_back_to_reference(tmp_path):
    root = write_released(tmp_path / "r", needle_counts=(1,))
    shutil.rmtree(root / "val2014")
    task = get_task("mmneedle", data_dir=str(root), m=2, n=2, n_seq=100)
    req = task.request(task.docs()[5])
    assert req.hidden == {} and req.oracle == "-1"
    assert _released_run(root, "oracle")["results"]["mmneedle"]["exact_acc,none"] == 1.0


def test_released_coco_captions_and_errors(tmp_path):
    root = write_released(tmp_path / "r", needle_counts=(1,), captions="coco")
    task = get_task("mmneedle", data_dir=str(root), m=2, n=2)
    assert "stale" not in task.request(task.docs()[0]).text  # the last COCO annotation wins
    with pytest.raises(MmlongError, match=r"annotations_10_2_2\.json.*annotations_2_2_2\.json"):
        get_task("mmneedle", data_dir=str(root), m=10, n=2).docs()  # names the file and what is there
    with pytest.raises(MmlongError, match=r"2_annotations_2_2_2\.json"):
        get_task("mmneedle", data_dir=str(root), m=2, n=2, needles=2).docs()
    meta = root / "metadata_stitched"
    shutil.copy(meta / "annotations_2_2_2.json", meta / "annotations_3_2_2.json")
    with pytest.raises(MmlongError, match="record 0 .* m=3"):
        get_task("mmneedle", data_dir=str(root), m=3, n=2).docs()
    with pytest.raises(MmlongError, match="needs --data-dir"):
        get_task("mmneedle", source="released").docs()
    with pytest.raises(MmlongError, match="unknown mmneedle source"):
        get_task("mmneedle", data_dir=str(root), source="bogus").docs()
    with pytest.raises(MmlongError, match="COCO folder"):  # rebuild asks for COCO's own layout
        get_task("mmneedle", data_dir=str(root / "metadata_stitched"), source="rebuild").docs()
    shutil.rmtree(root / "annotations")
    with pytest.raises(MmlongError, match="file_to_caption.pkl"):
        get_task("mmneedle", data_dir=str(root), m=2, n=2).docs()
    shutil.rmtree(root / "images_stitched")
    hf_captions = {f"val2014/COCO_val2014_{i:012d}.jpg": "c" for i in range(40)}  # the Hugging Face JSON form
    (root / "file_to_caption.json").write_text(json.dumps(hf_captions))
    with pytest.raises(MmlongError, match="images_stitched.zip"):
        get_task("mmneedle", data_dir=str(root), m=2, n=2).docs()


def test_generated_scenes_are_pairwise_told_apart_by_pixels():
    pool = H.scene_pool(80, 48)
    imgs = np.stack([np.asarray(pool.load(k), np.float32) for k in pool.keys]).reshape(80, -1)
    gaps = np.abs(imgs[:, None] - imgs[None]).mean(axis=2)
    np.fill_diagonal(gaps, np.inf)
    assert gaps.min() > H.MATCH_TOL  # no scene passes for another under the pixel oracle's threshold
    with pytest.raises(MmlongError, match=r"^only 44 scenes drawn at 1 px are told apart by pixels, 200 are needed"):
        H.scene_pool(200, 1)


def test_oracle_scores_1_on_every_metric_with_the_default_haystacks():
    r = evaluate(EvalConfig(model="oracle", tasks=("mmneedle",), limit=20), echo=False)
    assert r["versions"]["mmneedle"] == "2"
    assert {m: r["results"]["mmneedle"][f"{m},none"] for m in ("exist_acc", "index_acc", "exact_acc",
                                                                 "neg_exist_acc")} == dict.fromkeys(
        ("exist_acc", "index_acc", "exact_acc", "neg_exist_acc"), 1.0)
