"""PCM: the coarse feature pinned on a hand-built batch; the loss against its definition."""

import pytest

torch = pytest.importorskip("torch")

from mmlong.errors import MmlongError  # noqa: E402
from mmlong.vision.pcm import contrastive, pca_reconstruct, pcm_loss  # noqa: E402


def test_pca_reconstruct_pinned():
    x = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 1.0], [4.0, 1.0]])
    got = pca_reconstruct(x, 1)
    torch.testing.assert_close(got, torch.tensor([[0.0, 0.5], [4.0, 0.5], [0.0, 0.5], [4.0, 0.5]]),
                               rtol=0, atol=1e-5)
    torch.testing.assert_close(pca_reconstruct(x, 2), x, rtol=0, atol=1e-5)  # every component: unchanged


def test_pca_reconstruct_keeps_the_top_components_of_a_batch():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 8, generator=g)
    got = pca_reconstruct(x, 3)
    xc = x - x.mean(0)
    _, _, vh = torch.linalg.svd(xc)
    torch.testing.assert_close(got - x.mean(0), xc @ vh[:3].t() @ vh[:3], rtol=0, atol=1e-5)
    assert torch.linalg.matrix_rank(got - x.mean(0)) == 3


def test_pcm_loss_is_long_plus_weighted_short():
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(1)
    img, lt, st = (torch.randn(6, 8, generator=g) for _ in range(3))
    scale = torch.tensor(2.0)
    out = pcm_loss(img, lt, st, scale, components=2, short_weight=0.5)
    i, L, S = F.normalize(img, dim=-1), F.normalize(lt, dim=-1), F.normalize(st, dim=-1)
    y = torch.arange(6)

    def sym(a, b):
        logits = scale.exp() * a @ b.t()
        return (F.cross_entropy(logits, y, label_smoothing=0.1) + F.cross_entropy(logits.t(), y,
                                                                                  label_smoothing=0.1)) / 2

    torch.testing.assert_close(out["long"], sym(i, L))
    torch.testing.assert_close(out["short"], sym(pca_reconstruct(i, 2), S))
    torch.testing.assert_close(out["loss"], out["long"] + 0.5 * out["short"])
    assert contrastive(L, L, torch.tensor(10.0)) < contrastive(L, L.roll(1, 0), torch.tensor(10.0)) - 1  # matched: lower


def test_pcm_refuses_a_single_image_and_bad_components():
    with pytest.raises(MmlongError, match="at least 2 images"):
        pcm_loss(torch.zeros(1, 4), torch.zeros(1, 4), torch.zeros(1, 4), torch.tensor(0.0))
    with pytest.raises(MmlongError, match="components"):
        pca_reconstruct(torch.zeros(3, 4), 0)


def test_single_process_gather_gives_the_local_numbers_bit_for_bit():
    from mmlong.vision.pcm import gather_features

    g = torch.Generator().manual_seed(2)
    img, lt, st = (torch.randn(8, 6, generator=g) for _ in range(3))
    x = torch.randn(8, 6, generator=g)
    assert gather_features(x) is x  # no process group: nothing gathered
    torch.testing.assert_close(pca_reconstruct(x, 3, basis=x), pca_reconstruct(x, 3), rtol=0, atol=0)
    a = pcm_loss(img, lt, st, torch.tensor(1.5), components=3)
    b = pcm_loss(img, lt, st, torch.tensor(1.5), components=3, gather=gather_features)
    for k in ("loss", "long", "short"):
        assert a[k].item() == b[k].item()


def test_basis_from_other_rows_sets_mean_and_directions():
    x = torch.tensor([[1.0, 3.0], [2.0, -1.0]])
    basis = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 1.0], [4.0, 1.0]])  # mean (2, 0.5), main axis x
    torch.testing.assert_close(pca_reconstruct(x, 1, basis=basis), torch.tensor([[1.0, 0.5], [2.0, 0.5]]),
                               rtol=0, atol=1e-5)


def _gather_worker(rank, world, port, rows, out_dir):
    import os

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    import torch.distributed as dist
    from accelerate import Accelerator

    import mmlong  # noqa: F401
    from mmlong.vision.pcm import gather_features

    acc = Accelerator(cpu=True)  # as `accelerate launch` on a CPU machine: gloo, one process per rank
    assert acc.num_processes == world and dist.get_backend() == "gloo"
    try:
        full = torch.randn(sum(rows), 5, generator=torch.Generator().manual_seed(3))
        lo = sum(rows[:rank])
        local = full[lo:lo + rows[rank]].clone().requires_grad_(True)
        got = gather_features(local)
        recon = pca_reconstruct(local, 2, basis=got)
        (recon * torch.arange(1.0, 6.0)).sum().backward()
        torch.save({"gathered": got.detach(), "recon": recon.detach(), "grad": local.grad}, f"{out_dir}/{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_accelerate_processes_take_components_from_the_gathered_batch(tmp_path):
    """2 CPU processes (accelerate, gloo) with 3 and 5 rows: each sees all 8 rows in rank order, its
    reconstruction equals one process's over the full batch, and its gradient is that of its own
    rows with the other process's rows held constant."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rows = [3, 5]
    mp.start_processes(_gather_worker, args=(2, port, rows, str(tmp_path)), nprocs=2, start_method="spawn")
    full = torch.randn(8, 5, generator=torch.Generator().manual_seed(3))
    ref = pca_reconstruct(full, 2)
    for rank, lo in ((0, 0), (1, 3)):
        out = torch.load(tmp_path / f"{rank}.pt")
        torch.testing.assert_close(out["gathered"], full, rtol=0, atol=0)
        torch.testing.assert_close(out["recon"], ref[lo:lo + rows[rank]], rtol=0, atol=1e-5)
        local = full[lo:lo + rows[rank]].clone().requires_grad_(True)
        basis = torch.cat([full[:lo], local, full[lo + rows[rank]:]])
        (pca_reconstruct(local, 2, basis=basis) * torch.arange(1.0, 6.0)).sum().backward()
        torch.testing.assert_close(out["grad"], local.grad, rtol=0, atol=1e-5)
