"""What every eval task provides: docs, a request per doc, a per-sample score, an aggregate.

A task is a class with a frozen ``Options`` dataclass (its knobs, one doc line each) and:

* ``docs()`` -> ordered :class:`Doc` list (raises :class:`MmlongError` naming the flag to
  pass when its data folder is missing);
* ``request(doc)`` -> :class:`Request` (prompt text plus *loaders* for images / frames, so a
  missing or corrupt video fails inside the runner's per-sample guard, not at load time);
* ``reference(doc)`` -> ``(target, ref)``: the readable target and a JSON-able dict with
  everything scoring needs, stored in the samples file so ``--rescore`` needs no data;
* ``score(ref, response)`` -> ``{metric: value}`` (``None`` = excluded from that metric);
* ``aggregate(samples)`` -> ``(metrics, breakdowns)``; the default is the mean of each metric.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from mmlong.errors import reject_unknown_fields


@dataclass(frozen=True)
class Doc:
    """One evaluation item."""

    doc_id: str  # unique within the task (e.g. "shopping/12" for VideoWebArena)
    data: dict  # the raw record (JSON-able); its hash is the sample's doc_hash

    @property
    def doc_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.data, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Request:
    """What the model is asked for one doc."""

    text: str  # the user text (instructions, question, options)
    images: Callable[[], list] | list = field(default_factory=list)  # PIL images / loader of them
    video: Callable[[], Any] | None = None  # loader of the pinned frames (a mmlong.video.Clip)
    max_new_tokens: int = 32  # generation cap for this task
    choices: tuple = ()  # the valid answers, when the task has a closed set (random model draws here)
    oracle: Any = None  # reference answer, or fn(request, images, clip) -> answer (oracle model)
    media: dict = field(default_factory=dict)  # JSON-able description of the visuals for the samples file
    hidden: dict = field(default_factory=dict)  # test-only inputs a real model never sees (oracle pixels)
    # interleaved user turn: str text and int i = images[i], in reading order (``text`` is then its
    # rendering with "<image>" markers, for logs and text-only models); None = images, video, text
    parts: list | None = None

    def load(self) -> tuple[list, Any]:
        """Materialize ``(images, clip)``; raises whatever the loaders raise."""
        images = self.images() if callable(self.images) else list(self.images)
        clip = self.video() if callable(self.video) else self.video
        return images, clip


def join_parts(parts: list) -> list:
    """Merge adjacent strings and drop empty ones (ints are image indices)."""
    out: list = []
    for p in parts:
        if isinstance(p, str) and out and isinstance(out[-1], str):
            out[-1] += p
        elif p != "":
            out.append(p)
    return out


def binary_stderr(p: float, n: int) -> float:
    """sqrt(p (1 - p) / n), the standard error MMNeedle reports."""
    return (p * (1 - p) / n) ** 0.5 if n else 0.0


def mean_metrics(samples: list[dict], names: list[str]) -> dict:
    """``{name: mean, name_stderr: se}`` over samples whose value is not None (None when none are)."""
    out = {}
    for name in names:
        vals = [float(s[name]) for s in samples if s.get(name) is not None]
        p = sum(vals) / len(vals) if vals else None
        out[name] = p
        out[f"{name}_stderr"] = binary_stderr(p, len(vals)) if vals else None
    return out


def doc_rng(seed: int, *parts) -> random.Random:
    """A Random seeded by (seed, parts): the same draws for a doc in any order, shard or resume."""
    h = hashlib.sha256(json.dumps([seed, *[str(p) for p in parts]]).encode()).hexdigest()
    return random.Random(int(h[:16], 16))


def option_docs(options_cls) -> list[tuple[str, str, str]]:
    """``(name, default, comment)`` of each field of an ``Options`` dataclass, in order.

    The comment is the ``# ...`` after the field in the source (the project's way of
    documenting options), e.g. ``("max_frames", "64", "frame budget ...")``.
    """
    import inspect

    comments: dict[str, str] = {}
    try:
        for cls in reversed(options_cls.__mro__):
            if dataclasses.is_dataclass(cls):
                for line in inspect.getsource(cls).splitlines():
                    m = re.match(r"\s+(\w+)\s*:[^#]*#\s*(.*)$", line)
                    if m:
                        comments[m.group(1)] = m.group(2).strip()
    except (OSError, TypeError):  # no source (frozen app): names and defaults only
        pass
    return [(f.name, repr(f.default) if f.default is not dataclasses.MISSING else "(required)",
             comments.get(f.name, "")) for f in dataclasses.fields(options_cls)]


def build_options(cls, options: dict, task: str):
    """``cls(**options)`` with unknown names rejected, listing the valid ones."""
    reject_unknown_fields(cls, options, "option", f" for task {task}")
    return cls(**options)


class Task:
    """Base class; subclasses set ``name``, ``version``, ``Options`` and the methods below."""

    name = "task"
    version = "1"
    summary = ""  # one line for ``mmlong eval --tasks list``
    metrics: tuple[str, ...] = ("acc",)  # reported metric names, all higher-is-better unless listed
    lower_is_better: tuple[str, ...] = ()

    @dataclass(frozen=True)
    class Options:
        """No options."""

    def __init__(self, options=None, **kwargs):
        self.options = options if options is not None else build_options(self.Options, kwargs, self.name)

    def config(self) -> dict:
        """The task's resolved configuration (written into results.json ``configs``)."""
        from mmlong.eval.config import json_safe

        return {"task": self.name, "version": self.version, "options": json_safe(dataclasses.asdict(self.options))}

    def docs(self) -> list[Doc]:  # pragma: no cover - abstract
        raise NotImplementedError

    def request(self, doc: Doc) -> Request:  # pragma: no cover - abstract
        raise NotImplementedError

    def reference(self, doc: Doc) -> tuple[str, dict]:  # pragma: no cover - abstract
        raise NotImplementedError

    def respond(self, doc: Doc, req: Request, images: list, clip, model) -> tuple[str, dict]:
        """Ask ``model``; agentic tasks override this to call their agent instead."""
        return model.generate(req, images, clip, f"{self.name}/{doc.doc_id}")

    def score(self, ref: dict, response: str | None, *, seed: int = 0, doc_id: str = "") -> dict:
        raise NotImplementedError  # pragma: no cover - abstract

    def aggregate(self, samples: list[dict]) -> tuple[dict, dict]:
        """Default: mean and stderr of each metric; no breakdowns."""
        return mean_metrics(samples, list(self.metrics)), {}

    def finalize(self, samples: list[dict], files) -> dict:
        """Write task-specific extra files (submission, plots); returns {kind: path}. Default: none."""
        return {}

    def higher_is_better(self) -> dict:
        return {m: m not in self.lower_is_better for m in self.metrics}
