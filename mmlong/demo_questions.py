"""`make demo`: ask every question of a generated lecture folder with ``mmlong ask`` (offline default).

    python -m mmlong.demo_questions .mmlong_cache/demo

Prints each question, mmlong's answer with its cited times, and the reference answer and
time from ``questions.jsonl`` (written by ``mmlong data lecture``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from mmlong.cli import main as cli
from mmlong.silvr.segments import hms


def run(folder: str) -> int:
    qfile = Path(folder) / "questions.jsonl"
    if not qfile.exists():
        print(f"mmlong: error: {qfile} not found; run: mmlong data lecture {folder} --n 1 --minutes 60", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in qfile.read_text().splitlines() if line.strip()]
    for row in rows:
        video = str(Path(folder) / row["video"])
        print(f"\nQ: {row['question']}   ({video})")
        t0 = time.perf_counter()
        rc = cli(["ask", video, row["question"]])
        if rc:
            return rc
        print(f"reference: {row['answer']} at {hms(row['time'])} ({row['source']}); {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1] if len(sys.argv) > 1 else ".mmlong_cache/demo"))
