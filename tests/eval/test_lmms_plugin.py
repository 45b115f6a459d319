"""The lmms-eval plugin: lmms-eval's own CLI runs local tasks and mmlong's tasks with ``--model mmlong``.

One CLI run (``python -m mmlong.lmms``'s main, lmms-eval 0.7.3's ``cli.dispatch.main``) evaluates three
tasks defined in local YAMLs over local JSON-lines data (no hub): a generate_until task over
images and a video path, a multiple_choice task (loglikelihood requests) and mmlong's
``vniah_synth`` with small options (a YAML that includes the shipped one). Its answers are
compared with ``mmlong.load(...).ask`` on the same inputs, its loglikelihoods with the scores
of a greedy ``generate``, and its results file with lmms-eval's format.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lmms_eval", reason="lmms-eval is installed by `make` (pip install --no-deps lmms-eval==0.7.3)")

from mmlong.errors import MmlongError  # noqa: E402
from mmlong.lmms import TASKS_DIR  # noqa: E402

MODEL_ARGS = "pretrained=tiny:qwen2_5_vl,max_new_tokens=4"
COLORS = {"red": (230, 20, 20), "blue": (20, 20, 230)}
VNIAH = {"lengths": [4], "depths": [0.5], "samples_per_cell": 1, "question": ["what", "order"], "size": 64}

QA_YAML = """task: local_qa
dataset_path: json
dataset_kwargs:
  data_files:
    test: qa.jsonl
test_split: test
output_type: generate_until
doc_to_visual: !function utils.doc_to_visual
doc_to_text: "{{question}}"
doc_to_target: answer
generation_kwargs:
  max_new_tokens: 4
  until: ["\\n"]
process_results: !function utils.process_results
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
"""
MC_YAML = """task: local_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: qa.jsonl
test_split: test
output_type: multiple_choice
doc_to_visual: !function utils.doc_to_visual
doc_to_text: "{{question}}"
doc_to_choice: ["red", "blue"]
doc_to_target: "{{choice}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
"""
UTILS = """from PIL import Image

def doc_to_visual(doc):
    return [doc["video"]] if doc["video"] else [Image.open(doc["image"]).convert("RGB")]

def process_results(doc, results):
    return {"exact_match": float(results[0].strip().lower() == doc["answer"])}
