"""`make demo`: answer every question of a generated lecture folder on the offline default.

    python -m mmlong.demo_questions .mmlong_cache/demo

Loads ``mmlong.load("default")`` once (the same pipeline ``mmlong ask`` uses), then for each
row of ``questions.jsonl`` (written by ``mmlong data lecture``) prints the question, mmlong's
answer with its cited times, and the reference answer and time. An answer is right when it
holds the reference and no other answer of the same kind in the video, and cites a time in
the fact's span (:mod:`mmlong.silvr.scoring`). Stage 1 (OCR + ASR) runs on the first
question and is cached for the rest.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from mmlong.errors import MmlongError
from mmlong.silvr.scoring import cited_in_span, holds
from mmlong.silvr.segments import hms


def run(folder: str) -> int:
    import mmlong

    qfile = Path(folder) / "questions.jsonl"
    if not qfile.exists():
        raise MmlongError(f"{qfile} not found; run: mmlong data lecture {folder} --n 1 --minutes 60")
    rows = [json.loads(line) for line in qfile.read_text().splitlines() if line.strip()]
    pipe = mmlong.load("default")
    pipe.progress = True
    right, others = 0, {}
    for row in rows:
        others.setdefault((row["video"], row.get("kind") or row["source"]), set()).add(row["answer"])
    for row in rows:
        video = str(Path(folder) / row["video"])
        print(f"\nQ: {row['question']}   ({video})", flush=True)
        t0 = time.perf_counter()
        ans = pipe.ask(row["question"], video=video)
        cites = ", ".join(hms(t) for t in ans.cited_times) or "none"
        ok = (holds(ans.text, row["answer"], others[(row["video"], row.get("kind") or row["source"])])
              and cited_in_span(ans.cited_times, tuple(row["span"]), row["source"]))
        right += ok
        print(f"A: {ans.text}\n   cited: {cites} | reference: {row['answer']} at {hms(row['time'])} "
              f"({row['source']}) | {'right' if ok else 'wrong'} | {time.perf_counter() - t0:.1f} s", flush=True)
    print(f"\n{right}/{len(rows)} answers hold the reference and cite its time")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(run(sys.argv[1] if len(sys.argv) > 1 else ".mmlong_cache/demo"))
    except MmlongError as exc:
        print(f"mmlong: error: {exc}", file=sys.stderr)
        sys.exit(2)
