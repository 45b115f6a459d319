"""Mass-covering block-sparse heads: the sampled estimate, the cover, the plan, and the per-head allocation."""

import math

import pytest
import torch

from mmlong.errors import MmlongError
from mmlong.sparse.allocate import allocate
from mmlong.sparse.api import prefill_attention
from mmlong.sparse.estimate import cover_blocks, sampled_block_mass
from mmlong.sparse.kernels.reference import recall_from_lse
from mmlong.sparse.layout import SeqLayout
from mmlong.sparse.patterns import parse_spec
from mmlong.sparse.patterns.block_mass import BlockMassParams, kept_blocks
from mmlong.sparse.search import search_heads


def _exact_block_mass(q, k, block, rows_of_block, scale):
    """Brute force: mean over the given rows of each block of the causal softmax mass per key block."""
    L = q.shape[0]
    nb = -(-L // block)
    out = torch.zeros(nb, nb)
    for b in range(nb):
        for r in rows_of_block(b):
            s = (q[r] @ k[: r + 1].T) * scale
            p = torch.softmax(s, -1)
            for j in range(nb):
                out[b, j] += p[j * block:(j + 1) * block].sum()
        out[b] /= len(rows_of_block(b))
    return out


def test_sampled_mass_equals_brute_force_on_its_rows():
    torch.manual_seed(0)
    L, D, B = 70, 8, 16  # last block is partial (rows 64..69)
    q, k = torch.randn(L, D), torch.randn(L, D)
    got = sampled_block_mass(q, k, B, 2, 0.5, chunk_blocks=2)
    # 2 samples per block: rows b*16 + 7 and b*16 + 15 (the last clamped to L - 1)
    want = _exact_block_mass(q, k, B, lambda b: sorted({min(b * B + 7, L - 1), min(b * B + 15, L - 1)}), 0.5)
    assert torch.allclose(got, want, atol=1e-5)
    assert torch.allclose(got.sum(1), torch.ones(got.shape[0]), atol=1e-5)
    assert float(got.triu(1).abs().max()) == 0.0


def test_cover_blocks_worked_example():
    mass = torch.tensor([[0.5, 0.1, 0.3, 0.1]])
    forced = torch.tensor([[False, False, False, True]])
    assert cover_blocks(mass, 0.8, forced).tolist() == [[True, False, True, True]]
    assert cover_blocks(mass, 0.1, forced).tolist() == [[False, False, False, True]]  # forced mass suffices
    assert cover_blocks(mass, 1.0, forced).tolist() == [[True, True, True, True]]


def test_kept_blocks_force_sinks_and_local_and_stay_causal():
    mass = torch.zeros(4, 4)
    mass[3] = torch.tensor([0.05, 0.9, 0.0, 0.05])
    kept = kept_blocks(mass, BlockMassParams(p=0.5, local=1, init=1))
    assert kept[3].tolist() == [True, True, False, True]  # sink (forced) + diagonal (forced) + the heavy block
    assert not bool(kept.triu(1).any())


def test_block_mass_plan_fast_kernel_equals_reference_and_p1_is_dense():
    torch.manual_seed(1)
    L = 300
    q, k, v = torch.randn(1, 2, L, 16), torch.randn(1, 1, L, 16), torch.randn(1, 1, L, 16)
    lay = SeqLayout.text(L)
    spec = {"type": "block_mass", "p": 0.7, "block": 32, "samples": 4}
    fast, lf = prefill_attention(q, k, v, layout=lay, pattern=spec, return_lse=True)
    ref, lr = prefill_attention(q, k, v, layout=lay, pattern=spec, return_lse=True, kernel="reference")
    assert torch.allclose(fast, ref, atol=1e-5) and torch.allclose(lf, lr, atol=1e-4)
    dense, ld = prefill_attention(q, k, v, layout=lay, pattern="dense", return_lse=True)
    rec = recall_from_lse(lf[0], ld[0])
    assert bool((rec < 0.999).all()) and bool((rec > 0.5).all())
    full = prefill_attention(q, k, v, layout=lay, pattern={**spec, "p": 1.0})
    assert torch.allclose(full, dense, atol=1e-5)


def test_block_mass_recall_tracks_p_on_peaked_attention():
    """Key blocks of 64 share one of 4 strong directions, and so do query blocks: the sampled rows'
    estimate transfers to the other rows of their block, and a quarter of the blocks suffice."""
    torch.manual_seed(2)
    L, D = 1024, 32
    dirs = torch.randn(4, D) * 3
    k = torch.randn(1, 1, L, D) * 0.3 + dirs[(torch.arange(L) // 64 * 3) % 4]
    q = torch.randn(1, 1, L, D) * 0.3 + dirs[(torch.arange(L) // 64 * 5 + 1) % 4]
    v = torch.randn(1, 1, L, D)
    lay = SeqLayout.text(L)
    _, ld = prefill_attention(q, k, v, layout=lay, pattern="dense", return_lse=True, scale=0.25)
    for p in (0.8, 0.95):
        st = {}
        _, ls = prefill_attention(q, k, v, layout=lay, pattern={"type": "block_mass", "p": p, "block": 64},
                                  return_lse=True, scale=0.25, stats=st)
        rec = float(recall_from_lse(ls[0], ld[0]).mean())
        assert p - 0.05 < rec <= 1.0, (p, rec)
        assert st["pairs"] < 0.6 * L * (L + 1) / 2


@pytest.mark.parametrize("bad", [{"p": 0}, {"p": 1.5}, {"p": "x"}, {"samples": 0}, {"block": -1}, {"local": 0}])
def test_bad_block_mass_settings_are_one_line(bad):
    with pytest.raises(MmlongError, match="block_mass"):
        parse_spec({"type": "block_mass", **bad})


def test_allocate_worked_example_and_cheapest_when_met():
    opts = [[(0.1, 0.99), (1.0, 1.0)], [(0.1, 0.80), (0.3, 0.90), (1.0, 1.0)]]
    assert allocate(opts, 0.95) == [0, 2]
    assert allocate(opts, 0.85) == [0, 0]
    assert allocate(opts, 0.94) == [0, 1]
    # an option that costs more and recalls less is never chosen
    assert allocate([[(0.2, 0.9), (0.5, 0.85), (1.0, 1.0)]], 0.9) == [0]


def test_search_with_a_target_meets_it_per_layer_at_less_than_dense_cost():
    torch.manual_seed(3)
    L, D = 1024, 16
    dirs = torch.randn(4, D) * 3
    q, k = torch.randn(4, L, D), torch.randn(2, L, D)
    q[:2] = q[:2] * 0.3 + dirs[(torch.arange(L) // 64 * 5 + 1) % 4]  # kv head 0: block-structured, peaked
    k[0] = k[0] * 0.3 + dirs[(torch.arange(L) // 64 * 3) % 4]
    cands = [{"type": "block_mass", "p": p, "block": 64, "samples": 4} for p in (0.8, 0.9, 0.97)]
    best, recalls, _ = search_heads(q, k, SeqLayout.text(L), cands, scale=D ** -0.5, target=0.95, cost="pairs")
    rec = [b["recall"] for b in best]
    assert sum(rec) / len(rec) >= 0.95
    assert any(b["type"] == "block_mass" for b in best)
    for b, r in zip(best, recalls):  # a chosen candidate's recall is the measured one
        if b["type"] == "dense":
            assert b["recall"] == 1.0
        else:
            assert math.isclose(b["recall"], r[[c["p"] for c in cands].index(b["p"])], abs_tol=1e-6)
