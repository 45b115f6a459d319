"""Run a Qwen-VL model on a token-reduced sequence with the full sequence's positions.

:func:`prepare_reduced` does, for a batch of :func:`~mmlong.models.vision_inputs.build_inputs`
/ processor inputs:

1. input embeddings + vision-tower outputs scattered into the ``<|image_pad|>`` /
   ``<|video_pad|>`` slots (as the model's own ``forward`` does);
2. the FULL sequence's 3-D position ids and ``rope_deltas`` from the model's (possibly
   mmlong-patched) ``get_rope_index`` (``video_timestamps`` in ``inputs`` are handed to a
   patched model, so VFR clips keep their true times);
3. the :class:`~mmlong.tokens.reduce.Reducer`'s keep mask over the video tokens;
4. the kept columns of embeddings and position ids (rows re-left-padded), plus the kept
   rows of Qwen3-VL's deepstack features.

:func:`generate_reduced` then prefills the language model on the reduced sequence and
decodes greedily; the token generated at step ``i`` is fed back at position
``next_pos + i`` on all three axes, where ``next_pos = rope_deltas + n_full`` (``n_full`` =
unpadded full prompt length) is what an unreduced prompt would continue from.

Worked example: a full prompt of 50 tokens whose positions end at 63 (``rope_deltas`` = 64 -
50 = 14); the reducer drops 20 video tokens, so the prefill has 30 tokens with their original
ids (still ending at 63); decoded tokens get 64, 65, ... exactly as without reduction.

Equivalence (tested): logits at the kept positions equal a full forward whose attention mask
hides the dropped tokens as keys; with nothing dropped the output equals ``model.generate``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from mmlong.errors import MmlongError
from mmlong.tokens.reduce import Reducer, ReductionReport, reducer_from, select_tokens

__all__ = ["ReducedBatch", "ReducedGeneration", "forward_reduced", "generate_reduced", "prefill", "prepare_reduced"]


@dataclass(frozen=True)
class ReducedBatch:
    """A reduced prefill, ready for the language model.

    Attributes:
        inputs_embeds: (B, L', D) embeddings of the kept tokens, left-padded.
        position_ids: (3, B, L') their ORIGINAL (t, h, w) ids; padding gets 1.
        attention_mask: (B, L') long, 0 on left padding.
        next_position: (B, 1) id of the first generated token (``rope_deltas + n_full``).
        keep: (B, L) bool over the full sequence: True where a token is in the prefill.
        visual_pos_masks: (B, L') bool Qwen3-VL deepstack slots, or None.
        deepstack_embeds: per deepstack layer (n_kept_visual, D), or None.
        reports: one :class:`~mmlong.tokens.reduce.ReductionReport` per video.
    """

    inputs_embeds: torch.Tensor
    position_ids: torch.Tensor
    attention_mask: torch.Tensor
    next_position: torch.Tensor
    keep: torch.Tensor
    visual_pos_masks: torch.Tensor | None
    deepstack_embeds: list | None
    reports: tuple[ReductionReport, ...]


@dataclass(frozen=True)
class ReducedGeneration:
    """Output of :func:`generate_reduced`.

    Attributes:
        sequences: (B, n_new) generated ids (finished rows padded with ``pad_token_id``).
        reports: kept/total per video.
        prompt_tokens: unpadded full prompt tokens over the batch.
        kept_prompt_tokens: prompt tokens actually prefilled.
    """

    sequences: torch.Tensor
    reports: tuple[ReductionReport, ...]
    prompt_tokens: int
    kept_prompt_tokens: int


def _vision(inner, kind: str, pixels, grid, dtype):
    """(embeds list per item, deepstack list per layer of (N, D) or None) from the vision tower."""
    fn = inner.get_image_features if kind == "image" else inner.get_video_features
    out = fn(pixels.to(inner.visual.dtype), grid, return_dict=True)
    embeds = [e.to(dtype) for e in out.pooler_output]
    deep = getattr(out, "deepstack_features", None)
    deep = [torch.cat(list(layer)).to(dtype) for layer in deep] if deep else None
    return embeds, deep


def _query_and_patch_vectors(red: Reducer, embeds, vis_mask, attn, vids, grids, tps, question, frames, row_of):
    """Per video: (patch vectors (T, E), query vector (E,)) for the relevance step (``grids``: LLM (T, H, W))."""
    if red.embed_fn is not None:
        if frames is None or question is None:
            raise MmlongError("a reducer with embed_fn needs question= and frames= (one uint8 (N, H, W, 3) array per video)")
        qs = [question] if isinstance(question, str) else list(question)
        pv, qv = [], []
        for i, (t, _, _) in enumerate(grids):
            e = torch.as_tensor(red.embed_fn(frames[i]), dtype=torch.float32).reshape(len(frames[i]), -1)
            e = torch.cat([e, e[-1:].expand(t * tps - len(e), -1)]) if len(e) < t * tps else e[: t * tps]
            pv.append(e.reshape(t, tps, -1).mean(1))  # (T, E)
            qv.append(torch.as_tensor(red.embed_fn(qs[min(row_of[i], len(qs) - 1)]), dtype=torch.float32).reshape(-1))
        return pv, qv
    # Model-space default: mean vision output per patch vs mean embedding of the question text,
    # taken as the row's text tokens after its last visual token (question + template tail).
    pv = [v.reshape(t, h * w, -1).mean(1).float() for v, (t, h, w) in zip(vids, grids)]
    qv = []
    for i in range(len(grids)):
        b = row_of[i]
        vis = vis_mask[b].nonzero()
        last = int(vis.max()) if len(vis) else -1
        sel = (torch.arange(embeds.shape[1], device=embeds.device) > last) & attn[b].bool()
        qv.append(embeds[b, sel].mean(0).float())
    return pv, qv


def input_layout(model, inputs: dict):
    """The :class:`~mmlong.models.layout.BatchLayout` of ``inputs`` (strict parse over the attention
    mask); :func:`prepare_reduced` takes the image / video masks, each video's row and grid from it."""
    from mmlong.models.layout import TokenSpec, parse_batch

    return parse_batch(TokenSpec.from_config(model.config), inputs["input_ids"],
                       image_grid_thw=inputs.get("image_grid_thw"), video_grid_thw=inputs.get("video_grid_thw"),
                       attention_mask=inputs.get("attention_mask"))


def prepare_reduced(model, inputs: dict, reducer: Any = None, *, question=None, frames: Sequence | None = None,
                    image_std=None) -> ReducedBatch:
    """Embed, position and reduce a batch (steps 1-4 of the module docstring).

    Args:
        model: a ``Qwen2VL`` / ``Qwen2_5_VL`` / ``Qwen3VL(Moe)ForConditionalGeneration``,
            mmlong-patched or stock.
        inputs: ``input_ids`` (B, L) and optionally ``attention_mask``, ``mm_token_type_ids``,
            ``pixel_values`` + ``image_grid_thw``, ``pixel_values_videos`` + ``video_grid_thw``,
            ``second_per_grid_ts``, ``video_timestamps`` (what ``build_inputs`` returns).
        reducer: a Reducer, a name (``"temporal+budget:4096"``) or None (keep everything).
        question: the question text (per row), only for ``embed_fn`` relevance.
        frames: per video uint8 (N, H, W, 3) frames, only for ``embed_fn`` relevance.
        image_std: (3,) pixel std of the patch rows; default the family's (CLIP or 0.5).

    Returns:
        A :class:`ReducedBatch`.
    """
    from mmlong.models.families import family_of, inner_model
    from mmlong.models.vision_inputs import VisionSpec
    from mmlong.pos_encodings.patch import current, video_timestamps

    red = reducer_from(reducer) or Reducer(redundancy=None)
    inner = inner_model(model)
    ids = inputs["input_ids"]
    B = ids.shape[0]
    attn = inputs.get("attention_mask")
    attn = torch.ones_like(ids) if attn is None else attn
    layout = input_layout(model, inputs)
    kinds = layout.types().to(ids.device)  # (B, L): 0 text / padding, 1 image, 2 video
    img_mask, vid_mask = kinds == 1, kinds == 2
    types = inputs.get("mm_token_type_ids")
    types = kinds if types is None else types
    embeds = inner.get_input_embeddings()(ids)  # (B, L, D)
    vids, deep_img, deep_vid = [], None, None
    if inputs.get("pixel_values") is not None:
        imgs, deep_img = _vision(inner, "image", inputs["pixel_values"], inputs["image_grid_thw"], embeds.dtype)
        embeds = embeds.masked_scatter(img_mask[..., None].expand_as(embeds), torch.cat(imgs))
    if inputs.get("pixel_values_videos") is not None:
        vids, deep_vid = _vision(inner, "video", inputs["pixel_values_videos"], inputs["video_grid_thw"], embeds.dtype)
        embeds = embeds.masked_scatter(vid_mask[..., None].expand_as(embeds), torch.cat(vids))
    rope_kw = {k: inputs[k] for k in ("image_grid_thw", "video_grid_thw", "second_per_grid_ts") if inputs.get(k) is not None}
    stamps = inputs.get("video_timestamps")
    ctx = video_timestamps(model, stamps) if stamps is not None and current(model) is not None else contextlib.nullcontext()
    with ctx:
        pos, deltas = inner.get_rope_index(ids, mm_token_type_ids=types, attention_mask=attn, **rope_kw)
    next_pos = deltas.to(pos.device) + attn.sum(1, keepdim=True).to(deltas.dtype)  # (B, 1)

    keep = attn.bool().clone()  # (B, L)
    reports: tuple = ()
    if vids:
        row_of, grids = zip(*layout.items("video"))  # per video: its batch row, LLM grid (T, H, W)
        m, tps = layout.spec.spatial_merge_size, layout.spec.temporal_patch_size
        pv = qv = None
        if red.top_frames is not None:
            pv, qv = _query_and_patch_vectors(red, embeds, img_mask | vid_mask, attn, vids, grids, tps,
                                              question, frames, row_of)
        times = None if stamps is None else [[float(s[min(k * tps, len(s) - 1)]) for k in range(g[0])]
                                             for s, g in zip(stamps, grids)]
        std = image_std if image_std is not None else VisionSpec.for_family(family_of(model)).image_std
        sel = select_tokens(red, inputs["video_grid_thw"], merge_size=m, pixel_values_videos=inputs["pixel_values_videos"],
                            video_embeds=vids, image_std=std, patch_vectors=pv, query_vectors=qv, patch_times=times)
        keep[vid_mask] = keep[vid_mask] & sel.keep.to(keep.device)
        reports = sel.reports

    n_keep = keep.sum(1)
    Lr = int(n_keep.max())
    new_emb = embeds.new_zeros(B, Lr, embeds.shape[-1])
    new_pos = torch.ones(3, B, Lr, dtype=pos.dtype, device=pos.device)
    new_attn = torch.zeros(B, Lr, dtype=attn.dtype, device=attn.device)
    vis_full = img_mask | vid_mask
    new_vis = torch.zeros(B, Lr, dtype=torch.bool, device=ids.device)
    for b in range(B):
        idx = keep[b].nonzero().squeeze(1)  # kept columns, in order
        lo = Lr - len(idx)  # left padding
        new_emb[b, lo:], new_pos[:, b, lo:], new_attn[b, lo:] = embeds[b, idx], pos[:, b, idx], 1
        new_vis[b, lo:] = vis_full[b, idx]
    deep = None
    if deep_img is not None or deep_vid is not None:
        kept_vis = keep[vis_full]  # (n_visual,) in row-major visual order
        deep = []
        for layer in range(len(deep_img or deep_vid)):
            joint = embeds.new_zeros(int(vis_full.sum()), embeds.shape[-1])
            if deep_img is not None:
                joint[img_mask[vis_full]] = deep_img[layer]
            if deep_vid is not None:
                joint[vid_mask[vis_full]] = deep_vid[layer]
            deep.append(joint[kept_vis])
    return ReducedBatch(new_emb, new_pos, new_attn, next_pos, keep, new_vis if deep is not None else None, deep,
                        reports)


def prefill(model, batch: ReducedBatch):
    """Run the language model on a :class:`ReducedBatch`; returns ``(hidden (B, L', D), cache)``."""
    return _lm_step(model, batch.inputs_embeds, batch.attention_mask, batch.position_ids, None,
                    batch.visual_pos_masks, batch.deepstack_embeds)


def _lm_step(model, emb, attn, pos, cache, vis=None, deep=None):
    from mmlong.models.families import inner_model

    extra = {"visual_pos_masks": vis, "deepstack_visual_embeds": deep} if deep is not None else {}
    out = inner_model(model).language_model(input_ids=None, inputs_embeds=emb, attention_mask=attn, position_ids=pos,
                                            past_key_values=cache, use_cache=True, **extra)
    return out.last_hidden_state, out.past_key_values


def forward_reduced(model, inputs: dict, reducer: Any = None, *, logits: str = "all", **prepare_kw):
    """Prefill on the reduced sequence.

    Args:
        model: see :func:`prepare_reduced`.
        inputs: see :func:`prepare_reduced`.
        reducer: see :func:`prepare_reduced`.
        logits: ``"all"`` -> (B, L', V) at every reduced position; ``"last"`` -> (B, 1, V).
        **prepare_kw: ``question``, ``frames``, ``image_std``.

    Returns:
        ``(logits, batch, past_key_values)``; ``batch.keep`` maps reduced columns back to the
        full sequence (``logits[b, -n:]`` belongs to ``keep[b].nonzero()``).
    """
    batch = prepare_reduced(model, inputs, reducer, **prepare_kw)
    hidden, cache = prefill(model, batch)
    hidden = hidden if logits == "all" else hidden[:, -1:]
    return model.lm_head(hidden), batch, cache


@torch.no_grad()
def generate_reduced(model, inputs: dict, reducer: Any = None, *, max_new_tokens: int = 128, eos_token_id=None,
                     pad_token_id=None, do_sample: bool = False, question=None, frames=None, image_std=None,
                     **generate_kwargs) -> ReducedGeneration:
    """Greedy generation from a reduced prefill (decode positions from the FULL layout).

    Args:
        model: see :func:`prepare_reduced`.
        inputs: see :func:`prepare_reduced`.
        reducer: see :func:`prepare_reduced`.
        max_new_tokens: answer length cap.
        eos_token_id: stop id(s); default ``model.generation_config.eos_token_id``.
        pad_token_id: fills finished rows; default the generation config's (or eos).
        do_sample: must be False (greedy only).
        question: see :func:`prepare_reduced`.
        frames: see :func:`prepare_reduced`.
        image_std: see :func:`prepare_reduced`.
        **generate_kwargs: not supported; any key raises.

    Returns:
        A :class:`ReducedGeneration`.

    Raises:
        MmlongError: sampling or other unsupported generation options.
    """
    if do_sample or generate_kwargs:
        bad = ["do_sample"] if do_sample else sorted(generate_kwargs)
        raise MmlongError(f"generate_reduced supports greedy decoding with max_new_tokens/eos/pad only, not {bad}")
    gen = model.generation_config
    eos = gen.eos_token_id if eos_token_id is None else eos_token_id
    eos = torch.tensor([eos] if isinstance(eos, int) else list(eos or []), dtype=torch.long)
    pad = pad_token_id if pad_token_id is not None else (gen.pad_token_id if gen.pad_token_id is not None else
                                                         (int(eos[0]) if len(eos) else 0))
    out_logits, batch, cache = forward_reduced(model, inputs, reducer, logits="last", question=question, frames=frames,
                                               image_std=image_std)
    dev = out_logits.device
    B = out_logits.shape[0]
    mask, eos, done, new = batch.attention_mask, eos.to(dev), torch.zeros(B, dtype=torch.bool, device=dev), []
    embed = model.get_input_embeddings()
    for step in range(max_new_tokens):
        tok = out_logits[:, -1].argmax(-1)
        tok = torch.where(done, torch.full_like(tok, pad), tok)
        new.append(tok)
        done |= torch.isin(tok, eos)
        if bool(done.all()) or step == max_new_tokens - 1:
            break
        mask = torch.cat([mask, mask.new_ones(B, 1)], dim=1)
        pos = (batch.next_position + step)[None].expand(3, B, 1)  # (3, B, 1): same id on t, h, w
        hidden, cache = _lm_step(model, embed(tok[:, None]), mask, pos, cache)
        out_logits = model.lm_head(hidden[:, -1:])
    full = inputs.get("attention_mask")
    seqs = torch.stack(new, 1) if new else torch.zeros(B, 0, dtype=torch.long, device=dev)
    return ReducedGeneration(seqs, batch.reports, int(full.sum()) if full is not None else int(inputs["input_ids"].numel()),
                             int(batch.attention_mask.sum()))
