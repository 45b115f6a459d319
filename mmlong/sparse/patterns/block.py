"""Block-sparse heads (MInference 1.0): top-k key blocks per query block from mean-pooled q/k.

Queries and keys are mean-pooled over ``block`` tokens; query block b keeps its ``top_k``
best causal key blocks by pooled score, plus block 0 (sinks) and its own diagonal block.

Worked example (block 64, top_k 1): query block 3 (rows 192..255) with pooled scores
[0.1, 0.9, 0.2, 0.3] keeps key blocks {0, 1, 3}: runs [(0, 128), (192, 256)].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mmlong.sparse.estimate import pooled_block_scores
from mmlong.sparse.patterns.base import HeadPlan, Part, Rule, merge_runs, positive


@dataclass(frozen=True)
class BlockParams:
    """Block-sparse budgets."""

    top_k: int = 100  # key blocks kept per query block (besides block 0 and the diagonal)
    block: int = 64  # block size of the estimate and the kernel

    def __post_init__(self):
        positive("top_k", self.top_k, "block_sparse")
        positive("block", self.block, "block_sparse")


BUDGET_MAP = {"top_k": "top_k"}


def resolve_block(params: BlockParams, ctx) -> HeadPlan:
    p = ctx.budgets.override(params, BUDGET_MAP)
    L, B = ctx.layout.length, p.block
    scores = pooled_block_scores(ctx.q, ctx.k, B, ctx.scale)  # (nb, nb)
    nb = scores.shape[0]
    k = min(p.top_k, nb)
    top = torch.topk(scores, k, dim=-1).indices
    kept = torch.zeros(nb, nb, dtype=torch.bool)
    kept.scatter_(1, top, True)
    kept &= torch.ones(nb, nb, dtype=torch.bool).tril()
    kept[:, 0] = True
    kept |= torch.eye(nb, dtype=torch.bool)
    rows, runs = [], []
    for b in range(nb):
        kb = kept[b].nonzero().flatten().numpy()
        rows.append((b * B, min(L, (b + 1) * B)))
        runs.append(merge_runs(kb * B, (kb + 1) * B))
    runs = [[(a, min(e, L)) for a, e in r] for r in runs]
    part = Part(None, rows, runs, [None] * nb, Rule("causal"))

    def mask_fn(qrows: torch.Tensor) -> torch.Tensor:
        kb = torch.arange(L) // B
        return kept[qrows // B][:, kb] & (torch.arange(L)[None, :] <= qrows[:, None])

    return HeadPlan("block_sparse", L, mask_fn, [part], sig=None,
                    info={"top_k": k, "block": B, "kept_blocks": int(kept.sum())})
