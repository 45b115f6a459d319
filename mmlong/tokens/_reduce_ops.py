"""Visual-token reduction steps as pure tensor functions over one video's token grid.

Notation: a video's processor grid ``(t, gh, gw)`` becomes ``T = t`` temporal patches of
``S = (gh / m) * (gw / m)`` merged tokens (``m`` = spatial merge, 2). LLM token ``j`` of the
video is temporal patch ``k = j // S`` at slot ``s = j % S`` (row ``s // (gw / m)``, column
``s % (gw / m)``), the order of both the vision tower's output and the ``<|video_pad|>`` run.

Worked example: grid (3, 4, 6), m = 2 -> T = 3, S = 2 * 3 = 6, 18 tokens; token 13 is
patch 2, slot 1 (row 0, column 1). ``pixel_values_videos`` holds ``3 * 4 * 6 = 72`` rows,
``m * m = 4`` consecutive rows per merged token, so token 13 is rows 52..55.

Steps (each returns a keep mask; :mod:`mmlong.tokens.reduce` chains them):

* :func:`token_novelty` + threshold: temporal redundancy. A token is dropped when it is
  within ``threshold`` of the **last kept** token at the same slot (not merely the previous
  frame, so a slow fade cannot be dropped piece by piece forever). Patch 0 is always kept.
* :func:`reduce_relevance`: keep the ``top`` temporal patches whose vectors are most
  cosine-similar to the query vector.
* :func:`reduce_budget`: keep at most ``K`` tokens, most novel first (patch 0 counts as
  infinitely novel), ties broken by time.
"""

from __future__ import annotations

import math

import torch

from mmlong.errors import MmlongError

__all__ = ["merged_pixel_features", "token_novelty", "reduce_relevance", "reduce_budget"]


