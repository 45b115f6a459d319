"""Modality-aware sparse prefill (MMInference) for Qwen-VL-class models, CPU path.

    from mmlong.sparse import prefill_attention, SeqLayout
    out = prefill_attention(q, k, v, layout=SeqLayout.video(L, start=64, frames=T, frame_tokens=g),
                            pattern={"type": "grid", "s": True, "v": False, "local": 512})

    mmlong.sparse.apply_prefill(model, patterns="patterns.json")   # prefill only; decode stays dense
    mmlong.sparse.remove_prefill(model)

Pattern names: ``mmlong.sparse.patterns.patterns()``. Modules: ``layout`` (mmlong.models.layout names),
``patterns/`` (registry: dense, a_shape, tri_shape, vs, block_sparse, grid, q_boundary,
2d_boundary), ``estimate`` (online estimates), ``permute`` (grid permutation), ``kernels/``
(reference, gather + SDPA, FlexAttention), ``synth`` (grid-structured test inputs), ``search``
(offline per-head search, JSON schema), ``patch`` (transformers AttentionInterface), ``cli``.
Names are imported lazily so ``import mmlong.sparse`` does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmlong._lazy import lazy_exports

__all__ = ["prefill_attention", "apply_prefill", "remove_prefill", "SeqLayout", "Span", "Budgets",
           "search_patterns", "load_patterns"]

if TYPE_CHECKING:  # pragma: no cover
    from mmlong.sparse.api import prefill_attention
    from mmlong.sparse.layout import SeqLayout, Span
    from mmlong.sparse.patch import apply_prefill, remove_prefill
    from mmlong.sparse.patterns.base import Budgets
    from mmlong.sparse.search import load_patterns, search_patterns

_HOMES = {
    "prefill_attention": "mmlong.sparse.api",
    "SeqLayout": "mmlong.sparse.layout",
    "Span": "mmlong.sparse.layout",
    "apply_prefill": "mmlong.sparse.patch",
    "remove_prefill": "mmlong.sparse.patch",
    "Budgets": "mmlong.sparse.patterns.base",
    "search_patterns": "mmlong.sparse.search",
    "load_patterns": "mmlong.sparse.search",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, __all__)
