"""The runner: output layout, resume after a kill, rescore, --only reruns, simulated sharding, error capture."""

import json

import pytest

from mmlong.errors import MmlongError
from mmlong.eval import EvalConfig, Shard, evaluate, rescore
from mmlong.eval.output import VOLATILE, read_jsonl
from mmlong.data.benchmark_files import write_longvideobench

NEEDLE = {"mmneedle": {"m": 2, "n": 2, "size": 16, "n_seq": 12}}
VNIAH = {"lengths": (4,), "depths": (0.0, 0.5, 1.0), "size": 64, "samples_per_cell": 1}


@pytest.fixture(scope="module")
def lvb(tmp_path_factory):
    return write_longvideobench(tmp_path_factory.mktemp("lvb") / "lvb", n=10)


def _cfg(out, lvb, **kw):
    base = dict(model="random", tasks=("mmneedle", "longvideobench_val_v", "vniah_synth"), output_path=str(out),
                data_dirs={"longvideobench_val_v": str(lvb)}, log_samples=True,
                task_options={**NEEDLE, "vniah_synth": {**VNIAH, "data_dir": str(out / "vn")}})
    return EvalConfig(**{**base, **kw})


def _samples(out, run_id, task, model="random"):
    return [{k: v for k, v in r.items() if k not in VOLATILE}
            for r in read_jsonl(out / model / f"{run_id}_samples_{task}.jsonl")]


def _metrics(results):
    return {t: {k: v for k, v in m.items()} for t, m in results["results"].items()}


class Killer:
    """Wraps a model and raises KeyboardInterrupt on the n-th call (a run killed midway)."""

    def __init__(self, inner, n):
        self.inner, self.n, self.calls = inner, n, 0

    def generate(self, *a, **k):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return self.inner.generate(*a, **k)


def test_layout_and_results_contents(tmp_path, lvb):
    r = evaluate(_cfg(tmp_path, lvb, run_id="r1"), echo=False)
    d = tmp_path / "random"
    assert sorted(p.name for p in d.iterdir()) == sorted([
        "r1_results.json", "r1_samples_mmneedle.jsonl", "r1_samples_longvideobench_val_v.jsonl",
        "r1_samples_vniah_synth.jsonl"]
        + (["r1_vniah_synth_heatmap.png"] if r["files"]["vniah_synth"].get("heatmap") else []))
    res = json.loads((d / "r1_results.json").read_text())
    assert res["status"] == "complete" and res["run_id"] == "r1"
    assert "exact_acc,none" in res["results"]["mmneedle"] and "exact_acc_stderr,none" in res["results"]["mmneedle"]
    assert res["versions"] == {"mmneedle": "2", "longvideobench_val_v": "1", "vniah_synth": "2"}
    assert set(res["task_hashes"]) == set(res["versions"]) and all(len(h) == 64 for h in res["task_hashes"].values())
    assert res["configs"]["mmneedle"]["options"]["m"] == 2 and res["config"]["model"] == "random"
    assert res["packages"]["torch"] and "git_hash" in res
    assert res["n-samples"]["mmneedle"] == {"original": 12, "effective": 12}
    rec = read_jsonl(d / "r1_samples_mmneedle.jsonl")[0]
    assert {"doc_id", "doc_hash", "target", "input", "filtered_resps", "exact_acc", "error"} <= set(rec)
    assert rec["input"].startswith("Given 2 images")
    with pytest.raises(MmlongError, match="already exists"):
        evaluate(_cfg(tmp_path, lvb, run_id="r1"), echo=False)


def test_killed_then_resumed_equals_uninterrupted(tmp_path, lvb):
    from mmlong.eval.models import RandomModel

    full = evaluate(_cfg(tmp_path, lvb, run_id="full"), echo=False)
    with pytest.raises(KeyboardInterrupt):
        evaluate(_cfg(tmp_path, lvb, run_id="cut"), model=Killer(RandomModel(0), 17), echo=False)
    cut = json.loads((tmp_path / "random" / "cut_results.json").read_text())
    assert cut["status"] == "running"  # the results file exists from the start
    assert len(read_jsonl(tmp_path / "random" / "cut_samples_longvideobench_val_v.jsonl")) == 4  # 12 needle + 4 done
    with open(tmp_path / "random" / "cut_samples_longvideobench_val_v.jsonl", "a") as f:
        f.write('{"doc_id": "half a line')  # killed mid-write
    resumed = evaluate(_cfg(tmp_path, lvb, run_id="cut", resume=True), echo=False)
    assert _metrics(resumed) == _metrics(full)
    for task in ("mmneedle", "longvideobench_val_v", "vniah_synth"):
        assert _samples(tmp_path, "cut", task) == _samples(tmp_path, "full", task)
    assert resumed["task_hashes"] == full["task_hashes"]


