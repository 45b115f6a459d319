"""Plan a synthetic lecture: slide timing, slide text, narration text and planted facts.

Pure Python and seeded: :func:`plan` draws everything from one :class:`random.Random`
except where each sentence lands in time, which needs the synthesized audio lengths
(:mod:`mmlong.data.lecture` places them).

Timing rule: slides last a whole number of seconds drawn uniformly from 30-60 s; the
last slide takes what is left (30-60 s, or the whole video when it is shorter than
60 s). Boundaries are then snapped to the frame grid (multiples of ``1 / fps``) so a
slide change is exactly a frame boundary.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from mmlong.data import text as T
from mmlong.errors import MmlongError

__all__ = ["SlidePlan", "plan", "slide_spans", "MIN_MINUTES", "MAX_MINUTES", "SECRET_NUMBERS"]

#: Longest lecture: 24 subjects x 12 aspects give unique titles for about 4 hours of slides.
MAX_MINUTES = 180.0
#: Shortest lecture: room for the section intro and a fact sentence.
MIN_MINUTES = 0.5
#: Secret numbers: three digits, tens digit 2-9, ones digit 1-9 ("four hundred seventy two").
#: No "five hundred nine", "three hundred fourteen" or "six hundred": Whisper tiny.en
#: mishears bare hundreds and teens far more often, and every answer has one spoken shape.
SECRET_NUMBERS: tuple[int, ...] = tuple(n for n in range(100, 1000) if n // 10 % 10 >= 2 and n % 10)


@dataclass
class SlidePlan:
    """One slide (one section) before audio placement.

    Attributes:
        start: display start in seconds.
        end: display end in seconds.
        subject: the subject (key of :data:`mmlong.data.text.SUBJECTS`).
        title: ``"{subject}: {aspect}"``, unique within the lecture.
        lines: bullet lines as drawn, including any code-word line.
        sentences: narration in speaking order (intro first); empty without speech.
        number: secret number spoken on this slide, if any.
        code_word: code word shown on this slide, if any.
        keyword: keyword spoken on this slide, if any (kind ``speech_word``).
        reference: reference number shown on this slide, if any (kind ``slide_number``).
    """

    start: float
    end: float
    subject: str
    title: str
    lines: list[str]
    sentences: list[str] = field(default_factory=list)
    number: int | None = None
    code_word: str | None = None
    keyword: str | None = None
    reference: int | None = None


def slide_spans(duration: float, fps: float, rng: random.Random) -> list[tuple[float, float]]:
    """Consecutive ``(start, end)`` slide spans covering ``[0, duration)`` (see module docstring)."""
    bounds, t = [0.0], 0.0
    while duration - t > 60:
        t += rng.randint(30, min(60, math.floor(duration - t - 30)))
        bounds.append(t)
    snapped = [round(b * fps) / fps for b in bounds] + [float(duration)]
    return list(zip(snapped[:-1], snapped[1:]))


def _titles(count: int, rng: random.Random) -> list[tuple[str, str]]:
    """``count`` unique ``(subject, title)`` pairs, grouped in runs of 2-5 slides per subject."""
    unused = {s: rng.sample(T.ASPECTS, len(T.ASPECTS)) for s in T.SUBJECTS}
    order = rng.sample(list(T.SUBJECTS), len(T.SUBJECTS))
    out, i = [], 0
    while len(out) < count:
        subject = order[i % len(order)]
        i += 1
        for _ in range(min(rng.randint(2, 5), len(unused[subject]), count - len(out))):
            out.append((subject, f"{subject}: {unused[subject].pop()}"))
    return out


def _sentence_count(seconds: float) -> int:
    """Narration sentences to synthesize for a slide (about one per 5 s; extras are dropped)."""
    return max(1, int((seconds - 3) / 5))


def plan(minutes: float, fps: float, rng: random.Random, *, speech: bool = True,
         facts_per_kind: int | None = None, kinds: tuple[str, ...] = T.KINDS[:2]) -> list[SlidePlan]:
    """Plan every slide of a lecture.

    Args:
        minutes: lecture length (:data:`MIN_MINUTES` to :data:`MAX_MINUTES`).
        fps: video frame rate (slide changes snap to its frame grid).
        rng: the lecture's random source.
        speech: plan narration and spoken facts; without it every fact is a code word.
        facts_per_kind: facts of each kind; default ``max(1, minutes // 5)``. Without
            speech the lecture gets twice as many code words instead. Capped by the
            number of slides (facts go on distinct slides while there are enough).
        kinds: fact kinds to plant (:data:`mmlong.data.text.KINDS`); the default plants
            ``speech_number`` and ``slide_word``. ``speech_word`` (a spoken keyword) and
            ``slide_number`` (a reference number on a slide) are drawn after everything else,
            so adding them leaves the slides, narration and other facts of a seed unchanged.

    Returns:
        The slides in time order.
    """
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise MmlongError(
            f"--minutes must be in [{MIN_MINUTES:g}, {MAX_MINUTES:g}], got {minutes:g}; pass e.g. --minutes 10"
        )
    if fps <= 0:
        raise MmlongError(f"--fps must be positive, got {fps:g}; pass e.g. --fps 1")
    unknown = [k for k in kinds if k not in T.KINDS]
    if unknown or "speech_number" not in kinds or "slide_word" not in kinds:
        raise MmlongError(f"fact kinds must include speech_number and slide_word and come from {', '.join(T.KINDS)}; "
                          f"got {', '.join(kinds)}")
    spans = slide_spans(minutes * 60.0, fps, rng)
    titles = _titles(len(spans), rng)
    n = len(spans)
    per_kind = facts_per_kind if facts_per_kind is not None else max(1, int(minutes // 5))
    n_speech = min(per_kind, n) if speech else 0
    n_slide = min(per_kind if speech else 2 * per_kind, n, len(T.CODE_WORDS))
    order = rng.sample(range(n), n)  # speech facts first, then code words on the other slides
    numbers = dict(zip(order[:n_speech], rng.sample(SECRET_NUMBERS, n_speech)))
    words = dict(zip((order[n_speech:] + order[:n_speech])[:n_slide], rng.sample(T.CODE_WORDS, n_slide)))

    slides = []
    for i, ((start, end), (subject, title)) in enumerate(zip(spans, titles)):
        word = words.get(i)
        lines = T.bullets(subject, rng, rng.randint(2, 4) if word else rng.randint(3, 5))
        if word:
            lines.insert(rng.randint(0, len(lines)), T.slide_fact(word))
        slide = SlidePlan(start, end, subject, title, lines, number=numbers.get(i), code_word=word)
        if speech:
            slide.sentences = [T.intro(title)] + T.narration(subject, rng, _sentence_count(end - start))
            if slide.number is not None:
                slide.sentences.insert(1, T.speech_fact(slide.number))
        slides.append(slide)
    extra = [k for k in ("speech_word", "slide_number") if k in kinds and (speech or k == "slide_number")]
    for kind in extra:  # drawn last: the default kinds' lecture stays the same
        count = min(per_kind, n)
        where = rng.sample(range(n), n)
        busy = [i for i in where if _facts_on(slides[i])]
        where = ([i for i in where if not _facts_on(slides[i])] + busy)[:count]
        values = rng.sample(T.KEYWORDS, count) if kind == "speech_word" else rng.sample(range(1000, 10000), count)
        for i, value in zip(where, values):
            slide = slides[i]
            if kind == "speech_word":
                slide.keyword = value
                slide.sentences.insert(1, T.keyword_fact(value))
            else:
                slide.reference = value
                slide.lines.insert(rng.randint(0, len(slide.lines)), T.reference_fact(value))
    return slides


def _facts_on(slide: SlidePlan) -> int:
    return sum(x is not None for x in (slide.number, slide.code_word, slide.keyword, slide.reference))
