"""`mmlong eval`: flags (lmms-eval spellings too), dry run, long-context flags, end-to-end runs, resume and rescore."""

import json

import pytest

from mmlong.cli import main
from mmlong.errors import MmlongError
from mmlong.eval.config import EvalConfig
from mmlong.eval.models import load_kwargs

NEEDLE = ["--task-opt", "mmneedle.m=2", "--task-opt", "mmneedle.n=2", "--task-opt", "mmneedle.size=16",
          "--task-opt", "mmneedle.n_seq=6"]


def test_tasks_list(capsys):
    assert main(["eval", "--tasks", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("mmneedle", "longvideobench_val_v", "longvideobench_val_i", "longvideobench_test_v",
                 "longvideobench_test_i", "longvideobench_no_visual", "videowebarena_qa", "videowebarena_agent", "vniah_synth"):
        assert name in out
    # every option with its default and its comment, e.g. mmneedle's m
    assert "    m = 10  # stitched images per haystack" in out and "longvideobench_val_i (v2):" in out


def test_dry_run_prints_resolved_config(capsys):
    rc = main(["eval", "--model", "tiny:qwen2_5_vl", "--pos", "hope", "--opt", "gamma=1.5", "--tasks", "mmneedle",
               "--limit", "4", "--seed", "7,1234,1234,1234", "--max_num_frames", "8", "--dry-run", *NEEDLE])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["pos"] == "hope" and out["config"]["pos_options"] == {"gamma": 1.5} and out["config"]["seed"] == 7
    assert out["model_load_kwargs"]["pos"] == "hope" and out["model_load_kwargs"]["gamma"] == 1.5
    assert out["model_load_kwargs"]["frames"]["max_frames"] == 8 and out["config"]["frames"]["max_frames"] == 8
    assert out["tasks"]["mmneedle"]["options"]["m"] == 2 and out["tasks"]["mmneedle"]["options"]["size"] == 16


def test_long_context_flags_reach_mmlong_load(capsys):
    rc = main(["eval", "--model", "tiny:qwen2_vl", "--tasks", "mmneedle", "--prefill", "mminference", "--patterns",
               "vs", "--prefill-opt", "local=256", "--prefill-opt", "min_len=0", "--budget", "8k", "--dry-run"])
    kw = json.loads(capsys.readouterr().out)["model_load_kwargs"]
    assert rc == 0 and kw["prefill"] == "mminference" and kw["patterns"] == "vs"
    assert kw["prefill_opts"] == {"local": 256, "min_len": 0} and kw["frames"]["budget"] == 8192
    rc = main(["eval", "--model", "oracle", "--tasks", "mmneedle", "--prefill-opt", "local=256", "--dry-run"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "add --prefill mminference" in err
    with pytest.raises(MmlongError, match="--opt budget clashes"):
        load_kwargs(EvalConfig(model="m", tasks=("mmneedle",), frames={"budget": "16k"}, pos_options={"budget": 1}))


def test_one_line_errors(capsys):
    assert main(["eval", "--model", "oracle", "--tasks", "mmneedl"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmlong: error: unknown task 'mmneedl'; valid tasks:") and err.count("\n") == 1
    assert main(["eval", "--model", "oracle", "--tasks", "mmneedle", "--task-opt", "vniah_synth.size=3"]) == 2
    assert "not in --tasks" in capsys.readouterr().err
    assert main(["eval", "--model", "oracle", "--tasks", "mmneedle", "--model_args", "attn=eager"]) == 2
    assert "--model_args key 'attn'" in capsys.readouterr().err


def test_end_to_end_resume_latest_and_rescore(tmp_path, capsys):
    base = ["eval", "--model", "oracle", "--tasks", "mmneedle,vniah_synth", "--output_path", str(tmp_path),
            "--log_samples", "--batch_size", "2", *NEEDLE, "--task-opt", "vniah_synth.lengths=4",
            "--task-opt", "vniah_synth.depths=0.5", "--task-opt", "vniah_synth.size=64",
            "--task-opt", "vniah_synth.samples_per_cell=1",
            "--data-dir", f"vniah_synth={tmp_path / 'vn'}", "--run-id", "run1"]
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "|mmneedle|2|none|0|exact_acc|↑|1.0000|" in out and "|vniah_synth|2|none|0|acc|↑|1.0000|" in out
    res = json.loads((tmp_path / "oracle" / "run1_results.json").read_text())
    assert res["config"]["batch_size"] == 2 and res["config"]["log_samples"] is True
    # resume with no id continues the latest run: nothing left to do, same metrics
    assert main([x for x in base if x not in ("--run-id", "run1")] + ["--resume"]) == 0
    again = json.loads((tmp_path / "oracle" / "run1_results.json").read_text())
    assert again["results"] == res["results"]
    capsys.readouterr()
    assert main(["eval", "--rescore", str(tmp_path / "oracle" / "run1_results.json")]) == 0
    assert "exact_acc" in capsys.readouterr().out
    assert main(["eval", "--rescore", "run1", "--output-path", str(tmp_path), "--model", "oracle"]) == 0


def test_partial_run_exit_code(tmp_path):
    rc = main(["eval", "--model", "random", "--tasks", "mmneedle,longvideobench_val_v", *NEEDLE,
               "--output-path", str(tmp_path)])
    assert rc == 1  # longvideobench has no data dir: recorded, other task scored, exit status 1
    (res,) = (tmp_path / "random").glob("*_results.json")
    data = json.loads(res.read_text())
    assert data["status"] == "partial" and "exact_acc,none" in data["results"]["mmneedle"]


def test_sparse_prefill_run_records_its_settings(tmp_path, monkeypatch):
    """--prefill with patterns and budgets reaches the model (sparse calls happen) and the results file."""
    from mmlong.sparse import patch as sparse_patch

    seen = []
    real = sparse_patch._sparse
    monkeypatch.setattr(sparse_patch, "_sparse", lambda *a: seen.append(1) or real(*a))
    rc = main(["eval", "--model", "tiny:qwen2_5_vl", "--tasks", "mmneedle", *NEEDLE, "--limit", "2",
               "--max-new-tokens", "2", "--prefill", "mminference", "--patterns", "vs", "--prefill-opt", "min_len=0",
               "--prefill-opt", "local=64", "--batch-size", "2", "--output-path", str(tmp_path), "--run-id", "sp"])
    assert rc == 0 and seen
    res = json.loads((tmp_path / "tiny__qwen2_5_vl" / "sp_results.json").read_text())
    assert res["config"]["prefill"] == "mminference" and res["config"]["patterns"] == "vs"
    assert res["config"]["prefill_options"] == {"min_len": 0, "local": 64}
