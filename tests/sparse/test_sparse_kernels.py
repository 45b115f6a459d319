"""Fast kernels vs the exact reference, full budgets vs dense SDPA, and the building blocks.

Tolerance: float32 everywhere; fast and reference outputs agree to 2e-5 absolute (observed
~1e-6) and their log-sum-exps to 1e-4.
"""

import pytest
import torch
import torch.nn.functional as F

from mmlong.errors import MmlongError
from mmlong.sparse.api import prefill_attention
from mmlong.sparse.kernels.gather_sdpa import merge, sdpa_lse
from mmlong.sparse.kernels.reference import dense_lse, recall_from_lse
from mmlong.sparse.layout import SeqLayout, Span, token_arrays
from mmlong.sparse.patterns import PATTERNS
from mmlong.sparse.patterns.base import merge_runs
from mmlong.sparse.permute import grid_order

ATOL, LTOL = 2e-5, 1e-4
SMALL = dict(block=32, vs_block=16)

# text | video 40 frames x 12 | text | image | text  (L = 700)
MIXED = SeqLayout.from_spans([("text", 0, 37), ("video", 37, 517, 12, 0), ("text", 517, 560), ("image", 560, 600),
                              ("text", 600, 700)])
# Qwen3-VL-like: one video split into per-frame spans with timestamp text between (same item)
PER_FRAME = SeqLayout.from_spans([("text", 0, 20)] + [s for t in range(10) for s in (
    ("video", 20 + t * 15, 20 + t * 15 + 12, 12, 7), ("text", 20 + t * 15 + 12, 20 + (t + 1) * 15))]
    + [("text", 170, 200)])

SPECS = {
    "dense": "dense",
    "a_shape": {"type": "a_shape", "n_init": 5, "n_local": 50},
    "tri_shape": {"type": "tri_shape", "n_local": 30},
    "vs": {"type": "vs", "vertical": 40, "slash": 60},
    "block_sparse": {"type": "block_sparse", "top_k": 3, "block": 32},
    "block_mass": {"type": "block_mass", "p": 0.6, "block": 32, "samples": 4},
    "grid": {"type": "grid", "local": 40, "s": True, "v": True, "phases": 2},
    "q_boundary": {"type": "q_boundary", "vertical": 40, "slash": 60},
    "2d_boundary": {"type": "2d_boundary", "vertical": 40, "slash": 60},
}
FULL = {  # budgets that keep every causal key
    "a_shape": {"type": "a_shape", "n_local": 10**6},
    "tri_shape": {"type": "tri_shape", "n_local": 10**6},
    "vs": {"type": "vs", "vertical": 10**6, "slash": 10**6},
    "block_sparse": {"type": "block_sparse", "top_k": 10**6},
    "block_mass": {"type": "block_mass", "p": 1.0, "block": 32},
    "grid": {"type": "grid", "local": 10**6},
    "q_boundary": {"type": "q_boundary", "vertical": 10**6, "slash": 10**6},
    "2d_boundary": {"type": "2d_boundary", "vertical": 10**6, "slash": 10**6},
}



def qkv(L, hq=4, hkv=2, d=16, b=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, hq, L, d, generator=g), torch.randn(b, hkv, L, d, generator=g),
            torch.randn(b, hkv, L, d, generator=g))


def test_every_registered_pattern_is_covered():
    assert set(SPECS) == set(PATTERNS) and set(FULL) | {"dense"} == set(PATTERNS)


@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("layout", [MIXED, PER_FRAME], ids=["mixed", "per_frame"])
def test_fast_kernel_equals_reference(name, layout):
    q, k, v = qkv(layout.length)
    st = {}
    o, lse = prefill_attention(q, k, v, layout=layout, pattern=SPECS[name], budgets=SMALL, return_lse=True, stats=st)
    r, rl = prefill_attention(q, k, v, layout=layout, pattern=SPECS[name], budgets=SMALL, return_lse=True,
                              kernel="reference")
    assert (o - r).abs().max() < ATOL and (lse - rl).abs().max() < LTOL
    causal = 4 * layout.length * (layout.length + 1) / 2
    if name != "dense" and layout is MIXED:  # the pattern must actually skip work
        assert st["pairs"] < causal


