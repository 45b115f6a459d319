"""A tiny random-weight Qwen-VL runs through every task with every position scheme (2 docs per task;
every other scheme answers them as one left-padded batch)."""

import pytest

from mmlong.eval import EvalConfig, evaluate
from mmlong.eval.tasks.videowebarena import default_data_dir, load_configs
from mmlong.data.benchmark_files import write_longvideobench, write_videowebarena_videos
from mmlong.pos_encodings import schemes

FAMILIES = ("qwen2_5_vl", "qwen2_vl", "qwen3_vl")
TASKS = ("mmneedle", "longvideobench_val_v", "longvideobench_val_i", "longvideobench_test_v", "vniah_synth",
         "videowebarena_qa")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tinydata")
    write_longvideobench(root / "lvb", n=2, seconds=(4,))
    vwa = default_data_dir()
    if vwa is not None:
        write_videowebarena_videos(root / "media", sorted({t["video"] for _, t in load_configs(vwa)[:2]}), seconds=2)
    return root


@pytest.mark.parametrize("i,scheme", list(enumerate(schemes())))
def test_every_scheme_every_task(i, scheme, data, tmp_path):
    family = FAMILIES[i % len(FAMILIES)]
    tasks = TASKS if default_data_dir() is not None else TASKS[:-1]
    cfg = EvalConfig(model=f"tiny:{family}", pos=scheme, tasks=tasks, limit=2, max_new_tokens=3, batch_size=1 + i % 2,
                     output_path=str(tmp_path), data_dirs={t: str(data / "lvb") for t in TASKS[1:4]},
                     task_options={"mmneedle": {"m": 2, "n": 2, "size": 28, "n_seq": 2},
                                   "vniah_synth": {"lengths": (4,), "depths": (0.25, 0.75), "size": 64, "samples_per_cell": 1,
                                                   "data_dir": str(data / "vn")},
                                   "videowebarena_qa": {"video_dir": str(data / "media"), "max_frames": 4},
                                   "longvideobench_val_v": {"max_frames": 4}, "longvideobench_test_v": {"max_frames": 4},
                                   "longvideobench_val_i": {"max_frames": 4}})
    r = evaluate(cfg, echo=False)
    assert r["status"] == "complete" and not r["task_errors"]
    assert all(e["count"] == 0 for e in r["sample_errors"].values()), r["sample_errors"]
    assert r["config"]["pos"] == scheme
    assert set(r["results"]) == set(tasks)
    assert all(n["effective"] == 2 for n in r["n-samples"].values()), r["n-samples"]
    from mmlong.eval.output import read_jsonl

    rec = read_jsonl(tmp_path / f"tiny__{family}" / f"{r['run_id']}_samples_mmneedle.jsonl")[0]
    assert rec["token_counts"]["image"] > 0 and isinstance(rec["filtered_resps"][0], str)  # the model really ran
    rec = read_jsonl(tmp_path / f"tiny__{family}" / f"{r['run_id']}_samples_vniah_synth.jsonl")[0]
    assert rec["token_counts"]["video"] > 0 and len(rec["input_media"]["frame_times"]) == 4
