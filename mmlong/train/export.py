"""Export a trained model as a plain transformers folder that loads without mmlong.

::

    export(model, tokenizer, spec, "out/model", pos="hope", pos_options={"gamma": 1.0})
    Qwen2_5_VLForConditionalGeneration.from_pretrained("out/model")     # plain transformers
    mmlong.load("out/model")                                            # + its position scheme

LoRA adapters are merged into the weights and mmlong's in-place patches removed before
saving, so the folder holds an ordinary checkpoint: ``config.json``, ``model.safetensors``,
the tokenizer files, ``preprocessor_config.json`` / ``video_preprocessor_config.json`` (the
vision settings the model was trained with) and ``mmlong.json``: the position scheme and
options the model was trained for (``mmlong.load`` applies them unless ``pos=`` is given)
and what it was trained on.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

__all__ = ["export", "write_vision_spec", "META_FILE"]

META_FILE = "mmlong.json"


def write_vision_spec(spec: Any, out: str | Path) -> None:
    """The two preprocessor configs of a :class:`~mmlong.models.vision_inputs.VisionSpec`, in the Qwen-VL layout."""
    out = Path(out)
    image = {"image_processor_type": "Qwen2VLImageProcessor", "patch_size": spec.patch_size,
             "merge_size": spec.merge_size, "temporal_patch_size": spec.temporal_patch_size,
             "min_pixels": spec.min_pixels, "max_pixels": spec.max_pixels,
             "size": {"shortest_edge": spec.min_pixels, "longest_edge": spec.max_pixels},
             "image_mean": list(spec.image_mean), "image_std": list(spec.image_std), "do_rescale": True,
             "do_normalize": True, "do_resize": True, "rescale_factor": 1 / 255}
    video = {**image, "video_processor_type": "Qwen2VLVideoProcessor"}
    video.pop("image_processor_type")
    if spec.video_min_pixels is not None and spec.video_max_pixels is not None:
        video.update(min_pixels=spec.video_min_pixels, max_pixels=spec.video_max_pixels,
                     size={"shortest_edge": spec.video_min_pixels, "longest_edge": spec.video_max_pixels})
    (out / "preprocessor_config.json").write_text(json.dumps(image, indent=2))
    (out / "video_preprocessor_config.json").write_text(json.dumps(video, indent=2))


def _plain(value: Any):
    """JSON form of what json cannot write itself: option dataclasses (e.g. a Stretch) as dicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def export(model: Any, tokenizer: Any, spec: Any, out: str | Path, *, pos: str = "native",
           pos_options: dict | None = None, meta: dict | None = None, dtype: Any = None) -> Path:
    """Save ``model`` (LoRA merged, mmlong patches removed) with its tokenizer and settings into ``out``.

    Args:
        model: the trained model (a peft ``PeftModel`` is merged first).
        tokenizer: saved with ``save_pretrained``.
        spec: the vision settings it was trained with.
        out: the folder to write (created; files in it are replaced).
        pos: the position scheme it was trained for; ``pos_options`` its inference options.
        meta: what to record about the training (data, steps, accuracy, ...).
        dtype: cast the weights before saving (e.g. ``torch.float16`` for a smaller file).

    Returns:
        ``out`` as a Path.
    """
    import mmlong

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        from peft import PeftModel
    except ImportError:  # no peft installed: no adapters to merge
        PeftModel = ()
    if isinstance(model, PeftModel):  # fold the LoRA adapters into the weights
        model = model.merge_and_unload()
    mmlong.remove(model)
    if dtype is not None:
        model = model.to(dtype)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    write_vision_spec(spec, out)
    (out / META_FILE).write_text(json.dumps({"pos": pos, "pos_options": dict(pos_options or {}),
                                             "trained": meta or {}}, indent=2, default=_plain))
    return out
