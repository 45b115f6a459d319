"""`make demo`: answer every question of a generated lecture folder on the offline default.

    python -m mmlong.demo_questions .mmlong_cache/demo

Loads ``mmlong.load("default")`` once (the same pipeline ``mmlong ask`` uses), then for each
row of ``questions.jsonl`` (written by ``mmlong data lecture``) prints the question, mmlong's
answer with its cited times, and the reference answer and time. Stage 1 (OCR + ASR) runs on
the first question and is cached for the rest.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from mmlong.errors import MmlongError
from mmlong.silvr.segments import hms


def run(folder: str) -> int:
    import mmlong

    qfile = Path(folder) / "questions.jsonl"
    if not qfile.exists():
        raise MmlongError(f"{qfile} not found; run: mmlong data lecture {folder} --n 1 --minutes 60")
    rows = [json.loads(line) for line in qfile.read_text().splitlines() if line.strip()]
    pipe = mmlong.load("default")
    pipe.progress = True
    right = 0
    for row in rows:
        video = str(Path(folder) / row["video"])
        print(f"\nQ: {row['question']}   ({video})", flush=True)
        t0 = time.perf_counter()
        ans = pipe.ask(row["question"], video=video)
        cites = ", ".join(hms(t) for t in ans.cited_times) or "none"
        ok = row["answer"].lower() in ans.text.lower().replace(" ", "")
        right += ok
        print(f"A: {ans.text}\n   cited: {cites} | reference: {row['answer']} at {hms(row['time'])} "
              f"({row['source']}) | {'right' if ok else 'wrong'} | {time.perf_counter() - t0:.1f} s", flush=True)
    print(f"\n{right}/{len(rows)} answers contain the reference")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(run(sys.argv[1] if len(sys.argv) > 1 else ".mmlong_cache/demo"))
    except MmlongError as exc:
        print(f"mmlong: error: {exc}", file=sys.stderr)
        sys.exit(2)
