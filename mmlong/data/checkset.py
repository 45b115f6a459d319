"""A second, independent lecture generator: the language route's check set.

Built apart from :mod:`mmlong.data.lecture` so that a method tuned on one cannot lean on
the other's wording or look: its own topics, narration and fact sentences; slides with a
dark banner layout, dashes for bullets and a footer with a week number (a number on every
slide that answers nothing); a British espeak-ng voice at another speed; section titles
shown but never spoken; numbers in the speech written as digits for espeak-ng to read
("9394" is spoken "nine thousand three hundred and ninety-four") or spelt digit by digit.
Its questions are worded independently too, and a fifth of them have no answer.

    from mmlong.data.checkset import make_check_lecture
    lec = make_check_lecture("c.mp4", minutes=5, seed=0)
    lec.questions   # [{"question": ..., "answer": "9394" | None, "kind": ..., "span": [a, b], ...}]
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from mmlong.data import speech as S
from mmlong.data.mp4 import write_slideshow
from mmlong.errors import MmlongError

__all__ = ["CheckLecture", "make_check_lecture", "TOPICS"]

TOPICS: dict[str, tuple[str, ...]] = {
    "Bridge Engineering": ("suspension cables", "load paths", "steel girders", "wind loading", "expansion joints"),
    "Coffee Roasting": ("green beans", "first crack", "roast curves", "airflow", "bean density"),
    "Bird Migration": ("flyways", "stopover sites", "magnetic sensing", "fat reserves", "flock formation"),
    "Solar Cells": ("silicon wafers", "band gaps", "charge carriers", "panel tilt", "inverters"),
    "Ancient Egypt": ("the pharaohs", "papyrus scrolls", "the Nile floods", "pyramid builders", "hieroglyphs"),
    "Chess Openings": ("pawn structure", "the centre", "piece development", "gambits", "castling"),
    "Glass Making": ("molten sand", "annealing ovens", "blowpipes", "soda ash", "cooling rates"),
    "Desert Ecology": ("cacti", "night predators", "sand dunes", "water storage", "heat tolerance"),
    "Jazz History": ("swing bands", "improvisation", "blue notes", "big bands", "bebop"),
    "Soil Science": ("topsoil", "earthworms", "clay particles", "drainage", "organic matter"),
}
ANGLES = ("Foundations", "Case Study", "Pitfalls", "Field Notes", "Tools", "Recap", "Debates", "Origins")
_TALK = (
    "So, when we think about {a}, we should also consider {b}.",
    "Here is something people often get wrong about {a}.",
    "I find it helpful to sketch {a} next to {b}.",
    "The story of {a} is closely tied to {b}.",
    "You will see {a} again in the next exercise.",
    "Experts still argue about how much {a} matters.",
    "Take a moment to compare {a} with {b}.",
    "Most textbooks skip over {b}, which is a pity.",
)
_WORDS = ("ORCHID", "TANGERINE", "SEQUOIA", "MARBLE", "COBALT", "SAPPHIRE", "THISTLE", "PAPRIKA", "OBSIDIAN",
          "MAGNOLIA", "CHESTNUT", "TOPAZ", "CLOVER", "HICKORY", "INDIGO", "JUNCO")
_NAMES = ("biscuit", "pickles", "noodle", "rocket", "waffles", "pebble", "sprout", "muffin")
# kind -> list of (fact sentence or slide line, question, source, value maker)
_SPEECH_NUMBER = ("Please remember this, the secret project number is {v}.",
                  "Write this down: your locker code is {spelt}.")
_SPEECH_NUMBER_Q = ("What secret project number does the speaker ask us to remember{loc}?",
                    "Which locker code are we told to write down{loc}?")
_SLIDE_WORD = ("Exam password: {v}", "Team name: {v}")
_SLIDE_WORD_Q = ("What is the exam password shown on a slide{loc}?", "Which team name appears on screen{loc}?")
_SLIDE_NUMBER = ("Locker number: {v}", "Lab room {v}")
_SLIDE_NUMBER_Q = ("What locker number is displayed{loc}?", "Which lab room is written on the slide{loc}?")
_SPEECH_WORD = ("By the way, the name of our class mascot is {v}.",)
_SPEECH_WORD_Q = ("What is our class mascot called{loc}?",)
_NONE_Q = ("What parking permit number does the speaker mention{loc}?", "Which Wi-Fi password is written on the board{loc}?",
           "What is the teaching assistant's name{loc}?", "What is the exam password shown on a slide{loc}?",
           "What secret project number does the speaker ask us to remember{loc}?")
_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


@dataclass
class CheckLecture:
    """What :func:`make_check_lecture` wrote: the video, its slides and its questions (with answers)."""

    path: Path
    duration: float
    slides: list[tuple[float, float, str, list[str]]]
    questions: list[dict] = field(default_factory=list)


@lru_cache(maxsize=16)
def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.truetype(_DEJAVU, size)
    except OSError:
        return ImageFont.load_default(size=size)


def _render(title: str, lines: list[str], footer: str, size: tuple[int, int]) -> np.ndarray:
    """Dark slide: a coloured title banner, dashed bullets in light grey, a footer line."""
    from PIL import Image, ImageDraw

    w, h = size
    img = Image.new("RGB", size, (24, 32, 58))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, w, h // 6], fill=(196, 120, 40))
    d.text((w // 24, h // 30), title, font=_font(h // 14), fill=(255, 255, 255))
    body = _font(h // 18)
    for i, line in enumerate(lines):
        d.text((w // 16, h // 6 + h // 20 + i * int(h // 18 * 1.7)), "- " + line, font=body, fill=(225, 228, 235))
    d.text((w // 24, h - h // 12), footer, font=_font(h // 28), fill=(150, 160, 190))
    return np.asarray(img)


def make_check_lecture(path: str | Path, *, minutes: float, seed: int, facts_per_kind: int = 1,
                       size: tuple[int, int] = (854, 480), voice: str = "en-gb", wpm: int = 175,
                       unanswerable: float = 0.2) -> CheckLecture:
    """Generate one check-set lecture and its questions (see the module docstring).

    Slides last 35-70 s; facts go on distinct slides while there are enough; when a lecture
    holds a fact sentence more than once, its questions add "in the part about <topic>
    <angle>" (the slide's title words).
    """
    if not 2 <= minutes <= 120:
        raise MmlongError(f"check lectures take 2 to 120 minutes, got {minutes:g}")
    rng = random.Random(seed)
    duration = float(round(minutes * 60))
    bounds = [0.0]
    while duration - bounds[-1] > 70:
        bounds.append(bounds[-1] + rng.randint(35, min(70, int(duration - bounds[-1] - 35))))
    spans = list(zip(bounds, bounds[1:] + [duration]))
    topics = rng.sample(list(TOPICS), len(TOPICS))
    titles, plan = set(), []
    for i, (a, b) in enumerate(spans):
        topic = topics[(i // 3) % len(topics)]
        angle = rng.choice([x for x in ANGLES if f"{topic}: {x}" not in titles] or ANGLES)
        titles.add(f"{topic}: {angle}")
        plan.append({"span": (a, b), "topic": topic, "title": f"{topic}: {angle}", "facts": []})
    kinds = [("speech_number", _SPEECH_NUMBER, _SPEECH_NUMBER_Q), ("slide_word", _SLIDE_WORD, _SLIDE_WORD_Q),
             ("slide_number", _SLIDE_NUMBER, _SLIDE_NUMBER_Q), ("speech_word", _SPEECH_WORD, _SPEECH_WORD_Q)]
    free = rng.sample(range(len(plan)), len(plan))
    words, names = rng.sample(_WORDS, len(_WORDS)), rng.sample(_NAMES, len(_NAMES))
    for ki, (kind, templates, _) in enumerate(kinds):
        for j in range(min(facts_per_kind, len(plan))):
            slide = plan[free[(ki * facts_per_kind + j) % len(plan)]]
            t = rng.randrange(len(templates))
            if kind.endswith("number"):
                value = str(rng.randint(1000, 9999)) if kind == "speech_number" else str(rng.randint(100, 999))
            else:
                value = words.pop() if kind == "slide_word" else names.pop()
            slide["facts"].append((kind, t, value))
    return _build(Path(path), plan, duration, size, voice, wpm, rng, unanswerable)


def _build(path, plan, duration, size, voice, wpm, rng, unanswerable) -> CheckLecture:
    sentences, owners = [], []  # narration and which slide / fact it belongs to
    for i, slide in enumerate(plan):
        terms = TOPICS[slide["topic"]]
        talk = []
        for _ in range(max(2, int((slide["span"][1] - slide["span"][0]) / 7))):
            a, b = rng.sample(terms, 2)
            talk.append((rng.choice(_TALK).format(a=a, b=b), None))
        for kind, t, value in slide["facts"]:
            if kind == "speech_number":
                spelt = " ".join(_DIGITS[int(c)] for c in value)
                talk.insert(rng.randint(1, 2), (_SPEECH_NUMBER[t].format(v=value, spelt=spelt), (kind, t, value)))
            elif kind == "speech_word":
                talk.insert(rng.randint(1, 2), (_SPEECH_WORD[t].format(v=value), (kind, t, value)))
        for text, fact in talk:
            sentences.append(text)
            owners.append((i, fact))
    audio = S.synthesize(sentences, voice=voice, wpm=wpm)
    placed, times, k = [], {}, 0
    for i, slide in enumerate(plan):
        t = slide["span"][0] + rng.uniform(1.0, 2.5)
        while k < len(owners) and owners[k][0] == i:
            length = len(audio[k]) / S.RATE
            fact = owners[k][1]
            if t + length <= slide["span"][1] - 0.5:
                placed.append((t, audio[k]))
                if fact is not None:
                    times[(i, fact)] = (round(t, 3), round(t + length, 3))
                t += length + rng.uniform(0.6, 2.0)
            elif fact is not None:
                raise MmlongError("a check-set slide is too short for its fact sentence; pass a larger --minutes")
            k += 1
    images, slides = [], []
    for i, slide in enumerate(plan):
        terms = TOPICS[slide["topic"]]
        lines = [f"{a.capitalize()} and {b}" for a, b in (rng.sample(terms, 2) for _ in range(rng.randint(2, 3)))]
        for kind, t, value in slide["facts"]:
            if kind == "slide_word":
                lines.insert(rng.randint(0, len(lines)), _SLIDE_WORD[t].format(v=value))
            elif kind == "slide_number":
                lines.insert(rng.randint(0, len(lines)), _SLIDE_NUMBER[t].format(v=value))
        footer = f"Course 204 - Week {rng.randint(2, 12)}"
        images.append((slide["span"][0], slide["span"][1], _render(slide["title"], lines, footer, size)))
        slides.append((slide["span"][0], slide["span"][1], slide["title"], lines))
    write_slideshow(path, images, fps=1.0, audio=lambda a, b: S.mix([(t, x) for t, x in placed if a <= t < b], a, b),
                    audio_rate=S.RATE)
    lec = CheckLecture(path, duration, slides)
    lec.questions = _questions(plan, times, rng, unanswerable, path.name)
    return lec


def _questions(plan, times, rng, unanswerable, video) -> list[dict]:
    qs = {"speech_number": _SPEECH_NUMBER_Q, "slide_word": _SLIDE_WORD_Q, "slide_number": _SLIDE_NUMBER_Q,
          "speech_word": _SPEECH_WORD_Q}
    count: dict[tuple[str, int], int] = {}
    for slide in plan:
        for kind, t, _ in slide["facts"]:
            count[(kind, t)] = count.get((kind, t), 0) + 1
    rows = []
    for i, slide in enumerate(plan):
        for kind, t, value in slide["facts"]:
            loc = f" in the part about {slide['title'].replace(':', '')}" if count[(kind, t)] > 1 else ""
            span = times[(i, (kind, t, value))] if kind.startswith("speech") else slide["span"]
            rows.append({"video": video, "id": f"{video}/{kind}_{i}", "question": qs[kind][t].format(loc=loc),
                         "answer": value, "kind": kind, "source": kind.split("_")[0], "span": list(span)})
    want = max(1, round(len(rows) * unanswerable / (1 - unanswerable)))
    asked = {(k, t) for k, t in count}
    for j in range(want):
        q = rng.choice(_NONE_Q)
        if q in (_SLIDE_WORD_Q[0], _SPEECH_NUMBER_Q[0]):  # a real kind: ask where it is not, or when absent
            kind_t = ("slide_word", 0) if q == _SLIDE_WORD_Q[0] else ("speech_number", 0)
            if kind_t in asked:
                empty = [s for s in plan if not any((k, t) == kind_t for k, t, _ in s["facts"])]
                if not empty:
                    continue
                q = q.format(loc=f" in the part about {rng.choice(empty)['title'].replace(':', '')}")
            else:
                q = q.format(loc="")
        else:
            q = q.format(loc="")
        rows.append({"video": video, "id": f"{video}/none_{j}", "question": q, "answer": None, "kind": "none",
                     "source": "none", "span": None})
    return rows
