"""Measuring sparse prefill on a real model: attention-only per layer, and end to end.

    model, tok = load_causal_lm("smollm2")
    extend_rope(model, 65536, "yarn")                    # beyond the trained 8k context
    ids = prose_ids(tok, 32768)                          # real English prose
    rows = attention_sweep(model, ids, patterns)         # per layer: dense vs sparse, recall
    e2e = end_to_end(model, ids, patterns)               # whole prefill, next-token agreement

Attention-only: one dense forward over ``ids``; at every layer the observer
(:func:`~mmlong.sparse.patch.observe_prefill`) times dense causal SDPA on that layer's real
rotated q / k / v (its output is what the model goes on with, so every layer sees exact
activations), then times :func:`~mmlong.sparse.api.prefill_attention` with the layer's
patterns (estimation and plan building included) and computes the recall from both
log-sum-exps: ``mean_i exp(lse_sparse(i) - lse_dense(i))``, the exact share of dense softmax
mass kept, per head over all query rows.
"""

from __future__ import annotations

import time

import torch

from mmlong.errors import MmlongError

ROPE_METHODS = ("yarn", "dynamic", "linear")


def extend_rope(model, length: int, method: str = "yarn") -> float:
    """Stretch a causal LM's RoPE to ``length`` tokens with transformers' own rope types; returns the factor.

    ``method``: ``"yarn"`` (YaRN), ``"dynamic"`` (dynamic NTK) or ``"linear"`` (position
    interpolation); the factor is ``length / original context`` (at least 1). The rotary
    embedding module is rebuilt from the updated config, so the change takes effect at once.
    """
    if method not in ROPE_METHODS:
        raise MmlongError(f"unknown RoPE extension {method!r}; choose one of: {', '.join(ROPE_METHODS)}")
    cfg = model.config
    base = dict(getattr(cfg, "rope_parameters", None) or {})
    orig = int(base.get("original_max_position_embeddings") or cfg.max_position_embeddings)
    factor = max(1.0, length / orig)
    if factor > 1.0:
        base.update({"rope_type": method, "factor": factor})
        if method == "yarn":
            base["original_max_position_embeddings"] = orig
        cfg.rope_parameters = base
        cfg.max_position_embeddings = max(int(length), cfg.max_position_embeddings)
        rot = model.model.rotary_emb
        model.model.rotary_emb = type(rot)(cfg)
    return factor


_PROSE: dict = {}  # tokenizer name -> (1, n) ids of the prose, tokenized once


def _prose_tokens(tok) -> torch.Tensor:
    import pydoc_data.topics as topics

    key = getattr(tok, "name_or_path", None) or id(tok)
    if key not in _PROSE:
        text = "\n\n".join(topics.topics[k] for k in sorted(topics.topics))
        _PROSE[key] = tok(text, return_tensors="pt").input_ids
    return _PROSE[key]


def prose_length(tok) -> int:
    """Tokens in the prose of :func:`prose_ids` under ``tok``."""
    return int(_prose_tokens(tok).shape[1])


