"""The one place a model name is resolved: ``tiny:FAMILY``, a hub id or a local checkpoint folder.

Two questions are asked of a model name, and this module answers both:

* :func:`describe` — what is it, without loading weights: the family, the vision settings
  and (when a ``config.json`` can be read) the config, for the token planner and dry runs;
* :func:`load_model` — the model, tokenizer and vision settings, ready to run.

Hub ids and local folders go through transformers exactly as ``from_pretrained`` resolves
them (``HF_HUB_OFFLINE=1`` reads only the local cache). Models that mmlong builds or ships
itself are a prefix in :data:`SHIPPED` (``tiny:qwen2_5_vl`` = random weights, built offline in
well under a second); trained checkpoints that ship with mmlong register there too::

    info = describe("tiny:qwen3_vl")            # ModelInfo(family="qwen3_vl", spec=..., config=...)
    m = load_model("Qwen/Qwen2.5-VL-7B-Instruct", device="cuda", dtype=torch.bfloat16)
    m.model, m.tokenizer, m.spec, m.family
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from mmlong.errors import MmlongError, first_line

__all__ = ["ModelInfo", "LoadedModel", "Shipped", "SHIPPED", "split_name", "describe", "load_model", "family_for",
           "trained_scheme", "trained_record", "trained_setup", "SHIPPED_DIR"]


@dataclass(frozen=True)
class ModelInfo:
    """A model as seen without its weights.

    Attributes:
        name: what the caller passed, as a label (hub id, path, ``tiny:qwen2_vl``, ...).
        family: mmlong family name (``"qwen2_5_vl"``), or None when only a VisionSpec was given.
        spec: the vision preprocessing settings (patch, merge, per-frame pixel range).
        config: the transformers config when known (for memory estimates), else None.
        per_frame_timestamps: True for Qwen3-VL (each temporal patch carries a text timestamp).
    """

    name: str
    family: str | None
    spec: Any
    config: Any = None
    per_frame_timestamps: bool = False


@dataclass
class LoadedModel:
    """A model and what is needed to feed it.

    Attributes:
        model: the ``*ForConditionalGeneration`` in eval mode.
        tokenizer: its tokenizer.
        spec: its :class:`~mmlong.models.vision_inputs.VisionSpec`.
        family: its :class:`~mmlong.models.families.Family`.
    """

    model: Any
    tokenizer: Any
    spec: Any
    family: Any


@dataclass(frozen=True)
class Shipped:
    """A kind of model mmlong provides itself, named ``PREFIX:REST``.

    Attributes:
        describe: ``REST -> ModelInfo`` without building the model.
        load: ``(REST, dtype) -> LoadedModel`` on the CPU.
        help: what ``REST`` may be, for error messages.
    """

    describe: Callable[[str], ModelInfo]
    load: Callable[[str, Any], LoadedModel]
    help: str
    default: str | None = None  # REST for a bare ``PREFIX`` (None: REST is required)


def _tiny_info(rest: str) -> ModelInfo:
    from mmlong.models.families import family_of
    from mmlong.models.tiny import tiny_config, tiny_spec

    fam = family_of(rest)
    return ModelInfo(f"tiny:{fam.name}", fam.name, tiny_spec(fam), tiny_config(fam), fam.per_frame_timestamps)


def _tiny_load(rest: str, dtype: Any) -> LoadedModel:
    from mmlong.models.tiny import tiny

    return tiny(rest, dtype=dtype)


#: Where the checkpoints that ship inside the package live (``<prefix>-<rest>/``: a transformers folder).
SHIPPED_DIR = Path(__file__).parent / "shipped"


def _shipped_folder(prefix: str, rest: str) -> Path:
    folder = SHIPPED_DIR / f"{prefix}-{rest}"
    if not (folder / "config.json").exists():
        have = sorted(p.name[len(prefix) + 1:] for p in SHIPPED_DIR.glob(f"{prefix}-*") if (p / "config.json").exists())
        raise MmlongError(f"no shipped model {prefix}:{rest}; this install has {prefix}:"
                          f"{'|'.join(have) if have else '(none)'}")
    return folder


def _folder_info(prefix: str):
    def info(rest: str) -> ModelInfo:
        got = _from_hub(str(_shipped_folder(prefix, rest)))
        return ModelInfo(f"{prefix}:{rest}", got.family, got.spec, got.config, got.per_frame_timestamps)

    return info


def _folder_load(prefix: str):
    def load(rest: str, dtype: Any) -> LoadedModel:
        return _load_hub(str(_shipped_folder(prefix, rest)), dtype=dtype, attn_implementation="sdpa")

    return load


#: Model name prefixes mmlong resolves itself: ``PREFIX:REST`` -> a :class:`Shipped` (``PREFIX`` alone =
#: ``PREFIX:<default>``). Trained checkpoints ship as folders in :data:`SHIPPED_DIR`.
SHIPPED: dict[str, Shipped] = {
    "tiny": Shipped(_tiny_info, _tiny_load, "a family: qwen2_vl, qwen2_5_vl, qwen3_vl, qwen3_vl_moe"),
    "tiny-vniah": Shipped(_folder_info("tiny-vniah"), _folder_load("tiny-vniah"),
                          "a position scheme the model was trained with: native, hope, videorope, mrope_pp",
                          default="native"),
}


def split_name(name: str) -> tuple[str | None, str]:
    """``"tiny:qwen2_vl" -> ("tiny", "qwen2_vl")``; a hub id or path -> ``(None, name)``.

    A registered prefix wins; anything else (``Qwen/Qwen2.5-VL-7B-Instruct``, ``./ckpt``,
    ``C:\\models\\x``) is passed to transformers unchanged.
    """
    name = os.fspath(name).strip()
    prefix, sep, rest = name.partition(":")
    if prefix in SHIPPED and (sep or SHIPPED[prefix].default is not None):
        rest = rest or SHIPPED[prefix].default or ""
        if not rest:
            raise MmlongError(f"{name!r} names no model; use {prefix}:REST with REST {SHIPPED[prefix].help}")
        return prefix, rest
    return None, name


def _hub_error(name: str, exc: BaseException, what: str) -> MmlongError:
    return MmlongError(f"cannot {what} {name!r}: {first_line(exc)}; pass a hub id (with network or a filled HF cache), "
                       "a local checkpoint folder, or tiny:qwen2_5_vl")


def family_for(name: str):
    """The :class:`~mmlong.models.families.Family` of a model name, reading its ``config.json`` if needed."""
    from mmlong.models.families import family_of

    prefix, rest = split_name(name)
    if prefix is not None:
        return family_of(SHIPPED[prefix].describe(rest).family)
    from transformers import AutoConfig

    try:
        return family_of(AutoConfig.from_pretrained(rest))
    except MmlongError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise _hub_error(rest, exc, "read the config of") from None


def _from_config(name: str, config: Any, spec: Any = None) -> ModelInfo:
    from mmlong.models.families import family_of
    from mmlong.models.vision_inputs import VisionSpec

    fam = family_of(config)
    return ModelInfo(name, fam.name, spec or VisionSpec.for_family(fam), config, fam.per_frame_timestamps)


def _from_hub(name: str) -> ModelInfo:
    """Hub id or local folder: AutoConfig + preprocessor configs, falling back to the name."""
    from mmlong.models.families import family_of
    from mmlong.models.vision_inputs import VisionSpec

    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(name)
    except (OSError, ValueError, KeyError):
        config = None
    if config is None:
        fam = family_of(name)  # raises a one-line MmlongError when the name says nothing
        return ModelInfo(name, fam.name, VisionSpec.for_family(fam), None, fam.per_frame_timestamps)
    try:
        spec = VisionSpec.from_pretrained(name)
    except (MmlongError, OSError, ValueError):
        spec = None
    return _from_config(name, config, spec)


def describe(model: Any) -> ModelInfo:
    """What a model is, without loading weights.

    Args:
        model: a model name (``"tiny:FAMILY"``, a hub id or local checkpoint folder: its
            ``config.json`` is read with ``AutoConfig`` when available, else the family is
            guessed from the name and no memory estimate can be made); a family name or
            model type (``"qwen3_vl"``); a :class:`~mmlong.models.vision_inputs.VisionSpec`;
            a :class:`~mmlong.models.families.Family`; a transformers config; a loaded model;
            a :class:`ModelInfo`; or a direct-route pipeline (its own ``spec`` is used).

    Returns:
        The :class:`ModelInfo`.

    Raises:
        MmlongError: not a supported Qwen-VL model.
    """
    from mmlong.models.families import FAMILIES, Family, family_of
    from mmlong.models.vision_inputs import VisionSpec

    if isinstance(model, ModelInfo):
        return model
    if isinstance(model, VisionSpec):
        return ModelInfo("VisionSpec", None, model, None, False)
    if isinstance(model, Family):
        return ModelInfo(model.name, model.name, VisionSpec.for_family(model), None, model.per_frame_timestamps)
    if isinstance(model, (str, os.PathLike)):
        prefix, rest = split_name(model)
        if prefix is not None:
            return SHIPPED[prefix].describe(rest)
        if rest in FAMILIES or any(rest in f.model_types for f in FAMILIES.values()):
            fam = family_of(rest)
            return ModelInfo(rest, fam.name, VisionSpec.for_family(fam), None, fam.per_frame_timestamps)
        return _from_hub(rest)
    from mmlong.pipeline.direct import DirectPipeline

    if isinstance(model, DirectPipeline):
        return _from_config(model.config.model, model.model.config, model.spec)
    config = getattr(model, "config", model)
    if getattr(config, "model_type", None) is None:
        raise MmlongError(f"cannot read a Qwen-VL model from {type(model).__name__}; pass a hub id, a local "
                          "checkpoint folder, a config, a family name such as qwen2_5_vl, or tiny:qwen2_5_vl")
    return _from_config(getattr(config, "_name_or_path", "") or config.model_type, config)


def load_model(name: str, *, device: str = "cpu", dtype: Any = None, attn_implementation: str = "sdpa") -> LoadedModel:
    """Load a Qwen-VL model by name, in eval mode on ``device``.

    Args:
        name: ``PREFIX:REST`` of :data:`SHIPPED` (``tiny:qwen2_5_vl``), a hub id or a local
            checkpoint folder (resolved by transformers' ``from_pretrained``).
        device: torch device.
        dtype: torch dtype (None = float32).
        attn_implementation: ``"sdpa"``, ``"flash_attention_2"`` or ``"eager"`` (hub models;
            shipped models use SDPA).

    The vision windows of Qwen2.5-VL models run batched (:mod:`mmlong.models.vision_windows`: the
    same results, one SDPA call per window length).

    Raises:
        MmlongError: unknown family, or transformers cannot find or read the checkpoint.
    """
    import torch

    from mmlong.models.vision_windows import batch_vision_windows

    dtype = dtype if dtype is not None else torch.float32
    prefix, rest = split_name(name)
    if prefix is not None:
        m = SHIPPED[prefix].load(rest, dtype)
    else:
        m = _load_hub(rest, dtype=dtype, attn_implementation=attn_implementation)
    m.model.to(device)
    batch_vision_windows(m.model)  # Qwen2.5-VL's vision windows in one SDPA call per window length
    return m


def _load_hub(name: str, *, dtype: Any, attn_implementation: str) -> LoadedModel:
    """A hub id or local folder through transformers' ``from_pretrained``, on the CPU, in eval mode."""
    from transformers import AutoTokenizer

    from mmlong.models.vision_inputs import VisionSpec

    fam = family_for(name)
    try:
        model = fam.load_class().from_pretrained(name, dtype=dtype, attn_implementation=attn_implementation)
        tokenizer = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise _hub_error(name, exc, "load model") from None
    model.eval()
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return LoadedModel(model, tokenizer, VisionSpec.from_pretrained(name), fam)


def trained_record(name: str) -> dict:
    """The ``mmlong.json`` a checkpoint carries (written by ``mmlong train``: ``{"pos", "pos_options",
    "trained": {...}}``), or ``{}`` when it has none (random ``tiny:`` models, plain hub checkpoints)."""
    import json

    prefix, rest = split_name(name)
    if prefix == "tiny":
        return {}
    folder = _shipped_folder(prefix, rest) if prefix is not None else None
    try:
        if folder is not None:
            path = folder / "mmlong.json"
        else:
            from transformers.utils import cached_file

            path = cached_file(rest, "mmlong.json", _raise_exceptions_for_missing_entries=False,
                               _raise_exceptions_for_connection_errors=False)
        meta = json.loads(Path(path).read_text()) if path is not None and Path(path).exists() else {}
    except (OSError, ValueError):
        meta = {}
    return meta if isinstance(meta, dict) else {}


def trained_scheme(name: str) -> tuple[str, dict]:
    """``(pos, options)`` a checkpoint records in its ``mmlong.json`` (written by ``mmlong train``), else
    ``("native", {})``: what ``mmlong.load`` applies when no ``pos=`` is given."""
    meta = trained_record(name)
    return str(meta.get("pos") or "native"), dict(meta.get("pos_options") or {})


def trained_setup(name: str) -> dict:
    """What a checkpoint records about its training (``mmlong.json``'s ``"trained"``: ``length``,
    ``frames``, ``steps``, ...), ``{}`` when nothing is recorded; eval tasks take their defaults from it."""
    trained = trained_record(name).get("trained")
    return dict(trained) if isinstance(trained, dict) else {}
