"""MMNeedle: official construction and prompt, oracle 100% by pixel matching, random near chance."""

import numpy as np
import pytest

from mmlong.errors import MmlongError
from mmlong.eval import EvalConfig, evaluate
from mmlong.eval import haystack as H
from mmlong.eval.models import locate_by_pixels
from mmlong.eval.tasks import get_task
from mmlong.eval.tasks.mmneedle import needle_prompt
from mmlong.eval.testdata import write_coco


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
