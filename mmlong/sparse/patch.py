"""Install sparse prefill into a loaded transformers model; undo it. Decode stays dense.

    mmlong.sparse.apply_prefill(model, patterns="patterns.json", local=512)
    model.generate(**inputs)           # prefill: per-head sparse attention; decode: SDPA
    mmlong.sparse.remove_prefill(model)

How it hooks in (no modeling file copied; transformers 5.x attention and mask registries):

* an attention function is registered under ``"mmlong_sparse"`` in transformers'
  ``AttentionInterface``, with ``sdpa_mask`` under the same name in
  ``AttentionMaskInterface`` (without it the function would get no padding mask), and
  selected for the **text** config only (``set_attn_implementation({"text_config": ...})``
  on Qwen-VL; the vision tower keeps its own attention);
* a forward pre-hook on the model records each prefill batch's modality layout from the
  call's ``input_ids`` / ``mm_token_type_ids`` / ``image_grid_thw`` / ``video_grid_thw`` /
  ``attention_mask`` (:func:`~mmlong.sparse.layout.layouts_from_inputs`), so callers
  pass nothing extra — ``generate`` and ``forward`` both work;
* the attention function takes the sparse path only when the query covers the whole key
  range (prefill, no cache) and L >= ``min_len``; decode steps and short prompts go to
  transformers' ``sdpa_attention_forward``. Padded rows (contiguous padding) are run on
  their unpadded span; padding positions get zeros. Other custom 4-D masks (packed
  sequences) are not read on the sparse path: keep such inputs dense (``min_len``).

``fixed_layout(model, layout)`` pins the layout for calls the hook cannot read (e.g. a text
stack fed ``inputs_embeds`` that hold a video).

The model's own rotary embedding (M-RoPE for Qwen-VL) runs before the attention function, so
the patterns see rotated q / k as in the search.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass, field

import torch

from mmlong.errors import MmlongError
from mmlong.sparse.patterns.base import Budgets

NAME = "mmlong_sparse"
_ATTR = "_mmlong_sparse"
METHODS = ("mminference",)
# Prompts shorter than this stay dense. Measured on the 2-core CPU with SmolLM2-135M's real
# attention and searched patterns (python benchmarks/sparse_prefill.py): sparse ran 0.94x dense
# at 4k tokens and 1.16x at 16k, so 16k is the shortest length measured to win.
MIN_LEN = 16384


@dataclass(eq=False)
class SparseState:
    """What :func:`apply_prefill` installed (kept on ``model._mmlong_sparse`` and each attention layer)."""

    method: str
    layer_specs: dict[int, list]  # layer -> per-head specs (names / dicts); missing layers use ``default``
    default: object  # spec (or per-head list) for layers not in ``layer_specs``
    budgets: Budgets
    min_len: int
    kernel: str
    prev_impl: object = None
    hook: object = None
    modules: list = field(default_factory=list)
    layouts: list | None = None  # [(offset, SeqLayout)] of the last prefill batch
    calls: dict = field(default_factory=lambda: {"sparse": 0, "dense": 0})
    pinned: bool = False  # layouts set by :func:`fixed_layout`; the hook leaves them alone
    fn: object = None  # override of the per-call computation (the search uses it)
    plan_cache: dict = field(default_factory=dict)  # layout-only plans, shared by the layers of a prefill

    def specs(self, layer: int, n_heads: int):
        spec = self.layer_specs.get(layer, self.default)
        if isinstance(spec, list) and len(spec) != n_heads:
            raise MmlongError(f"patterns for layer {layer} list {len(spec)} heads but the model has {n_heads}; "
                              "use a patterns file searched on this model")
        return spec


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, _attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)


def text_decoder(model):
    """The text decoder stack (``*TextModel`` of a Qwen-VL, ``model.model`` of a causal LM)."""
    try:
        from mmlong.models.families import inner_model

        return inner_model(model).language_model
    except MmlongError:
        pass
    for cand in (getattr(model, "model", None), model):
        if cand is not None and hasattr(cand, "layers"):
            return cand
    raise MmlongError(f"{type(model).__name__} has no text decoder layers; pass a Qwen-VL model or a causal LM")


def _attn_modules(decoder) -> list:
    return [m for m in decoder.modules() if hasattr(m, "layer_idx") and hasattr(m, "q_proj")]


def _is_composite(model) -> bool:
    return getattr(model.config, "text_config", None) is not None and "text_config" in getattr(
        model.config, "sub_configs", {})


def _set_impl(model, impl) -> None:
    model.set_attn_implementation({"text_config": impl} if _is_composite(model) else impl)


def _current_impl(model):
    cfg = model.config.text_config if _is_composite(model) else model.config
    return cfg._attn_implementation


def _token_spec(config):
    """The model's :class:`~mmlong.models.layout.TokenSpec`; outside the Qwen-VL families (a causal
    LM) whatever ids the config has, with video blocks following the runs."""
    from mmlong.models.layout import TokenSpec

    try:
        return TokenSpec.from_config(config)
    except MmlongError:
        tc = getattr(config, "text_config", None) or config
        merge = int(getattr(getattr(config, "vision_config", None), "spatial_merge_size", 2) or 2)
        return TokenSpec(getattr(config, "image_token_id", getattr(tc, "image_token_id", None)),
                         getattr(config, "video_token_id", getattr(tc, "video_token_id", None)), merge)


def _record_layout(model, state: SparseState):
    from mmlong.sparse.layout import layouts_from_inputs

    spec = _token_spec(model.config)

    def hook(mod, args, kwargs):
        if state.pinned:
            return None
        ids = kwargs.get("input_ids", args[0] if args else None)
        types = kwargs.get("mm_token_type_ids")
        ref = ids if ids is not None else kwargs.get("inputs_embeds")
        if ref is None or ref.shape[1] <= 1:
            return None  # decode step: keep the prefill layout
        am = kwargs.get("attention_mask")
        am = am if isinstance(am, torch.Tensor) and am.ndim == 2 else None
        if ids is None and types is None:  # inputs_embeds only: treat as text
            types = torch.zeros(ref.shape[:2], dtype=torch.long)
        try:
            state.layouts = layouts_from_inputs(
                ids, mm_token_type_ids=types, image_grid_thw=kwargs.get("image_grid_thw"),
                video_grid_thw=kwargs.get("video_grid_thw"), attention_mask=am, spec=spec)
        except MmlongError as exc:
            warnings.warn(f"sparse prefill: cannot read the modality layout ({exc}); using dense attention",
                          stacklevel=2)
            state.layouts = None
        return None

    return model.register_forward_pre_hook(hook, with_kwargs=True)


def _attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """transformers attention function: sparse prefill where it applies, SDPA otherwise."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    st: SparseState | None = getattr(module, _ATTR, None)
    B, H, Lq, D = query.shape
    Lk = key.shape[2]
    if st is None or Lq != Lk or Lq < max(1, st.min_len) or not _layouts_fit(st, B, Lq):
        if st is not None:
            st.calls["dense"] += 1
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout,
                                      **kwargs)
    st.calls["sparse"] += 1
    scale = float(scaling) if scaling is not None else D ** -0.5
    out = torch.zeros(B, H, Lq, value.shape[-1], dtype=query.dtype, device=query.device)
    for b, (off, lay) in enumerate(st.layouts):
        n = lay.length
        sl = (slice(b, b + 1), slice(None), slice(off, off + n))
        args = (query[sl].float().cpu(), key[sl].float().cpu(), value[sl].float().cpu(), lay, scale)
        res = st.fn(module, *args) if st.fn is not None else _sparse(st, module.layer_idx, *args)
        out[sl] = res.to(device=query.device, dtype=query.dtype)
    return out.transpose(1, 2).contiguous(), None


