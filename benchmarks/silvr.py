"""SiLVR language route on generated lectures: stage-1 speed and QA accuracy per fact source.

    python benchmarks/silvr.py                      # 20 lectures of 5-10 minutes (the issue's setting)
    python benchmarks/silvr.py --n 4 --minutes 5    # quicker

Lectures come from ``mmlong.data.lecture`` (slides + espeak-ng speech; each fact only in the
audio or only on a slide). Stage 1 runs on a fresh cache; a question counts as right when the
answer contains the reference and a cited time lies at the fact (speech +-5 s, slide span).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--minutes", type=float, nargs=2, default=(5.0, 10.0), help="min and max lecture length")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=".mmlong_cache/bench/silvr_lectures")
    args = ap.parse_args()

    import mmlong
    from mmlong.data.lecture import make_lecture

    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    lectures = []
    t0 = time.perf_counter()
    for i in range(args.n):
        minutes = args.minutes[0] + (args.minutes[1] - args.minutes[0]) * (i / max(1, args.n - 1))
        lectures.append(make_lecture(data / f"lecture_{i:03d}.mp4", minutes=round(minutes, 1), seed=args.seed + i))
    gen_s = time.perf_counter() - t0

    cache = tempfile.mkdtemp(prefix="mmlong_silvr_bench_")
    pipe = mmlong.load("default", cache_dir=cache)
    video_min = sum(lec.duration for lec in lectures) / 60
    stage = {"ocr_s": 0.0, "asr_s": 0.0}
    for lec in lectures:
        _, timings = pipe.describe(str(lec.path))
        for k in stage:
            stage[k] += timings.get(k, 0.0)

    per_source: dict[str, dict] = {}
    q_seconds = []
    for lec in lectures:
        for fact in lec.facts:
            t = time.perf_counter()
            ans = pipe.ask(fact.question, video=str(lec.path))
            q_seconds.append(time.perf_counter() - t)
            norm = lambda s: "".join(ch for ch in s.lower() if ch.isalnum())  # noqa: E731
            text_ok = norm(fact.answer) in norm(ans.text)
            lo, hi = (fact.time - 5, fact.time + 5) if fact.source == "speech" else (fact.span[0] - 1, fact.span[1])
            time_ok = any(lo <= c <= hi for c in ans.cited_times)
            row = per_source.setdefault(fact.source, {"n": 0, "answer_right": 0, "answer_and_time_right": 0})
            row["n"] += 1
            row["answer_right"] += text_ok
            row["answer_and_time_right"] += text_ok and time_ok
    for row in per_source.values():
        row["accuracy"] = round(row["answer_and_time_right"] / row["n"], 3)
    n_q = sum(r["n"] for r in per_source.values())
    print(json.dumps({
        "benchmark": "silvr", "lectures": args.n, "video_minutes": round(video_min, 1), "generate_s": round(gen_s, 1),
        "stage1_s_per_video_minute": {k.replace("_s", ""): round(v / video_min, 2) for k, v in stage.items()},
        "stage1_speed_x_realtime": round(video_min * 60 / max(1e-9, sum(stage.values())), 1),
        "questions": n_q, "accuracy": round(sum(r["answer_and_time_right"] for r in per_source.values()) / max(1, n_q), 3),
        "per_source": per_source, "seconds_per_question": round(sum(q_seconds) / max(1, len(q_seconds)), 2),
        "reasoner": pipe.config.reasoner.model, "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }))


if __name__ == "__main__":
    main()
