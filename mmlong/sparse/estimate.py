"""Online estimation: score columns, diagonals, phases and blocks from a few queries (fp32).

Everything here is a pure function of tensors. Patterns call them with the *last* queries
of the relevant modality (MInference: the last 64 queries), so the cost is
``last_q x L x D`` per head, negligible next to the attention itself at long L.

Worked example of the slash index: a query at row coordinate c = 9 and keys at ranks
[0, 3, 9] sit on diagonals delta = c - rank = [9, 6, 0]; ``slash_scores`` adds each
attention weight into bin delta.
"""

from __future__ import annotations

import torch


def last_q_attention(q: torch.Tensor, q_pos: torch.Tensor, k: torch.Tensor, k_pos: torch.Tensor,
                     scale: float) -> torch.Tensor:
    """Causal softmax of a few queries over keys, in fp32.

    Args:
        q: (n, D) queries; q_pos: (n,) their original positions.
        k: (m, D) keys; k_pos: (m,) their original positions.
        scale: softmax scale (1/sqrt(D) for the models).

    Returns:
        (n, m) float32 probabilities; key b is visible to query a iff ``k_pos[b] <= q_pos[a]``.
    """
    s = (q.float() @ k.float().T) * scale
    s = s.masked_fill(k_pos[None, :] > q_pos[:, None], float("-inf"))
    return torch.softmax(s, dim=-1).nan_to_num_(0.0)


def top_indices(scores: torch.Tensor, k: int, forced: int = 0) -> torch.Tensor:
    """Sorted indices of the ``k`` best scores, the first ``forced`` indices always included.

    Example: ``top_indices(tensor([.1, .5, .2, .9]), 2, forced=1) -> tensor([0, 3])``.
    """
    n = scores.numel()
    k = max(0, min(int(k), n))
    s = scores.clone().float()
    if forced:
        s[: min(forced, n)] = float("inf")
    return torch.topk(s, k).indices.sort().values if k else torch.zeros(0, dtype=torch.long)


def slash_scores(A: torch.Tensor, q_coord: torch.Tensor, k_rank: torch.Tensor, size: int) -> torch.Tensor:
    """Attention mass per diagonal ``delta = q_coord - k_rank`` (delta in [0, size)).

    Args:
        A: (n, m) probabilities; q_coord: (n,) row coordinate; k_rank: (m,) key coordinate.
        size: number of bins.

    Returns:
        (size,) float32 sums; entries with delta outside [0, size) are dropped.
    """
    d = q_coord[:, None] - k_rank[None, :]
    d = torch.where((d >= 0) & (d < size), d, size)  # out of range -> a spill bin
    out = torch.zeros(size + 1, dtype=torch.float32)
    out.index_add_(0, d.flatten(), A.float().flatten())
    return out[:size]


def phase_scores(A: torch.Tensor, phase: torch.Tensor, g: int) -> torch.Tensor:
    """(g,) attention mass of the keys of each phase ``phase[b]`` in [0, g) (columns with phase < 0 ignored)."""
    out = torch.zeros(g, dtype=torch.float32)
    ok = phase >= 0
    out.index_add_(0, phase[ok], A[:, ok].sum(0).float())
    return out


def pooled_block_scores(q: torch.Tensor, k: torch.Tensor, block: int, scale: float) -> torch.Tensor:
    """Mean-pooled block scores (MInference block-sparse): (nb, nb), row = query block, causal -inf above."""
    L, D = q.shape
    nb = -(-L // block)
    pad = nb * block - L
    qp = torch.nn.functional.pad(q.float(), (0, 0, 0, pad)).view(nb, block, D)
    kp = torch.nn.functional.pad(k.float(), (0, 0, 0, pad)).view(nb, block, D)
    cnt = torch.full((nb, 1), float(block))
    cnt[-1] = block - pad
    qm, km = qp.sum(1) / cnt, kp.sum(1) / cnt
    s = (qm @ km.T) * scale
    return s.masked_fill(torch.ones(nb, nb, dtype=torch.bool).triu(1), float("-inf"))


def sampled_block_mass(q: torch.Tensor, k: torch.Tensor, block: int, samples: int, scale: float,
                       chunk_blocks: int = 32) -> torch.Tensor:
    """Attention mass per (query block, key block), estimated from a few exact query rows per block.

    For query block b (rows ``[b*block, (b+1)*block)``), ``samples`` rows spread evenly through
    the block, the last row included, get their exact causal softmax over all keys; the mass is
    summed per key block and averaged over the sampled rows. Query blocks are scored
    ``chunk_blocks`` at a time against only the keys they can see.

    Worked example (block 4, samples 2, L = 8): query block 1 samples rows 5 and 7; row 5 sees
    keys 0..5, so its mass lands in key blocks 0 and 1; entry [1, 1] is the mean of both rows'
    mass on keys 4..7 (row 5 on keys 4, 5 only).

    Args:
        q: (L, D) queries, k: (L, D) keys (after the rotary embedding), float32.
        block: query and key block size.
        samples: sampled rows per query block (clamped to the block).
        scale: softmax scale.
        chunk_blocks: query blocks scored per matmul.

    Returns:
        (nb, nb) float32, nb = ceil(L / block); rows sum to 1; entries above the diagonal are 0.
    """
    L, D = q.shape
    nb = -(-L // block)
    s = max(1, min(samples, block))
    offs = torch.tensor([(j + 1) * block // s - 1 for j in range(s)])
    rows = (torch.arange(nb)[:, None] * block + offs[None, :]).clamp(max=L - 1)  # (nb, s)
    kp = torch.nn.functional.pad(k.float(), (0, 0, 0, nb * block - L))  # keys >= L are masked below
    qs = q.float()[rows.flatten()] * scale  # (nb * s, D)
    out = torch.zeros(nb, nb)
    for b0 in range(0, nb, chunk_blocks):
        b1 = min(nb, b0 + chunk_blocks)
        r = rows[b0:b1].flatten()
        kend = b1 * block
        sc = qs[b0 * s:b1 * s] @ kp[:kend].T  # (n, kend)
        tail = sc[:, b0 * block:]  # only keys of this chunk's own blocks can lie after a row
        tail.masked_fill_(torch.arange(b0 * block, kend)[None, :] > r[:, None], float("-inf"))
        sc.sub_(sc.amax(1, keepdim=True)).exp_()
        mass = sc.view(len(r), b1, block).sum(-1)
        mass.div_(mass.sum(1, keepdim=True))
        out[b0:b1, :b1] = mass.view(b1 - b0, s, b1).mean(1)
    return out


def cover_blocks(mass: torch.Tensor, p: float, forced: torch.Tensor) -> torch.Tensor:
    """Per query block, the fewest key blocks whose mass reaches ``p``, the ``forced`` ones first.

    Args:
        mass: (nb, nb) block mass (rows sum to about 1, zero above the diagonal).
        p: mass to cover per row, in (0, 1].
        forced: (nb, nb) bool blocks always kept (e.g. the first block and the diagonal).

    Returns:
        (nb, nb) bool kept blocks. Example: mass row [0.5, 0.1, 0.3, 0.1], forced {3}, p 0.8
        keeps blocks 3 (0.1), 0 (0.6), 2 (0.9): the forced mass counts towards p.
    """
    m = mass.masked_fill(forced, 0.0)
    base = (mass * forced).sum(1, keepdim=True)
    vals, idx = torch.sort(m, dim=1, descending=True)
    before = base + vals.cumsum(1) - vals  # mass already covered before taking each block
    take = (before < p) & (vals > 0)
    kept = torch.zeros_like(forced)
    kept.scatter_(1, idx, take)
    return kept | forced