def prose_ids(tok, n: int, *, start: int = 0) -> torch.Tensor:
    """(1, n) token ids of real English prose: the Python documentation's topic texts
    (``pydoc_data.topics``, about 113k SmolLM2 tokens), tokens ``[start, start + n)``."""
    ids = _prose_tokens(tok)
    if start < 0 or start + n > ids.shape[1]:
        raise MmlongError(f"the prose has {ids.shape[1]} tokens; tokens [{start}, {start + n}) do not fit")
    return ids[:, start:start + n]


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def attention_sweep(model, ids, patterns, *, budgets=None, layers=None) -> list[dict]:
    """Per layer: dense SDPA vs sparse prefill on the layer's real q / k / v (see module doc).

    Args:
        model: a causal LM (or Qwen-VL) whose attention goes through transformers' interface.
        ids: (1, L) input ids of a text prompt (run through the decoder stack alone, as text),
            or a dict of model inputs (a Qwen-VL prompt with its video: the modality layout is
            read from them).
        patterns: a patterns JSON path / dict (layers it does not list run dense), or one spec
            for every head (:func:`~mmlong.sparse.patch.layer_patterns`).
        budgets: :class:`~mmlong.sparse.patterns.base.Budgets` fields (dict) or None.
        layers: measure only these layers (others run dense, untimed); None = all.

    Returns:
        One dict per measured layer: ``layer``, ``dense_s``, ``sparse_s``, ``recall`` (mean
        over heads and rows), ``head_recall`` (per head), ``density`` (kernel pairs / causal
        pairs), ``dense_heads`` (heads on the dense kernel).
    """
    from mmlong.sparse.api import head_specs, prefill_attention
    from mmlong.sparse.kernels.gather_sdpa import run_dense
    from mmlong.sparse.kernels.reference import recall_from_lse
    from mmlong.sparse.layout import SeqLayout
    from mmlong.sparse.patch import layer_patterns, observe_prefill, text_decoder

    layer_specs, default = layer_patterns(patterns)
    text = isinstance(ids, torch.Tensor)
    L = (ids if text else ids["input_ids"]).shape[1]
    out: list[dict] = []

    def on_call(layer, q, k, v, layout, scale):
        Hq, Hkv = q.shape[1], k.shape[1]
        td, (od, ld) = _timed(lambda: run_dense(q[0].view(Hkv, Hq // Hkv, L, -1), k[0], v[0], scale))
        if layers is not None and layer not in layers:
            return od.reshape(1, Hq, L, -1)
        specs = layer_specs.get(layer, default)
        st: dict = {}
        ts, (_, ls) = _timed(lambda: prefill_attention(q, k, v, layout=layout, pattern=specs, budgets=budgets,
                                                       scale=scale, return_lse=True, stats=st))
        rec = recall_from_lse(ls[0], ld.reshape(Hq, L))
        dense_heads = sum(1 for pt, _ in head_specs(specs, Hq) if pt.name == "dense")
        out.append({"layer": layer, "dense_s": round(td, 3), "sparse_s": round(ts, 3),
                    "recall": round(float(rec.mean()), 5), "head_recall": [round(float(r), 4) for r in rec],
                    "density": round(st.get("pairs", 0) / (Hq * L * (L + 1) / 2), 4), "dense_heads": dense_heads})
        return od.reshape(1, Hq, L, -1)

    if text:
        observe_prefill(model, on_call, lambda: text_decoder(model)(input_ids=ids, use_cache=False),
                        layout=SeqLayout.text(L))
    else:
        observe_prefill(model, on_call, lambda: model(**ids, use_cache=False))
    return out


def next_token_argmax(model, hidden: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """(L,) argmax of the LM head over (1, L, H) final hidden states, ``chunk`` rows at a time."""
    head = model.get_output_embeddings()
    return torch.cat([head(hidden[0, a:a + chunk]).argmax(-1) for a in range(0, hidden.shape[1], chunk)])


def end_to_end(model, ids: torch.Tensor, patterns, *, budgets=None) -> dict:
    """Whole-model prefill (no cache) with dense SDPA, then with sparse prefill on every layer.

    Returns ``dense_s``, ``sparse_s``, ``speedup``, ``agreement`` (the share of positions
    whose next-token argmax equals the dense model's) and ``cos_last_hidden`` (mean cosine of
    the final hidden states), ``sparse_calls`` (attention calls that took the sparse path).
    """
    from mmlong.sparse.layout import SeqLayout
    from mmlong.sparse.patch import apply_prefill, current, fixed_layout, remove_prefill, text_decoder

    # The decoder alone: long prompts never materialise (L, vocab) logits. Called directly, the
    # layout hook on the top module does not fire, so the layout is pinned below.
    stack = text_decoder(model)
    with torch.no_grad():
        td, hd = _timed(lambda: stack(input_ids=ids, use_cache=False).last_hidden_state)
        ref = next_token_argmax(model, hd)
        apply_prefill(model, patterns=patterns, min_len=0, **(budgets or {}))
        try:
            with fixed_layout(model, SeqLayout.text(ids.shape[1])):
                ts, hs = _timed(lambda: stack(input_ids=ids, use_cache=False).last_hidden_state)
            calls = current(model).calls["sparse"]
        finally:
            remove_prefill(model)
        got = next_token_argmax(model, hs)
        cos = torch.nn.functional.cosine_similarity(hs, hd, dim=-1).mean()
    return {"dense_s": round(td, 4), "sparse_s": round(ts, 4), "speedup": round(td / ts, 3),
            "agreement": round(float((got == ref).float().mean()), 5), "cos_last_hidden": round(float(cos), 6),
            "sparse_calls": calls}