def _layouts_fit(st: SparseState, B: int, L: int) -> bool:
    lays = st.layouts
    return lays is not None and len(lays) == B and all(off + lay.length <= L for off, lay in lays)


def _sparse(st: SparseState, layer: int, q, k, v, layout, scale):
    from mmlong.sparse.api import prefill_attention

    return prefill_attention(q, k, v, layout=layout, pattern=st.specs(layer, q.shape[1]), budgets=st.budgets,
                             scale=scale, kernel=st.kernel, plan_cache=st.plan_cache)


def install(model, state: SparseState):
    """Register the attention function, tag the text attention layers, hook the layout; returns ``state``."""
    if getattr(model, _ATTR, None) is not None:
        remove_prefill(model)
    _register()
    state.modules = _attn_modules(text_decoder(model))
    if not state.modules:
        raise MmlongError(f"no attention layers with q_proj / layer_idx found in {type(model).__name__}")
    state.prev_impl = _current_impl(model)
    _set_impl(model, NAME)
    for m in state.modules:
        setattr(m, _ATTR, state)
    state.hook = _record_layout(model, state)
    model.__dict__[_ATTR] = state
    return state


def apply_prefill(model, method: str = "mminference", patterns=None, *, default="dense", min_len: int = MIN_LEN,
                  kernel: str = "gather", **budgets):
    """Use sparse attention for the prefill of ``model`` (in place); returns the model.

    Args:
        model: a Qwen2-VL / Qwen2.5-VL / Qwen3-VL model, or any causal LM whose attention goes
            through transformers' ``AttentionInterface`` (Llama, Qwen2, SmolLM2, ...).
        method: ``"mminference"`` (per-head patterns).
        patterns: a patterns JSON path or dict from ``mmlong sparse search`` (see
            :mod:`mmlong.sparse.search` for the schema), or one spec for every head of every
            layer (``"vs"``, ``{"type": "grid", "s": True}``); None = ``"vs"``.
        default: spec for layers a patterns file does not list.
        min_len: prompts shorter than this stay dense (default ``MIN_LEN``, the length measured
            to win on a 2-core CPU; measure your own machine with ``benchmarks/sparse_prefill.py``).
        kernel: ``"gather"`` (default) or ``"flex"`` (compiled FlexAttention).
        **budgets: :class:`~mmlong.sparse.patterns.base.Budgets` fields, e.g. ``local=512``.

    Raises:
        MmlongError: unknown method / pattern / budget, unreadable patterns file, unsupported model.

    Wiring from a pipeline: ``apply_prefill(model, **opts)`` with ``opts`` such as
    ``{"patterns": "patterns.json", "local": 512}``; ``remove_prefill(model)`` undoes it.
    """
    from mmlong.sparse.api import KERNELS

    if method not in METHODS:
        raise MmlongError(f"unknown sparse prefill method {method!r}; choose one of: {', '.join(METHODS)}")
    if kernel not in KERNELS:
        raise MmlongError(f"unknown sparse kernel {kernel!r}; choose one of: {', '.join(KERNELS)}")
    if not isinstance(min_len, int) or min_len < 0:
        raise MmlongError(f"min_len must be an int >= 0 (got {min_len!r})")
    bud = Budgets.from_kwargs(**budgets)
    layer_specs, default = layer_patterns(patterns, default)
    install(model, SparseState(method, layer_specs, default, bud, min_len, kernel))
    return model


