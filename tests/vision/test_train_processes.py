"""``mmlong train longclip`` with several processes: the step DDP all-reduces is the one-process step."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")


class _LinearClip(torch.nn.Module):
    """A stand-in for an open_clip CLIP: linear towers (pixels (B, 3, 2, 2) -> (B, 6); token ids
    (B, 4) -> (B, 6) through an embedding), a log temperature, 4 text positions."""

    context_length = 4

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(8)
        self.visual = torch.nn.Parameter(torch.randn(12, 6, generator=g))
        self.token_embedding = torch.nn.Parameter(torch.randn(50, 6, generator=g))
        self.logit_scale = torch.nn.Parameter(torch.tensor(1.5))

    def encode_image(self, pixels):
        return pixels.flatten(1) @ self.visual

    def encode_text(self, ids):
        return self.token_embedding[ids].mean(1)


def _batch():
    """The global batch: 8 examples."""
    g = torch.Generator().manual_seed(9)
    return {"pixels": torch.randn(8, 3, 2, 2, generator=g), "long": torch.randint(1, 50, (8, 4), generator=g),
            "short": torch.randint(1, 50, (8, 4), generator=g)}


def _worker(rank, world, port, out_dir):
    import os

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    import torch.distributed as dist
    from accelerate import Accelerator

    import mmlong  # noqa: F401
    from mmlong.vision.train import PcmObjective, _towers_module

    acc = Accelerator(cpu=True)  # gloo; prepare wraps the model in DDP, as the loop does
    try:
        clip = _LinearClip()
        prepared = acc.prepare(_towers_module(clip))
        share = {k: v[rank * 4:rank * 4 + 4] for k, v in _batch().items()}
        loss, n = PcmObjective(2, 0.5).loss(prepared, share, seed=0)
        acc.backward(loss * world / 8)  # the loop's scaling for a global batch of 8
        torch.save({k: p.grad for k, p in clip.named_parameters()}, f"{out_dir}/{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_processes_take_the_one_process_step(tmp_path):
    """2 CPU processes with 4 of the 8 examples each: after the backward pass both hold the
    gradient one process computes for all 8 (global contrast, then DDP's all-reduce). Were the
    loss computed around DDP's forward, not through it, each would keep its own gradient."""
    import socket

    import torch.multiprocessing as mp

    from mmlong.vision.train import PcmObjective, _towers_module

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(_worker, args=(2, port, str(tmp_path)), nprocs=2, start_method="spawn")
    clip = _LinearClip()
    loss, n = PcmObjective(2, 0.5).loss(_towers_module(clip), _batch(), seed=0)
    (loss / n).backward()
    for rank in (0, 1):
        got = torch.load(tmp_path / f"{rank}.pt")
        for k, p in clip.named_parameters():
            torch.testing.assert_close(got[k], p.grad, rtol=1e-5, atol=1e-6)
