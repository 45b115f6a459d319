"""Visual tokens: plan frames x resolution for a budget before decoding, and drop redundant tokens.

::

    from mmlong.tokens import plan, sample_planned
    p = plan("talk.mp4", "Qwen/Qwen2.5-VL-7B-Instruct", "64k")    # metadata + config.json only
    clip = sample_planned("talk.mp4", p)                            # exactly the planned frames

    from mmlong.tokens import reducer_from
    reducer = reducer_from("temporal+budget:4096")                 # for mmlong.load(reduce=...)

Names are imported lazily so ``import mmlong.tokens`` stays cheap.
"""

from __future__ import annotations

from mmlong._lazy import lazy_exports

__all__ = ["plan", "Plan", "sample_planned", "Reducer", "reducer_from", "select_tokens", "generate_reduced",
           "forward_reduced"]

_HOMES = {
    "plan": "mmlong.tokens.planner",
    "Plan": "mmlong.tokens.planner",
    "sample_planned": "mmlong.tokens.planner",
    "Reducer": "mmlong.tokens.reduce",
    "reducer_from": "mmlong.tokens.reduce",
    "select_tokens": "mmlong.tokens.reduce",
    "generate_reduced": "mmlong.tokens.reduce_model",
    "forward_reduced": "mmlong.tokens.reduce_model",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, __all__)
