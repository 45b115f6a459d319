"""One task's docs -> per-sample records: load, answer (alone or in batches), score.

Each doc goes through three steps, and no step raises for bad input:

1. :func:`load_doc` (CPU): the reference, the request and its media (video decode, images);
   a failure is written into the record as ``doc: ...`` or ``input: ...``;
2. the model answers: ``task.respond`` per doc, or one ``model.generate_batch`` call for a
   chunk of ``cfg.batch_size`` docs when :func:`batches_supported`; exceptions are recorded
   as ``model: ...``;
3. :func:`finish_doc`: the score and timings.

:func:`run_docs_prefetched` can overlap step 1 of the next chunk with steps 2-3 of the current
one (one background thread), so decoding long videos hides behind generation. Records come
out in doc order. The model sees the same inputs either way (tested bit-equal on CPU), but
on an H100 in bf16 a prefetched run of a random-weight model answered differently from a
serial run while two serial runs agreed (cause not found yet), so prefetch is opt-in.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator

from mmlong.errors import MmlongError, first_line
from mmlong.eval.config import EvalConfig
from mmlong.eval.output import now
from mmlong.eval.tasks.base import Task


@dataclass
class Pending:
    """A doc between loading and scoring: its record so far and, when loading worked, the inputs."""

    doc: object
    rec: dict
    t0: float
    req: object = None
    inputs: tuple | None = None  # (images, clip) once loaded


def load_doc(task, doc) -> Pending:
    """Reference, request and media of one doc; failures are written into the record."""
    p = Pending(doc, {"doc_id": doc.doc_id, "doc_hash": doc.doc_hash, "target": None, "ref": {}, "input": None,
                      "input_media": {}, "filtered_resps": [None], "error": None, "token_counts": None},
                time.perf_counter())
    try:
        p.rec["target"], p.rec["ref"] = task.reference(doc)
        p.req = task.request(doc)
        p.rec["input_media"] = dict(p.req.media)
    except Exception as exc:  # a malformed doc: record and move on
        p.rec["error"] = f"doc: {first_line(exc, typed=True)}"
        return p
    try:
        p.inputs = p.req.load()  # loaders may finish req.text / req.media (e.g. subtitles placed by frame times)
    except Exception as exc:
        p.rec["error"] = f"input: {first_line(exc, typed=True)}"
        return p
    p.rec["input_media"] = dict(p.req.media)
    clip = p.inputs[1]
    if clip is not None and hasattr(clip, "timestamps"):  # pinned frames; a video path is sampled by the model
        p.rec["input_media"]["frame_times"] = [round(float(t), 4) for t in clip.timestamps]
    return p


def finish_doc(task, p: Pending, result, cfg: EvalConfig, batch: int = 1) -> dict:
    """Score one doc given the model's ``(text, info)``, the exception it raised, or None (not asked)."""
    rec, response = p.rec, None
    if isinstance(result, BaseException):
        rec["error"] = f"model: {first_line(result, typed=True)}"
    elif result is not None:
        text, info = result
        rec["token_counts"] = info.get("token_counts")
        if info.get("frame_times") and "frame_times" not in rec["input_media"]:  # the frames the model's policy chose
            rec["input_media"]["frame_times"] = [round(float(t), 4) for t in info["frame_times"]]
        if isinstance(text, str):
            response = text
        else:
            rec["error"] = f"model: returned {type(text).__name__}, not text"
    if cfg.log_samples and p.req is not None:
        rec["input"] = p.req.text
    rec["filtered_resps"] = [response]
    try:
        rec.update(task.score(rec["ref"], response, seed=cfg.seed, doc_id=p.doc.doc_id))
    except Exception as exc:
        rec["error"] = rec["error"] or f"score: {first_line(exc, typed=True)}"
    rec["timings"] = {"total_s": round(time.perf_counter() - p.t0, 4), **({"batch": batch} if batch > 1 else {})}
    rec["date"] = now()
    return rec


def batches_supported(task, model) -> bool:
    """True when ``model`` answers many docs per call and ``task`` asks the model (not an agent)."""
    return (callable(getattr(model, "generate_batch", None)) and getattr(model, "can_batch", True)
            and type(task).respond is Task.respond)


def answer(task, pending: list[Pending], model, cfg: EvalConfig, batched: bool) -> list[dict]:
    """Records for loaded docs: one ``generate_batch`` call (``batched``) or ``task.respond`` each.

    A doc that failed to load is scored as unanswered and never joins the batch; the model
    returns a result or an exception per doc, so one bad doc never costs the others.
    """
    ready = [p for p in pending if p.inputs is not None]
    if batched:
        keys = [f"{task.name}/{p.doc.doc_id}" for p in ready]
        try:
            results = model.generate_batch([(p.req, *p.inputs, k) for p, k in zip(ready, keys)]) if ready else []
        except Exception as exc:  # the whole call failed: every doc records it
            results = [exc] * len(ready)
        if len(results) != len(ready):
            results = [MmlongError(f"generate_batch returned {len(results)} results for {len(ready)} docs")] * len(ready)
    else:
        results = [_respond(task, p, model) for p in ready]
    by_id = {id(p): r for p, r in zip(ready, results)}
    size = len(ready) if batched else 1
    return [finish_doc(task, p, by_id.get(id(p)), cfg, batch=size) for p in pending]


def _respond(task, p: Pending, model):
    try:
        return task.respond(p.doc, p.req, *p.inputs, model)
    except Exception as exc:
        return exc


def run_docs_prefetched(task, docs: list, model, cfg: EvalConfig, prefetch: bool = False) -> Iterator[dict]:
    """Records for ``docs`` in order, ``cfg.batch_size`` per model call when the model batches.

    With ``prefetch`` the next chunk is loaded in a background thread while the current one
    is answered. A KeyboardInterrupt stops at once (the prefetched chunk is dropped).
    """
    batched = cfg.batch_size > 1 and batches_supported(task, model)
    size = cfg.batch_size if batched else 1
    chunks = [docs[i:i + size] for i in range(0, len(docs), size)]

    def load(chunk):
        return [load_doc(task, d) for d in chunk]

    if not prefetch or len(chunks) < 2:
        for chunk in chunks:
            yield from answer(task, load(chunk), model, cfg, batched)
        return
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmlong-prefetch")
    try:
        nxt = pool.submit(load, chunks[0])
        for k in range(len(chunks)):
            pending = nxt.result()
            if k + 1 < len(chunks):
                nxt = pool.submit(load, chunks[k + 1])
            yield from answer(task, pending, model, cfg, batched)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
