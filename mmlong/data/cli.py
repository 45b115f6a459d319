"""``mmlong data ...``: generate test and benchmark data.

    mmlong data lecture OUT --n 20 --minutes 10 [--seed 0] [--fps 1] [--size 640x360] [--no-speech]

writes ``OUT/lecture_000.mp4`` ... plus ``OUT/questions.jsonl`` (one row per planted fact)
and ``OUT/lectures.jsonl`` (full ground truth per video); see :mod:`mmlong.data.lecture`.
Registered through ``mmlong.cli.PLUGINS``; further ``data`` subcommands (e.g. ``verify``)
add a parser in :func:`add_parser`.
"""

from __future__ import annotations

import argparse
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


def _cmd_lecture(args) -> int:
    from mmlong.data.lecture import make_lectures
    from mmlong.data.speech import require_espeak

    if not args.no_speech:
        require_espeak()  # fail before writing anything
    if args.n < 1:
        raise MmlongError(f"--n must be at least 1, got {args.n}")
    t0 = time.perf_counter()
    lectures = make_lectures(args.out, args.n, args.minutes, args.seed, fps=args.fps, size=args.size,
                             facts_per_kind=args.facts,
                             speech=not args.no_speech)
    facts = sum(len(lec.facts) for lec in lectures)
    for lec in lectures:
        kinds = ", ".join(f"{f.source} {f.answer}@{f.time:.0f}s" for f in lec.facts)
        print(f"{lec.path}  {lec.duration:.0f}s  {len(lec.slides)} slides  {len(lec.speech)} sentences  [{kinds}]")
    print(f"wrote {len(lectures)} videos and {facts} questions to {args.out}/questions.jsonl "
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