"""


def _write_tasks(root: Path, video: str) -> list[dict]:
    from PIL import Image

    rows = []
    for i, (name, rgb) in enumerate(COLORS.items()):
        path = root / f"{name}.png"
        Image.fromarray(np.full((56, 84, 3), rgb, np.uint8)).save(path)
        rows.append({"image": str(path), "video": "", "question": "What colour is the image?", "answer": name,
                     "choice": i})
    rows.append({"image": "", "video": video, "question": "What colour is the video?", "answer": "red", "choice": 0})
    (root / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "qa.yaml").write_text(QA_YAML)
    (root / "mc.yaml").write_text(MC_YAML)
    (root / "utils.py").write_text(UTILS)
    opts = {**VNIAH, "data_dir": str(root / "vniah")}
    (root / "vniah_small.jsonl").write_text(json.dumps({"task": "vniah_synth", "options": json.dumps(opts)}) + "\n")
    (root / "vniah_small.yaml").write_text(f"include: {TASKS_DIR / 'vniah_synth.yaml'}\ntask: vniah_small\n"
                                           "dataset_kwargs:\n  data_files:\n    test: vniah_small.jsonl\n")
    return rows


@pytest.fixture(scope="module")
def lmms_run(tmp_path_factory, video):
    """lmms-eval's CLI entry (``python -m mmlong.lmms`` = ``lmms_eval.cli.dispatch.main``), run in this process
    (a subprocess would import torch, transformers and lmms-eval a second time)."""
    import contextlib
    import io

    from mmlong.lmms.__main__ import main

    root = tmp_path_factory.mktemp("lmms_tasks")
    rows = _write_tasks(root, video)
    out = root / "out"
    argv = ["--model", "mmlong", "--model_args", MODEL_ARGS, "--tasks", "local_qa,local_mc,vniah_small",
            "--include_path", str(root), "--output_path", str(out), "--log_samples"]
    old_env, old_argv = os.environ.get("LMMS_EVAL_DATASETS_CACHE"), sys.argv
    os.environ["LMMS_EVAL_DATASETS_CACHE"] = str(root / "hf_datasets")
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            assert main(argv) == 0
    finally:
        sys.argv = old_argv
        if old_env is None:
            os.environ.pop("LMMS_EVAL_DATASETS_CACHE", None)
        else:
            os.environ["LMMS_EVAL_DATASETS_CACHE"] = old_env
    proc = type("Run", (), {"stdout": stdout.getvalue(), "stderr": stderr.getvalue()})  # what the CLI printed
    results = glob.glob(str(out / "tiny__qwen2_5_vl" / "*_results.json"))
    assert len(results) == 1, proc.stderr[-3000:]

    def samples(task):
        (path,) = glob.glob(str(out / "tiny__qwen2_5_vl" / f"*_samples_{task}.jsonl"))
        return [json.loads(line) for line in Path(path).read_text().splitlines()]

    return {"rows": rows, "results": json.loads(Path(results[0]).read_text()), "samples": samples,
            "stdout": proc.stdout, "root": root}


@pytest.fixture(scope="module")
def pipe():
    import mmlong

    return mmlong.load("tiny:qwen2_5_vl", max_new_tokens=4, device="cpu")


def test_the_entry_point_registers_the_mmlong_model():
    from lmms_eval.models import get_model, list_available_models

    from mmlong.lmms.model import MmlongLMMS

    assert "mmlong" in list_available_models()
    assert get_model("mmlong") is MmlongLMMS


def test_lmms_eval_lists_mmlongs_tasks():
    from lmms_eval.tasks import TaskManager

    from mmlong.lmms.__main__ import lmms_eval_argv

    tm = TaskManager("WARNING", include_path=str(TASKS_DIR), include_defaults=False)
    assert tm.all_tasks == ["mmneedle", "videowebarena_qa", "vniah_synth"]
    assert lmms_eval_argv(["--model", "mmlong"]) == ["--model", "mmlong", "--include_path", str(TASKS_DIR)]
    assert lmms_eval_argv(["tasks", "list"]) == ["tasks", "list", "--include-path", str(TASKS_DIR)]
    assert lmms_eval_argv(["--include_path", "x", "--tasks", "t"]) == ["--include_path", "x", "--tasks", "t"]
    assert lmms_eval_argv(["version"]) == ["version"]


def test_results_land_in_lmms_evals_format(lmms_run):
    res = lmms_run["results"]
    assert set(res["results"]) == {"local_qa", "local_mc", "vniah_small"}
    assert res["n-samples"]["local_qa"]["effective"] == 3 and res["n-samples"]["vniah_small"]["effective"] == 2
    assert {"exact_match,none", "exact_match_stderr,none"} <= set(res["results"]["local_qa"])
    assert {"acc,none", "acc_what,none", "acc_order,none", "acc_when,none"} <= set(res["results"]["vniah_small"])
    assert res["config"]["model"] == "mmlong" and res["config"]["model_args"] == MODEL_ARGS
    assert res["configs"]["vniah_small"]["output_type"] == "generate_until"
    assert "|local_qa" in lmms_run["stdout"]  # lmms-eval's printed table


def test_generate_until_answers_are_mmlongs_own(lmms_run, pipe):
    from PIL import Image

    samples = lmms_run["samples"]("local_qa")
    assert [s["doc_id"] for s in samples] == [0, 1, 2]
    right = []
    for row, s in zip(lmms_run["rows"], samples):
        if row["video"]:
            ans = pipe.ask(row["question"], video=row["video"], max_new_tokens=4)
            assert ans.tokens["video"] > 0
        else:
            ans = pipe.ask(row["question"], images=[Image.open(row["image"]).convert("RGB")], max_new_tokens=4)
        expected = ans.text.split("\n")[0]
        assert s["filtered_resps"] in (expected, [expected])
        right.append(float(expected.strip().lower() == row["answer"]))
    assert lmms_run["results"]["results"]["local_qa"]["exact_match,none"] == pytest.approx(np.mean(right))


def test_loglikelihoods_match_mmlongs_scores(lmms_run, pipe):
    from PIL import Image

    from mmlong.lmms.scoring import continuation_logprob

    samples = lmms_run["samples"]("local_mc")
    right = []
    for row, s in zip(lmms_run["rows"], samples):
        kw = {"video": row["video"]} if row["video"] else {"images": [Image.open(row["image"]).convert("RGB")]}
        logged = [float(r[0].split()[0] if isinstance(r, list) else r.split()[0]) for r in s["filtered_resps"]]
        scored = [continuation_logprob(pipe, row["question"], " " + c, **kw) for c in ("red", "blue")]
        losses = [-logprob / n for logprob, _, n in scored]  # lmms-eval's convention: mean NLL, argmin wins
        assert logged == pytest.approx(losses, abs=1e-4)
        right.append(float(int(np.argmax([logprob / n for logprob, _, n in scored])) == row["choice"]))
    assert lmms_run["results"]["results"]["local_mc"]["acc,none"] == pytest.approx(np.mean(right))


def test_continuation_logprob_equals_greedy_generate_scores(pipe):
    """The greedy continuation's log-probability, from generate's own scores, and greedy=True."""
    import torch

    from mmlong.lmms.scoring import continuation_logprob
    from mmlong.models.vision_inputs import model_inputs
    from mmlong.pos_encodings.patch import video_timestamps

    question = "Name a colour."
    inputs = pipe.inputs(question)
    with torch.no_grad(), video_timestamps(pipe.model, None):
        out = pipe.model.generate(**model_inputs(inputs), max_new_tokens=3, do_sample=False, output_scores=True,
                                  return_dict_in_generate=True, pad_token_id=pipe.tokenizer.pad_token_id)
    new = out.sequences[0, inputs["input_ids"].shape[1]:].tolist()
    text = pipe.tokenizer.decode(new)
    assert pipe.tokenizer.encode(text, add_special_tokens=False) == new  # the byte-level tiny tokenizer round-trips
    ref = sum(float(torch.log_softmax(s[0].float(), -1)[t]) for s, t in zip(out.scores, new))
    logprob, greedy, n = continuation_logprob(pipe, question, text)
    assert logprob == pytest.approx(ref, abs=1e-4) and greedy is True and n == 3
    other = (new[0] + 1) % pipe.model.config.get_text_config().vocab_size
    assert continuation_logprob(pipe, question, pipe.tokenizer.decode([other] + new[1:]))[1] is False


def test_mmlongs_task_through_lmms_eval_scores_as_mmlong_does(lmms_run, pipe):
    from mmlong.eval.tasks import get_task

    task = get_task("vniah_synth", **{**VNIAH, "data_dir": str(lmms_run["root"] / "vniah")})
    samples = lmms_run["samples"]("vniah_small")
    docs = task.docs()
    assert len(docs) == len(samples) == 2
    accs = []
    for doc, s in zip(docs, samples):
        req = task.request(doc)
        images, clip = req.load()
        assert len(clip) == 4  # the task's pinned frames (1 fps, 4 s), not the model's own sampling
        text = pipe.ask(req.text, video=clip, images=images or None, max_new_tokens=req.max_new_tokens).text
        assert s["filtered_resps"] in (text, [text]) and s["target"] == doc.data["answer"]
        accs.append(task.score(task.reference(doc)[1], text)["acc"])
    assert lmms_run["results"]["results"]["vniah_small"]["acc,none"] == pytest.approx(np.mean(accs))


def test_refusals_are_one_line():
    from mmlong.lmms.model import cut_at_stops, greedy_only, place_images, split_visuals

    with pytest.raises(MmlongError, match="greedily.*temperature=0.7"):
        greedy_only({"temperature": 0.7})
    greedy_only({"temperature": 0, "do_sample": False, "num_beams": 1})
    with pytest.raises(MmlongError, match="not audio"):
        split_visuals([{"array": np.zeros(16000), "sampling_rate": 16000}])
    with pytest.raises(MmlongError, match="two videos"):
        split_visuals(["a.mp4", "b.mov"])
    img = np.zeros((28, 28, 3), np.uint8)
    assert split_visuals(["talk.MP4", img])[0] == "talk.MP4"
    assert place_images("A <image> B <image> C?", ["i0", "i1"]) == ["A ", "i0", " B ", "i1", " C?"]
    assert place_images("<image>\nQ?", ["i0", "i1"]) == "\nQ?"
    assert cut_at_stops("B. dog\nC. cat", ["\n", ""]) == "B. dog"


def test_multi_round_and_reduced_loglikelihood_are_refused():
    from mmlong.lmms.model import MmlongLMMS

    lm = MmlongLMMS(pretrained="tiny:qwen2_5_vl", reduce="temporal")
    with pytest.raises(MmlongError, match="multi-round"):
        lm.generate_until_multi_round([])
    with pytest.raises(MmlongError, match="drop reduce="):
        lm.loglikelihood([])