def merged_pixel_features(pixel_values: torch.Tensor, grid_thw, merge_size: int = 2,
                          image_std=None, channels: int = 3) -> torch.Tensor:
    """Group one video's patch rows into merged-token features.

    Args:
        pixel_values: (t*gh*gw, C*tps*p*p) normalized patch rows of ONE video (processor order).
        grid_thw: (3,) its processor grid (t, gh, gw).
        merge_size: spatial merge m.
        image_std: (C,) normalization std; when given, features are multiplied back by
            ``std * 255`` so differences are in 0..255 gray levels (the mean cancels in a
            difference). None keeps normalized units.
        channels: C (3).

    Returns:
        (T, S, m*m*C*tps*p*p) float32 features, T = t, S = (gh/m)*(gw/m).
    """
    t, gh, gw = (int(x) for x in grid_thw)
    m = merge_size
    S = (gh // m) * (gw // m)
    if pixel_values.shape[0] != t * gh * gw:
        raise MmlongError(f"{pixel_values.shape[0]} patch rows for a video grid {t}x{gh}x{gw}; pass that video's "
                          "rows of pixel_values_videos")
    x = pixel_values.to(torch.float32).reshape(t, S, m * m, channels, -1)  # (T, S, m*m, C, tps*p*p)
    if image_std is not None:
        std = torch.as_tensor(image_std, dtype=torch.float32, device=x.device).view(1, 1, 1, channels, 1)
        x = x * (std * 255.0)
    return x.reshape(t, S, -1)


def _distance(a: torch.Tensor, b: torch.Tensor, metric: str) -> torch.Tensor:
    """(S, F) x (S, F) -> (S,): mean absolute difference (``"mad"``) or cosine distance."""
    if metric == "mad":
        return torch.sub(a, b).abs_().mean(-1)
    if metric == "cosine":
        return 1.0 - torch.nn.functional.cosine_similarity(a, b, dim=-1, eps=1e-8)
    raise MmlongError(f"unknown distance {metric!r}; use 'mad' (pixels) or 'cosine' (vision features)")


def token_novelty(features: torch.Tensor, *, metric: str = "mad",
                  threshold: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance of each token to the last kept token at its slot, and the temporal keep mask.

    Args:
        features: (T, S, F) per-token features of one video.
        metric: ``"mad"`` (mean |a - b|) or ``"cosine"`` (1 - cosine similarity).
        threshold: drop a token whose distance is ``<= threshold``; None keeps every token
            (the distances are then to the previous patch).

    Returns:
        distance: (T, S) float32, ``inf`` for patch 0.
        keep: (T, S) bool.

    Example: one slot with values 0, 1, 2, 10 (T = 4, F = 1), mad, threshold 1.5: patch 1
    is 1 from patch 0 -> dropped; patch 2 is 2 from the last kept (patch 0) -> kept; patch 3
    is 8 from patch 2 -> kept. keep = [T, F, T, T], distance = [inf, 1, 2, 8].
    """
    T, S = features.shape[:2]
    dist = torch.full((T, S), math.inf, dtype=torch.float32, device=features.device)
    keep = torch.ones(T, S, dtype=torch.bool, device=features.device)
    ref = features[0].to(torch.float32).clone()  # (S, F): last kept feature per slot
    for k in range(1, T):
        cur = features[k].to(torch.float32)
        d = _distance(cur, ref, metric)
        dist[k] = d
        if threshold is None:
            ref = cur
            continue
        kk = d > threshold
        keep[k] = kk
        ref[kk] = cur[kk]  # only the kept slots move their reference
    return dist, keep


def reduce_relevance(patch_vectors: torch.Tensor, query: torch.Tensor, top: int | float) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the temporal patches most similar to the query.

    Args:
        patch_vectors: (T, E) one vector per temporal patch.
        query: (E,) the question's vector (same space).
        top: an int ``k >= 1`` (patches to keep) or a fraction in (0, 1] (``ceil(top * T)``).

    Returns:
        keep: (T,) bool with ``min(k, T)`` True entries (ties keep the earlier patch).
        scores: (T,) cosine similarities.

    Example: scores [0.1, 0.9, 0.5, 0.9], top=2 -> keep [F, T, F, T]; top=0.5 -> the same.
    """
    T = patch_vectors.shape[0]
    if isinstance(top, bool) or not ((isinstance(top, int) and top >= 1) or (isinstance(top, float) and 0 < top <= 1)):
        raise MmlongError(f"top_frames must be an int >= 1 or a fraction in (0, 1], got {top!r}")
    k = min(T, top if isinstance(top, int) else max(1, math.ceil(top * T)))
    v = torch.as_tensor(patch_vectors, dtype=torch.float32).reshape(T, -1)
    q = torch.as_tensor(query, dtype=torch.float32).to(v.device).reshape(1, -1)
    if v.shape[1] != q.shape[1]:
        raise MmlongError(f"frame vectors have {v.shape[1]} dims but the query has {q.shape[1]}; embed both with "
                          "the same embed_fn")
    scores = torch.nn.functional.cosine_similarity(v, q, dim=-1, eps=1e-8)
    order = torch.sort(-scores, stable=True).indices[:k]
    keep = torch.zeros(T, dtype=torch.bool, device=v.device)
    keep[order] = True
    return keep, scores


def reduce_budget(keep: torch.Tensor, score: torch.Tensor, max_tokens: int, *, spread: bool = True) -> torch.Tensor:
    """Keep at most ``max_tokens`` of the kept tokens, highest priority first.

    Priority is ``score`` (novelty; ``inf`` = keep first). With ``spread`` the r-th most
    novel kept token of a temporal patch (r = 0, 1, ...) gets ``score / (r + 1)``: diminishing
    returns within a patch, so a tight budget covers every event (e.g. each slide change)
    instead of spending itself on the few busiest patches.

    Args:
        keep: (T, S) bool, the tokens still kept.
        score: (T, S) float novelty.
        max_tokens: K >= 1.
        spread: apply the per-patch ``1 / (r + 1)`` discount.

    Returns:
        (T, S) bool with ``min(K, keep.sum())`` True entries; ties keep the earlier token.

    Example: keep all of (3, 2), score [[inf, inf], [9, 8], [5, 0]], K = 4. Without spread
    the top 4 are (0, 0), (0, 1), (1, 0) and (1, 1) (8 > 5): patch 2 gets nothing. With
    spread, (1, 1) is discounted to 8 / 2 = 4 < 5, so (2, 0) is kept instead:
    ``[[T, T], [T, F], [T, F]]``.
    """
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise MmlongError(f"max_tokens must be an integer >= 1, got {max_tokens!r}")
    if int(keep.sum()) <= max_tokens:
        return keep
    pri = score.to(device=keep.device, dtype=torch.float32).masked_fill(~keep, -math.inf)  # (T, S)
    if spread:
        order = torch.sort(-pri, dim=1, stable=True).indices  # (T, S) slots by falling novelty
        slots = torch.arange(pri.shape[1], device=order.device).expand_as(order)
        rank = torch.empty_like(order).scatter_(1, order, slots)
        pri = pri / (rank + 1).to(torch.float32)
    flat = keep.reshape(-1)
    cand = flat.nonzero().squeeze(1)  # (n_kept,) flat indices in time order
    chosen = cand[torch.sort(-pri.reshape(-1)[cand], stable=True).indices[:max_tokens]]
    out = torch.zeros_like(flat)
    out[chosen] = True
    return out.reshape(keep.shape)
