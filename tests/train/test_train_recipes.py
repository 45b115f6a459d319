"""The recipes end to end on tiny models: loss decreases, resume continues the same curve, LoRA merges and
the exported folder loads with plain transformers, tiny-vlm from scratch, two processes = one process."""

import json
import os
import subprocess
import sys

import pytest
import torch

import mmlong
from mmlong.errors import MmlongError
from mmlong.train.loop import latest_checkpoint, read_log
from mmlong.train.settings import TrainSettings
from mmlong.train.sft import sft

FAST = dict(batch_size=4, lr=5e-3, warmup_steps=0, schedule="constant", log_every=1)


def _losses(out) -> list[float]:
    return [r["loss"] for r in read_log(out)]


def test_lora_sft_learns_exports_and_loads_without_mmlong(vniah_data, tmp_path, quiet_threads):
    out = tmp_path / "lora"
    r = sft("tiny:qwen2_5_vl", vniah_data / "train.jsonl", TrainSettings.of(out, steps=8, save_every=4, **FAST),
            frames={"fps": 1.0, "max_frames": 60}, echo=False)
    losses = _losses(out)
    assert r["step"] == 8 and len(losses) == 8 and all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3  # it learns
    assert r["data"] == {"rows": 24, "used": 24, "skipped": {}}
    model_dir = out / "model"
    meta = json.loads((model_dir / "mmlong.json").read_text())
    assert meta["pos"] == "native" and meta["trained"]["steps"] == 8 and meta["trained"]["base"] == "tiny:qwen2_5_vl"
    # plain transformers: no adapter keys, LoRA merged into the weights
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration

    keys = load_file(str(model_dir / "model.safetensors")).keys()
    assert not any("lora" in k for k in keys)
    plain = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir).eval()
    assert len(AutoTokenizer.from_pretrained(model_dir)) == 263
    from mmlong.models.tiny import tiny

    base = tiny("qwen2_5_vl").model
    q = dict(plain.model.language_model.layers[0].self_attn.q_proj.named_parameters())["weight"]
    q0 = dict(base.model.language_model.layers[0].self_attn.q_proj.named_parameters())["weight"]
    assert not torch.equal(q, q0)  # the merged adapter changed the attention
    v = dict(plain.model.visual.blocks[0].attn.qkv.named_parameters())["weight"]
    assert torch.equal(v, dict(base.model.visual.blocks[0].attn.qkv.named_parameters())["weight"])  # frozen
    # the same weights through mmlong.load, which also answers with them
    pipe = mmlong.load(str(model_dir), max_new_tokens=3)
    assert torch.equal(pipe.model.model.language_model.layers[0].self_attn.q_proj.weight, q)
    video = vniah_data / json.loads((vniah_data / "train.jsonl").read_text().splitlines()[0])["videos"][0]
    assert pipe.ask("What shape?", video=str(video)).tokens["video"] > 0


