"""The one interface every route implements: :class:`Pipeline`.

``mmlong.load`` returns a pipeline; the CLI, the eval runner and the demo call only what this
protocol declares, whichever route they hold (the direct route, frames -> a Qwen-VL model;
the language route, OCR + ASR -> a text LLM)::

    pipe = mmlong.load("default")                     # or a Qwen-VL id: the direct route
    pipe.progress = True                              # per-stage progress bars on stderr
    ans = pipe.ask("What is the secret number?", video="lecture.mp4")
    answers = pipe.ask_many([{"question": q, "video": "lecture.mp4"} for q in qs], batch_size=4)
    pipe.config.route, pipe.config.model              # "silvr", "default"

A route that cannot batch answers ``ask_many`` one question at a time (:func:`ask_one_by_one`).
"""

from __future__ import annotations

import numbers
from typing import Any, Protocol, Sequence, runtime_checkable

from mmlong.answer import Answer
from mmlong.errors import MmlongError

__all__ = ["Pipeline", "ask_one_by_one", "check_max_new_tokens", "DEFAULT_MAX_NEW_TOKENS"]

DEFAULT_MAX_NEW_TOKENS = 128  # answer length cap of every route and entry point


@runtime_checkable
class Pipeline(Protocol):
    """What ``mmlong.load`` returns.

    Attributes:
        config: the resolved settings, a frozen dataclass with at least ``route`` and
            ``model`` (written next to every answer).
        progress: show per-stage progress bars on stderr (off by default).
        tokenizer: the tokenizer of the model that writes the answer (for a transformers
            streamer passed as ``stream=``).
    """

    config: Any
    progress: bool

    @property
    def tokenizer(self) -> Any: ...

    def ask(self, question: Any, *, video: Any = None, images: Any = None, document: Any = None,
            max_new_tokens: int | None = None, stream: Any = None) -> Answer:
        """Answer one question about a video (path or Clip), images and/or a document."""
        ...

    def ask_many(self, requests: Sequence[dict], *, batch_size: int = 4,
                 return_exceptions: bool = False) -> list[Answer | Exception]:
        """Answer many questions (dicts of :meth:`ask` keyword arguments), in order."""
        ...


def check_max_new_tokens(value: Any, flag: str = "max_new_tokens") -> int | None:
    """``value`` if it is None or an integer >= 1, else a one-line error naming ``flag``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise MmlongError(f"{flag} must be an integer >= 1 (the answer length cap), got {value!r}")
    return int(value)


def check_batch_size(value: Any, flag: str = "batch_size") -> int:
    """``value`` if it is an integer >= 1, else a one-line error naming ``flag``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise MmlongError(f"{flag} must be an integer >= 1, got {value!r}")
    return int(value)


def ask_one_by_one(pipe: Pipeline, requests: Sequence[dict], *, return_exceptions: bool = False) -> list:
    """``pipe.ask(**request)`` for each request, in order (``ask_many`` of a route that cannot batch).

    With ``return_exceptions`` a failing question's exception takes its slot instead of raising.
    """
    out: list = []
    for req in requests:
        try:
            out.append(pipe.ask(**req))
        except Exception as exc:
            if not return_exceptions:
                raise
            out.append(exc)
    return out
