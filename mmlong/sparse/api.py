"""``prefill_attention``: sparse causal attention of a whole prompt, one pattern per head.

    out = prefill_attention(q, k, v, layout=SeqLayout.video(L, start=64, frames=T, frame_tokens=g),
                            pattern=["grid", {"type": "vs", "vertical": 500}, ...])

Heads are resolved to plans (estimating from their own q / k where the pattern needs it);
heads whose plans are equal share one kernel call, and the query heads of one key/value
head are folded into that call (grouped-query attention without copying keys per head).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from mmlong.errors import MmlongError
from mmlong.models.layout import Layout
from mmlong.sparse.patterns import parse_spec
from mmlong.sparse.patterns.base import Budgets, HeadCtx, HeadPlan

KERNELS = ("gather", "flex", "flex_eager", "reference")


def _check(q, k, v, layout):
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.ndim != 4:
            raise MmlongError(f"prefill_attention: {name} must be a 4-D tensor (B, H, L, D), got "
                              f"{getattr(t, 'shape', type(t).__name__)}")
    B, Hq, L, D = q.shape
    if k.shape != v.shape or k.shape[0] != B or k.shape[2] != L or k.shape[3] != D:
        raise MmlongError(f"prefill_attention: k {tuple(k.shape)} and v {tuple(v.shape)} must both be (B={B}, Hkv, "
                          f"L={L}, D={D}) to match q {tuple(q.shape)}")
    if Hq % k.shape[1]:
        raise MmlongError(f"prefill_attention: {Hq} query heads is not a multiple of {k.shape[1]} key/value heads")
    lays = list(layout) if isinstance(layout, (list, tuple)) else [layout] * B
    if len(lays) != B:
        raise MmlongError(f"prefill_attention: {len(lays)} layouts for a batch of {B}")
    for lay in lays:
        if not isinstance(lay, Layout):
            raise MmlongError(f"prefill_attention: layout must be a SeqLayout (got {type(lay).__name__}); "
                              "e.g. SeqLayout.text(L)")
        if lay.length != L:
            raise MmlongError(f"prefill_attention: the layout covers {lay.length} tokens but the sequence has {L}; "
                              "the layout must cover the whole sequence")
    return lays


def head_specs(pattern, n_heads: int) -> list:
    """One parsed spec per query head from a name, a dict, or a per-head list."""
    if isinstance(pattern, (list, tuple)):
        if len(pattern) != n_heads:
            raise MmlongError(f"pattern list has {len(pattern)} entries for {n_heads} query heads; give one per head")
        return [parse_spec(p) for p in pattern]
    one = parse_spec(pattern)
    return [one] * n_heads


def resolve_plans(q: torch.Tensor, k: torch.Tensor, layout: Layout, specs, budgets: Budgets,
                  scale: float, cache: dict | None = None) -> list[HeadPlan]:
    """Plans for one sequence: q (Hq, L, D), k (Hkv, L, D) float32; one plan per query head.

    Heads with a layout-only pattern (no estimate) and equal spec share one plan object; pass
    a ``cache`` dict to share them across calls too (e.g. across layers of one prefill).
    """
    Hq = q.shape[0]
    rep = Hq // k.shape[0]
    if cache is None:
        cache = {}
    if cache.get("layout") != (layout, budgets):
        cache.clear()
        cache["layout"] = (layout, budgets)
    plans = []
    for h, (pt, params) in enumerate(specs):
        if pt.estimates(params):
            plans.append(pt.resolve(params, HeadCtx(layout, budgets, scale, q[h], k[h // rep])))
            continue
        key = (pt.name, params)
        if key not in cache:
            cache[key] = pt.resolve(params, HeadCtx(layout, budgets, scale))
        plans.append(cache[key])
    return plans


def _groups(plans: Sequence[HeadPlan], rep: int) -> list[tuple[HeadPlan, list[int], list[int]]]:
    """Heads sharing a plan, as (plan, kv heads, query heads ordered kv-major) with c = len(q)/len(kv)."""
    by: dict = {}
    for h, p in enumerate(plans):
        key = p.sig if p.sig is not None else ("head", id(p))
        by.setdefault(key, (p, []))[1].append(h)
    out = []
    for p, heads in by.values():
        per_kv: dict[int, list[int]] = {}
        for h in heads:
            per_kv.setdefault(h // rep, []).append(h)
        by_c: dict[int, list[int]] = {}
        for kvh, hs in per_kv.items():
            by_c.setdefault(len(hs), []).append(kvh)
        for c, kvs in by_c.items():
            out.append((p, kvs, [h for kvh in kvs for h in per_kv[kvh]]))
    return out


def run_plans(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, plans, scale: float, kernel: str = "gather",
              stats: dict | None = None, workers: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention of one sequence under resolved plans: q (Hq, L, D), k/v (Hkv, L, D) float32 -> (out, lse)."""
    from mmlong.sparse.kernels.gather_sdpa import run_dense, run_parts

    Hq, L, D = q.shape
    rep = Hq // k.shape[0]
    if kernel == "reference":
        from mmlong.sparse.kernels.reference import reference_attention

        return reference_attention(q, k, v, plans, scale)
    out = torch.empty(Hq, L, v.shape[-1])
    lse = torch.empty(Hq, L)
    for plan, kvs, hs in _groups(plans, rep):
        G, c = len(kvs), len(hs) // len(kvs)
        qi = torch.tensor(hs)
        qg = q.index_select(0, qi).view(G, c, L, D)
        ki = torch.tensor(kvs)
        if kvs == list(range(kvs[0], kvs[0] + G)):
            kg, vg = k[kvs[0]:kvs[0] + G], v[kvs[0]:kvs[0] + G]
        else:
            kg, vg = k.index_select(0, ki), v.index_select(0, ki)
        if plan.dense:
            o, l = run_dense(qg, kg, vg, scale)
            if stats is not None:
                stats["pairs"] = stats.get("pairs", 0) + G * c * L * (L + 1) // 2
        elif kernel == "gather":
            o, l = run_parts(qg, kg, vg, plan.parts, scale, stats, workers)
        elif kernel in ("flex", "flex_eager"):
            from mmlong.sparse.kernels.flex import run_parts_flex

            o, l = run_parts_flex(qg, kg, vg, plan.parts, scale, compiled=kernel == "flex")
        else:
            raise MmlongError(f"unknown sparse kernel {kernel!r}; choose one of: {', '.join(KERNELS)}")
        out[qi] = o.reshape(G * c, L, -1)
        lse[qi] = l.reshape(G * c, L) if l is not None else float("nan")
    return out, lse


