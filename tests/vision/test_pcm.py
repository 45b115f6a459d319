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
