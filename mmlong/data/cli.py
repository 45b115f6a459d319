"""``mmlong data ...``: generate test and benchmark data.

    mmlong data lecture OUT --n 20 --minutes 10 [--seed 0] [--fps 1] [--size 640x360] [--no-speech]
    mmlong data vniah OUT --n 3000 --length 16 [--seed 1]

writes ``OUT/lecture_000.mp4`` ... plus ``OUT/questions.jsonl`` (one row per planted fact)
and ``OUT/lectures.jsonl`` (full ground truth per video); see :mod:`mmlong.data.lecture`.
Registered through ``mmlong.cli.PLUGINS``; further ``data`` subcommands (e.g. ``verify``)
add a parser in :func:`add_parser`.
"""

from __future__ import annotations

import argparse
import random
import time

from mmlong.errors import MmlongError

__all__ = ["add_parser"]


def _size(text: str) -> tuple[int, int]:
    """Parse ``WIDTHxHEIGHT``, e.g. ``640x360``."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x360, got {text!r}") from None
    return width, height


def _lengths(text: str) -> tuple[int, ...]:
    """Parse ``16`` or ``2,4,8,16`` (seconds)."""
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole seconds such as 16 or 2,4,8,16, got {text!r}") from None


class _LongestSlides(random.Random):
    """A random source whose every ``randint`` draws its maximum: slides as long as the timing rule
    allows (60 s), so :func:`mmlong.data.plan.plan` lays out the fewest slides any seed can give."""

    def randint(self, a: int, b: int) -> int:  # noqa: D102
        return b


def _check_lecture_args(args) -> None:
    """Refuse bad ``mmlong data lecture`` arguments before anything is created (one line each).

    ``--minutes`` and ``--fps`` are checked by the lecture planner itself, and ``--facts`` against
    what the planner can place on a lecture of that length with any seed (one fact of a kind per
    slide; without speech each fact is two code words).
    """
    from mmlong.data.plan import plan
    from mmlong.paths import check_output_dir

    if args.n < 1:
        raise MmlongError(f"--n must be at least 1, got {args.n}")
    if args.seed < 0:
        raise MmlongError(f"--seed must be >= 0, got {args.seed}")
    if args.facts is not None and args.facts < 1:
        raise MmlongError(f"--facts must be at least 1 (facts of each kind per video), got {args.facts}")
    check_output_dir(args.out, "OUT")
    speech = not args.no_speech
    slides = plan(args.minutes, args.fps, _LongestSlides(0), speech=speech, facts_per_kind=10**6)
    numbers = sum(s.number is not None for s in slides)
    words = sum(s.code_word is not None for s in slides)
    most = min(numbers, words) if speech else words // 2
    if args.facts is not None and args.facts > most:
        fix = f"pass --facts {most} or fewer, or a larger --minutes" if most else "pass a larger --minutes"
        holds = (f"{most} facts of each kind" if speech else
                 f"{words} code word(s) without speech, i.e. --facts {most} (each fact is two code words)")
        raise MmlongError(f"--facts {args.facts} is more than a {args.minutes:g}-minute lecture holds: at most "
                          f"{holds}; {fix}")


def _cmd_lecture(args) -> int:
    from pathlib import Path

    from mmlong.data.lecture import make_lectures
    from mmlong.data.speech import require_espeak

    if not args.no_speech:
        require_espeak()  # fail before writing anything
    _check_lecture_args(args)
    out = Path(args.out)
    created = not out.exists()
    t0 = time.perf_counter()
    try:
        lectures = make_lectures(args.out, args.n, args.minutes, args.seed, fps=args.fps, size=args.size,
                                 facts_per_kind=args.facts, speech=not args.no_speech)
    except MmlongError:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # refused before anything was written: leave no empty OUT behind
        raise
    facts = sum(len(lec.facts) for lec in lectures)
    for lec in lectures:
        kinds = ", ".join(f"{f.source} {f.answer}@{f.time:.0f}s" for f in lec.facts)
        print(f"{lec.path}  {lec.duration:.0f}s  {len(lec.slides)} slides  {len(lec.speech)} sentences  [{kinds}]")
    print(f"wrote {len(lectures)} videos and {facts} questions to {args.out}/questions.jsonl "
          f"in {time.perf_counter() - t0:.1f}s")
    return 0


def _cmd_vniah(args) -> int:
    from mmlong.data.vniah import write_dataset
    from mmlong.paths import check_output_dir

    if args.n < 1 or min(args.length) < 2:
        raise MmlongError(f"--n must be >= 1 and --length >= 2 seconds (got {args.n}, "
                          f"{','.join(map(str, args.length))})")
    check_output_dir(args.out, "OUT")
    t0 = time.perf_counter()
    path = write_dataset(args.out, args.n, length=args.length, seed=args.seed, size=args.size)
    print(f"wrote {args.n} conversations ({'/'.join(map(str, args.length))} s videos) to {path} "
          f"in {time.perf_counter() - t0:.1f}s")
    return 0


def add_parser(subparsers) -> None:
    """Register ``data`` and its subcommands on the top-level ``mmlong`` subparsers."""
    data = subparsers.add_parser("data", help="generate test and benchmark data (lecture videos with QA)")
    sub = data.add_subparsers(dest="data_cmd", required=True)

    lec = sub.add_parser(
        "lecture",
        help="synthetic lecture videos (slides + espeak-ng speech) with single-source facts and questions.jsonl",
        description="Write N lecture mp4s (H.264 slides, AAC espeak-ng narration) with facts shown only on "
                    "slides (code words) or only spoken (secret numbers), plus OUT/questions.jsonl.",
    )
    lec.add_argument("out", metavar="OUT", help="output folder")
    lec.add_argument("--n", type=int, default=1, help="number of videos (default 1)")
    lec.add_argument("--minutes", type=float, required=True, help="length of each video in minutes (max 180)")
    lec.add_argument("--seed", type=int, default=0, help="set seed (default 0)")
    lec.add_argument("--fps", type=float, default=1.0, help="video frame rate (default 1)")
    lec.add_argument("--size", type=_size, default=(640, 360), help="WIDTHxHEIGHT (default 640x360)")
    lec.add_argument("--no-speech", action="store_true", help="no audio stream; every fact is a slide code word")
    lec.add_argument("--facts", type=int, default=None,
                     help="facts of each kind per video (default: one per 5 minutes, at least 1)")
    lec.set_defaults(fn=_cmd_lecture)

    vn = sub.add_parser("vniah", help="video-needle training conversations (sharegpt JSONL + videos) for mmlong train",
                        description="Write OUT/train.jsonl and OUT/videos/*.mp4: what / when / order questions about "
                                    "needle frames, drawn like the vniah_synth eval task's but from seeds it never uses.")
    vn.add_argument("out", metavar="OUT", help="output folder")
    vn.add_argument("--n", type=int, default=3000, help="conversations (kinds take turns; default 3000)")
    vn.add_argument("--length", type=_lengths, default=(16,),
                    help="video length in seconds = frames at 1 fps, or several for a mix: 2,4,8,16 (default 16)")
    vn.add_argument("--seed", type=int, default=1, help="draws (default 1)")
    vn.add_argument("--size", type=int, default=96, help="frame side in pixels (default 96, the eval task's)")
    vn.set_defaults(fn=_cmd_vniah)
