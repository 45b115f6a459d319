"""Offline per-head pattern search (MMInference's kernel-aware search) and the patterns JSON.

For every layer, the model runs dense attention on one calibration sample (later layers see
exact activations); for every head each candidate's recall — the share of the dense softmax
mass its kept set holds, averaged over the rows from the first visual token on (all rows for
text) — is computed exactly from log-sum-exps: ``exp(lse_kept(i) - lse_all(i))``. Candidates
are tried **in order**; a later one replaces the current best only if its recall is higher by
more than ``min_delta`` (0.01), which favours the earlier, cheaper ones, and (mmlong's addition)
only if it computes no more than ``max(max_density, density of the best)`` of the causal pairs.
Grid candidates with ``v`` or ``h`` try phases {0, 1, g - 1} and keep the best.

With a ``target`` recall the rule is instead a budget: per layer, each head gets a candidate or
dense so that the layer's mean recall reaches the target at the least measured time
(:mod:`mmlong.sparse.allocate`); heads where no candidate pays stay dense.

Patterns JSON (``schema`` = ``"mmlong.sparse.patterns/1"``)::

    {"schema": "mmlong.sparse.patterns/1",
     "model": "tiny:qwen2_vl",            # what was searched
     "sample": "clip.mp4",                # calibration input (null when built in code)
     "tokens": 1234,                      # its length
     "layout": {"length": 1234, "tokens": {"text": 60, "image": 0, "video": 1174}, "video_frame_tokens": [9]},
     "min_delta": 0.01, "max_density": 0.5,                  # the selection rule's knobs
     "target": null,                                          # or a recall: the cheapest mix per layer
     "candidates": [{"type": "grid", ...}, ...],              # in search order
     "layers": {"0": {"0": {"type": "grid", "stride": "frame", "v": false, "h": false, "s": true,
                            "phase": null, "phases": 1, "local": 1024, "last_q": 64, "recall": 0.97},
                      "1": {"type": "vs", "vertical": 1000, "slash": 2048, "last_q": 64, "init": 30,
                            "local": 100, "recall": 0.99}}},
     "recalls": {"0": {"0": [0.41, 0.55, 0.97, ...]}},      # per head, per candidate (same order)
     "densities": {"0": [0.31, 0.33, 0.22, ...]}}             # per candidate: kernel pairs / causal pairs

Each head entry is a pattern spec accepted by ``prefill_attention`` (every parameter
written out; ``"recall"`` is informational and ignored when loading). Layers and heads are
strings of their indices. ``load_patterns`` turns the file back into ``{layer: [spec per head]}``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import torch

from mmlong.errors import MmlongError
from mmlong.sparse.patterns import parse_spec, spec_dict
from mmlong.sparse.patterns.base import Budgets

SCHEMA = "mmlong.sparse.patterns/1"

VIDEO_CANDIDATES = (
    {"type": "grid", "stride": "frame", "v": True, "h": False},
    {"type": "grid", "stride": "frame", "v": True, "h": True},
    {"type": "grid", "stride": "frame", "v": False, "s": True},
    {"type": "grid", "stride": "frame", "v": True, "s": True},
    {"type": "a_shape", "n_init": 128, "n_local": 4096},
    {"type": "vs", "vertical": 1000, "slash": 1024},
    {"type": "vs", "vertical": 1000, "slash": 2048},
)
MIXED_CANDIDATES = (
    {"type": "q_boundary", "vertical": 1000, "slash": 2048},
    {"type": "2d_boundary", "vertical": 1000, "slash": 2048},
)
TEXT_CANDIDATES = (
    {"type": "a_shape", "n_init": 128, "n_local": 4096},
    {"type": "vs", "vertical": 1000, "slash": 1024},
    {"type": "vs", "vertical": 1000, "slash": 2048},
    {"type": "vs", "vertical": 3000, "slash": 6096},
)

MASS_CANDIDATES = tuple([{"type": "block_mass", "p": p} for p in (0.8, 0.9, 0.95, 0.98)]
                        + [{"type": "vs", "vertical": v, "slash": s} for v, s in ((1000, 512), (3000, 512), (3000, 1024))])
"""For ``target`` searches on text: block_mass at rising mass and vertical-slash; the allocation adds dense."""


def default_candidates(layout) -> list:
    """Video inputs: grid variants, A-shape, VS (+ boundary VS when visual spans are mixed); text: A-shape, VS."""
    if not layout.has_video:
        return list(TEXT_CANDIDATES) + (list(MIXED_CANDIDATES) if layout.has_visual else [])
    vis = [s for s in layout.spans if s.kind != "text"]
    items = {(s.kind, s.item if s.item >= 0 else -s.start - 1) for s in vis}
    mixed = len(items) > 1
    return list(VIDEO_CANDIDATES) + (list(MIXED_CANDIDATES) if mixed else [])


def _expand(spec: dict, layout) -> list[dict]:
    """Grid candidates with v / h and no phase: one per phase in {0, 1, g - 1}."""
    pt, p = parse_spec(spec)
    if pt.name != "grid" or not (p.v or p.h) or p.phase is not None:
        return [spec_dict(pt, p)]
    from mmlong.models.layout import token_arrays

    arr = token_arrays(layout)
    gs = [it[1] if p.stride == "frame" else p.stride for it in arr.items if it[0] == "video"]
    g = gs[0] if gs else 1
    return [spec_dict(pt, dataclasses.replace(p, phase=ph)) for ph in sorted({0, min(1, g - 1), g - 1})]


def search_heads(q: torch.Tensor, k: torch.Tensor, layout, candidates=None, *, scale: float, min_delta: float = 0.01,
                 max_density: float = 0.5, budgets: Budgets | None = None,
                 target: float | None = None, cost: str = "time") -> tuple[list, list, list]:
    """Pick one pattern per query head of one layer.

    Args:
        q: (Hq, L, D), k: (Hkv, L, D) float32 after the rotary embedding.
        layout: the sample's :class:`~mmlong.sparse.layout.SeqLayout`.
        candidates: specs in search order (default :func:`default_candidates`).
        scale: softmax scale.
        min_delta: a later candidate must beat the best recall by more than this.
        max_density: ... and must not compute more than ``max(max_density, density of the
            current best)`` of the causal pairs at this length (mmlong's addition: without it a
            VS candidate whose block-widened slashes cover everything wins on recall alone).
        budgets: run-time budgets applied to every candidate.
        target: instead of the ordered rule above, choose per head among the candidates and
            dense the cheapest mix whose mean recall over the layer's heads reaches ``target``
            (:func:`mmlong.sparse.allocate.allocate`). A head's cost is the candidate's measured
            time (estimate, plan and kernel) over dense's, shared out by the head's kernel pairs;
            dense costs 1. ``cost="pairs"`` uses the kernel pairs alone (deterministic; it
            ignores that estimating and gathering cost time).

    Returns:
        ``(best, recalls, densities)``: per head the chosen spec dict (with ``"recall"``), per
        head the recall of every candidate (grid phases: the best phase's), and per candidate
        the share of causal pairs its kernel computes (mean over heads).
    """
    from mmlong.sparse.api import resolve_plans, run_plans
    from mmlong.sparse.kernels.reference import recall_from_lse
    from mmlong.models.layout import token_arrays

    if cost not in ("time", "pairs"):
        raise MmlongError(f"search cost must be 'time' or 'pairs' (got {cost!r})")
    budgets = budgets or Budgets()
    cands = candidates if candidates is not None else default_candidates(layout)
    Hq, L, _ = q.shape
    arr = token_arrays(layout)
    rows = torch.arange(arr.visual_start if arr.visual_start < L else 0, L)
    dense = [parse_spec("dense")] * Hq
    workers = torch.get_num_threads()  # as prefill_attention runs them, so measured costs are the run's
    t0 = time.perf_counter()
    _, lse_all = run_plans(q, k, k, resolve_plans(q, k, layout, dense, budgets, scale), scale, workers=workers)
    t_dense = time.perf_counter() - t0
    recalls = [[0.0] * len(cands) for _ in range(Hq)]
    costs = [[1.0] * len(cands) for _ in range(Hq)]
    densities = [0.0] * len(cands)
    causal = L * (L + 1) / 2
    chosen: list[list] = [[None, 0.0, 1.0] for _ in range(Hq)]  # spec, recall, density
    picked = [[None] * len(cands) for _ in range(Hq)]
    for ci, cand in enumerate(cands):
        best_rec = torch.full((Hq,), -1.0)
        best_spec = [None] * Hq
        dens = 0.0
        for spec in _expand(cand, layout):
            pt, params = parse_spec(spec)
            specs = [(pt, params)] * Hq
            t0 = time.perf_counter()
            plans = resolve_plans(q, k, layout, specs, budgets, scale)
            _, lse = run_plans(q, k, k, plans, scale, workers=workers)
            t_cand = time.perf_counter() - t0
            rec = recall_from_lse(lse, lse_all, rows)
            head_dens = [p.pairs() / causal for p in plans]
            mean_dens = sum(head_dens) / Hq
            dens = max(dens, mean_dens)
            for h in range(Hq):
                if rec[h] > best_rec[h]:
                    best_rec[h], best_spec[h] = rec[h], spec
                    # the candidate's measured time against dense, shared out by each head's pairs
                    costs[h][ci] = (t_cand / t_dense * head_dens[h] / max(mean_dens, 1e-9) if cost == "time"
                                    else head_dens[h])
        densities[ci] = round(dens, 4)
        for h in range(Hq):
            r = float(best_rec[h])
            recalls[h][ci] = round(r, 6)
            picked[h][ci] = best_spec[h]
            first = chosen[h][0] is None
            if first or (r - chosen[h][1] > min_delta and dens <= max(max_density, chosen[h][2])):
                chosen[h] = [best_spec[h], r, dens]
    if target is not None:
        from mmlong.sparse.allocate import allocate

        opts = [[(costs[h][ci], recalls[h][ci]) for ci in range(len(cands))] + [(1.0, 1.0)] for h in range(Hq)]
        pick = allocate(opts, target)
        dense_spec = spec_dict(*parse_spec("dense"))
        chosen = [[picked[h][i], recalls[h][i], 0.0] if i < len(cands) else [dense_spec, 1.0, 1.0]
                  for h, i in enumerate(pick)]
    best = [{**spec, "recall": round(r, 6)} for spec, r, _ in chosen]
    return best, recalls, densities


def search_patterns(model, inputs: dict, *, candidates=None, min_delta: float = 0.01, max_density: float = 0.5,
                    max_tokens: int = 25000, model_name: str | None = None, sample: str | None = None,
                    layers=None, target: float | None = None) -> dict:
    """Run ``model`` once on ``inputs`` with dense attention and search every layer's heads.

    Args:
        model: a Qwen-VL model or causal LM (see :func:`~mmlong.sparse.patch.apply_prefill`).
        inputs: model kwargs for one sample (batch 1), e.g. from ``build_inputs``.
        candidates: specs in search order; None = :func:`default_candidates` of the sample.
        min_delta, max_density: see :func:`search_heads`.
        max_tokens: refuse longer samples (the search runs every candidate at full length).
        model_name, sample: recorded in the JSON.
        layers: optional set of layer indices to search (others are left out of the JSON).
        target: per-layer mean recall to reach at the least cost (see :func:`search_heads`).

    Returns:
        The patterns dict (schema in the module doc).
    """
    from mmlong.sparse.patch import observe_prefill

    ids = inputs.get("input_ids")
    if ids is None or ids.ndim != 2 or ids.shape[0] != 1:
        raise MmlongError("search_patterns needs inputs with input_ids of shape (1, L): one calibration sample")
    L = ids.shape[1]
    if L > max_tokens:
        raise MmlongError(f"the calibration sample has {L} tokens > max_tokens={max_tokens}; use fewer frames or "
                          "raise --max-tokens (the search runs every candidate at full length)")
    results: dict[int, tuple] = {}

    def search(layer, q, k, v, layout, scale):
        if layers is None or layer in layers:
            results[layer] = search_heads(q[0], k[0], layout, candidates, scale=scale, min_delta=min_delta,
                                          max_density=max_density, target=target)

    state = observe_prefill(model, search, lambda: model(**inputs))
    if not results:
        raise MmlongError("the search saw no prefill attention call; is this a supported model?")
    layout = state.layouts[0][1]
    cands = candidates if candidates is not None else default_candidates(layout)
    return {
        "schema": SCHEMA, "model": model_name, "sample": sample, "tokens": int(L), "layout": layout.describe(),
        "min_delta": min_delta, "max_density": max_density, "target": target,
        "candidates": [spec_dict(*parse_spec(c)) for c in cands],
        "layers": {str(li): {str(h): s for h, s in enumerate(best)} for li, (best, _, _) in sorted(results.items())},
        "recalls": {str(li): {str(h): r for h, r in enumerate(rec)} for li, (_, rec, _) in sorted(results.items())},
        "densities": {str(li): d for li, (_, _, d) in sorted(results.items())},
    }


def load_patterns(src) -> dict[int, list[dict]]:
    """``{layer: [spec per head]}`` from a patterns JSON path or dict; every spec is validated.

    Raises:
        MmlongError: unreadable file, wrong schema, bad layer/head keys or specs (one line).
    """
    if isinstance(src, (str, Path)):
        try:
            data = json.loads(Path(src).read_text())
        except (OSError, ValueError) as exc:
            raise MmlongError(f"cannot read sparse patterns {str(src)!r}: {exc}; pass the JSON written by "
                              "`mmlong sparse search`") from None
    elif isinstance(src, dict):
        data = src
    else:
        raise MmlongError(f"patterns must be a JSON path, a patterns dict or a spec (got {type(src).__name__})")
    if data.get("schema") != SCHEMA or not isinstance(data.get("layers"), dict):
        raise MmlongError(f"not a sparse patterns file (schema {data.get('schema')!r}, expected {SCHEMA!r} with "
                          "'layers'); write one with `mmlong sparse search`")
    out: dict[int, list[dict]] = {}
    for lk, heads in data["layers"].items():
        try:
            li = int(lk)
            idx = sorted(int(h) for h in heads)
        except (TypeError, ValueError):
            raise MmlongError(f"patterns: layer {lk!r} must map head index strings to specs") from None
        if idx != list(range(len(idx))):
            raise MmlongError(f"patterns: layer {lk} has heads {idx}; expected 0..{len(idx) - 1}")
        specs = []
        for h in idx:
            spec = {k: v for k, v in heads[str(h)].items() if k != "recall"}
            try:
                parse_spec(spec)
            except MmlongError as exc:
                raise MmlongError(f"patterns: layer {lk} head {h}: {exc}") from None
            specs.append(spec)
        out[li] = specs
    return out


def write_patterns(data: dict, path) -> Path:
    """Write the patterns dict as indented JSON; returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(data, indent=1) + "\n")
    return p