@pytest.mark.parametrize("name", list(FULL))
def test_full_budgets_equal_dense_sdpa(name):
    q, k, v = qkv(MIXED.length)
    o = prefill_attention(q, k, v, layout=MIXED, pattern=FULL[name], budgets=SMALL)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    assert (o - ref).abs().max() < ATOL


def test_dense_equals_causal_sdpa_bf16_in_and_out():
    q, k, v = qkv(300, hq=6, hkv=3, d=32, b=2)
    o = prefill_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), layout=SeqLayout.text(300), pattern="dense")
    ref = F.scaled_dot_product_attention(q.bfloat16().float(), k.bfloat16().float(), v.bfloat16().float(),
                                         is_causal=True, enable_gqa=True)
    assert o.dtype == torch.bfloat16 and (o.float() - ref).abs().max() < 1e-2


def test_per_head_patterns_and_batch_with_two_layouts():
    lays = [MIXED, SeqLayout.text(MIXED.length)]
    q, k, v = qkv(MIXED.length, b=2)
    pats = [SPECS["grid"], SPECS["vs"], "dense", SPECS["a_shape"]]
    o = prefill_attention(q, k, v, layout=lays, pattern=pats, budgets=SMALL)
    r = prefill_attention(q, k, v, layout=lays, pattern=pats, budgets=SMALL, kernel="reference")
    assert (o - r).abs().max() < ATOL


@pytest.mark.parametrize("name", ["grid", "vs", "2d_boundary"])
def test_threaded_block_workers_equal_reference(name):
    q, k, v = qkv(MIXED.length)
    o = prefill_attention(q, k, v, layout=MIXED, pattern=SPECS[name], budgets=SMALL, workers=2)
    r = prefill_attention(q, k, v, layout=MIXED, pattern=SPECS[name], budgets=SMALL, kernel="reference")
    assert (o - r).abs().max() < ATOL and torch.get_num_threads() == 1  # intra-op threads restored


def test_gqa_folded_query_heads_equal_reference():
    """8 query heads on 2 kv heads with one plan: each kv head serves its 4 query heads in one call."""
    q, k, v = qkv(MIXED.length, hq=8, hkv=2)
    st = {}
    o = prefill_attention(q, k, v, layout=MIXED, pattern=SPECS["grid"] | {"phase": 3}, budgets=SMALL, stats=st)
    r = prefill_attention(q, k, v, layout=MIXED, pattern=SPECS["grid"] | {"phase": 3}, budgets=SMALL,
                          kernel="reference")
    assert (o - r).abs().max() < ATOL


@pytest.mark.parametrize("name", ["a_shape", "vs", "grid"])
def test_flex_masks_equal_reference(name):
    """The FlexAttention path (eager here; compiled in the benchmark) builds the same kept set."""
    q, k, v = qkv(MIXED.length)
    o = prefill_attention(q, k, v, layout=MIXED, pattern=SPECS[name], budgets=SMALL, kernel="flex_eager")
    r = prefill_attention(q, k, v, layout=MIXED, pattern=SPECS[name], budgets=SMALL, kernel="reference")
    assert (o - r).abs().max() < 1e-4


def test_lse_merge_is_exact():
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(1, 2, 50, 8, generator=g) for _ in range(3))
    o, l = sdpa_lse(q, k, v, scale=0.3)
    o1, l1 = sdpa_lse(q, k[:, :, :17], v[:, :, :17], scale=0.3)
    o2, l2 = sdpa_lse(q, k[:, :, 17:], v[:, :, 17:], scale=0.3)
    om, lm = merge(o1, l1, o2, l2)
    assert (om - o).abs().max() < 1e-5 and (lm - l).abs().max() < 1e-5
    om, lm = merge(o, l, torch.zeros_like(o), torch.full_like(l, float("-inf")))  # empty part changes nothing
    assert torch.equal(om, o)