def layer_patterns(patterns, default="dense") -> tuple[dict[int, list], object]:
    """``(layer -> per-head specs, spec for the other layers)`` from what :func:`apply_prefill` takes.

    ``patterns``: a patterns JSON path or dict (its layers; the rest get ``default``), one spec
    for every head of every layer (``"vs"``, ``{"type": "grid", ...}``), or None (= ``"vs"``).
    Every spec is validated (:class:`MmlongError` on a bad one).
    """
    from mmlong.sparse.patterns import parse_spec
    from mmlong.sparse.search import load_patterns

    if patterns is None:
        patterns = "vs"
    if isinstance(patterns, str) and not (patterns.endswith(".json") or os.path.exists(patterns)):
        parse_spec(patterns)
        layer_specs, default = {}, patterns
    elif isinstance(patterns, dict) and "type" in patterns:
        parse_spec(patterns)
        layer_specs, default = {}, patterns
    else:
        layer_specs = load_patterns(patterns)
    if isinstance(default, (str, dict)):
        parse_spec(default)
    return layer_specs, default


def remove_prefill(model):
    """Undo :func:`apply_prefill`: the stock attention implementation is back. Returns the model."""
    st: SparseState | None = model.__dict__.pop(_ATTR, None)
    if st is None:
        return model
    if st.hook is not None:
        st.hook.remove()
    for m in st.modules:
        m.__dict__.pop(_ATTR, None)
    _set_impl(model, st.prev_impl or "sdpa")
    return model


@contextlib.contextmanager
def fixed_layout(model, layout):
    """Use ``layout`` (a SeqLayout, or per batch row ``(offset, SeqLayout)`` pairs) for the calls inside,
    instead of the one read from the inputs (e.g. when feeding ``inputs_embeds``)."""
    from mmlong.models.layout import Layout

    st = current(model)
    if st is None:
        raise MmlongError("model has no sparse prefill; call mmlong.sparse.apply_prefill(model, ...) first")
    old = (st.layouts, st.pinned)
    st.layouts = [(0, layout)] if isinstance(layout, Layout) else list(layout)
    st.pinned = True
    try:
        yield
    finally:
        st.layouts, st.pinned = old


def current(model) -> SparseState | None:
    """The installed state, or None."""
    return model.__dict__.get(_ATTR)


def observe_prefill(model, on_call, run, *, layout=None) -> SparseState:
    """Run ``run()`` once with dense attention, showing each text attention call to ``on_call``.

    ``on_call(layer, q, k, v, layout, scale)`` gets the rotated q (1, Hq, L, D), k and v
    (1, Hkv, L, D), the call's :class:`~mmlong.sparse.layout.SeqLayout` and the softmax scale;
    the layer's output is exact dense attention, so later layers see the model's own states.
    An observer that computes that dense output itself (e.g. to time it) may return it,
    (1, Hq, L, D); otherwise (None) it is computed here.
    Used by the pattern search and by quality checks that capture q / k / v.

    Args:
        model: a Qwen-VL model or causal LM (see :func:`apply_prefill`).
        on_call: the observer.
        run: the forward pass, e.g. ``lambda: model(**inputs)`` (run under ``torch.no_grad``).
        layout: pin this layout (see :func:`fixed_layout`), e.g. for a decoder fed ``input_ids`` alone.

    Returns:
        The (removed) state; its ``layouts`` hold the last call's layouts.
    """
    from mmlong.sparse.kernels.gather_sdpa import run_dense

    def fn(module, q, k, v, lay, scale):
        res = on_call(int(module.layer_idx), q, k, v, lay, scale)
        if res is not None:
            return res
        Hq, Hkv, n = q.shape[1], k.shape[1], q.shape[2]
        o, _ = run_dense(q[0].view(Hkv, Hq // Hkv, n, -1), k[0], v[0], scale)
        return o.reshape(1, Hq, n, -1)

    state = SparseState("observe", {}, "dense", Budgets(), 1, "gather")
    state.fn = fn
    install(model, state)
    try:
        with torch.no_grad(), (fixed_layout(model, layout) if layout is not None else contextlib.nullcontext()):
            run()
    finally:
        remove_prefill(model)
    return state
