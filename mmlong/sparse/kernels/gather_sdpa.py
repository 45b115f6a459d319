"""Fast CPU kernel: per query block, gather the kept key runs and call SDPA; merge parts by LSE.

For every :class:`~mmlong.sparse.patterns.base.Part` and every query block, the key runs
(contiguous in the part's order) are concatenated — a single run is a view, no copy — plus
any loose columns, and ``aten._scaled_dot_product_flash_attention_for_cpu`` returns the
block's output and log-sum-exp. A mask (float, 0 / -inf) is built only when the block's
rule is not trivially true on its original-position bounds. Parts are merged exactly:

    m = max(l1, l2);  o = (o1 e^(l1-m) + o2 e^(l2-m)) / (e^(l1-m) + e^(l2-m));  l = m + log(...)

Grouped-query attention: the ``c`` query heads of one key/value head that share a plan are
folded into the query rows of one call (rows ``[head0 block, head1 block, ...]`` against the
same keys), so keys are never copied per query head.

Everything runs in float32 (bf16 masked SDPA is slow and imprecise on AVX2-only CPUs).
"""

from __future__ import annotations

import torch

_OP = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
MASK_CHUNK = 128  # keys per chunk when deciding which columns need a mask
MASK_CACHE = 64  # masks kept per part (same geometry -> same mask)
_MARK = -(1 << 50)
BIG_BLOCKS = 128 * 1024  # mean (query, key) pairs per block from which intra-op threads beat block threads


