"""Optional kernel: torch FlexAttention with a BlockMask built from the same plan parts.

Each part becomes one ``flex_attention`` call over the part's order, padded to a multiple of
128. The BlockMask lists, per 128-row block, every 128-key block that one of its rows'
runs / columns touches; inside, ``mask_mod`` keeps key j for row i iff j is a member of i's
row block (a (row blocks x L) bool table) and the part's rule holds on original positions.
Parts merge by log-sum-exp as in :mod:`~mmlong.sparse.kernels.gather_sdpa`.

``compiled=True`` wraps ``flex_attention`` in ``torch.compile`` (Inductor's C++ CPU
template, x86 AVX2; first call compiles for tens of seconds, then cached). On the CPU the
compiled kernel cannot return the log-sum-exp (torch 2.13: "return_lse is not supported
yet"), so it runs only single-part plans (A-shape, VS, block-sparse, boundaries) and returns
lse None; plans that need an LSE merge (Grid: two parts) go to the gather kernel.
``compiled=False`` runs the unfused eager reference, which materialises the scores and does
return the LSE — only for checking the masks on small inputs.
"""

from __future__ import annotations

import functools

import torch

from mmlong.sparse.kernels.gather_sdpa import merge

BLOCK = 128


@functools.lru_cache(maxsize=1)
def _compiled():
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False)


def _rule_mod(rule, orig):
    def keep(qo, ko):
        d = qo - ko
        if rule.kind == "causal":
            return d >= 0
        if rule.kind == "ashape":
            return (d >= 0) & ((qo >= rule.dense_from) | (ko < rule.sink) | (d < rule.window))
        return (d >= rule.window) & (ko >= rule.sink)
    return keep


def _block_mask(part, L: int, Lp: int):
    from torch.nn.attention.flex_attention import BlockMask

    nrb = len(part.rows)
    rb = torch.full((Lp,), -1, dtype=torch.long)
    member = torch.zeros(nrb, Lp, dtype=torch.bool)
    nQ = Lp // BLOCK
    qblocks = [set() for _ in range(nQ)]
    for i, ((s, e), runs, cols) in enumerate(zip(part.rows, part.runs, part.cols)):
        rb[s:e] = i
        for a, b in runs:
            member[i, a:b] = True
        if cols is not None:
            member[i, cols] = True
        kbl = member[i].view(nQ, BLOCK).any(1).nonzero().flatten().tolist()
        for Q in range(s // BLOCK, (e - 1) // BLOCK + 1):
            qblocks[Q].update(kbl)
    width = max(1, max(len(x) for x in qblocks))
    num = torch.tensor([len(x) for x in qblocks], dtype=torch.int32)
    idx = torch.zeros(nQ, width, dtype=torch.int32)
    for Q, x in enumerate(qblocks):
        if x:
            idx[Q, :len(x)] = torch.tensor(sorted(x), dtype=torch.int32)
    orig = torch.full((Lp,), 1 << 40, dtype=torch.long)
    orig[:L] = part.perm if part.perm is not None else torch.arange(L)
    keep = _rule_mod(part.rule, orig)

    def mask_mod(b, h, qi, ki):
        r = rb[qi]
        return (r >= 0) & member[r.clamp(min=0), ki] & keep(orig[qi], orig[ki])

    return BlockMask.from_kv_blocks(num[None, None], idx[None, None], BLOCK_SIZE=BLOCK, mask_mod=mask_mod,
                                    seq_lengths=(Lp, Lp)), rb


def run_parts_flex(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, parts, scale: float, compiled: bool = True):
    """Same contract as :func:`~mmlong.sparse.kernels.gather_sdpa.run_parts`, with FlexAttention.

    Compiled, multi-part plans run on the gather kernel and single-part plans return lse None.
    """
    from torch.nn.attention.flex_attention import flex_attention

    if compiled and len(parts) > 1:
        from mmlong.sparse.kernels.gather_sdpa import run_parts

        return run_parts(q, k, v, parts, scale)
    fn = _compiled() if compiled else flex_attention
    G, c, L, D = q.shape
    Lp = -(-L // BLOCK) * BLOCK
    out = lse = None
    for part in parts:
        perm = part.perm
        qp = q if perm is None else q.index_select(2, perm)
        kp = k if perm is None else k.index_select(1, perm)
        vp = v if perm is None else v.index_select(1, perm)
        pad = Lp - L
        qp = torch.nn.functional.pad(qp.reshape(G * c, L, D), (0, 0, 0, pad))[None]
        kp = torch.nn.functional.pad(kp, (0, 0, 0, pad))[None]
        vp = torch.nn.functional.pad(vp, (0, 0, 0, pad))[None]
        bm, rb = _block_mask(part, L, Lp)
        if compiled:
            o = fn(qp, kp, vp, block_mask=bm, scale=scale, enable_gqa=True)
            o = o[0, :, :L].reshape(G, c, L, -1).float()
            if perm is not None:
                inv = torch.empty_like(perm)
                inv[perm] = torch.arange(L)
                o = o.index_select(2, inv)
            return o, None
        o, l = fn(qp, kp, vp, block_mask=bm, scale=scale, enable_gqa=True, return_lse=True)
        o, l = o[0, :, :L].reshape(G, c, L, -1).float(), l[0, :, :L].reshape(G, c, L).float()
        dead = rb[:L] < 0
        l = l.masked_fill(dead | torch.isnan(l), float("-inf"))
        o = torch.where(torch.isinf(l)[..., None], torch.zeros_like(o), o)
        if perm is not None:
            inv = torch.empty_like(perm)
            inv[perm] = torch.arange(L)
            o, l = o.index_select(2, inv), l.index_select(2, inv)
        out, lse = (o, l) if out is None else merge(out, lse, o, l)
    return out, lse