def test_resume_refuses_other_settings(tmp_path, lvb):
    evaluate(_cfg(tmp_path, lvb, run_id="a", tasks=("mmneedle",)), echo=False)
    with pytest.raises(MmlongError, match="different settings"):
        evaluate(_cfg(tmp_path, lvb, run_id="a", tasks=("mmneedle",), seed=3, resume=True), echo=False)
    with pytest.raises(MmlongError, match="does not exist"):
        evaluate(_cfg(tmp_path, lvb, run_id="zzz", tasks=("mmneedle",), resume=True), echo=False)


def test_rescore_reproduces_and_applies_scorer_changes(tmp_path, lvb):
    r = evaluate(_cfg(tmp_path, lvb, run_id="s"), echo=False)
    path = tmp_path / "random" / "s_results.json"
    again = rescore(path, echo=False)
    assert _metrics(again) == _metrics(r) and again["rescored_at"]
    # edit one saved answer: rescoring picks it up without the model or the data
    f = tmp_path / "random" / "s_samples_mmneedle.jsonl"
    recs = read_jsonl(f)
    recs[0]["filtered_resps"] = [recs[0]["target"]]
    f.write_text("".join(json.dumps(x) + "\n" for x in recs))
    fixed = rescore(path, echo=False)
    n_pos = sum(1 for x in recs if x["ref"]["positive"])
    before = r["results"]["mmneedle"]["exact_acc,none"]
    assert fixed["results"]["mmneedle"]["exact_acc,none"] == pytest.approx(before + (1 - recs[0]["exact_acc"]) / n_pos)


def test_only_reruns_one_doc_in_place(tmp_path, lvb):
    cfg = _cfg(tmp_path, lvb, run_id="o", tasks=("mmneedle",))
    evaluate(cfg, echo=False)
    f = tmp_path / "random" / "o_samples_mmneedle.jsonl"
    recs = read_jsonl(f)
    recs[3]["error"] = "model: CUDA out of memory"
    f.write_text("".join(json.dumps(x) + "\n" for x in recs))
    r = evaluate(_cfg(tmp_path, lvb, run_id="o", tasks=("mmneedle",), resume=True, only=("mmneedle:3",)), echo=False)
    after = read_jsonl(f)
    assert len(after) == 12 and after[3]["error"] is None and [x["doc_id"] for x in after] == [str(i) for i in range(12)]
    assert r["n-samples"]["mmneedle"]["effective"] == 12
    new = evaluate(_cfg(tmp_path, lvb, run_id="o2", tasks=("mmneedle",), only=("3", "5")), echo=False)
    assert new["n-samples"]["mmneedle"]["effective"] == 2
    with pytest.raises(MmlongError, match="matches no doc"):
        evaluate(_cfg(tmp_path, lvb, run_id="o3", tasks=("mmneedle",), only=("nope",)), echo=False)


def test_sharded_run_equals_single_process(tmp_path, lvb):
    single = evaluate(_cfg(tmp_path, lvb, run_id="one"), echo=False)
    cfg = _cfg(tmp_path, lvb, run_id="two")
    assert evaluate(cfg, shard=Shard(1, 2), echo=False) is None  # rank 1 writes its part and returns
    parts = sorted(p.name for p in (tmp_path / "random").glob("two_samples_mmneedle.part*"))
    assert parts == ["two_samples_mmneedle.part1of2.jsonl"]
    assert [r["doc_id"] for r in read_jsonl(tmp_path / "random" / parts[0])] == [str(i) for i in range(1, 12, 2)]
    merged = evaluate(cfg, shard=Shard(0, 2), echo=False)  # rank 0 runs its docs, merges and scores
    assert _metrics(merged) == _metrics(single)
    for task in ("mmneedle", "longvideobench_val_v", "vniah_synth"):
        assert _samples(tmp_path, "two", task) == _samples(tmp_path, "one", task)
    assert not list((tmp_path / "random").glob("two_*part*"))
    with pytest.raises(MmlongError, match="has not finished"):
        evaluate(_cfg(tmp_path, lvb, run_id="three"), shard=Shard(0, 2), echo=False)  # rank 1 never ran
    assert Shard(1, 3).take(list(range(8))) == [1, 4, 7]


