"""Offline per-head pattern search (MMInference's kernel-aware search) and the patterns JSON.

For every layer, the model runs dense attention on one calibration sample (later layers see
exact activations); for every head each candidate's recall — the share of the dense softmax
mass its kept set holds, averaged over the rows from the first visual token on (all rows for
text) — is computed exactly from log-sum-exps: ``exp(lse_kept(i) - lse_all(i))``. Candidates
are tried **in order**; a later one replaces the current best only if its recall is higher by
more than ``min_delta`` (0.01), which favours the earlier, cheaper ones, and (mmlong's addition)
only if it computes no more than ``max(max_density, density of the best)`` of the causal pairs.
Grid candidates with ``v`` or ``h`` try phases {0, 1, g - 1} and keep the best.

Patterns JSON (``schema`` = ``"mmlong.sparse.patterns/1"``)::

    {"schema": "mmlong.sparse.patterns/1",
     "model": "tiny:qwen2_vl",            # what was searched
     "sample": "clip.mp4",                # calibration input (null when built in code)
     "tokens": 1234,                      # its length
     "layout": {"length": 1234, "tokens": {"text": 60, "image": 0, "video": 1174}, "video_frame_tokens": [9]},
     "min_delta": 0.01, "max_density": 0.5,                  # the selection rule's knobs
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
                 max_density: float = 0.5, budgets: Budgets | None = None) -> tuple[list, list, list]:
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

    Returns:
        ``(best, recalls, densities)``: per head the chosen spec dict (with ``"recall"``), per
        head the recall of every candidate (grid phases: the best phase's), and per candidate
        the share of causal pairs its kernel computes (mean over heads).
    """
    from mmlong.sparse.api import resolve_plans, run_plans
    from mmlong.sparse.kernels.reference import recall_from_lse
    from mmlong.models.layout import token_arrays

    budgets = budgets or Budgets()
    cands = candidates if candidates is not None else default_candidates(layout)
    Hq, L, _ = q.shape
    arr = token_arrays(layout)
    rows = torch.arange(arr.visual_start if arr.visual_start < L else 0, L)
    dense = [parse_spec("dense")] * Hq
    _, lse_all = run_plans(q, k, k, resolve_plans(q, k, layout, dense, budgets, scale), scale)
    recalls = [[0.0] * len(cands) for _ in range(Hq)]
    densities = [0.0] * len(cands)
    causal = L * (L + 1) / 2
    chosen: list[list] = [[None, 0.0, 1.0] for _ in range(Hq)]  # spec, recall, density
    for ci, cand in enumerate(cands):
        best_rec = torch.full((Hq,), -1.0)
        best_spec = [None] * Hq
        dens = 0.0
        for spec in _expand(cand, layout):
            specs = [parse_spec(spec)] * Hq
            plans = resolve_plans(q, k, layout, specs, budgets, scale)
            _, lse = run_plans(q, k, k, plans, scale)
            rec = recall_from_lse(lse, lse_all, rows)
            dens = max(dens, sum(p.pairs() for p in plans) / (Hq * causal))
            for h in range(Hq):
                if rec[h] > best_rec[h]:
                    best_rec[h], best_spec[h] = rec[h], spec
        densities[ci] = round(dens, 4)
        for h in range(Hq):
            r = float(best_rec[h])
            recalls[h][ci] = round(r, 6)
            first = chosen[h][0] is None
            if first or (r - chosen[h][1] > min_delta and dens <= max(max_density, chosen[h][2])):
                chosen[h] = [best_spec[h], r, dens]
    best = [{**spec, "recall": round(r, 6)} for spec, r, _ in chosen]
    return best, recalls, densities


def search_patterns(model, inputs: dict, *, candidates=None, min_delta: float = 0.01, max_density: float = 0.5,
                    max_tokens: int = 25000, model_name: str | None = None, sample: str | None = None,
                    layers=None) -> dict:
    """Run ``model`` once on ``inputs`` with dense attention and search every layer's heads.

    Args:
        model: a Qwen-VL model or causal LM (see :func:`~mmlong.sparse.patch.apply_prefill`).
        inputs: model kwargs for one sample (batch 1), e.g. from ``build_inputs``.
        candidates: specs in search order; None = :func:`default_candidates` of the sample.
        min_delta, max_density: see :func:`search_heads`.
        max_tokens: refuse longer samples (the search runs every candidate at full length).
        model_name, sample: recorded in the JSON.
        layers: optional set of layer indices to search (others are left out of the JSON).

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
                                          max_density=max_density)

    state = observe_prefill(model, search, lambda: model(**inputs))
    if not results:
        raise MmlongError("the search saw no prefill attention call; is this a supported model?")
    layout = state.layouts[0][1]
    cands = candidates if candidates is not None else default_candidates(layout)
    return {
        "schema": SCHEMA, "model": model_name, "sample": sample, "tokens": int(L), "layout": layout.describe(),
        "min_delta": min_delta, "max_density": max_density,
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
