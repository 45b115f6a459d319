"""mmlong's eval tasks as lmms-eval tasks: the functions the task YAMLs in ``mmlong/lmms/tasks`` name.

An lmms-eval task reads a dataset; mmlong's tasks build their docs themselves (generated
videos, the MMNeedle haystacks, the VideoWebArena configs). So each YAML's dataset is one row
``{"task": NAME, "options": JSON}`` (the mmlong task and its options, ``{}`` = defaults), and
``process_docs`` (:func:`docs`) replaces it with one row per mmlong doc::

    {"task": "vniah_synth", "options": "{}", "doc_id": "what/16/0.10/0", "data": "<the doc as JSON>"}

The other functions answer from the row through the mmlong task itself: the visuals are the
request's images and its pinned frames (an mmlong ``Clip``, read by ``--model mmlong``), the
text is its prompt, scoring is :meth:`Task.score`, and each metric's aggregate is the task's
own :meth:`Task.aggregate` over the samples (``aggregate_<metric>``, e.g. ``aggregate_acc``),
so an lmms-eval run reports the numbers ``mmlong eval`` reports.

Other options: a YAML of your own that ``include``s the shipped one and points
``dataset_kwargs.data_files`` at a JSON-lines file with your row, e.g.
``{"task": "vniah_synth", "options": "{\\"lengths\\": [8], \\"samples_per_cell\\": 2}"}``.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

from mmlong.errors import MmlongError

__all__ = ["docs", "doc_to_visual", "doc_to_text", "doc_to_target", "process_results"]


@functools.lru_cache(maxsize=16)
def _task(name: str, options: str):
    """The mmlong task ``name`` built with ``options`` (a JSON object), once per (name, options)."""
    from mmlong.eval.tasks import get_task

    try:
        opts = json.loads(options or "{}")
    except json.JSONDecodeError as exc:
        raise MmlongError(f"the options of mmlong task {name} are not a JSON object ({exc.msg}): {options!r}") from None
    if not isinstance(opts, dict):
        raise MmlongError(f"the options of mmlong task {name} must be a JSON object, got {options!r}")
    return get_task(name, **opts)


def _doc(row: dict):
    from mmlong.eval.tasks.base import Doc

    return _task(row["task"], row["options"]), Doc(row["doc_id"], json.loads(row["data"]))


def docs(dataset):
    """``process_docs``: the one-row dataset ``{"task", "options"}`` -> one row per mmlong doc."""
    import datasets

    rows = []
    for spec in dataset:
        task = _task(spec["task"], spec.get("options") or "{}")
        rows += [{"task": spec["task"], "options": spec.get("options") or "{}", "doc_id": d.doc_id,
                  "data": json.dumps(d.data, sort_keys=True, default=str)} for d in task.docs()]
    return datasets.Dataset.from_list(rows)


def doc_to_visual(row: dict) -> list:
    """The request's images, then its pinned frames (a ``Clip``) when it has a video."""
    task, doc = _doc(row)
    images, clip = task.request(doc).load()
    return [*images, *([clip] if clip is not None else [])]


def doc_to_text(row: dict, lmms_eval_specific_kwargs: dict | None = None) -> str:
    """The request's prompt (interleaved requests: its rendering with ``<image>`` markers)."""
    task, doc = _doc(row)
    return task.request(doc).text


def doc_to_target(row: dict) -> str:
    """The readable target (``Task.reference``'s first part)."""
    task, doc = _doc(row)
    return str(task.reference(doc)[0])


def process_results(row: dict, results: list) -> dict:
    """Every metric of the task, each holding this sample's score record (aggregated by ``aggregate_<m>``)."""
    task, doc = _doc(row)
    response = results[0] if results else None
    response = getattr(response, "text", response)
    ref = task.reference(doc)[1]
    scores = task.score(ref, response, doc_id=doc.doc_id)
    record = {**scores, "ref": ref, "doc_id": doc.doc_id, "filtered_resps": [response],
              "task": row["task"], "options": row["options"]}
    return {m: record for m in task.metrics}


def _aggregate(metric: str, records: list) -> float:
    """The task's own aggregate of ``metric`` over the sample records (NaN when no sample counts)."""
    if not records:
        return math.nan
    task = _task(records[0]["task"], records[0]["options"])
    value = task.aggregate(records)[0].get(metric)
    return math.nan if value is None else float(value)


def __getattr__(name: str):
    """``aggregate_<metric>``: the aggregation function a task YAML names for ``metric``."""
    if name.startswith("aggregate_"):
        metric = name[len("aggregate_"):]

        def aggregate(records: list) -> float:
            return _aggregate(metric, records)

        aggregate.__name__ = aggregate.__qualname__ = name
        return aggregate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
