"""The Qwen-VL families mmlong supports, and where their pieces live in transformers 5.x.

A :class:`Family` records what differs between Qwen2-VL, Qwen2.5-VL, Qwen3-VL and
Qwen3-VL-MoE as far as mmlong cares: the model class, the native rotary scheme, whether
videos carry per-frame timestamp text, the vision patch size and the default system prompt.

    >>> family_of("Qwen/Qwen2.5-VL-7B-Instruct").name
    'qwen2_5_vl'
    >>> family_of("qwen3_vl_moe").native_scheme
    'interleaved'

The helpers :func:`text_config`, :func:`inner_model` and :func:`rotary_module` hide the
wrapping differences between ``*ForConditionalGeneration`` and the bare ``*Model``.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

from mmlong.errors import MmlongError

__all__ = ["Family", "FAMILIES", "family_of", "text_config", "inner_model", "rotary_module"]


@dataclass(frozen=True)
class Family:
    """Static facts about one Qwen-VL family.

    Attributes:
        name: mmlong's name, e.g. ``"qwen2_5_vl"``.
        model_types: ``config.model_type`` values of the family (top-level and text config).
        model_class: ``"module:Class"`` of the generation model,
            e.g. ``"transformers:Qwen2VLForConditionalGeneration"``.
        native_scheme: the rotary scheme the checkpoints were trained with:
            ``"mrope"`` (Qwen2-VL), ``"mrope_abs_time"`` (Qwen2.5-VL) or ``"interleaved"`` (Qwen3-VL).
        per_frame_timestamps: True when each temporal patch of a video is preceded by a
            ``"<{t:.1f} seconds>"`` text timestamp (Qwen3-VL).
        default_patch_size: the vision encoder's spatial patch size (14 or 16).
        system_prompt: the chat template's default system message, or None for no system turn.
    """

    name: str
    model_types: tuple[str, ...]
    model_class: str
    native_scheme: str
    per_frame_timestamps: bool
    default_patch_size: int
    system_prompt: str | None

    def load_class(self) -> type:
        """Import and return :attr:`model_class` (e.g. ``Qwen2VLForConditionalGeneration``)."""
        module, _, cls = self.model_class.partition(":")
        return getattr(importlib.import_module(module), cls)


_QWEN2_SYSTEM = "You are a helpful assistant."

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("qwen2_vl", ("qwen2_vl", "qwen2_vl_text"),
               "transformers:Qwen2VLForConditionalGeneration", "mrope", False, 14, _QWEN2_SYSTEM),
        Family("qwen2_5_vl", ("qwen2_5_vl", "qwen2_5_vl_text"),
               "transformers:Qwen2_5_VLForConditionalGeneration", "mrope_abs_time", False, 14,
               _QWEN2_SYSTEM),
        Family("qwen3_vl", ("qwen3_vl", "qwen3_vl_text"),
               "transformers:Qwen3VLForConditionalGeneration", "interleaved", True, 16, None),
        Family("qwen3_vl_moe", ("qwen3_vl_moe", "qwen3_vl_moe_text"),
               "transformers:Qwen3VLMoeForConditionalGeneration", "interleaved", True, 16, None),
    )
}

_BY_MODEL_TYPE = {mt: f for f in FAMILIES.values() for mt in f.model_types}


def _from_repo_name(name: str) -> Family | None:
    """Guess the family from a hub id or path such as ``Qwen/Qwen2.5-VL-7B-Instruct``."""
    base = name.rstrip("/").split("/")[-1].lower().replace(".", "_").replace("-", "_")
    if re.search(r"qwen3_vl", base):
        # The MoE checkpoints are named by active params, e.g. Qwen3-VL-30B-A3B-Instruct.
        return FAMILIES["qwen3_vl_moe" if re.search(r"_a\d+b|moe", base) else "qwen3_vl"]
    if re.search(r"qwen2_5_vl", base):
        return FAMILIES["qwen2_5_vl"]
    if re.search(r"qwen2_vl", base):
        return FAMILIES["qwen2_vl"]
    return None


def family_of(obj: Any) -> Family:
    """Return the :class:`Family` of a model, a config, or a name.

    Args:
        obj: a :class:`Family`; a model (anything with ``.config``); a config (anything with
            ``.model_type``); or a string: a family name (``"qwen2_5_vl"``), a
            ``model_type`` (``"qwen3_vl_text"``), or a hub id / path whose last component
            names the family (``"Qwen/Qwen2.5-VL-3B-Instruct"``); model names with a prefix
            such as ``tiny:`` are resolved by :mod:`mmlong.models.hub`.

    Returns:
        The matching entry of :data:`FAMILIES`.

    Raises:
        MmlongError: the object is not a supported Qwen-VL family.
    """
    if isinstance(obj, Family):
        return obj
    found: Family | None = None
    label = obj
    if isinstance(obj, str):
        key = obj.strip()
        found = FAMILIES.get(key) or _BY_MODEL_TYPE.get(key)
        if found is None:
            found = _from_repo_name(key)
    else:
        config = getattr(obj, "config", obj)
        model_type = getattr(config, "model_type", None)
        label = f"model_type={model_type!r}"
        found = _BY_MODEL_TYPE.get(model_type) if isinstance(model_type, str) else None
    if found is None:
        raise MmlongError(
            f"unsupported model family {label!r}; use one of {', '.join(FAMILIES)} "
            "(Qwen2-VL, Qwen2.5-VL, Qwen3-VL, Qwen3-VL-MoE)"
        )
    return found


def text_config(config: Any) -> Any:
    """Return ``config.text_config`` when present, else ``config`` (accepts a model too)."""
    config = getattr(config, "config", config)
    return getattr(config, "text_config", None) or config


def inner_model(model: Any) -> Any:
    """Return the ``*Model`` that owns ``get_rope_index`` and ``language_model``.

    For ``Qwen2VLForConditionalGeneration`` this is ``model.model``; a bare
    ``Qwen2VLModel`` is returned unchanged. PEFT wrappers are unwrapped first.

    Raises:
        MmlongError: no ``get_rope_index`` found (not a Qwen-VL model).
    """
    if hasattr(model, "get_base_model") and callable(model.get_base_model):
        model = model.get_base_model()
    for candidate in (getattr(model, "model", None), model):
        if candidate is not None and hasattr(candidate, "get_rope_index") and hasattr(
            candidate, "language_model"
        ):
            return candidate
    raise MmlongError(
        f"{type(model).__name__} has no Qwen-VL get_rope_index; pass a Qwen2-VL / Qwen2.5-VL / "
        "Qwen3-VL model (the *ForConditionalGeneration or its .model)"
    )


def rotary_module(model: Any) -> Any:
    """Return the text decoder's rotary embedding (``inner_model(model).language_model.rotary_emb``)."""
    return inner_model(model).language_model.rotary_emb
