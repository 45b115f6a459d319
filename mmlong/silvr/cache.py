"""Disk cache of stage-1 results, keyed by the video's content hash + the describer settings.

A second question about the same video reuses its OCR / ASR / captions. The video hash reads
the size and 10 slices of the file (first and last MiB, 8 evenly spaced 64 KiB pieces), so an
hour-long file hashes in milliseconds; a changed file gets a new key.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from mmlong.silvr.segments import Transcript


def video_hash(path: str) -> str:
    """Content hash of a video file (hex, 64 chars)."""
    size = os.path.getsize(path)
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        spots = [0, max(0, size - (1 << 20))] + [size * k // 9 for k in range(1, 9)]
        for i, off in enumerate(spots):
            f.seek(off)
            h.update(f.read((1 << 20) if i < 2 else (1 << 16)))
    return h.hexdigest()


class StageCache:
    """JSON files under ``root/silvr``; writes are atomic (temp file + rename)."""

    def __init__(self, root: str | Path):
        self.dir = Path(root) / "silvr"

    def _file(self, vhash: str, key: dict) -> Path:
        kh = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return self.dir / f"{vhash[:24]}-{key.get('describer', 'x')}-{kh}.json"

    def get(self, vhash: str, key: dict) -> Transcript | None:
        f = self._file(vhash, key)
        if not f.exists():
            return None
        try:
            return Transcript.from_json(f.read_text())
        except (ValueError, KeyError):
            return None  # a corrupt entry is recomputed

    def put(self, vhash: str, key: dict, value: Transcript) -> None:
        f = self._file(vhash, key)
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_suffix(".tmp")
        tmp.write_text(value.to_json())
        tmp.replace(f)