def prefill_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, layout, pattern="dense",
                      budgets: Budgets | dict | None = None, scale: float | None = None, kernel: str = "gather",
                      return_lse: bool = False, stats: dict | None = None, plans_out: list | None = None,
                      plan_cache: dict | None = None, workers: int | None = None):
    """Sparse causal attention over a full prompt (prefill), per-head patterns.

    Args:
        q: (B, Hq, L, D) queries after the rotary embedding.
        k, v: (B, Hkv, L, D) keys / values after the rotary embedding; Hq a multiple of Hkv.
        layout: a :class:`~mmlong.sparse.layout.SeqLayout` of length L (or one per batch row).
        pattern: a pattern name, a spec dict (``{"type": "grid", "s": True}``), or a list of
            Hq of those (see :func:`mmlong.sparse.patterns.patterns`). ``"dense"`` equals
            causal SDPA.
        budgets: :class:`~mmlong.sparse.patterns.base.Budgets` or a dict of its fields,
            overriding the heads' own sizes.
        scale: softmax scale; None = 1/sqrt(D).
        kernel: ``"gather"`` (default, gather + SDPA), ``"flex"`` (compiled FlexAttention for
            single-part plans, gather for Grid; no ``return_lse``),
            ``"flex_eager"`` (uncompiled, for checks), ``"reference"`` (token masks, fp32).
        return_lse: also return the (B, Hq, L) natural-log log-sum-exp over the kept keys.
        stats: if given, ``stats["pairs"]`` counts the (query, key) pairs computed.
        plans_out: if given, the resolved per-row lists of plans are appended to it.
        plan_cache: a dict reused across calls: layout-only plans (no estimate) are built once.
        workers: gather kernel: query blocks run on this many threads with one intra-op thread
            each; None = ``torch.get_num_threads()``, 1 = one loop with intra-op threads.

    Returns:
        out (B, Hq, L, D) in q's dtype (computed in float32), and lse if ``return_lse``.

    Raises:
        MmlongError: bad shapes, a layout that does not cover the sequence, an unknown
            pattern / key / kernel, bad budgets.
    """
    lays = _check(q, k, v, layout)
    if kernel not in KERNELS:
        raise MmlongError(f"unknown sparse kernel {kernel!r}; choose one of: {', '.join(KERNELS)}")
    if kernel == "flex" and return_lse:
        raise MmlongError("kernel='flex' cannot return the log-sum-exp on the CPU (torch's compiled flex_attention "
                          "lacks it); use kernel='gather' or 'flex_eager'")
    B, Hq, L, D = q.shape
    specs = head_specs(pattern, Hq)
    if budgets is None:
        budgets = Budgets()
    elif isinstance(budgets, dict):
        budgets = Budgets.from_kwargs(**budgets)
    scale = 1.0 / math.sqrt(D) if scale is None else float(scale)
    workers = torch.get_num_threads() if workers is None else max(1, int(workers))
    outs, lses = [], []
    with torch.no_grad():
        for b in range(B):
            qb, kb, vb = q[b].float(), k[b].float(), v[b].float()
            plans = resolve_plans(qb, kb, lays[b], specs, budgets, scale, plan_cache)
            if plans_out is not None:
                plans_out.append(plans)
            o, l = run_plans(qb, kb, vb, plans, scale, kernel, stats, workers)
            outs.append(o)
            lses.append(l)
    out = torch.stack(outs).to(q.dtype)
    return (out, torch.stack(lses)) if return_lse else out
