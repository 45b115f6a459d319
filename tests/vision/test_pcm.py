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


def test_shares_against_the_global_batch_weighted_by_rows_give_the_batch_loss():
    g = torch.Generator().manual_seed(6)
    a = torch.nn.functional.normalize(torch.randn(8, 4, generator=g), dim=-1)
    b = torch.nn.functional.normalize(a + 0.1 * torch.randn(8, 4, generator=g), dim=-1)  # row i matches row i
    scale = torch.tensor(5.0)
    parts = [3 / 8 * contrastive(a[:3], b[:3], scale, a_all=a, b_all=b, offset=0),
             5 / 8 * contrastive(a[3:], b[3:], scale, a_all=a, b_all=b, offset=3)]
    torch.testing.assert_close(sum(parts), contrastive(a, b, scale), rtol=0, atol=1e-5)
    shifted = contrastive(a[3:], b[3:], scale, a_all=a, b_all=b, offset=2)  # wrong targets: a higher loss
    assert shifted > parts[1] * 8 / 5 + 1
    with pytest.raises(MmlongError, match="offset 4"):
        contrastive(a[3:], b[3:], scale, a_all=a, b_all=b, offset=4)


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


class _Linear(torch.nn.Module):
    """A tiny "model": image features ``xi @ Wi``, text features ``x @ Wt``, a learnt log temperature."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(4)
        self.wi = torch.nn.Parameter(torch.randn(5, 6, generator=g))
        self.wt = torch.nn.Parameter(torch.randn(5, 6, generator=g))
        self.logit_scale = torch.nn.Parameter(torch.tensor(1.2))

    def forward(self, xi, xl, xs):
        return xi @ self.wi, xl @ self.wt, xs @ self.wt


def _inputs():
    """(8, 5) inputs for the images, long and short captions of the 8-row global batch."""
    g = torch.Generator().manual_seed(5)
    return [torch.randn(8, 5, generator=g) for _ in range(3)]


PCM_SETTINGS = dict(components=2, short_weight=0.5)


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
        lo, hi = sum(rows[:rank]), sum(rows[:rank + 1])
        full = torch.randn(sum(rows), 5, generator=torch.Generator().manual_seed(3))
        local = full[lo:hi].clone().requires_grad_(True)
        got = gather_features(local)
        recon = pca_reconstruct(local, 2, basis=got)
        (recon * torch.arange(1.0, 6.0)).sum().backward()
        out = {"gathered": got.detach(), "recon": recon.detach(), "grad": local.grad}

        model = _Linear()  # the same parameters in every process
        xs = [x[lo:hi] for x in _inputs()]

        def step(gather):  # this process's loss and its parameters' gradients (before DDP averages them)
            model.zero_grad()
            loss = pcm_loss(*model(*xs), model.logit_scale, **PCM_SETTINGS, gather=gather)["loss"]
            loss.backward()
            return loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}

        out["loss"], out["grads"] = step(gather_features)

        def no_grad_gather(x):  # the other process's rows as constants: what the test must catch
            g = gather_features(x.detach())
            return torch.cat([g[:lo], x, g[hi:]])

        out["loss_without"], out["grads_without"] = step(no_grad_gather)
        torch.save(out, f"{out_dir}/{rank}.pt")
    finally:
        dist.destroy_process_group()


def _global_pcm(model, lo, hi):
    """The loss of the process holding rows ``lo:hi``, written out on one machine: its rows
    against all 8 rows of the global batch, principal components of all 8 images."""
    import torch.nn.functional as F

    img, lt, st = (F.normalize(t, dim=-1) for t in model(*_inputs()))
    coarse = pca_reconstruct(img, PCM_SETTINGS["components"])
    s, y = model.logit_scale.exp(), torch.arange(lo, hi)

    def sym(a, b):  # rows lo:hi of a against all of b, and rows lo:hi of b against all of a
        return (F.cross_entropy(s * a[lo:hi] @ b.t(), y, label_smoothing=0.1)
                + F.cross_entropy(s * b[lo:hi] @ a.t(), y, label_smoothing=0.1)) / 2

    return sym(img, lt) + PCM_SETTINGS["short_weight"] * sym(coarse, st)


def test_two_accelerate_processes_contrast_with_the_global_batch(tmp_path):
    """2 CPU processes (accelerate, gloo) with 3 and 5 rows: each sees all 8 rows in rank
    order, its reconstruction equals one process's over the full batch, and the gradients (of
    gathered rows; of a tiny linear model's parameters, averaged over the processes as DDP does) are
    those of the global formula computed on one machine: the mean over the processes of each
    process's loss over its own rows against all 8. With the other process's rows held
    constant the gradients come out different (so the check can fail)."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rows = [3, 5]
    mp.start_processes(_gather_worker, args=(2, port, rows, str(tmp_path)), nprocs=2, start_method="spawn")
    outs = [torch.load(tmp_path / f"{rank}.pt") for rank in (0, 1)]

    full = torch.randn(8, 5, generator=torch.Generator().manual_seed(3)).requires_grad_(True)
    recon = pca_reconstruct(full, 2)
    (recon * torch.arange(1.0, 6.0)).sum().backward()  # both processes' losses; the mean through all 8 rows
    for out, lo, hi in ((outs[0], 0, 3), (outs[1], 3, 8)):
        torch.testing.assert_close(out["gathered"], full.detach(), rtol=0, atol=0)
        torch.testing.assert_close(out["recon"], recon[lo:hi].detach(), rtol=0, atol=1e-5)
        torch.testing.assert_close(out["grad"], full.grad[lo:hi], rtol=0, atol=1e-5)

    model = _Linear()
    ref = (_global_pcm(model, 0, 3) + _global_pcm(model, 3, 8)) / 2  # DDP's mean over the 2 processes
    ref.backward()
    torch.testing.assert_close((outs[0]["loss"] + outs[1]["loss"]) / 2, ref.detach(), rtol=0, atol=1e-5)
    for k, p in model.named_parameters():  # DDP's all-reduce: the mean of the processes' gradients
        torch.testing.assert_close((outs[0]["grads"][k] + outs[1]["grads"][k]) / 2, p.grad, rtol=1e-5, atol=1e-6)
    for k in ("wi", "wt"):  # the cross-process terms matter (the log temperature's gradient is local anyway)
        without = (outs[0]["grads_without"][k] + outs[1]["grads_without"][k]) / 2
        assert (without - model.get_parameter(k).grad).abs().max() > 1e-3
    torch.testing.assert_close(outs[0]["loss_without"], outs[0]["loss"], rtol=0, atol=0)  # same forward
