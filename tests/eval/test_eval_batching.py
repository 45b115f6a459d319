"""--batch-size: a tiny Qwen-VL answers in left-padded batches exactly as one doc at a time; kills, resumes and bad docs."""

import pytest

from mmlong.eval import EvalConfig, evaluate
from mmlong.eval.output import VOLATILE, read_jsonl
from mmlong.data.benchmark_files import write_longvideobench

TASKS = ("mmneedle", "longvideobench_val_v", "longvideobench_val_i", "vniah_synth")
MODEL = "tiny:qwen2_5_vl"
DIR = "tiny__qwen2_5_vl"


@pytest.fixture(scope="module")
def lvb(tmp_path_factory):
    return write_longvideobench(tmp_path_factory.mktemp("lvbb") / "lvb", n=6, seconds=(4, 6))


def _cfg(out, lvb, **kw):
    base = dict(model=MODEL, pos="videorope", tasks=TASKS, output_path=str(out), limit=5, max_new_tokens=4,
                log_samples=True, data_dirs={t: str(lvb) for t in TASKS[1:3]},
                task_options={"mmneedle": {"m": 2, "n": 2, "size": 28, "n_seq": 6},
                              "vniah_synth": {"lengths": (4, 6), "depths": (0.0, 0.5, 1.0), "size": 64,
                                              "samples_per_cell": 1, "data_dir": str(out / "vn")},
                              "longvideobench_val_v": {"max_frames": 4}, "longvideobench_val_i": {"max_frames": 4}})
    return EvalConfig(**{**base, **kw})


def _samples(out, run_id, task):
    return [{k: v for k, v in r.items() if k not in VOLATILE}
            for r in read_jsonl(out / DIR / f"{run_id}_samples_{task}.jsonl")]


def test_batch_of_4_equals_one_at_a_time(tmp_path, lvb):
    one = evaluate(_cfg(tmp_path, lvb, run_id="bs1"), echo=False)
    four = evaluate(_cfg(tmp_path, lvb, run_id="bs4", batch_size=4), echo=False)
    assert one["results"] == four["results"] and not any(e["count"] for e in four["sample_errors"].values())
    for task in TASKS:
        a, b = _samples(tmp_path, "bs1", task), _samples(tmp_path, "bs4", task)
        assert a == b, task
        assert all(isinstance(s["filtered_resps"][0], str) and s["token_counts"]["prompt"] > 0 for s in b)
    timings = [r["timings"] for r in read_jsonl(tmp_path / DIR / "bs4_samples_mmneedle.jsonl")]
    assert [t.get("batch", 1) for t in timings] == [4, 4, 4, 4, 1]  # 5 docs: a batch of 4, then 1


class Killer:
    """Raises KeyboardInterrupt on the n-th batch (a run killed midway)."""

    def __init__(self, inner, n):
        self.inner, self.n, self.calls = inner, n, 0

    def generate(self, *a):
        return self.inner.generate(*a)

    def generate_batch(self, items):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return self.inner.generate_batch(items)


def test_killed_batched_run_resumes_to_the_same_records(tmp_path, lvb):
    from mmlong.eval.models import build_model

    cfg = _cfg(tmp_path, lvb, run_id="cut", batch_size=2, tasks=TASKS[:2])
    with pytest.raises(KeyboardInterrupt):
        evaluate(cfg, model=Killer(build_model(cfg), 5), echo=False)  # needle 2+2+1, lvb 2, then the kill
    assert len(read_jsonl(tmp_path / DIR / "cut_samples_longvideobench_val_v.jsonl")) == 2
    resumed = evaluate(_cfg(tmp_path, lvb, run_id="cut", batch_size=2, tasks=TASKS[:2], resume=True), echo=False)
    full = evaluate(_cfg(tmp_path, lvb, run_id="full", tasks=TASKS[:2]), echo=False)
    assert resumed["results"] == full["results"]
    for task in TASKS[:2]:
        assert _samples(tmp_path, "cut", task) == _samples(tmp_path, "full", task)


def test_a_bad_doc_in_a_batch_costs_only_itself(tmp_path, lvb):
    import shutil

    root = tmp_path / "lvb"
    shutil.copytree(lvb, root)
    (root / "videos" / "vid1.mp4").write_bytes(b"not a video")
    cfg = _cfg(tmp_path, lvb, run_id="bad", batch_size=4, tasks=("longvideobench_val_v",),
               data_dirs={"longvideobench_val_v": str(root)})
    r = evaluate(cfg, echo=False)
    samples = read_jsonl(tmp_path / DIR / "bad_samples_longvideobench_val_v.jsonl")
    bad = [s["doc_id"] for s in samples if s["error"]]
    assert bad == r["sample_errors"]["longvideobench_val_v"]["doc_ids"] and bad and len(bad) < len(samples)
    assert all(s["error"].startswith("input:") for s in samples if s["error"])
    assert all(isinstance(s["filtered_resps"][0], str) for s in samples if not s["error"])


def test_budget_caps_the_pinned_frames_tokens(tmp_path, lvb):
    def video_tokens(run_id, **kw):
        r = evaluate(_cfg(tmp_path, lvb, run_id=run_id, tasks=("longvideobench_val_v",), limit=2, **kw), echo=False)
        assert not r["sample_errors"]["longvideobench_val_v"]["count"]
        return [s["token_counts"]["video"] for s in read_jsonl(tmp_path / DIR / f"{run_id}_samples_longvideobench_val_v.jsonl")]

    free = video_tokens("free")
    capped = video_tokens("capped", frames={"budget": "12"})
    assert all(f > 12 for f in free) and all(0 < c <= 12 for c in capped)
