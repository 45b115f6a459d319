"""`mmlong eval` refuses bad arguments in one line before writing anything, and `--resume` never
drops finished samples (issue 17: scheme options, answer caps, devices, output paths, seeds,
rescore inputs, resume limits)."""

import json

import pytest

from mmlong.cli import main
from mmlong.errors import MmlongError
from mmlong.eval import EvalConfig, Shard, evaluate

TINY = "tiny:qwen2_vl"
NEEDLE = ["--task-opt", "mmneedle.m=2", "--task-opt", "mmneedle.n=2", "--task-opt", "mmneedle.size=16",
          "--task-opt", "mmneedle.n_seq=12"]


def _error(capsys) -> str:
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("mmlong: error:")]
    assert len(err) == 1, err
    return err[0][len("mmlong: error: "):]


@pytest.mark.parametrize("extra, line", [
    (["--pos", "hope", "--opt", "gamma=abc"],
     "position option gamma must be a number, got 'abc'; e.g. --opt gamma=1.5"),
    (["--pos", "videorope", "--opt", "delta="], "position option delta must be a number, got ''; e.g. --opt delta=1.5"),
    (["--opt", "scaling=yarn", "--opt", "factor=abc"],
     "position option factor must be a number, got 'abc'; e.g. --opt factor=1.5"),
    (["--pos", "v2pe", "--opt", "v2pe_delta=x"],
     "position option v2pe_delta must be a number, got 'x'; e.g. --opt v2pe_delta=1.5"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be an integer >= 1 (the answer length cap), got 0"),
    (["--max-new-tokens", "-1"], "--max-new-tokens must be an integer >= 1 (the answer length cap), got -1"),
    (["--task-opt", "mmneedle.max_new_tokens=0"],
     "mmneedle.max_new_tokens must be an integer >= 1 (the answer length cap), got 0"),
    (["--device", "nosuch"], "unknown device 'nosuch'; use cpu, cuda, cuda:0, mps, ..."),
    (["--seed", "abc"], "--seed must be an integer (or lmms-eval's comma list such as 0,1234,1234,1234), got 'abc'"),
])
def test_bad_settings_fail_in_one_line_before_any_file_is_written(extra, line, tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["eval", "--model", TINY, "--tasks", "mmneedle", "--limit", "2", *NEEDLE,
                 "--output-path", str(out), *extra]) == 2
    assert _error(capsys) == line
    assert not out.exists()  # refused before the run folder was made or a weight loaded


def test_cuda_on_a_cpu_only_torch_is_refused_on_every_path(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    line = ("device 'cuda' needs CUDA, which this torch build or machine does not have; use --device cpu "
            "(or install a CUDA build of torch)")
    assert main(["eval", "--model", TINY, "--tasks", "mmneedle", *NEEDLE, "--device", "cuda"]) == 2
    assert _error(capsys) == line
    from mmlong.eval.models import build_model

    cfg = EvalConfig(model=TINY, tasks=("mmneedle",), device="cuda")
    with pytest.raises(MmlongError) as err:  # the accelerate / shard path of build_model
        build_model(cfg, Shard(0, 2))
    assert str(err.value) == line
    with pytest.raises(MmlongError, match="needs CUDA"):
        evaluate(cfg, shard=Shard(1, 2), echo=False)


def test_a_bad_device_is_refused_on_the_shard_path():
    from mmlong.eval.models import build_model

    with pytest.raises(MmlongError, match=r"^unknown device 'nosuch'"):
        build_model(EvalConfig(model=TINY, tasks=("mmneedle",), device="nosuch"), Shard(0, 2))


def test_an_output_path_that_is_a_file_is_refused(tmp_path, capsys):
    afile = tmp_path / "afile.txt"
    afile.write_text("x")
    assert main(["eval", "--model", "oracle", "--tasks", "mmneedle", "--limit", "2", *NEEDLE,
                 "--output-path", str(afile)]) == 2
    assert _error(capsys) == (f"--output-path {str(afile)!r} is a file, not a folder; pass a folder (it is created "
                              "when missing)")
    assert afile.read_text() == "x"


def test_rescore_refuses_what_is_not_a_finished_results_file(tmp_path, capsys):
    bad = tmp_path / "bad_results.json"
    bad.write_text("not json")
    assert main(["eval", "--rescore", str(bad)]) == 2
    assert _error(capsys) == f"{bad} is not JSON; pass the <run id>_results.json that mmlong eval wrote"
    empty = tmp_path / "empty_results.json"
    empty.write_text("{}")
    assert main(["eval", "--rescore", str(empty)]) == 2
    assert _error(capsys) == (f"{empty} is not an mmlong eval results file (it has no run config); pass the "
                              "<run id>_results.json that mmlong eval wrote")
    assert empty.read_text() == "{}"  # left as it was
    running = tmp_path / "r0_results.json"
    running.write_text(json.dumps({"run_id": "r0", "status": "running", "config": {"model": "oracle"}}))
    assert main(["eval", "--rescore", str(running)]) == 2
    assert _error(capsys) == "run r0 has not finished (status 'running'): continue it with --resume, then rescore it"


def _lines(path):
    return path.read_text().splitlines()


def test_resume_never_drops_finished_samples(tmp_path, capsys):
    base = ["eval", "--model", "oracle", "--tasks", "mmneedle", *NEEDLE, "--output-path", str(tmp_path),
            "--run-id", "r"]
    samples, results = tmp_path / "oracle" / "r_samples_mmneedle.jsonl", tmp_path / "oracle" / "r_results.json"
    assert main([*base, "--limit", "10"]) == 0
    first = _lines(samples)
    assert len(first) == 10
    capsys.readouterr()
    assert main([*base, "--resume", "--limit", "8"]) == 2  # smaller: refused, nothing rewritten
    assert _error(capsys) == ("run r was made with --limit 10 (10 docs of mmneedle); resuming with --limit 8 (8 docs) "
                              "would drop finished samples: pass --limit 10 or more (a larger limit extends the run)")
    assert _lines(samples) == first and json.loads(results.read_text())["config"]["limit"] == 10
    assert main([*base, "--resume", "--limit", "12"]) == 0  # larger: extends the run
    now = _lines(samples)
    assert len(now) == 12 and now[:10] == first
    res = json.loads(results.read_text())
    assert res["config"]["limit"] == 12 and res["n-samples"]["mmneedle"] == {"original": 12, "effective": 12}
    assert main([*base, "--resume", "--limit", "0.5"]) == 2  # a fraction that selects fewer docs is refused too
    assert "resuming with --limit 0.5 (6 docs) would drop finished samples" in _error(capsys)
    assert _lines(samples) == now


def test_task_options_of_the_wrong_type_fail_in_one_line():
    from mmlong.eval.tasks import get_task

    with pytest.raises(MmlongError) as err:
        get_task("mmneedle", m="abc")
    assert str(err.value) == "task option mmneedle.m must be an integer, got 'abc'; e.g. --task-opt mmneedle.m=10"
    with pytest.raises(MmlongError) as err:
        get_task("vniah_synth", depths=(0.5, "x"))
    assert str(err.value) == ("task option vniah_synth.depths must be a number or a comma list of them, got "
                              "(0.5, 'x'); e.g. --task-opt vniah_synth.depths=0.1,0.3,0.5,0.7,0.9")
    assert get_task("mmneedle", data_dir=2024).options.data_dir == "2024"  # the CLI reads a folder "2024" as a number
    assert get_task("vniah_synth", fps=2).options.fps == 2  # an integer is a number