def test_recall_from_lse_equals_mask_mass():
    q, k, v = qkv(MIXED.length)
    plans = []
    _, lse = prefill_attention(q, k, v, layout=MIXED, pattern=SPECS["grid"], budgets=SMALL, return_lse=True,
                               plans_out=plans)
    ld = dense_lse(q[0], k[0], scale=0.25)
    rec = recall_from_lse(lse[0], ld)
    for h in (0, 3):
        s = (q[0, h] @ k[0, h // 2].T) * 0.25
        s = s.masked_fill(torch.ones_like(s, dtype=torch.bool).triu(1), float("-inf"))
        mass = (torch.softmax(s, -1) * plans[0][h].mask()).sum(-1).mean()
        assert abs(float(mass) - float(rec[h])) < 1e-5 and 0.2 < float(rec[h]) < 1.0


def test_grid_permutation_worked_example_and_round_trip():
    lay = SeqLayout.video(12, start=4, frames=3, frame_tokens=2)
    order = grid_order(token_arrays(lay), {0: 2})
    assert order.perm.tolist() == [0, 1, 2, 3, 4, 6, 8, 5, 7, 9, 10, 11]
    assert torch.equal(order.perm[order.inv], torch.arange(12))
    # a vertical line (phase 1, all frames) is one contiguous run of the permuted order
    g1 = [g for g in order.groups if g.phase == 1][0]
    assert order.perm[g1.start:g1.end].tolist() == [5, 7, 9]


def test_grid_definition_on_the_spec_rules():
    """Grid kept set on a hand layout: sinks, local, vertical phase, horizontal rows, trailing rows."""
    lay = SeqLayout.video(16, start=2, frames=4, frame_tokens=3)  # video 2..13, text 14..15
    q, k, v = qkv(16)
    plans = []
    prefill_attention(q, k, v, layout=lay, pattern={"type": "grid", "v": True, "h": True, "phase": 1, "local": 2},
                      plans_out=plans)
    m = plans[0][0].mask()
    # row 10 (phase 2): sinks 0-1, phase-1 keys 3, 6, 9 (vertical), window 9-10
    assert m[10].nonzero().flatten().tolist() == [0, 1, 3, 6, 9, 10]
    assert m[9, :10].all() and not m[9, 10:].any()  # row 9 has phase 1: a horizontal row
    assert m[15].sum() == 16 and m[14].sum() == 15  # trailing text rows are dense


def test_merge_runs_example():
    assert merge_runs([5, 0, 3], [8, 2, 6]) == [(0, 2), (3, 8)]


@pytest.mark.parametrize("kwargs, needle", [
    (dict(pattern="zzz"), "unknown sparse pattern 'zzz'"),
    (dict(pattern={"type": "vs", "verticals": 3}), "unknown key(s) verticals"),
    (dict(pattern={"type": "grid", "stride": 0}), "stride must be"),
    (dict(pattern=["dense"] * 3), "3 entries for 4 query heads"),
    (dict(layout=SeqLayout.text(99)), "covers 99 tokens but the sequence has 100"),
    (dict(budgets={"vertical": -1}), "budget vertical must be a positive int"),
    (dict(budgets={"foo": 1}), "unknown sparse budget(s) foo"),
    (dict(kernel="cuda"), "unknown sparse kernel"),
])
def test_bad_input_is_one_line_error(kwargs, needle):
    q, k, v = qkv(100)
    args = dict(layout=SeqLayout.text(100), pattern="dense") | kwargs
    with pytest.raises(MmlongError) as err:
        prefill_attention(q, k, v, **args)
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("shapes, needle", [
    (((1, 4, 100, 16), (1, 3, 100, 16), (1, 3, 100, 16)), "not a multiple"),
    (((1, 4, 100, 16), (1, 2, 90, 16), (1, 2, 90, 16)), "must both be"),
    (((4, 100, 16), (2, 100, 16), (2, 100, 16)), "4-D tensor"),
])
def test_wrong_shapes_are_one_line_errors(shapes, needle):
    q, k, v = (torch.zeros(s) for s in shapes)
    with pytest.raises(MmlongError, match=needle) as err:
        prefill_attention(q, k, v, layout=SeqLayout.text(100), pattern="dense")
    assert "\n" not in str(err.value)


def test_layout_errors_are_one_line():
    with pytest.raises(MmlongError, match="cover"):
        SeqLayout(10, (Span("text", 0, 8),))
    with pytest.raises(MmlongError, match="contiguous"):
        SeqLayout.from_spans([("text", 0, 4), ("video", 5, 10, 5)])
    with pytest.raises(MmlongError, match="kind"):
        SeqLayout.from_spans([("audio", 0, 4)])
