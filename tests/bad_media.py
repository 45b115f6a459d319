"""A corpus of good and bad inputs, generated on the spot (no fixtures on disk).

``build_corpus(folder)`` writes every file and returns ``{name: path}``; the names are the
placeholders of :mod:`test_bad_inputs` rows (``{empty}``, ``{image_mp4}``, ...). Add a file by
adding one entry to :func:`build_corpus`.
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import numpy as np


def shorten_duration(src: Path, dst: Path, factor: int = 2) -> Path:
    """Copy the mp4 ``src`` with its stored durations (``mvhd``, ``tkhd``, ``mdhd``) divided by ``factor``.

    The frames stay where they are, so the container claims a duration that ends before the
    last frame (what some VFR muxers write); the edit list is left alone (FFmpeg would cut
    the frames past it).
    """
    data = bytearray(Path(src).read_bytes())
    for box, offset in ((b"mvhd", 20), (b"tkhd", 24), (b"mdhd", 20)):  # version-0 boxes: 32-bit duration field
        i = data.find(box)
        (duration,) = struct.unpack(">I", data[i + offset:i + offset + 4])
        data[i + offset:i + offset + 4] = struct.pack(">I", duration // factor)
    Path(dst).write_bytes(bytes(data))
    return Path(dst)


def _ffv1(path: Path, width: int, height: int, frames: int = 10) -> Path:
    """A lossless mkv at any size (odd sizes too: FFV1 in 4:4:4)."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv444p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 20 * i, np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def write_pdf(path: Path, text: str, *, password: str | None = None) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    if password is not None:
        pdf.set_encryption(owner_password="owner", user_password=password)
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text=text)
    pdf.output(str(path))
    return path


def build_corpus(root: Path) -> dict[str, Path]:
    """Write the corpus into ``root``; returns ``{name: path}``."""
    from PIL import Image

    from mmlong.data.synth_video import write_test_video

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    c: dict[str, Path] = {"tmp": root}
    c["good"] = write_test_video(root / "good.mp4", seconds=2, fps=10).path
    c["empty"] = root / "empty.mp4"
    c["empty"].write_bytes(b"")
    c["random"] = root / "random.mp4"
    c["random"].write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    whole = c["good"].read_bytes()  # moov at the end: the first half has no index
    c["truncated"] = root / "truncated.mp4"
    c["truncated"].write_bytes(whole[: len(whole) // 2])
    front = write_test_video(root / "faststart.mp4", seconds=2, fps=10, faststart=True).path.read_bytes()
    c["truncated_faststart"] = root / "truncated_faststart.mp4"  # index says 20 frames, the data stops early
    c["truncated_faststart"].write_bytes(front[: len(front) * 2 // 3])
    c["audio_only"] = audio_only(root / "audio_only.mp4")
    c["png"] = root / "photo.png"
    Image.new("RGB", (64, 48), (200, 10, 10)).save(c["png"])
    c["image_mp4"] = root / "photo.mp4"  # a PNG renamed .mp4
    shutil.copy(c["png"], c["image_mp4"])
    c["thin_png"] = root / "thin.png"  # aspect ratio 300: no Qwen-VL resize exists
    Image.new("RGB", (300, 1), (0, 0, 0)).save(c["thin_png"])
    c["directory"] = root / "folder.mp4"
    c["directory"].mkdir(exist_ok=True)
    c["locked"] = root / "locked.mp4"  # chmod 000 (still readable when the tests run as root)
    shutil.copy(c["good"], c["locked"])
    os.chmod(c["locked"], 0)
    vfr = write_test_video(root / "vfr_full.mp4", seconds=3, fps=10, vfr=True).path
    c["vfr"] = shorten_duration(vfr, root / "vfr.mp4")  # frames to 2.9 s, stored duration 1.5 s
    c["odd"] = _ffv1(root / "odd.mkv", 33, 17)
    c["thin"] = _ffv1(root / "thin.mkv", 600, 8)
    c["wide"] = _ffv1(root / "wide.mkv", 1610, 8)  # aspect ratio above 200
    c["good_pdf"] = write_pdf(root / "good.pdf", "The archive code is K7.")
    c["encrypted_pdf"] = write_pdf(root / "encrypted.pdf", "secret", password="user")
    c["corrupt_pdf"] = root / "corrupt.pdf"
    c["corrupt_pdf"].write_bytes(c["good_pdf"].read_bytes()[:40] + b"\0garbage" * 20)
    c["text_pdf"] = root / "notes.pdf"
    c["text_pdf"].write_text("hello, this is not a PDF\n")
    c["text_file"] = root / "notes.txt"
    c["text_file"].write_text("x\n")
    c["not_json"] = root / "bad_results.json"
    c["not_json"].write_text("not json")
    c["empty_json"] = root / "empty_results.json"
    c["empty_json"].write_text("{}")
    import json

    c["train_jsonl"] = root / "train.jsonl"  # two usable conversations about the good video, one broken row
    row = {"messages": [{"role": "user", "content": "<video>What is shown?"}, {"role": "assistant", "content": "dots"}],
           "videos": ["good.mp4"]}
    c["train_jsonl"].write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n{broken\n")
    return c
