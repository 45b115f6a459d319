"""A plan whose memory estimate exceeds the free memory is refused up front, naming the largest
token budget that fits (issue 17); it never triggers on the tiny test models."""

import dataclasses

import pytest

import mmlong
from mmlong.cli import main
from mmlong.errors import MmlongError
from mmlong.tokens import fit
from mmlong.tokens.planner import plan

TINY = "tiny:qwen2_vl"


@pytest.fixture(scope="module")
def pipe():
    return mmlong.load(TINY, device="cpu", max_new_tokens=2, num_frames=48)


def _plan(pipe, video, budget=None):
    frames = pipe.config.frames if budget is None else dataclasses.replace(pipe.config.frames, budget=budget)
    return plan(video, pipe, frames, **pipe._estimate)


def test_free_memory_is_read_from_the_kernel():
    with open("/proc/meminfo") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:"))
    assert abs(fit.available_bytes("cpu") - kib * 1024) < 512 * 1024**2  # read moments apart
    assert fit.available_bytes("mps") is None  # no portable query: no check


def test_never_triggers_on_a_tiny_model(pipe, video):
    p = _plan(pipe, video)
    assert p.memory.total_bytes < 16 * 1024**2 < fit.available_bytes("cpu")
    fit.check_fits(p, lambda b: _plan(pipe, video, b), "cpu")  # no error
    assert len(pipe.ask("What is shown?", video=video).frame_times) == 48


def test_a_plan_that_does_not_fit_is_refused_naming_the_budget_that_does(pipe, video, monkeypatch):
    p, half = _plan(pipe, video), _plan(pipe, video, _plan(pipe, video).total_tokens // 2)
    free = half.memory.total_bytes
    monkeypatch.setattr(fit, "available_bytes", lambda device: free)
    with pytest.raises(MmlongError) as err:
        pipe.ask("What is shown?", video=video)
    best = fit.largest_fitting_budget(lambda b: _plan(pipe, video, b), free, p.total_tokens - 1)
    m = p.memory
    assert str(err.value) == (
        f"this request needs about {m.total_bytes / 1024**2:.1f} MiB ({p.total_tokens} visual tokens, seq {m.seq_len}: "
        f"KV cache {m.kv_cache_bytes / 1024**2:.1f} MiB + activations "
        f"{max(m.activation_bytes, m.vision_activation_bytes) / 1024**2:.1f} MiB) but cpu has "
        f"{free / 1024**2:.1f} MiB free; pass --budget {best} (budget={best} in Python), the largest visual token "
        "budget that fits, or fewer frames (--max-frames / --fps)")
    assert _plan(pipe, video, best).memory.total_bytes <= free < _plan(pipe, video, best + 1).memory.total_bytes
    pipe.set_frames(dataclasses.replace(pipe.config.frames, budget=best))
    try:
        assert pipe.ask("What is shown?", video=video).tokens["video"] <= best  # the named budget runs
    finally:
        pipe.set_frames(dataclasses.replace(pipe.config.frames, budget=None))


def test_nothing_fits(pipe, video, monkeypatch):
    monkeypatch.setattr(fit, "available_bytes", lambda device: 1024)
    with pytest.raises(MmlongError, match=r"but cpu has 0\.0 MiB free, and even one frame does not fit; free memory, "
                                          r"use a smaller model or another device \(--device\)$"):
        pipe.ask("What is shown?", video=video)


def test_the_cli_refuses_in_one_line(video, monkeypatch, capsys):
    p = plan(video, TINY, {"num_frames": 48}, max_new_tokens=2, dtype="float32")
    monkeypatch.setattr(fit, "available_bytes", lambda device: p.memory.total_bytes * 3 // 4)
    assert main(["ask", video, "q", "--model", TINY, "--num-frames", "48", "--max-new-tokens", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mmlong: error: this request needs about ") and "--budget" in err[0]


def test_free_cuda_memory_counts_what_the_allocator_holds_unused(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda i: ({0: 10, 1: 7}[i] * 1024**3, 80 * 1024**3))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda i: 5 * 1024**3)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda i: 3 * 1024**3)
    assert fit.available_bytes("cuda") == 12 * 1024**3  # 10 free + (5 reserved - 3 allocated)
    assert fit.available_bytes("cuda:1") == 9 * 1024**3
