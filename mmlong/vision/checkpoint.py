"""Released Long-CLIP checkpoints (``longclip-B.pt``, ``longclip-L.pt``) into open_clip and transformers.

A released checkpoint is an OpenAI-CLIP state dict (``visual.*``, ``transformer.resblocks.*``,
``token_embedding.weight``, ``ln_final.*``, ``text_projection``, ``logit_scale``; QuickGELU
activations) with two text position tables of 248 rows: ``positional_embedding`` is used for
positions < 20 and ``positional_embedding_res`` for the rest (the authors' text encoder adds
``mask1 * pe + mask2 * pe_res``, mask1 = 1 on rows 0..19). :func:`merge_tables` folds them into
the one table every standard CLIP has::

    P*[0:20] = positional_embedding[0:20];  P*[20:248] = positional_embedding_res[20:248]

after which the keys are exactly open_clip's (non-custom-text) ``CLIP`` and map one to one onto
transformers' ``CLIPModel`` (:func:`openai_to_hf`: ``in_proj`` split into q/k/v, the projections
transposed into ``Linear`` weights, ``ln_pre`` -> ``pre_layrnorm`` ...).

::

    model = load_longclip("longclip-B.pt")                            # open_clip CLIP, 248 positions
    hf = load_longclip("longclip-B.pt", library="transformers")       # transformers CLIPModel
    convert_to_transformers("longclip-B.pt", "longclip-B-hf")         # CLIPModel.from_pretrained(...)
"""

from __future__ import annotations

import re
from pathlib import Path

from mmlong.errors import MmlongError
from mmlong.vision.stretch import KEEP, RATIO, LongClipInfo, text_tables

__all__ = ["read_state", "merge_tables", "openai_shapes", "openai_to_hf", "load_longclip", "convert_to_transformers",
           "LIBRARIES"]

LIBRARIES = ("open_clip", "transformers")
_META = ("input_resolution", "context_length", "vocab_size")  # scalars in OpenAI's own files, not weights
_TOP = {"positional_embedding", "text_projection", "logit_scale", "token_embedding.weight", "ln_final.weight",
        "ln_final.bias"}
_VISUAL_TOP = {"class_embedding", "positional_embedding", "proj", "conv1.weight", "ln_pre.weight", "ln_pre.bias",
               "ln_post.weight", "ln_post.bias"}
_BLOCK = re.compile(r"^(visual\.)?transformer\.resblocks\.(\d+)\.(ln_1|ln_2|attn\.in_proj|attn\.out_proj|mlp\.c_fc|"
                    r"mlp\.c_proj)(\.weight|\.bias|_weight|_bias)$")


def read_state(checkpoint) -> dict:
    """A state dict from a path (``torch.load``, weights only) or a dict; values as float32 CPU tensors."""
    import torch

    if isinstance(checkpoint, (str, Path)):
        path = Path(checkpoint)
        if not path.is_file():
            raise MmlongError(f"no Long-CLIP checkpoint at {path}; pass the path of longclip-B.pt / longclip-L.pt")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file gets one line
            raise MmlongError(f"{path} is not a readable state dict ({type(exc).__name__}); pass the released "
                              ".pt file of OpenAI-CLIP weights") from None
    else:
        state = checkpoint
    if not isinstance(state, dict):
        raise MmlongError(f"a Long-CLIP checkpoint is a dict of tensors, got {type(state).__name__}")
    state = state.get("state_dict", state)
    return {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()
            if k not in _META and isinstance(v, torch.Tensor)}


def _check_keys(state: dict) -> None:
    bad = [k for k in state if not (k in _TOP or k == "positional_embedding_res" or _BLOCK.match(k)
                                    or (k.startswith("visual.") and k[7:] in _VISUAL_TOP))]
    if bad:
        shown = ", ".join(bad[:3]) + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else "")
        raise MmlongError(f"unexpected key(s) in the Long-CLIP checkpoint: {shown}; expected the OpenAI-CLIP layout "
                          "(visual.*, transformer.resblocks.*, token_embedding, ln_final, positional_embedding[_res])")
    missing = sorted(_TOP - set(state))
    if missing:
        raise MmlongError(f"the Long-CLIP checkpoint lacks {', '.join(missing)}; expected a full OpenAI-CLIP state dict")


