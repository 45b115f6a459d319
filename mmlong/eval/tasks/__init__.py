"""The task registry: task name -> ``"module:Class"``, imported only when the task is used.

Names follow lmms-eval where it has the task (``longvideobench_val_v`` ...). Add a task by
writing one module with a :class:`~mmlong.eval.tasks.base.Task` subclass and one line here.
"""

from __future__ import annotations

import importlib

from mmlong.errors import MmlongError

TASKS: dict[str, str] = {
    "mmneedle": "mmlong.eval.tasks.mmneedle:MMNeedle",
    "longvideobench_val_v": "mmlong.eval.tasks.longvideobench:LongVideoBenchValV",
    "longvideobench_val_i": "mmlong.eval.tasks.longvideobench:LongVideoBenchValI",
    "longvideobench_test_v": "mmlong.eval.tasks.longvideobench:LongVideoBenchTestV",
    "longvideobench_test_i": "mmlong.eval.tasks.longvideobench:LongVideoBenchTestI",
    "longvideobench_no_visual": "mmlong.eval.tasks.longvideobench:LongVideoBenchNoVisual",
    "videowebarena_qa": "mmlong.eval.tasks.videowebarena:VideoWebArenaQA",
    "videowebarena_agent": "mmlong.eval.tasks.videowebarena:VideoWebArenaAgent",
    "vniah_synth": "mmlong.eval.tasks.vniah_synth:VNiahSynth",
    "longclip_retrieval": "mmlong.eval.tasks.longclip_retrieval:LongClipRetrieval",
}


def task_class(name: str) -> type:
    """The task class registered as ``name``; unknown names fail with the valid list."""
    try:
        target = TASKS[name]
    except KeyError:
        raise MmlongError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def get_task(name: str, **options):
    """Build task ``name`` with its options (unknown options fail with the valid list)."""
    return task_class(name)(**options)
