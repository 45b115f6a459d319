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

from mmlong.errors import MmlongError, reject_unknown_fields


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


_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _accepts(hint, value, default) -> bool:
    """Whether ``value`` has the type of an option annotated ``hint`` (a scalar stands for a 1-tuple)."""
    import types
    import typing

    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_accepts(h, value, default) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint in (int, float):
        return isinstance(value, int if hint is int else (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint is tuple or typing.get_origin(hint) is tuple:
        items = value if isinstance(value, (tuple, list)) else (value,)
        like = type(default[0]) if isinstance(default, tuple) and default else None
        return like is None or all(_accepts(like, v, None) for v in items)
    return True  # anything else: the task checks it


def _kind(hint, default) -> str:
    import types
    import typing

    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_kind(h, default) for h in typing.get_args(hint) if h is not type(None))
    if hint is tuple and isinstance(default, tuple) and default:
        return f"{_KINDS.get(type(default[0]), 'a value')} or a comma list of them"
    return _KINDS.get(hint, "a value")


def _check_types(cls, options: dict, task: str) -> dict:
    """``options`` with each value checked against its field's type: one line naming the first
    wrong one (``mmneedle.m=abc``). A number given for a text option (``data_dir=2024``, as the
    command line parses it) becomes its text."""
    import typing

    hints, out = typing.get_type_hints(cls), dict(options)
    for f in dataclasses.fields(cls):
        if f.name not in out or f.name not in hints:
            continue
        hint, value = hints[f.name], out[f.name]
        default = f.default if f.default is not dataclasses.MISSING else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not _accepts(hint, value, default) \
                and _accepts(hint, str(value), default):
            out[f.name] = value = str(value)
        if not _accepts(hint, value, default):
            example = ",".join(map(str, default)) if isinstance(default, tuple) else default
            raise MmlongError(f"task option {task}.{f.name} must be {_kind(hint, default)}, got {value!r}"
                              + (f"; e.g. --task-opt {task}.{f.name}={example}" if default is not None else ""))
    return out


def build_options(cls, options: dict, task: str):
    """``cls(**options)`` with unknown names and values of the wrong type rejected (one line each).

    An answer cap (a ``max_new_tokens`` field) must be an integer >= 1, as everywhere else.
    """
    from mmlong.pipeline.base import check_max_new_tokens

    reject_unknown_fields(cls, options, "option", f" for task {task}")
    built = cls(**_check_types(cls, options, task))
    if "max_new_tokens" in getattr(cls, "__dataclass_fields__", {}):
        check_max_new_tokens(built.max_new_tokens, f"{task}.max_new_tokens")
    return built


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

    @classmethod
    def model_defaults(cls, trained: dict) -> dict:
        """Option defaults taken from what the evaluated model records about its training
        (``mmlong.json``'s ``"trained"``, e.g. ``{"length": 16, ...}``); options the user gives win.
        Default: none."""
        return {}

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
