"""LongVideoBench: official frames and interleaving, oracle 100%, random near chance, breakdowns, submission."""

import json
from types import SimpleNamespace

import pytest

from mmlong.errors import MmlongError
from mmlong.eval import EvalConfig, evaluate
from mmlong.eval.tasks import get_task
from mmlong.eval.tasks.longvideobench import frame_times, interleave
from mmlong.data.benchmark_files import write_longvideobench

TASKS = ("longvideobench_val_v", "longvideobench_val_i", "longvideobench_test_v")  # _test_i, _no_visual: below


@pytest.fixture(scope="module")
def lvb(tmp_path_factory):
    return write_longvideobench(tmp_path_factory.mktemp("lvb") / "LongVideoBench", n=40)


def _run(model, root, out=None, tasks=TASKS, **kw):
    return evaluate(EvalConfig(model=model, tasks=tasks, output_path=out, data_dirs={"*": str(root)}, **kw), echo=False)


def test_frame_times_official_formula():
    assert frame_times(10.0, 4.0, 64) == [i * 4 / 4.0 for i in range(10)]  # min(64, int(10)) = 10 frames
    assert frame_times(100.5, 2.0, 8) == [25 * i / 2.0 for i in range(8)]  # floor(201 / 8) = 25
    assert frame_times(0.4, 30.0, 16) == [0.0]  # under 1 s: clamped to one frame (official divides by zero)


def test_interleave_official_rules():
    times = [0.0, 2.0, 4.0, 6.0]
    subs = [{"timestamp": [0.5, 1.5], "text": "a"},  # mid 1.0: after frame 0; no frame inside (0.5, 1.5) -> dropped
            {"timestamp": [1.8, 2.2], "text": "b"},  # < 1 s: widened to (1.5, 2.5) around 2.0 -> kept
            {"start": "00:00:03.000", "end": "00:00:05.000", "line": "c"},  # frame 4.0 inside -> kept
            {"timestamp": [5.5, None], "text": "d"}]  # null end = duration 8 -> mid 6.75
    assert interleave(times, subs, 0.0, 8.0) == [0, 1, "b", 2, "c", 3, "d"]
    shifted = [{"timestamp": [100.5, 103.5], "text": "x"}]  # starting_timestamp_for_subtitles = 100
    assert interleave(times, shifted, 100.0, 8.0) == [0, 1, "x", 2, 3]


def test_oracle_100_random_near_chance_and_breakdowns(lvb, tmp_path):
    r = _run("oracle", lvb, tasks=TASKS[:2])
    assert r["results"]["longvideobench_val_v"]["lvb_acc,none"] == 1.0
    assert r["results"]["longvideobench_val_i"]["lvb_acc,none"] == 1.0
    rnd = _run("random", lvb, tmp_path, tasks=TASKS[:1])
    acc = rnd["results"]["longvideobench_val_v"]["lvb_acc,none"]
    assert 0.05 < acc < 0.5  # chance is 1/4 or 1/5
    b = rnd["breakdowns"]["longvideobench_val_v"]
    samples = [json.loads(line) for line in open(tmp_path / "random" / rnd["files"]["longvideobench_val_v"]["samples"])]
    by_cat = {}
    for s in samples:
        by_cat.setdefault(s["ref"]["question_category"], []).append(s["lvb_acc"])
    expected = {k: {"num": len(v), "acc": round(sum(v) / len(v), 5)} for k, v in sorted(by_cat.items())}
    assert b["question_category"] == expected
    assert sum(g["num"] for g in b["duration_group"].values()) == 40
    assert all(s["parsed_pred"] in "ABCDE" for s in samples)


def test_prompts_and_frames(lvb):
    v, i = get_task("longvideobench_val_v", data_dir=str(lvb)), get_task("longvideobench_val_i", data_dir=str(lvb))
    doc = v.docs()[0]
    req = v.request(doc)
    _, clip = req.load()
    assert len(clip) == 6 and list(clip.timestamps) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]  # 6 s video, 4 fps
    assert req.text == ("What colour is shown at second 0?\nA. colour 0\nB. colour 1\nC. colour 2\nD. colour 3\n"
                        "Answer with the option's letter from the given choices directly.\n")
    ireq = i.request(doc)
    images, _ = ireq.load()
    assert len(images) == 6 and ireq.text.count("<image>") == 6 and "line 0" in ireq.text
    assert ireq.text.endswith(req.text)
    assert i.options.max_frames == 16 and v.options.max_frames == 64
    # the model gets frames and subtitles in reading order, not frames first
    assert [p for p in ireq.parts if isinstance(p, int)] == list(range(6))
    assert "".join("<image>" if isinstance(p, int) else p for p in ireq.parts) == ireq.text