def merge_tables(state: dict, keep: int = KEEP) -> dict:
    """The state with ``positional_embedding_res`` folded into ``positional_embedding`` (rows >= keep).

    A state without ``_res`` (a plain OpenAI CLIP) is returned unchanged.
    """
    import torch

    _check_keys(state)
    if "positional_embedding_res" not in state:
        return dict(state)
    pe, res = state["positional_embedding"], state["positional_embedding_res"]
    if pe.shape != res.shape:
        raise MmlongError(f"positional_embedding {tuple(pe.shape)} and positional_embedding_res {tuple(res.shape)} "
                          "differ in shape; the checkpoint is damaged")
    if not 0 <= keep <= pe.shape[0]:
        raise MmlongError(f"keep={keep} is outside the {pe.shape[0]}-row position tables")
    out = {k: v for k, v in state.items() if k != "positional_embedding_res"}
    out["positional_embedding"] = torch.cat([pe[:keep], res[keep:]], 0)
    return out


def openai_shapes(state: dict, heads=None) -> dict:
    """Architecture of an OpenAI-layout state: widths, layers, heads, patch, image size, context, vocab.

    ``heads``: an int for both towers or ``(text, vision)``; default width // 64, OpenAI's rule
    (ViT-B/16: text 8, vision 12; ViT-L/14: 12, 16).
    """
    def layers(prefix):
        return 1 + max(int(m.group(2)) for k in state if (m := _BLOCK.match(k)) and (m.group(1) or "") == prefix)

    text_w = state["ln_final.weight"].shape[0]
    vis_w = state["visual.conv1.weight"].shape[0]
    patch = state["visual.conv1.weight"].shape[-1]
    grid = round((state["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    th, vh = (heads, heads) if isinstance(heads, int) else (heads or (text_w // 64, vis_w // 64))
    return dict(embed_dim=state["text_projection"].shape[1], text_width=text_w, text_layers=layers(""),
                text_heads=th, context=state["positional_embedding"].shape[0],
                vocab=state["token_embedding.weight"].shape[0], vision_width=vis_w, vision_layers=layers("visual."),
                vision_heads=vh, patch=patch, image_size=grid * patch,
                mlp=state["transformer.resblocks.0.mlp.c_fc.weight"].shape[0])


def _open_clip_model(shapes: dict):
    from mmlong.errors import require

    require("open_clip", "clip")
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    s = shapes
    vision = CLIPVisionCfg(layers=s["vision_layers"], width=s["vision_width"], patch_size=s["patch"],
                           head_width=s["vision_width"] // s["vision_heads"], image_size=s["image_size"])
    text = CLIPTextCfg(context_length=s["context"], vocab_size=s["vocab"], width=s["text_width"],
                       heads=s["text_heads"], layers=s["text_layers"])
    return CLIP(embed_dim=s["embed_dim"], vision_cfg=vision, text_cfg=text, quick_gelu=True)


def _hf_config(shapes: dict):
    import transformers as tf

    s = shapes
    text = tf.CLIPTextConfig(vocab_size=s["vocab"], hidden_size=s["text_width"], intermediate_size=s["mlp"],
                             num_hidden_layers=s["text_layers"], num_attention_heads=s["text_heads"],
                             max_position_embeddings=s["context"], hidden_act="quick_gelu",
                             projection_dim=s["embed_dim"], eos_token_id=s["vocab"] - 1, bos_token_id=s["vocab"] - 2,
                             pad_token_id=0)
    vision = tf.CLIPVisionConfig(hidden_size=s["vision_width"], intermediate_size=4 * s["vision_width"],
                                 num_hidden_layers=s["vision_layers"], num_attention_heads=s["vision_heads"],
                                 image_size=s["image_size"], patch_size=s["patch"], hidden_act="quick_gelu",
                                 projection_dim=s["embed_dim"])
    return tf.CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=s["embed_dim"])


_HF_BLOCK = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "attn.out_proj": "self_attn.out_proj",
             "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}
_HF_TOP = {"token_embedding.weight": "text_model.embeddings.token_embedding.weight",
           "positional_embedding": "text_model.embeddings.position_embedding.weight",
           "ln_final.weight": "text_model.final_layer_norm.weight", "ln_final.bias": "text_model.final_layer_norm.bias",
           "logit_scale": "logit_scale",
           "visual.class_embedding": "vision_model.embeddings.class_embedding",
           "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
           "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
           "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight", "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
           "visual.ln_post.weight": "vision_model.post_layernorm.weight",
           "visual.ln_post.bias": "vision_model.post_layernorm.bias"}


def openai_to_hf(state: dict) -> dict:
    """A merged OpenAI-layout state -> transformers ``CLIPModel`` keys.

    ``transformer.resblocks.3.attn.in_proj_weight`` (3W, W) becomes ``text_model.encoder.layers.3.
    self_attn.{q,k,v}_proj.weight`` (its three (W, W) chunks in that order); ``text_projection``
    (W, E) and ``visual.proj`` become ``Linear`` weights (E, W) by transposing.
    """
    out = {}
    for key, v in state.items():
        if key in _HF_TOP:
            out[_HF_TOP[key]] = v
        elif key == "text_projection":
            out["text_projection.weight"] = v.t().contiguous()
        elif key == "visual.proj":
            out["visual_projection.weight"] = v.t().contiguous()
        elif m := _BLOCK.match(key):
            tower = "vision_model" if m.group(1) else "text_model"
            base, part = f"{tower}.encoder.layers.{m.group(2)}", m.group(4).lstrip("._")
            if m.group(3) == "attn.in_proj":
                for name, chunk in zip(("q_proj", "k_proj", "v_proj"), v.chunk(3, dim=0)):
                    out[f"{base}.self_attn.{name}.{part}"] = chunk.contiguous()
            else:
                out[f"{base}.{_HF_BLOCK[m.group(3)]}.{part}"] = v
        else:
            raise MmlongError(f"unexpected key {key!r} in the Long-CLIP checkpoint")
    return out


def _load_strict(model, state: dict) -> None:
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith(("position_ids", "attn_mask"))]
    if missing or unexpected:
        names = (unexpected or missing)[:3]
        raise MmlongError(f"the checkpoint does not fit {type(model).__name__}: "
                          f"{'unexpected' if unexpected else 'missing'} {', '.join(names)}; "
                          "pass a model of the checkpoint's architecture (or none, to build it from the checkpoint)")


def load_longclip(checkpoint, *, library: str = "open_clip", model=None, keep: int = KEEP, heads=None):
    """A Long-CLIP model from a released checkpoint (path or state dict), in ``eval()`` mode.

    Args:
        checkpoint: ``longclip-B.pt`` / ``longclip-L.pt`` or their state dict (two tables of
            248 rows); a plain OpenAI-CLIP state dict (one table) loads too.
        library: ``"open_clip"`` (a ``CLIP``, the ``ViT-B-16-quickgelu`` / ``ViT-L-14-quickgelu``
            architecture) or ``"transformers"`` (a ``CLIPModel``).
        model: optional model to load into (e.g. ``open_clip.create_model("ViT-B-16-quickgelu")``);
            its text positions are replaced by the checkpoint's 248 (table, mask, context, config).
            Default: built from the checkpoint's shapes.
        keep: rows read from ``positional_embedding`` (the rest from ``_res``).
        heads: attention heads when they do not follow width // 64 (tiny test models).
    """
    if library not in LIBRARIES:
        raise MmlongError(f"unknown library {library!r}; use one of {', '.join(LIBRARIES)}")
    raw = read_state(checkpoint)
    two_tables = "positional_embedding_res" in raw
    state = merge_tables(raw, keep=keep)
    shapes = openai_shapes(state, heads)
    if library == "transformers":
        state = openai_to_hf(state)
        if model is None:
            import transformers as tf

            model = tf.CLIPModel(_hf_config(shapes))
        table_key = "text_model.embeddings.position_embedding.weight"
    else:
        model = model if model is not None else _open_clip_model(shapes)
        table_key = "positional_embedding"
    text_tables(model).set(state[table_key], None)  # 248 positions: table, mask, context, position ids, config
    _load_strict(model, state)
    if two_tables:  # a Long-CLIP checkpoint; a plain OpenAI-layout one was never stretched
        ctx = shapes["context"]  # the released stretch: 248 = 20 + 57 * 4 from 77
        model._mmlong_longclip = LongClipInfo(keep=keep, ratio=float(RATIO),
                                              original_length=keep + (ctx - keep) // RATIO, length=ctx)
    return model.eval()


def convert_to_transformers(checkpoint, out_dir, *, keep: int = KEEP, heads=None) -> Path:
    """Write a released checkpoint as a transformers folder (``CLIPModel.from_pretrained(out_dir)``
    and ``AutoTokenizer.from_pretrained(out_dir)``, no mmlong needed); returns the folder.

    A model with CLIP's 49408-token BPE vocabulary gets CLIP's tokenizer with
    ``model_max_length`` = its text positions (248), built offline from open_clip's bundled BPE
    (:mod:`mmlong.vision.hf_tokenizer`); a model with another vocabulary gets no tokenizer.
    """
    from mmlong.vision.hf_tokenizer import VOCAB_SIZE, clip_tokenizer

    model = load_longclip(checkpoint, library="transformers", keep=keep, heads=heads)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise MmlongError(f"{out} is a file; pass a folder to write the transformers model into")
    model.save_pretrained(out)
    text = model.config.text_config
    if text.vocab_size == VOCAB_SIZE:
        clip_tokenizer(int(text.max_position_embeddings)).save_pretrained(out)
    return out
