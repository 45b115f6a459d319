"""Exact reference: token masks + fp32 softmax, chunked over query rows (for tests and recall).

``reference_attention`` computes, per head, ``softmax(q k^T * scale, masked to S(i)) v`` in
float32 with the kept set taken from ``plan.mask`` (the pattern's definition, not its kernel
tables), so comparing it with the fast kernel checks the kernels' index arithmetic.
Memory is ``rows_per_chunk x L`` per head; meant for L up to ~16k.
"""

from __future__ import annotations

import torch


def reference_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, plans, scale: float,
                        chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked attention of one sequence.

    Args:
        q: (Hq, L, D); k, v: (Hkv, L, D), Hq a multiple of Hkv (head h reads kv head h // (Hq / Hkv)).
        plans: Hq :class:`~mmlong.sparse.patterns.base.HeadPlan` (their ``mask``).
        scale: softmax scale.
        chunk: query rows per step.

    Returns:
        ``(out (Hq, L, D) float32, lse (Hq, L) float32)``; lse is the natural-log normaliser.
    """
    Hq, L, D = q.shape
    rep = Hq // k.shape[0]
    out = torch.empty(Hq, L, v.shape[-1], dtype=torch.float32)
    lse = torch.empty(Hq, L, dtype=torch.float32)
    for h in range(Hq):
        kh, vh = k[h // rep].float(), v[h // rep].float()
        for a in range(0, L, chunk):
            rows = torch.arange(a, min(L, a + chunk))
            s = (q[h, a:a + len(rows)].float() @ kh.T) * scale
            s = s.masked_fill(~plans[h].mask(rows), float("-inf"))
            lse[h, a:a + len(rows)] = torch.logsumexp(s, -1)
            out[h, a:a + len(rows)] = torch.softmax(s, -1) @ vh
    return out, lse


def dense_lse(q: torch.Tensor, k: torch.Tensor, scale: float, chunk: int = 1024) -> torch.Tensor:
    """(Hq, L) log-sum-exp of the causal dense scores (fp32), chunked."""
    Hq, L, _ = q.shape
    rep = Hq // k.shape[0]
    out = torch.empty(Hq, L)
    causal = torch.arange(L)
    for h in range(Hq):
        kh = k[h // rep].float()
        for a in range(0, L, chunk):
            s = (q[h, a:a + chunk].float() @ kh.T) * scale
            rows = causal[a:a + chunk]
            out[h, a:a + chunk] = torch.logsumexp(s.masked_fill(causal[None] > rows[:, None], float("-inf")), -1)
    return out


def recall_from_lse(lse_sparse: torch.Tensor, lse_dense: torch.Tensor, rows=None) -> torch.Tensor:
    """Share of dense softmax mass kept, per head: ``mean_i exp(lse_S(i) - lse_all(i))``.

    Exact because ``sum_{j in S(i)} softmax_j = exp(logsumexp_{S(i)} - logsumexp_all)``.

    Args:
        lse_sparse, lse_dense: (..., L) log-sum-exps over the kept set and over all causal keys.
        rows: optional index of the rows to average over.

    Returns:
        (...,) float32 recall in [0, 1].
    """
    r = torch.exp((lse_sparse.float() - lse_dense.float()).clamp(max=0.0))
    if rows is not None:
        r = r[..., rows]
    return r.mean(-1)
