"""Adaptive granularity: fit the stage-1 text into the reasoner's context.

SiLVR's adaptive reduction: render the transcript at clip length L,
starting from the finest, and coarsen (L doubles: neighbouring clips merge, repeated OCR
lines and captions are dropped) until the prompt fits ``budget`` tokens. If even the
coarsest L does not fit, or when ``select`` asks for it to help a small reasoner, clips are
ranked by relevance to the question and the best are kept, in time order, within budget.

Relevance is the text embedder's cosine of the question with each clip's text; with a frame
scorer (the route's ``clip=`` setting: CLIP's best frame per clip,
:mod:`mmlong.silvr.frame_relevance`) the two are combined by :func:`combine_relevance`: each
model's scores become a distribution over the clips (a softmax at the model's scale) and a
clip's score is the mean of its two probabilities. A model that cannot tell the clips apart
gives a flat distribution and leaves the ranking to the other.

Worked example: speech at 3-5 s and 40-44 s, a slide shown 0-30 s and another 30-60 s;
at L = 32 the clips are [0, 32) with the first slide and the first speech line and
[32, 64) with the second slide and the second speech line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from mmlong.silvr.embed import TEXT_SCALE
from mmlong.silvr.segments import Transcript, hms

GRANULARITIES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass(frozen=True)
class ClipText:
    """The text of one clip [start, end) at some granularity."""

    start: float
    end: float
    speech: tuple[str, ...]
    screen: tuple[str, ...]
    captions: tuple[str, ...]

    def render(self) -> str:
        parts = []
        if self.speech:
            parts.append("Speech: " + " ".join(self.speech))
        if self.screen:
            parts.append("Screen: " + " / ".join(self.screen))
        if self.captions:
            parts.append("Caption: " + " ".join(self.captions))
        return f"[{hms(self.start)} --> {hms(self.end)}] " + " | ".join(parts)

    @property
    def empty(self) -> bool:
        return not (self.speech or self.screen or self.captions)


@dataclass(frozen=True)
class Context:
    """The text handed to the reasoner and how it was chosen."""

    granularity: float  # clip length L in seconds
    clips: tuple[ClipText, ...]  # kept clips in time order
    text: str  # rendered lines
    tokens: int  # tokens of the full prompt
    selected: bool  # True when relevance selection dropped clips
    total_clips: int  # clips at this granularity before selection


def _n_clips(transcript: Transcript, L: float) -> int:
    return max(1, math.ceil(max(transcript.duration, 1e-6) / L))


def _clip_index(start: float, L: float, n: int) -> int:
    """The clip holding time ``start``: floor(start / L), clamped to [0, n - 1]."""
    return min(n - 1, max(0, int(start // L)))


def kept_segments(transcript: Transcript, ctx: Context) -> list:
    """The transcript segments whose clip made it into ``ctx`` (the same binning as :func:`clips_at`)."""
    n = _n_clips(transcript, ctx.granularity)
    kept = {_clip_index(c.start, ctx.granularity, n) for c in ctx.clips}
    return [s for s in transcript.segments if _clip_index(s.start, ctx.granularity, n) in kept]


def clips_at(transcript: Transcript, L: float) -> list[ClipText]:
    """Group segments into clips of ``L`` seconds; drop OCR lines / captions repeated from the previous clip.

    A segment belongs to the clip holding its start time; speech lines are kept in order.
    """
    n = _n_clips(transcript, L)
    bins: list[dict[str, list[str]]] = [{"speech": [], "screen": [], "caption": []} for _ in range(n)]
    for s in transcript.segments:
        i = _clip_index(s.start, L, n)
        lines = [t.strip() for t in s.text.split(" / ")] if s.source == "screen" else [s.text.strip()]
        key = s.source if s.source in ("speech", "screen") else "caption"  # captions, document text
        for line in lines:
            if line and line not in bins[i][key]:
                bins[i][key].append(line)
    out, prev_screen, prev_caps = [], set(), set()
    for i, b in enumerate(bins):
        screen = tuple(x for x in b["screen"] if x not in prev_screen)
        caps = tuple(x for x in b["caption"] if x not in prev_caps)
        prev_screen, prev_caps = set(b["screen"]) or prev_screen, set(b["caption"]) or prev_caps
        end = (i + 1) * L if transcript.duration <= i * L else min((i + 1) * L, transcript.duration)
        c = ClipText(i * L, end, tuple(b["speech"]), screen, caps)
        if not c.empty:
            out.append(c)
    return out


def combine_relevance(text: Sequence[float], frames: Sequence[float], text_scale: float = TEXT_SCALE,
                      frame_scale: float = 100.0) -> list[float]:
    """``(softmax(text_scale * text) + softmax(frame_scale * frames)) / 2`` over the clips.

    Example: text ``[0.50, 0.50]`` (no preference) and frames ``[0.3, 0.2]`` at scale 10 give
    ``[(0.5 + 0.731) / 2, (0.5 + 0.269) / 2] = [0.616, 0.384]``.
    """
    import numpy as np

    def softmax(x, scale):
        z = scale * np.asarray(x, dtype=np.float64)
        e = np.exp(z - z.max())
        return e / e.sum()

    if len(text) != len(frames):
        raise ValueError(f"{len(text)} text scores but {len(frames)} frame scores")
    return ((softmax(text, text_scale) + softmax(frames, frame_scale)) / 2).tolist()


def fit(transcript: Transcript, question: str, prompt_fn: Callable[[str, Sequence[ClipText], float], str],
        count_tokens: Callable[[str], int], budget: int, *, select: str = "auto",
        relevance: Callable[[str, Sequence[str]], Sequence[float]] | None = None,
        select_budget: int | None = None, granularities: Sequence[float] = GRANULARITIES,
        frame_relevance=None) -> Context:
    """Choose the finest granularity whose prompt fits ``budget`` tokens.

    Args:
        transcript: stage-1 segments.
        question: the user's question (part of the prompt).
        prompt_fn: ``(question, clips, L) -> prompt`` for the reasoner.
        count_tokens: the reasoner tokenizer's token count.
        budget: max prompt tokens (context window minus the answer budget).
        select: ``"auto"`` (relevance only when nothing fits), ``"always"`` (rank and keep the
            best within ``select_budget``, to help a small reasoner) or ``"never"``.
        relevance: ``(question, clip_texts) -> scores``; required unless select == "never".
        select_budget: token budget when selecting (default ``budget``).
        frame_relevance: ``(question, spans [(start, end)]) -> scores`` with a ``scale`` attribute
            (:class:`~mmlong.silvr.frame_relevance.FrameRelevance` bound to a video), combined with
            ``relevance`` by :func:`combine_relevance`; None = text relevance only.

    Returns:
        The chosen :class:`Context`.
    """
    chosen = None
    for L in granularities:
        clips = clips_at(transcript, L)
        prompt = prompt_fn(question, clips, L)
        tokens = count_tokens(prompt)
        chosen = (L, clips, prompt, tokens)
        if tokens <= budget:
            break
    L, clips, prompt, tokens = chosen
    fits = tokens <= budget
    if select == "never" or (select == "auto" and fits) or relevance is None or not clips:
        return Context(L, tuple(clips), prompt, tokens, False, len(clips))
    sel_budget = select_budget or budget
    if not fits:  # even the coarsest is too long: select among clips small enough to keep several
        for g in granularities:
            cand = clips_at(transcript, g)
            if max(count_tokens(c.render()) for c in cand) <= sel_budget // 4:
                L, clips = g, cand
            else:
                break
    return _select(question, clips, L, prompt_fn, count_tokens, sel_budget, relevance, frame_relevance)


def _select(question, clips, L, prompt_fn, count_tokens, budget, relevance, frame_relevance=None) -> Context:
    """Keep the most relevant clips (in time order) whose prompt fits ``budget``."""
    scores = list(relevance(question, [c.render() for c in clips]))
    if frame_relevance is not None:
        seen = frame_relevance(question, [(c.start, c.end) for c in clips])
        scores = combine_relevance(scores, seen, TEXT_SCALE, frame_relevance.scale)
    order = sorted(range(len(clips)), key=lambda i: -scores[i])
    kept: list[int] = []
    prompt, tokens = prompt_fn(question, [], L), count_tokens(prompt_fn(question, [], L))
    for i in order:
        trial = sorted(kept + [i])
        p = prompt_fn(question, [clips[j] for j in trial], L)
        t = count_tokens(p)
        if t > budget:
            continue
        kept, prompt, tokens = trial, p, t
    return Context(L, tuple(clips[j] for j in kept), prompt, tokens, True, len(clips))
