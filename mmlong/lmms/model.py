"""The ``mmlong`` lmms-eval model: lmms-eval requests answered by a :func:`mmlong.load` pipeline.

``--model_args`` are :func:`mmlong.load`'s arguments, ``key=value`` separated by commas::

    pretrained=Qwen/Qwen2.5-VL-7B-Instruct,pos=hope,budget=64k,reduce=temporal,prefill=mminference
    pretrained=tiny:qwen2_5_vl,sampling=lmms-eval,max_new_tokens=16

``pretrained`` is the model (hub id, folder, ``tiny:FAMILY``, ``tiny-vniah:SCHEME``); ``pos``,
``budget``, ``reduce``, ``prefill``, ``route``, ``device``, ``dtype``, ``max_new_tokens`` and
every frame setting (``fps``, ``num_frames``, ``max_frames``, ``sampling``, ``min_pixels``, ...)
or scheme option (``gamma=1.5``) go to :func:`mmlong.load` as they are. lmms-eval's own
``batch_size`` becomes ``Pipeline.ask_many``'s batch size.

Requests:

* ``generate_until``: each doc's visuals (lmms-eval's ``doc_to_visual``) are sorted into a
  video (a path ending in a video extension, or an mmlong ``Clip`` from mmlong's own tasks)
  and images (PIL images, image paths, arrays); the context's ``<image>`` markers place the
  images when there are as many markers as images, else the images come first and the
  markers are dropped. Decoding is greedy; the answer is cut at the first ``until`` string.
* ``loglikelihood`` (and lmms-eval's ``multiple_choice``, which asks one per choice): as
  lmms-eval's own models report it (its ``multiple_choice`` scoring takes the ``argmin``), the
  loss: the mean negative log-probability of the continuation tokens after the user turn, and
  whether greedy decoding would produce them, from one forward pass of the patched model
  (direct route; ``reduce=`` applies to generation only, so it is refused there).
* ``generate_until_multi_round``: refused in one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mmlong.errors import MmlongError
from mmlong.lmms import require_lmms_eval

require_lmms_eval()

from lmms_eval.api.instance import GenerationResult, TokenCounts  # noqa: E402
from lmms_eval.api.model import lmms  # noqa: E402

__all__ = ["MmlongLMMS", "Loglikelihood", "split_visuals", "place_images", "cut_at_stops", "greedy_only"]

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".flv", ".mpeg", ".mpg", ".wmv")
IMAGE_MARKER = "<image>"


def split_visuals(visuals: Any) -> tuple[Any, list]:
    """``(video, images)`` from one doc's ``doc_to_visual`` list.

    Example: ``["talk.mp4"]`` -> ``("talk.mp4", [])``; ``[img0, "b.png"]`` -> ``(None, [img0, <b.png opened>])``.

    Raises:
        MmlongError: two videos, audio, or an item that is neither a video nor an image.
    """
    video, images = None, []
    for item in visuals or []:
        kind = _kind(item)
        if kind == "video":
            if video is not None:
                raise MmlongError("a doc gives two videos; mmlong's lmms-eval model takes one video per question "
                                  "(with any number of images)")
            video = item
        elif kind == "image":
            images.append(item)
        else:
            raise MmlongError(f"doc_to_visual gave a {type(item).__name__} ({str(item)[:60]!r}); mmlong's lmms-eval "
                              "model reads videos (paths, Clips) and images (PIL, paths, arrays), not audio")
    from mmlong.models.vision_inputs import load_images

    return video, load_images(images)  # paths opened here, so they can stand inside interleaved text


def _kind(item: Any) -> str:
    """``"video"`` (a Clip, a video path / URL, a ``data:video/`` string), ``"image"`` or ``"other"``."""
    if hasattr(item, "frames") and hasattr(item, "timestamps"):
        return "video"
    if isinstance(item, (str, Path)):
        s = str(item)
        video = s.lower().split("?")[0].endswith(VIDEO_EXTS) or s.startswith("data:video/")
        return "video" if video else "image"
    if hasattr(item, "convert") or (isinstance(item, np.ndarray) and item.ndim == 3):
        return "image"
    return "other"


def place_images(context: str, images: list) -> str | list:
    """The question for ``Pipeline.ask``: ``context`` with its ``<image>`` markers replaced by ``images``.

    Example: ``("A <image> B <image> C?", [i0, i1])`` -> ``["A ", i0, " B ", i1, " C?"]``; with
    marker and image counts that differ, the markers are dropped: ``"A  B  C?"`` (the images
    then go first, as ``images=``).
    """
    if not images or context.count(IMAGE_MARKER) != len(images):
        return context.replace(IMAGE_MARKER, "")
    pieces, out = context.split(IMAGE_MARKER), []
    for i, text in enumerate(pieces):
        out += [text] if text else []
        out += [images[i]] if i < len(images) else []
    return out


def cut_at_stops(text: str, until: Any) -> str:
    """``text`` up to its first stop string. Example: ``("B. dog\\nC.", ["\\n"])`` -> ``"B. dog"``."""
    stops = [until] if isinstance(until, str) else list(until or [])
    for stop in stops:
        if stop:
            text = text.split(stop)[0]
    return text


def greedy_only(gen_kwargs: dict) -> None:
    """Refuse sampling settings: mmlong decodes greedily (temperature 0, one beam)."""
    temp = gen_kwargs.get("temperature") or 0
    if gen_kwargs.get("do_sample") or temp > 0 or (gen_kwargs.get("num_beams") or 1) > 1:
        raise MmlongError(f"mmlong decodes greedily; this task asks for temperature={temp}, do_sample="
                          f"{gen_kwargs.get('do_sample')}, num_beams={gen_kwargs.get('num_beams')}: pass "
                          "--gen_kwargs temperature=0,do_sample=False,num_beams=1")


class Loglikelihood(str):
    """One loglikelihood answer: unpacks as ``(loss, greedy)``, reads as the text ``"loss greedy"``.

    ``loss`` is lmms-eval's convention: the mean negative log-probability per continuation token
    (lower = more likely), e.g. a 2-token continuation with log-probabilities -1.0 and -6.0 has
    loss 3.5.

    lmms-eval 0.7.3's evaluator passes every model output through ``unwrap_generation_output``,
    which keeps strings and turns anything else, the documented ``(float, bool)`` pair included,
    into its ``str()``, then through ``strip_reasoning_tags`` (``.strip()`` of the text); its
    ``multiple_choice`` scoring then unpacks each answer as a pair. A string that iterates as
    the pair, and whose text has nothing to strip (``strip`` returns it as it is), survives all
    three. Example::

        r = Loglikelihood(3.5, True)
        loss, greedy = r        # 3.5, True
        str(r)                  # "3.5 True" (what the samples file shows)
    """

    def __new__(cls, loss: float, greedy: bool):
        obj = super().__new__(cls, f"{float(loss)!r} {bool(greedy)}")
        obj.loss, obj.greedy = float(loss), bool(greedy)
        return obj

    def __iter__(self):
        return iter((self.loss, self.greedy))

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i):
        return (self.loss, self.greedy)[i]

    def strip(self, chars=None):
        return self if str.strip(self, chars) == str(self) else str.strip(self, chars)

    def __reduce__(self):
        return (Loglikelihood, (self.loss, self.greedy))


class MmlongLMMS(lmms):
    """An lmms-eval model backed by :func:`mmlong.load` (see the module docstring for ``model_args``)."""

    is_simple = True

    def __init__(self, pretrained: str, batch_size: int | str = 1, max_batch_size: int | None = None,
                 device: str | None = None, **load_args: Any) -> None:
        super().__init__()
        import mmlong
        from mmlong.pipeline.base import check_batch_size

        self.batch_size_per_gpu = check_batch_size(int(batch_size) if str(batch_size).isdigit() else batch_size,
                                                   "batch_size")
        self.pipe = mmlong.load(str(pretrained), device=device, **load_args)
        self.model_id = str(pretrained)

    @property
    def batch_size(self) -> int:
        return self.batch_size_per_gpu

    def _visual_kwargs(self, context: str, visuals: Any) -> dict:
        video, images = split_visuals(visuals)
        question = place_images(context, images)
        return {"question": question, "video": video,
                "images": images if isinstance(question, str) and images else None}

    def _doc_visuals(self, doc_to_visual, doc_id, task, split):
        return doc_to_visual(self.task_dict[task][split][doc_id]) if doc_to_visual is not None else []

    def generate_until(self, requests) -> list:
        """One answer per request: greedy, capped by the task's ``max_new_tokens``, cut at ``until``."""
        asks, stops = [], []
        for req in requests:
            context, gen_kwargs, doc_to_visual, doc_id, task, split = req.args
            gen_kwargs = dict(gen_kwargs or {})
            greedy_only(gen_kwargs)
            kw = self._visual_kwargs(context, self._doc_visuals(doc_to_visual, doc_id, task, split))
            if gen_kwargs.get("max_new_tokens") is not None:
                kw["max_new_tokens"] = int(gen_kwargs["max_new_tokens"])
            asks.append(kw)
            stops.append(gen_kwargs.get("until"))
        answers = self.pipe.ask_many(asks, batch_size=self.batch_size)
        out = []
        for ans, until in zip(answers, stops):
            tokens = getattr(ans, "tokens", {}) or {}
            out.append(GenerationResult(text=cut_at_stops(ans.text, until),
                                        token_counts=TokenCounts(input_tokens=tokens.get("prompt"),
                                                                 output_tokens=tokens.get("generated"))))
        return out

    def loglikelihood(self, requests) -> list[Loglikelihood]:
        """``(loss, whether greedy decoding gives the continuation)`` per request, ``loss`` = the mean
        negative log-probability per continuation token (as :class:`Loglikelihood`, which lmms-eval
        0.7.3's evaluator passes through intact)."""
        from mmlong.lmms.scoring import continuation_logprob

        if self.pipe.config.route != "direct":
            raise MmlongError("loglikelihood requests need the direct route (frames -> VLM); the language route "
                              "only generates: use a generate_until task or pretrained=<a Qwen-VL model>")
        if getattr(self.pipe, "reducer", None) is not None:
            raise MmlongError("reduce= drops video tokens while generating only; loglikelihood requests score the "
                              "full input: drop reduce= from --model_args for this task")
        out = []
        for req in requests:
            context, continuation, doc_to_visual, doc_id, task, split = req.args
            doc = self.task_dict[task][split][doc_id]
            if callable(continuation):
                continuation = continuation(doc)
            kw = self._visual_kwargs(context, doc_to_visual(doc) if doc_to_visual is not None else [])
            logprob, greedy, n = continuation_logprob(self.pipe, kw.pop("question"), str(continuation), **kw)
            out.append(Loglikelihood(-logprob / n, greedy))
        return out

    def generate_until_multi_round(self, requests) -> list:
        raise MmlongError("mmlong's lmms-eval model answers generate_until and loglikelihood requests; multi-round "
                          "tasks (generate_until_multi_round) are not supported")
