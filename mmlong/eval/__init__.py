"""Evaluation: lmms-eval-style runs of long-context settings on long-input benchmarks.

::

    mmlong eval --model tiny:qwen2_5_vl --pos hope --tasks mmneedle,vniah_synth --limit 4 \\
        --output-path runs/ --log-samples

    from mmlong.eval import EvalConfig, evaluate
    results = evaluate(EvalConfig(model="oracle", tasks=("mmneedle",), output_path="runs"))

A run writes ``DIR/<model>/<run_id>_results.json`` and one ``<run_id>_samples_<task>.jsonl``
per task, appended and flushed per document, so a killed run keeps its work and
``--resume`` continues it; ``--rescore`` recomputes metrics from the samples alone.

Modules: ``config`` (the resolved :class:`EvalConfig`), ``runner`` (the loop, sharding,
resume), ``output`` (file layout and writers), ``models`` (random / oracle / pipeline
adapters), ``metrics`` (official scorers), ``wordtok`` (data-free NLTK-equivalent word
tokenizer), ``haystack`` (MMNeedle sub-images and stitching), ``tasks`` (the registry).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmlong._lazy import lazy_exports

__all__ = ["EvalConfig", "evaluate", "rescore", "Shard"]

if TYPE_CHECKING:  # pragma: no cover
    from mmlong.eval.config import EvalConfig, Shard
    from mmlong.eval.runner import evaluate, rescore

_HOMES = {"EvalConfig": "mmlong.eval.config", "Shard": "mmlong.eval.config",
          "evaluate": "mmlong.eval.runner", "rescore": "mmlong.eval.runner"}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, __all__)