def test_interleaved_input_reaches_the_model_in_order(lvb):
    """The tiny model's prompt: vision blocks alternate with the subtitle lines, as in the parts."""
    from mmlong.eval.models import PipelineModel, interleaved
    from mmlong.models.tiny import tiny

    task = get_task("longvideobench_val_i", data_dir=str(lvb), max_frames=4)
    req = task.request(task.docs()[0])
    images, clip = req.load()
    question, rest = interleaved(req, images)
    assert rest == [] and [q for q in question if not isinstance(q, str)] == images

    seen = {}

    class Pipe:  # records what Pipeline.ask receives, answers with a real tiny-model build
        config = SimpleNamespace(model="recorder", route="direct")

        def ask(self, question, video=None, images=None, max_new_tokens=None):
            from mmlong.models.vision_inputs import build_inputs

            b = tiny("qwen2_vl")
            seen["ids"] = build_inputs(b.family, b.tokenizer, b.spec, question, images=images)["input_ids"][0]
            seen["tok"] = b.tokenizer
            return type("A", (), {"text": "A", "tokens": None, "timings": None})()

    PipelineModel(Pipe()).generate(req, images, clip, "doc")
    text = seen["tok"].decode(seen["ids"])
    blocks = text.count("<|vision_start|>")
    assert blocks == 4 and "Answer with the option" in text.split("<|vision_end|>")[-1]
    first_line = next(p for p in req.parts if isinstance(p, str) and "line" in p).strip()
    before, _, after = text.partition(first_line)
    assert "<|vision_start|>" in before and "<|vision_start|>" in after  # a subtitle sits between frames


def test_test_split_writes_submission(lvb, tmp_path):
    r = _run("random", lvb, tmp_path, tasks=("longvideobench_test_v",), limit=5)
    sub = tmp_path / "random" / r["files"]["longvideobench_test_v"]["submission"]
    assert sub.name.endswith("_longvideobench_test_v_submission.json")
    data = json.loads(sub.read_text())
    assert len(data) == 5 and all(v in "ABCDE" for v in data.values())
    assert r["results"]["longvideobench_test_v"]["n_submitted,none"] == 5


def test_test_i_interleaves_and_writes_submission(lvb, tmp_path):
    ti, vi = get_task("longvideobench_test_i", data_dir=str(lvb)), get_task("longvideobench_val_i", data_dir=str(lvb))
    doc = ti.docs()[0]
    assert "correct_choice" not in doc.data and ti.options.max_frames == 16
    req, ref = ti.request(doc), vi.request(vi.docs()[0])
    images, _ = req.load()
    ref.load()
    assert req.oracle is None and req.text == ref.text and len(images) == 6  # same doc, same interleaved turn
    assert [p for p in req.parts if isinstance(p, int)] == list(range(6))
    r = _run("random", lvb, tmp_path, tasks=("longvideobench_test_i",), limit=4)
    sub = tmp_path / "random" / r["files"]["longvideobench_test_i"]["submission"]
    assert sub.name.endswith("_longvideobench_test_i_submission.json")
    assert len(json.loads(sub.read_text())) == 4 and r["results"]["longvideobench_test_i"]["n_submitted,none"] == 4


def test_no_visual_asks_the_question_alone(lvb, tmp_path):
    nv, v = get_task("longvideobench_no_visual", data_dir=str(lvb)), get_task("longvideobench_val_v", data_dir=str(lvb))
    doc = nv.docs()[0]
    req = nv.request(doc)
    assert req.load() == ([], None) and req.parts is None
    assert req.text == v.request(doc).text  # lmms-eval: the val_v prompt, no visual
    assert _run("oracle", lvb, tasks=("longvideobench_no_visual",))["results"]["longvideobench_no_visual"][
        "lvb_acc,none"] == 1.0
    r = _run("tiny:qwen2_vl", lvb, tmp_path, tasks=("longvideobench_no_visual",), limit=2, max_new_tokens=2)
    samples = [json.loads(line) for line in
               open(tmp_path / "tiny__qwen2_vl" / r["files"]["longvideobench_no_visual"]["samples"])]
    assert len(samples) == 2 and all(s["error"] is None and s["parsed_pred"] in "ABCDE" for s in samples)
    assert all(s["input_media"] == {"video": None} for s in samples)
    assert all(s["token_counts"]["image"] == s["token_counts"]["video"] == 0 < s["token_counts"]["prompt"]
               for s in samples)


def test_missing_data_dir_names_the_flag():
    with pytest.raises(MmlongError, match="--data-dir longvideobench_val_v=DIR"):
        get_task("longvideobench_val_v").docs()


def test_missing_and_corrupt_videos_are_recorded_per_sample(lvb, tmp_path):
    import shutil

    root = tmp_path / "lvb"
    shutil.copytree(lvb, root)
    (root / "videos" / "vid1.mp4").write_bytes(b"not a video at all")
    (root / "videos" / "vid0.mp4").unlink()
    r = _run("oracle", root, tasks=("longvideobench_val_v", "longvideobench_val_i"), limit=4)
    for t in ("longvideobench_val_v", "longvideobench_val_i"):
        errs = r["sample_errors"][t]
        assert errs["count"] == 4 and errs["doc_ids"] == ["vid0_0", "vid1_1", "vid0_2", "vid1_3"]
        assert r["results"][t]["lvb_acc,none"] == 0.0  # a doc without input counts as wrong
