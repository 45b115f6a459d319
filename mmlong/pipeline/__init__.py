"""Pipelines, what ``mmlong.load`` returns: one :class:`Pipeline` protocol, one class per route.

* :class:`Pipeline` (``base.py``): the interface (``ask``, ``ask_many``, ``config``, ``progress``,
  ``tokenizer``) that the CLI, the eval runner and the demo call;
* :class:`DirectPipeline` + :class:`PipelineConfig` (``direct.py``): frames -> a patched Qwen-VL model;
* the language route, :class:`mmlong.silvr.SilvrPipeline` + ``SilvrConfig`` (``mmlong/silvr/``).

Names are imported lazily so ``import mmlong.pipeline`` stays cheap.
"""

from __future__ import annotations

from mmlong._lazy import lazy_exports

__all__ = ["Pipeline", "DirectPipeline", "PipelineConfig", "ask_one_by_one", "DEFAULT_MAX_NEW_TOKENS"]

_HOMES = {
    "Pipeline": "mmlong.pipeline.base",
    "ask_one_by_one": "mmlong.pipeline.base",
    "DEFAULT_MAX_NEW_TOKENS": "mmlong.pipeline.base",
    "DirectPipeline": "mmlong.pipeline.direct",
    "PipelineConfig": "mmlong.pipeline.direct",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, __all__)
