"""Batched vision windows: one SDPA call per window length gives transformers' per-window results."""

import pytest
import torch

from mmlong.models.vision_windows import batch_vision_windows, unbatch_vision_windows, windowed_attention

# two videos whose grids leave edge windows of other sizes: several window lengths per block
GRID = torch.tensor([[4, 8, 8], [2, 6, 10]])


@pytest.fixture(scope="module")
def tower():
    from mmlong.train.tiny_vlm import build

    torch.manual_seed(0)
    return build(0).model


def _run(model, x):
    """(pooled output, gradient of every vision weight) of one training-mode forward and backward."""
    vis = model.model.visual
    vis.train()
    out = vis(x, grid_thw=GRID).pooler_output
    grads = torch.autograd.grad(out.square().sum(), list(vis.parameters()))
    return out.detach(), grads


def _sdpa_calls(model, x, monkeypatch) -> int:
    import torch.nn.functional as F

    calls, real = [], F.scaled_dot_product_attention
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda *a, **k: calls.append(1) or real(*a, **k))
    with torch.no_grad():
        model.model.visual(x, grid_thw=GRID)
    monkeypatch.undo()
    return len(calls)


def test_batched_windows_equal_the_per_window_loop(tower, monkeypatch):
    cfg = tower.model.visual.config
    x = torch.randn(int(GRID.prod(-1).sum()), cfg.in_channels * cfg.temporal_patch_size * cfg.patch_size ** 2)
    unbatch_vision_windows(tower)
    ref, ref_grads = _run(tower, x)
    loop_calls = _sdpa_calls(tower, x, monkeypatch)
    batch_vision_windows(tower)
    got, grads = _run(tower, x)
    batched_calls = _sdpa_calls(tower, x, monkeypatch)
    unbatch_vision_windows(tower)
    assert torch.allclose(got, ref, atol=1e-5, rtol=0)
    assert all(torch.allclose(g, r, atol=1e-5, rtol=0) for g, r in zip(grads, ref_grads))
    assert loop_calls == 6 + 28 and batched_calls <= 6  # 6 frames + 28 windows; a few lengths per block
    assert _sdpa_calls(tower, x, monkeypatch) == loop_calls  # unbatched: transformers' loop again


def test_windowed_attention_keeps_chunks_apart():
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 7, 4) for _ in range(3))  # (H, S, D)
    cu = torch.tensor([0, 3, 4, 7])  # chunk lengths 3, 1, 3
    out = windowed_attention(q, k, v, cu, scaling=0.5)
    for a, b in ((0, 3), (3, 4), (4, 7)):  # each chunk is plain softmax attention over itself
        w = torch.softmax(q[:, a:b] @ k[:, a:b].transpose(1, 2) * 0.5, dim=-1)
        assert torch.allclose(out[a:b], (w @ v[:, a:b]).transpose(0, 1), atol=1e-6)