def sdpa_lse(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False, mask=None,
             scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """SDPA returning ``(out, lse)``; q (B, H, n, D), k/v (B, H, m, D); ``mask`` float additive (n, m)."""
    return _OP(q, k, v, 0.0, causal, attn_mask=mask, scale=scale)


def merge(o1: torch.Tensor, l1: torch.Tensor, o2: torch.Tensor, l2: torch.Tensor):
    """Exact merge of two partial softmax results over disjoint key sets.

    Args:
        o1, o2: (..., L, D) normalised outputs; l1, l2: (..., L) log-sum-exps (-inf = no keys).

    Returns:
        ``(o, l)`` as if one softmax had run over the union.
    """
    m = torch.maximum(l1, l2)
    m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
    w1, w2 = torch.exp(l1 - m), torch.exp(l2 - m)
    s = w1 + w2
    o = (o1 * w1[..., None] + o2 * w2[..., None]) / s.clamp(min=1e-30)[..., None]
    return o, m + torch.log(s)


def run_dense(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float):
    """Causal attention of q (G, c, L, D) against k/v (G, L, D); returns (out, lse) like :func:`run_parts`."""
    G, c, L, D = q.shape
    out = torch.empty(G, c, L, v.shape[-1])
    lse = torch.empty(G, c, L)
    for j in range(c):
        o, l = sdpa_lse(q[:, j][None], k[None], v[None], causal=True, scale=scale)
        out[:, j], lse[:, j] = o[0], l[0]
    return out, lse


def block_mask(rule, qo: torch.Tensor, ko: torch.Tensor, c: int = 1, cache: dict | None = None,
               chunk: int = MASK_CHUNK):
    """Float mask for rows ``qo`` and keys ``ko`` (original positions), or None when all are kept.

    Keys are checked in chunks of ``chunk``: a chunk whose bounds make the rule trivially
    true stays 0 without building its comparison. The mask is repeated ``c`` times along
    rows (folded query heads). With ``cache``, masks are reused across blocks with the same
    geometry — rows and keys relative to the first row, plus the rule's absolute flags —
    which is exact (Part A interiors and Grid phase groups repeat the same geometry).

    Returns:
        ``(mask (c*n, m) or None, dead (c*n,) bool rows that keep no key, or None)``.
    """
    key = None
    n, m = qo.numel(), ko.numel()
    qmin, qmax = int(qo.min()), int(qo.max())
    if cache is not None:
        # Geometry key: keys kept for every row are marked (their position is irrelevant);
        # the others are taken relative to the first row, with the rule's absolute flags.
        q0 = int(qo[0])
        triv = rule.trivial_vec(qmin, qmax, ko, ko)
        rel = torch.where(triv, torch.full_like(ko, _MARK), ko - q0)
        flags = b""
        if rule.kind != "causal":
            flags = ((ko < rule.sink) & ~triv).numpy().tobytes()
            if rule.kind == "ashape":
                flags += (qo >= rule.dense_from).numpy().tobytes()
        key = (c, (qo - q0).numpy().tobytes(), rel.numpy().tobytes(), flags)
        if key in cache:
            return cache[key]
    nc = -(-m // chunk)
    kv = torch.nn.functional.pad(ko, (0, nc * chunk - m), value=int(ko[-1])).view(nc, chunk)
    ok = rule.trivial_vec(qmin, qmax, kv.amin(1), kv.amax(1))
    res = (None, None)
    if not bool(ok.all()):
        mask = torch.zeros(n, m)
        alive = torch.zeros(n, dtype=torch.bool) if not bool(ok.any()) else None
        for j in (~ok).nonzero().flatten().tolist():
            a, b = j * chunk, min(m, (j + 1) * chunk)
            keep = rule.keep(qo, ko[a:b])
            mask[:, a:b].masked_fill_(~keep, float("-inf"))
            if alive is not None:
                alive |= keep.any(1)
        dead = None if alive is None or bool(alive.all()) else (~alive).repeat(c)
        res = (mask.repeat(c, 1) if c > 1 else mask, dead)
    if cache is not None:
        if len(cache) >= MASK_CACHE:
            cache.pop(next(iter(cache)))
        cache[key] = res
    return res


def _run_block(part, qp, kp, vp, orig, bi: int, c: int, scale: float, cache: dict, po, pl) -> int:
    """Attention of query block ``bi`` of ``part``; writes ``po`` / ``pl`` rows; returns pairs computed."""
    (s, e), runs, cols = part.rows[bi], part.runs[bi], part.cols[bi]
    G, _, _, D = qp.shape
    n = e - s
    if len(runs) == 1 and cols is None:
        a, b = runs[0]
        kb, vb, ko = kp[:, a:b], vp[:, a:b], orig[a:b]
    else:
        kl = [kp[:, a:b] for a, b in runs]
        vl = [vp[:, a:b] for a, b in runs]
        ol = [orig[a:b] for a, b in runs]
        if cols is not None:
            kl.append(kp.index_select(1, cols))
            vl.append(vp.index_select(1, cols))
            ol.append(orig[cols])
        kb, vb, ko = torch.cat(kl, 1), torch.cat(vl, 1), torch.cat(ol)
    m = kb.shape[1]
    if m == 0:
        return 0
    mask, dead = block_mask(part.rule, orig[s:e], ko, c, cache)
    qb = qp[:, :, s:e].reshape(1, G, c * n, D)
    o, l = sdpa_lse(qb, kb[None], vb[None], mask=mask, scale=scale)
    if dead is not None:
        l[..., dead] = float("-inf")
        o[..., dead, :] = 0.0
    po[:, :, s:e] = o.view(G, c, n, -1)
    pl[:, :, s:e] = l.view(G, c, n)
    return G * c * n * m


def run_parts(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, parts, scale: float, stats: dict | None = None,
              workers: int = 1):
    """Run a plan's parts for a group of heads that share it.

    Args:
        q: (G, c, L, D) float32: G key/value heads, c query heads each.
        k, v: (G, L, D) float32.
        parts: the plan's :class:`Part` list.
        scale: softmax scale.
        stats: if given, ``stats["pairs"]`` is increased by the (query, key) pairs computed.
        workers: > 1 runs query blocks on that many Python threads, each with one intra-op
            thread (blocks are independent; SDPA releases the GIL). On a small shared CPU
            this avoids OpenMP teams stalling on a descheduled thread at every small call.
            Parts whose blocks average ``BIG_BLOCKS`` pairs or more use intra-op threads
            instead (measured: 128-row blocks against thousands of keys run faster so).

    Returns:
        ``(out (G, c, L, D), lse (G, c, L))`` in original row order; rows no part covers have
        lse -inf and output 0.
    """
    G, c, L, D = q.shape
    Dv = v.shape[-1]
    out = lse = None
    ar = torch.arange(L)
    pairs = 0
    for part in parts:
        if part.perm is not None:
            qp, kp, vp = q.index_select(2, part.perm), k.index_select(1, part.perm), v.index_select(1, part.perm)
            orig = part.perm
        else:
            qp, kp, vp, orig = q, k, v, ar
        cache: dict = {}
        po = torch.zeros(G, c, L, Dv)
        pl = torch.full((G, c, L), float("-inf"))
        nb = len(part.rows)
        if workers > 1 and nb > 1 and part.pairs() < BIG_BLOCKS * nb:
            from concurrent.futures import ThreadPoolExecutor

            def work(w: int) -> int:
                own: dict = {}  # one mask cache per thread
                return sum(_run_block(part, qp, kp, vp, orig, bi, c, scale, own, po, pl)
                           for bi in range(w, nb, workers))

            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                with ThreadPoolExecutor(workers) as ex:
                    pairs += sum(ex.map(work, range(workers)))
            finally:
                torch.set_num_threads(threads)
        else:
            pairs += sum(_run_block(part, qp, kp, vp, orig, bi, c, scale, cache, po, pl) for bi in range(nb))
        if part.perm is not None:
            inv = torch.empty_like(part.perm)
            inv[part.perm] = ar
            po, pl = po.index_select(2, inv), pl.index_select(2, inv)
        if out is None:
            out, lse = po, pl
        else:
            out, lse = merge(out, lse, po, pl)
    if stats is not None:
        stats["pairs"] = stats.get("pairs", 0) + pairs
    return out, lse
