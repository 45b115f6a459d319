"""Qwen-VL model plumbing: families, input building (no torchvision), tiny offline models.

    from mmlong.models import tiny, build_inputs, model_inputs
    b = tiny("qwen2_5_vl")
    inputs = build_inputs(b.family, b.tokenizer, b.spec, "What happens?", videos=[clip])
    out = b.model.generate(**model_inputs(inputs), max_new_tokens=8)
"""

from __future__ import annotations

from mmlong.models.families import FAMILIES, Family, family_of, inner_model, rotary_module, text_config
from mmlong.models.tiny import TinyBundle, tiny, tiny_tokenizer
from mmlong.models.vision_inputs import VisionSpec, build_batch, build_inputs, model_inputs, patchify, smart_resize

__all__ = [
    "FAMILIES", "Family", "family_of", "inner_model", "rotary_module", "text_config",
    "TinyBundle", "tiny", "tiny_tokenizer",
    "VisionSpec", "build_batch", "build_inputs", "model_inputs", "patchify", "smart_resize",
]
