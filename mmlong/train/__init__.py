"""Fine-tuning recipes on accelerate: ``mmlong train sft`` and ``mmlong train tiny-vlm``.

* :mod:`~mmlong.train.data`: the sharegpt JSONL layout -> examples (loss on assistant tokens only);
* :mod:`~mmlong.train.loop`: the shared loop (exact global-token loss, checkpoints, resume);
* :mod:`~mmlong.train.sft` / :mod:`~mmlong.train.tiny_vlm`: the recipes;
* :mod:`~mmlong.train.export`: a plain transformers folder (LoRA merged) + ``mmlong.json``.

Names are imported lazily (torch and accelerate load on first use).
"""

from __future__ import annotations

from mmlong._lazy import lazy_exports

__all__ = ["TrainSettings", "sft", "fit", "train_tiny_vlm", "export", "read_conversations", "run"]

_HOMES = {
    "TrainSettings": "mmlong.train.settings",
    "sft": "mmlong.train.sft",
    "fit": "mmlong.train.sft",
    "train_tiny_vlm": "mmlong.train.tiny_vlm",
    "export": "mmlong.train.export",
    "read_conversations": "mmlong.train.data",
    "run": "mmlong.train.loop",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, __all__)