def test_missing_data_and_bad_models_never_abort(tmp_path, lvb):
    class Garbage:
        def generate(self, req, images, clip, doc_key):
            n = int(doc_key.rsplit("/", 1)[1][-1]) if doc_key[-1].isdigit() else 0
            if n % 4 == 0:
                raise RuntimeError("CUDA error: device-side assert\nmore lines")
            if n % 4 == 1:
                return 12345, {}
            return "\x00\ufffd }{ garbage " * 3, {}

    cfg = _cfg(tmp_path, lvb, run_id="g", model="garbage",
               tasks=("mmneedle", "longvideobench_val_i", "videowebarena_qa"),
               data_dirs={"longvideobench_val_i": str(tmp_path / "missing")},
               task_options={**NEEDLE, "videowebarena_qa": {"data_dir": str(tmp_path / "nothing")}})
    r = evaluate(cfg, model=Garbage(), echo=False)
    assert r["status"] == "partial"
    assert "--data-dir longvideobench_val_i=DIR" in r["task_errors"]["longvideobench_val_i"]
    assert "--data-dir videowebarena_qa=DIR" in r["task_errors"]["videowebarena_qa"]
    assert r["results"]["longvideobench_val_i"]["error"]
    recs = read_jsonl(tmp_path / "garbage" / "g_samples_mmneedle.jsonl")
    errors = {x["doc_id"]: x["error"] for x in recs if x["error"]}
    assert errors["0"] == "model: RuntimeError: CUDA error: device-side assert"
    assert errors["1"] == "model: returned int, not text"
    assert recs[2]["error"] is None and recs[2]["exact_acc"] == 0  # garbage text is simply wrong
    assert r["results"]["mmneedle"]["exact_acc,none"] == 0.0


def test_unknown_task_and_bad_config():
    with pytest.raises(MmlongError, match="unknown task 'nope'; valid tasks: mmneedle, longvideobench_val_v"):
        evaluate(EvalConfig(model="random", tasks=("nope",)), echo=False)
    with pytest.raises(MmlongError, match="--limit"):
        EvalConfig(model="random", tasks=("mmneedle",), limit=0)
    with pytest.raises(MmlongError, match="--resume needs"):
        EvalConfig(model="random", tasks=("mmneedle",), resume=True)
    r = evaluate(EvalConfig(model="random", tasks="mmneedle", limit=0.25, task_options=NEEDLE), echo=False)
    assert r["n-samples"]["mmneedle"] == {"original": 12, "effective": 3}


def test_torchrun_two_processes_match_one(tmp_path):
    """A real 2-process launch (torchrun, CPU, gloo): ranks split the docs, rank 0 merges one run."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    args = ["eval", "--model", "random", "--tasks", "mmneedle", "--task-opt", "mmneedle.m=2", "--task-opt",
            "mmneedle.n=2", "--task-opt", "mmneedle.size=16", "--task-opt", "mmneedle.n_seq=10"]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "mmlong.cli",
           *args, "--output-path", str(tmp_path / "ddp")]
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (res,) = (tmp_path / "ddp" / "random").glob("*_results.json")  # one run id, agreed across ranks
    ddp = json.loads(res.read_text())
    assert ddp["shards"] == 2 and not list((tmp_path / "ddp" / "random").glob("*part*"))
    single = evaluate(EvalConfig(model="random", tasks=("mmneedle",),
                                 task_options={"mmneedle": {"m": 2, "n": 2, "size": 16, "n_seq": 10}}), echo=False)
    assert ddp["results"] == single["results"]
    assert len(read_jsonl(res.parent / res.name.replace("_results.json", "_samples_mmneedle.jsonl"))) == 10
