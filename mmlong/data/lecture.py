"""Synthetic lecture videos with planted facts, for long-video QA tests and benchmarks.

::

    from mmlong.data.lecture import make_lecture, make_lectures

    lec = make_lecture("talk.mp4", minutes=10, seed=0)
    lec.slides   # ((start, end, title, lines), ...)
    lec.speech   # ((start, end, sentence), ...)
    lec.facts    # (Fact(source="speech", answer="472", time=..., span=...), ...)
    make_lectures("bench/", n=20, minutes=10, seed=0)   # + bench/questions.jsonl

A lecture is a slide show (PIL slides, :mod:`mmlong.data.slides`, a new slide every
30-60 s) with espeak-ng narration (:mod:`mmlong.data.speech`) in one mp4 (H.264 + AAC,
:mod:`mmlong.data.mp4`). Two kinds of fact are planted (:mod:`mmlong.data.plan`):

* ``speech``: "The secret number for this section is, four hundred seventy two." is
  spoken once and never shown (answer ``"472"``; time and span are the sentence's);
* ``slide``: a bullet "Code word: PELICAN" is shown on one slide and never spoken
  (answer ``"PELICAN"``; time and span are the slide's display span).

``kinds=`` adds two more (:data:`mmlong.data.text.KINDS`): a spoken keyword ("The keyword
for this section is, lavender.", source ``speech``) and a reference number on a slide
("Reference number: 4127", source ``slide``). :attr:`Fact.kind` names the kind.

Every section's slide title is also spoken ("Now let us talk about <title>."), so when a
lecture has several facts of a kind the questions name the section, fairly, for either
route. Everything is reproducible from ``seed``.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mmlong.data import speech as S
from mmlong.data.mp4 import write_slideshow
from mmlong.data.plan import plan
from mmlong.data.slides import BACKGROUNDS, render_slide
from mmlong.errors import MmlongError

__all__ = ["Fact", "Lecture", "make_lecture", "make_lectures"]


@dataclass(frozen=True)
class Fact:
    """A question with a single-source answer.

    Attributes:
        id: unique within a set, e.g. ``"lecture_003/speech_1"``.
        source: ``"speech"`` (only audible) or ``"slide"`` (only visible).
        question: the question text.
        answer: the exact answer (digits for numbers, upper case for code words).
        time: seconds: the sentence start (speech) or the slide start (slide).
        span: ``(start, end)`` seconds of the sentence or of the slide's display.
        kind: ``speech_number``, ``slide_word``, ``speech_word`` or ``slide_number``.
        section: the title of the slide (section) the fact belongs to.
    """

    id: str
    source: str
    question: str
    answer: str
    time: float
    span: tuple[float, float]
    kind: str = ""
    section: str = ""


@dataclass(frozen=True)
class Lecture:
    """What :func:`make_lecture` wrote.

    Attributes:
        path: the mp4 file.
        duration: video length in seconds.
        fps: video frame rate.
        size: (width, height) in pixels.
        seed: the seed that reproduces it.
        slides: ``(start, end, title, lines)`` per slide, in time order.
        speech: ``(start, end, sentence)`` per spoken sentence (empty without audio).
        facts: the planted facts.
        has_audio: whether the mp4 has an audio stream.
    """

    path: Path
    duration: float
    fps: float
    size: tuple[int, int]
    seed: int
    slides: tuple[tuple[float, float, str, tuple[str, ...]], ...]
    speech: tuple[tuple[float, float, str], ...]
    facts: tuple[Fact, ...]
    has_audio: bool

    def questions(self, video: str | None = None) -> list[dict]:
        """questions.jsonl rows: video, question, answer, source, kind, time, span, id."""
        name = video if video is not None else self.path.name
        return [{"video": name, "question": f.question, "answer": f.answer, "source": f.source, "kind": f.kind,
                 "time": f.time, "span": list(f.span), "id": f.id} for f in self.facts]


def _place(slides, clips, rng: random.Random) -> list[list[tuple[float, np.ndarray, str]]]:
    """Lay each slide's sentences out in time: a short lead-in, then 0.8-3 s pauses.

    Sentences that would run past ``end - 0.5`` are dropped (the intro and the fact
    sentences, which come first, always fit: slides last at least 30 s unless the video is
    shorter).
    """
    placed, it = [], iter(clips)
    for slide in slides:
        t, row = slide.start + rng.uniform(0.5, 1.5), []
        keep = 1 + (slide.number is not None) + (slide.keyword is not None)
        for k, sentence in enumerate(slide.sentences):
            audio = next(it)
            length = len(audio) / S.RATE
            if t + length > slide.end - 0.5:
                if k < keep:
                    raise MmlongError(f"slide {slide.title!r} is too short for its narration; pass a larger --minutes")
                continue
            row.append((round(t, 3), audio, sentence))
            t += length + rng.uniform(0.8, 3.0)
        placed.append(row)
    return placed


_QUESTIONS = {  # kind -> (question, cue in the fact sentence for speech kinds)
    "speech_number": ("What is the secret number mentioned{where}?", "secret number"),
    "slide_word": ("What code word is shown on the slides{where}?", None),
    "speech_word": ("What keyword is mentioned{where}?", "keyword for this section"),
    "slide_number": ("What reference number is shown on the slides{where}?", None),
}


def _facts(slides, placed, prefix: str) -> tuple[Fact, ...]:
    values = {"speech_number": lambda s: s.number, "slide_word": lambda s: s.code_word,
              "speech_word": lambda s: s.keyword, "slide_number": lambda s: s.reference}
    facts = []
    for kind, value in values.items():
        chosen = [s for s in slides if value(s) is not None]
        ids = {"speech_number": "speech", "slide_word": "slide"}.get(kind, kind)
        template, cue = _QUESTIONS[kind]
        for j, slide in enumerate(chosen):
            where = f" in the section on {slide.title}" if len(chosen) > 1 else ""
            default = " in the lecture" if kind == "speech_number" and not where else where
            if cue is not None:
                i = slides.index(slide)
                t, audio, _ = next(p for p in placed[i] if cue in p[2])
                span = (t, round(t + len(audio) / S.RATE, 3))
            else:
                span = (slide.start, slide.end)
            source = "speech" if cue is not None else "slide"
            facts.append(Fact(f"{prefix}{ids}_{j}", source, template.format(where=default), str(value(slide)),
                              span[0], span, kind, slide.title))
    return tuple(sorted(facts, key=lambda f: f.time))


def make_lecture(
    path: str | Path,
    *,
    minutes: float,
    seed: int,
    fps: float = 1.0,
    size: tuple[int, int] = (640, 360),
    speech: bool = True,
    facts_per_kind: int | None = None,
    voice: str = "en-us",
    wpm: int = 160,
    id_prefix: str = "",
    kinds: tuple[str, ...] | None = None,
) -> Lecture:
    """Generate one lecture video.

    Args:
        path: output ``.mp4``.
        minutes: length in minutes (0.5 to 180).
        seed: random seed; the same seed gives the same slides, text and facts.
        fps: video frame rate (1 fps is plenty for slides and keeps encoding fast).
        size: (width, height), both even.
        speech: narrate with espeak-ng into an AAC track; ``False`` writes no audio
            stream and plants only code words.
        facts_per_kind: facts of each kind (default ``max(1, minutes // 5)``).
        voice: espeak-ng voice.
        wpm: speaking rate in words per minute.
        id_prefix: prefix for :attr:`Fact.id`, e.g. ``"lecture_003/"``.
        kinds: fact kinds (default ``speech_number`` and ``slide_word``; see :func:`~mmlong.data.plan.plan`).

    Returns:
        The :class:`Lecture` with the ground truth.

    Raises:
        MmlongError: bad arguments, or espeak-ng missing (one line naming the fix).
    """
    width, height = size
    if width % 2 or height % 2 or width < 160 or height < 90:
        raise MmlongError(f"--size must be even and at least 160x90, got {width}x{height}; e.g. --size 640x360")
    if speech:
        S.require_espeak()
    rng = random.Random(seed)
    slides = plan(minutes, fps, rng, speech=speech, facts_per_kind=facts_per_kind,
                  **({"kinds": tuple(kinds)} if kinds is not None else {}))
    sentences = [s for slide in slides for s in slide.sentences]
    placed = _place(slides, S.synthesize(sentences, voice=voice, wpm=wpm) if speech else [], rng)

    def audio(start: float, end: float) -> np.ndarray:
        return S.mix([(t, a) for row in placed for t, a, _ in row if start <= t < end], start, end)

    backgrounds = [BACKGROUNDS[i % len(BACKGROUNDS)] for i in range(len(slides))]
    images = [(s.start, s.end, render_slide(s.title, s.lines, size=size, background=bg))
              for s, bg in zip(slides, backgrounds)]
    duration = write_slideshow(path, images, fps=fps, audio=audio if speech else None, audio_rate=S.RATE)
    return Lecture(
        path=Path(path), duration=duration, fps=float(fps), size=(width, height), seed=seed,
        slides=tuple((s.start, s.end, s.title, tuple(s.lines)) for s in slides),
        speech=tuple((t, round(t + len(a) / S.RATE, 3), text) for row in placed for t, a, text in row),
        facts=_facts(slides, placed, id_prefix), has_audio=speech,
    )


def make_lectures(out_dir: str | Path, n: int, minutes: float, seed: int, **kwargs) -> list[Lecture]:
    """Generate ``n`` lectures in ``out_dir`` plus ``questions.jsonl`` and ``lectures.jsonl``.

    Video ``i`` is ``lecture_{i:03d}.mp4`` with seed ``SeedSequence(seed).generate_state(n)[i]``
    (so a set's first videos do not change when ``n`` grows). ``questions.jsonl`` has one row
    per fact (see :meth:`Lecture.questions`, ``video`` relative to ``out_dir``);
    ``lectures.jsonl`` has one row per video with the full ground truth (slides, speech).

    Args:
        out_dir: output folder (created).
        n: number of videos.
        minutes: length of each video.
        seed: set seed.
        **kwargs: passed to :func:`make_lecture` (fps, size, speech, ...).

    Returns:
        The lectures in order.
    """
    if n < 1:
        raise MmlongError(f"--n must be at least 1, got {n}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in np.random.SeedSequence(seed).generate_state(n)]
    lectures = []
    for i, s in enumerate(seeds):
        name = f"lecture_{i:03d}"
        lectures.append(make_lecture(out / f"{name}.mp4", minutes=minutes, seed=s, id_prefix=f"{name}/", **kwargs))
    rows = [row for lec in lectures for row in lec.questions(lec.path.name)]
    (out / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    meta = [{**{k: v for k, v in asdict(lec).items() if k != "path"}, "video": lec.path.name} for lec in lectures]
    (out / "lectures.jsonl").write_text("".join(json.dumps(m) + "\n" for m in meta))
    return lectures
