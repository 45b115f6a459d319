"""CLIP for long text and long video: Long-CLIP stretching, released checkpoints, PCM, frame retrieval.

* :mod:`~mmlong.vision.stretch`: :func:`stretch_positional_embedding`, :func:`longclip` (in place,
  open_clip and transformers CLIP);
* :mod:`~mmlong.vision.checkpoint`: released Long-CLIP checkpoints (two position tables) into
  open_clip / transformers, and conversion to a transformers folder;
* :mod:`~mmlong.vision.pcm`: primary component matching, the Long-CLIP fine-tuning loss;
* :mod:`~mmlong.vision.retrieval`: :class:`ClipRetriever` (video frames against a text query;
  also token reduction's ``embed_fn``), the routes' ``clip=`` setting, and retrieval recall;
* :mod:`~mmlong.vision.hf_tokenizer`: CLIP's tokenizer for transformers, built offline from
  open_clip's bundled BPE (converted folders ship it);
* :mod:`~mmlong.vision.tiny`: tiny random-weight CLIPs built from configs;
* :mod:`~mmlong.vision.scene_clip`: a tiny CLIP trained from scratch on generated scenes, and
  the video retrieval check it passes (tests, benchmarks).

Names are imported lazily (torch and open_clip load on first use); open_clip comes with the
``clip`` extra (``pip install 'mmlong[clip]'``).
"""

from __future__ import annotations

from mmlong._lazy import lazy_exports

__all__ = ["stretch_positional_embedding", "longclip", "LongClipInfo", "info", "load_longclip", "merge_tables",
           "convert_to_transformers", "pcm_loss", "pca_reconstruct", "ClipRetriever", "recall_at_k",
           "tiny_open_clip", "tiny_hf_clip", "TinyClipShape", "clip_tokenizer", "train_scene_clip",
           "SceneClipSettings"]

_HOMES = {
    "stretch_positional_embedding": "mmlong.vision.stretch",
    "longclip": "mmlong.vision.stretch",
    "LongClipInfo": "mmlong.vision.stretch",
    "info": "mmlong.vision.stretch",
    "load_longclip": "mmlong.vision.checkpoint",
    "merge_tables": "mmlong.vision.checkpoint",
    "convert_to_transformers": "mmlong.vision.checkpoint",
    "pcm_loss": "mmlong.vision.pcm",
    "pca_reconstruct": "mmlong.vision.pcm",
    "ClipRetriever": "mmlong.vision.retrieval",
    "recall_at_k": "mmlong.vision.retrieval",
    "tiny_open_clip": "mmlong.vision.tiny",
    "tiny_hf_clip": "mmlong.vision.tiny",
    "TinyClipShape": "mmlong.vision.tiny",
    "clip_tokenizer": "mmlong.vision.hf_tokenizer",
    "train_scene_clip": "mmlong.vision.scene_clip",
    "SceneClipSettings": "mmlong.vision.scene_clip",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, __all__)
