"""vniah_synth v2: what / when / order needles in generated videos, every frame sampled, heatmaps."""

import random

import numpy as np
import pytest

from mmlong.data.vniah import CHANCE, draw_doc, write_dataset
from mmlong.errors import MmlongError
from mmlong.eval import EvalConfig, evaluate
from mmlong.eval.tasks import get_task

OPTS = {"lengths": (6, 12), "depths": (0.1, 0.5, 0.9), "size": 64, "samples_per_cell": 2}


def _run(model, tmp_path, out=True, **opts):
    opts = {"vniah_synth": {**OPTS, "data_dir": str(tmp_path / "v"), **opts}}
    return evaluate(EvalConfig(model=model, tasks=("vniah_synth",), output_path=str(tmp_path / "out") if out else None,
                               task_options=opts), echo=False)


def _needle_frames(clip) -> list[int]:
    white = [float((f > 240).mean()) for f in clip.frames]  # a needle frame has a white background
    return [i for i, w in enumerate(white) if w > 0.3]


def test_every_frame_is_sampled_and_the_needles_are_where_the_doc_says(tmp_path):
    task = get_task("vniah_synth", **OPTS, data_dir=str(tmp_path / "v"))
    docs = task.docs()
    assert len(docs) == 3 * 2 * 3 * 2 and docs[0].doc_id == "what_L6_d010_000"
    for d in (docs[0], docs[13], docs[-1]):  # a what, a when and an order doc
        _, clip = task.request(d).load()
        assert len(clip) == d.data["length"]  # 1 fps, no cap: a length is a frame count
        assert _needle_frames(clip) == [s for s, _, _ in d.data["needles"]]


def test_answers_follow_the_needles():
    for seed in range(40):
        rng = random.Random(seed)
        when = draw_doc("when", 20, rng.uniform(0, 1), rng)
        (s, _, _), = when["needles"]
        assert when["answer"] == str(int(5 * (s + 0.5) / 20) + 1) and when["answer"] in when["choices"]
        order = draw_doc("order", 20, rng.uniform(0, 1), rng)
        (s1, a, _), (s2, b, _) = order["needles"]
        assert s1 < s2 and a != b and order["answer"] == a and sorted(order["choices"]) == sorted([a, b])
    # the default depths are centres of fifths: with the default jitter the answer is the depth's fifth
    for depth, fifth in zip((0.1, 0.3, 0.5, 0.7, 0.9), "12345"):
        for length in (16, 32, 64, 128):
            for seed in range(20):
                assert draw_doc("when", length, depth, random.Random(seed))["answer"] == fifth


def test_oracle_is_perfect_random_is_near_chance_and_heatmaps(tmp_path):
    r = _run("oracle", tmp_path)
    res = r["results"]["vniah_synth"]
    assert res["acc,none"] == res["acc_what,none"] == res["acc_when,none"] == res["acc_order,none"] == 1.0
    table = r["breakdowns"]["vniah_synth"]["acc_by_kind_length_depth"]
    assert table["when"] == {"6": {"0.10": 1.0, "0.50": 1.0, "0.90": 1.0}, "12": {"0.10": 1.0, "0.50": 1.0, "0.90": 1.0}}
    assert r["breakdowns"]["vniah_synth"]["chance"] == CHANCE
    heat = r["files"]["vniah_synth"].get("heatmap")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert heat is None
    else:
        png = tmp_path / "out" / "oracle" / heat
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    rnd = _run("random", tmp_path, out=False, lengths=(6, 8), samples_per_cell=10)
    acc = rnd["results"]["vniah_synth"]
    assert acc["acc_what,none"] < 0.45 and acc["acc_when,none"] < 0.45 and acc["acc_order,none"] < 0.8


def test_training_data_never_repeats_an_eval_video(tmp_path):
    task = get_task("vniah_synth", lengths=(16,), samples_per_cell=4, data_dir=str(tmp_path / "v"))
    evals = {tuple(map(tuple, d.data["needles"])) + (d.data["haystack_seed"],) for d in task.docs()}
    jsonl = write_dataset(tmp_path / "train", 30, length=16, seed=1)
    import json

    rows = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert len(rows) == 30 and {r["kind"] for r in rows} == {"what", "when", "order"}
    assert rows[0]["messages"][0]["content"].startswith("<video>") and (tmp_path / "train" / rows[0]["videos"][0]).exists()
    names = {r["videos"][0] for r in rows}
    assert len(names) == 30 and not any(f"seed{d.data['haystack_seed']}.mp4" in n for d in task.docs() for n in names)
    assert evals  # the eval docs exist and none of their (needles, haystack) pairs were written for training


def test_bad_options():
    with pytest.raises(MmlongError, match="needle must be"):
        get_task("vniah_synth", needle="sound")
    with pytest.raises(MmlongError, match="depths"):
        get_task("vniah_synth", depths=(1.5,))
    with pytest.raises(MmlongError, match="question kinds must be from what, when, order"):
        get_task("vniah_synth", question=("who",))
    with pytest.raises(MmlongError, match="too short"):
        draw_doc("order", 1, 0.5, random.Random(0))
    assert np.isclose(sum(CHANCE.values()), 1 / 6 + 1 / 5 + 1 / 2)


def _model_trained_at(tmp_path, length):
    """A copy of the shipped native model whose mmlong.json records training length ``length``."""
    import json
    import shutil

    from mmlong.models.hub import SHIPPED_DIR

    folder = tmp_path / f"model-L{length}"
    shutil.copytree(SHIPPED_DIR / "tiny-vniah-native", folder)
    meta = json.loads((folder / "mmlong.json").read_text())
    meta["trained"]["length"] = length
    (folder / "mmlong.json").write_text(json.dumps(meta))
    return str(folder)


def test_a_trained_model_is_evaluated_at_its_recorded_training_length(tmp_path):
    from mmlong.eval.output import read_jsonl
    from mmlong.eval.runner import resolve

    model = _model_trained_at(tmp_path, 6)
    small = {"question": ("what",), "depths": (0.5,), "samples_per_cell": 2, "data_dir": str(tmp_path / "v")}
    r = evaluate(EvalConfig(model=model, tasks=("vniah_synth",), output_path=str(tmp_path / "out"), log_samples=True,
                            task_options={"vniah_synth": small}), echo=False)
    samples, = (tmp_path / "out").rglob("*_samples_vniah_synth.jsonl")
    seen = [(s["doc_id"], len(s["input_media"]["frame_times"])) for s in read_jsonl(samples)]
    assert seen == [("what_L6_d050_000", 6), ("what_L6_d050_001", 6)]  # 6 s at 1 fps: 6 frames reached the model
    assert r["configs"]["vniah_synth"]["options"]["lengths"] == [6]
    # an explicit option wins; a model that records no length gets the task's default
    given = resolve(EvalConfig(model=model, tasks=("vniah_synth",), task_options={"vniah_synth": {"lengths": (4, 8)}}))
    assert given["tasks"]["vniah_synth"]["options"]["lengths"] == [4, 8]
    plain = resolve(EvalConfig(model="tiny:qwen2_5_vl", tasks=("vniah_synth",)))
    assert plain["tasks"]["vniah_synth"]["options"]["lengths"] == [16]
    shipped = resolve(EvalConfig(model="tiny-vniah:hope", tasks=("vniah_synth",)))
    assert shipped["tasks"]["vniah_synth"]["options"]["lengths"] == [16]