def test_a_killed_run_resumes_to_the_same_loss_curve(vniah_data, tmp_path, monkeypatch, quiet_threads):
    data = vniah_data / "train.jsonl"
    kw = dict(frames={"fps": 1.0, "max_frames": 60}, echo=False)
    settings = lambda out: TrainSettings.of(out, steps=6, save_every=3, full_steps=1, **FAST)  # noqa: E731
    with pytest.raises(MmlongError, match="unknown training setting"):
        settings(tmp_path / "x")
    settings = lambda out: TrainSettings.of(out, steps=6, save_every=3, lora=False, **FAST)  # noqa: E731
    sft("tiny:qwen2_5_vl", data, settings(tmp_path / "straight"), **kw)

    import mmlong.train.loop as loop

    real = loop._loss_sum

    def dies_at_step_5(model, batch, seed):
        if seed % 1_000_003 == 4:  # the fifth step, after steps 1-4 were logged and step 3 checkpointed
            raise KeyboardInterrupt
        return real(model, batch, seed)

    monkeypatch.setattr(loop, "_loss_sum", dies_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        sft("tiny:qwen2_5_vl", data, settings(tmp_path / "killed"), **kw)
    assert [r["step"] for r in read_log(tmp_path / "killed")] == [1, 2, 3, 4]
    assert latest_checkpoint(tmp_path / "killed").name == "step-3"
    monkeypatch.setattr(loop, "_loss_sum", real)
    r = sft("tiny:qwen2_5_vl", data, settings(tmp_path / "killed"), **kw)
    assert r["resumed_from"] == 3 and r["step"] == 6
    assert [row["step"] for row in read_log(tmp_path / "killed")] == [1, 2, 3, 4, 5, 6]
    assert _losses(tmp_path / "killed") == pytest.approx(_losses(tmp_path / "straight"), rel=1e-5, abs=1e-6)
    with pytest.raises(MmlongError, match="made with other settings"):
        sft("tiny:qwen2_5_vl", data, TrainSettings.of(tmp_path / "killed", steps=8, save_every=3, lora=False,
                                                      **{**FAST, "lr": 1e-3}), **kw)


def test_tiny_vlm_from_scratch_under_hope(tmp_path, quiet_threads):
    from mmlong.train.tiny_vlm import train_tiny_vlm

    from mmlong.train.tiny_vlm import Stage

    out = tmp_path / "tiny"
    stages = (Stage("short", (0.5,), ("what",), 2, 8), Stage("all", (1.0,), ("what", "when", "order"), 5, 12))
    r = train_tiny_vlm("hope", out, length=6, curriculum=stages, steps=3, batch_size=4, log_every=1, echo=False)
    assert [st["name"] for st in r["stages"]] == ["short", "all"] and r["step"] == 3  # steps= is the last stage's
    assert len(_losses(out / "stages" / "short")) == 2 and all(torch.isfinite(torch.tensor(_losses(out))))
    short = [json.loads(x) for x in (out / "data" / "short" / "train.jsonl").read_text().splitlines()]
    assert {(x["kind"], x["length"]) for x in short} == {("what", 3)}  # L/2 of 6 s
    meta = json.loads((out / "model" / "mmlong.json").read_text())
    assert [c["seconds"] for c in meta["trained"]["curriculum"]] == [[3], [6]]
    # the next stage starts from the previous one's weights; a rerun skips the finished stage
    again = train_tiny_vlm("hope", out, length=6, curriculum=stages, steps=3, batch_size=4, log_every=1, echo=False)
    assert [st["name"] for st in again["stages"]] == ["all"] and again["resumed_from"] == 3
    assert meta["pos"] == "hope" and meta["pos_options"] == {}  # runs with HoPE's default gamma 1
    assert meta["trained"]["training_pos_options"]["gamma_choices"] == [0.5, 0.75, 1.0, 1.25, 1.5]
    pipe = mmlong.load(str(out / "model"))
    assert pipe.config.pos == "hope" and pipe.config.pos_options == {}
    assert mmlong.load(str(out / "model"), pos="videorope").config.pos == "videorope"  # pos= overrides


def test_two_processes_compute_the_loss_of_one(vniah_data, tmp_path):
    """`accelerate launch --num_processes 2 --cpu` at the same global batch: the same loss curve."""
    args = ["train", "sft", "--model", "tiny:qwen2_5_vl", "--data", str(vniah_data / "train.jsonl"), "--full",
            "--steps", "3", "--batch-size", "4", "--lr", "5e-3", "--warmup-steps", "0", "--schedule", "constant",
            "--save-every", "3", "--fps", "1", "--max-frames", "60"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    one = subprocess.run([sys.executable, "-m", "mmlong.cli", *args, "--out", str(tmp_path / "one")], env=env,
                         capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--cpu",
                          "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                          "-m", "mmlong.cli", *args, "--out", str(tmp_path / "two")], env=env,
                         capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(a) == len(b) == 3 and b == pytest.approx(a, rel=1e-4)
    assert [r["tokens"] for r in read_log(tmp_path / "one")] == [r["tokens"] for r in read_log(tmp_path / "two")]


@pytest.mark.parametrize("argv, needle", [
    (["train", "sft", "--model", "tiny:qwen2_vl", "--data", "/no/such.jsonl", "--out", "OUT"], "is not a file"),
    (["train", "sft", "--model", "tiny:qwen2_vl", "--data", "DATA", "--out", "OUT", "--steps", "0"],
     "steps must be an integer >= 1"),
    (["train", "sft", "--model", "tiny:qwen2_vl", "--data", "DATA", "--out", "OUT", "--resume"], "no finished checkpoint"),
    (["train", "tiny-vlm", "--pos", "nope", "--out", "OUT"], "unknown position scheme"),
])
def test_bad_arguments_are_one_line(argv, needle, vniah_data, tmp_path, capsys):
    from mmlong.cli import main

    argv = [str(vniah_data / "train.jsonl") if a == "DATA" else str(tmp_path / "o") if a == "OUT" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and err.startswith("mmlong: error:") and len(err.splitlines()) == 1
