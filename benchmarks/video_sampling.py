"""Benchmark: sample 64 and 256 frames from a 1-hour 640x360 H.264 video.

Methods (each run in a fresh subprocess, so RSS is clean and imports are not timed):

* ``mmlong``: :func:`mmlong.video.sample` (PyAV keyframe seeking).
* ``pyav_sequential``: PyAV decoding from the start up to the last wanted frame,
  converting only the wanted frames.
* ``transformers_pyav``: ``transformers.video_utils.load_video(path, backend="pyav",
  num_frames=N)``.
* ``decord``: ``decord.VideoReader(path).get_batch(indices)`` (only if decord imports).

The video is made once by :func:`mmlong.data.synth_video.write_test_video` and cached
(default ``.mmlong_cache/bench/``): 3600 s at 5 fps (18,000 frames; a low rate keeps
generation to about 20 s on 2 cores), libx264 ``ultrafast``, keyframe every ``--gop``
frames (default 250, x264's default, i.e. 50 s at 5 fps: a worst case for seeking),
solid colours plus index blocks. Flat content decodes faster than real footage,
so absolute times are optimistic for every method alike; the ratio between seeking
and sequential decoding is what this measures. Every returned frame's index is
decoded from its pixels and checked.

Usage::

    .venv/bin/python benchmarks/video_sampling.py            # prints ONE JSON line
    .venv/bin/python benchmarks/video_sampling.py --gop 50     # keyframe every 10 s
    .venv/bin/python benchmarks/video_sampling.py --seconds 120 --frames 16   # quick check
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

METHODS = ("mmlong", "pyav_sequential", "transformers_pyav", "decord")


def _rss_bytes() -> int:
    """Current resident set size (psutil if available, else /proc/self/status)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    return 0


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _uniform_indices(num_frames: int, total: int) -> list[int]:
    """Frame indices at the centres of ``num_frames`` equal segments (mmlong's rule)."""
    return [int((k + 0.5) * total / num_frames) for k in range(num_frames)]


def _run_mmlong(path: str, n: int):
    import mmlong.video as mv

    clip = mv.sample(path, num_frames=n, max_frames=n)
    fps = clip.source_fps
    return clip.frames, [round(t * fps) for t in clip.timestamps]


def _run_pyav_sequential(path: str, n: int):
    import av
    import numpy as np

    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        wanted = _uniform_indices(n, stream.frames)
        want, out = set(wanted), {}
        for i, frame in enumerate(container.decode(stream)):
            if i in want:
                out[i] = frame.to_ndarray(format="rgb24")
            if i >= wanted[-1]:
                break
    return np.stack([out[i] for i in wanted]), wanted


def _run_transformers_pyav(path: str, n: int):
    from transformers.video_utils import load_video

    video, metadata = load_video(path, backend="pyav", num_frames=n)
    return video, [int(i) for i in metadata.frames_indices]


def _run_decord(path: str, n: int):
    import decord

    reader = decord.VideoReader(path, ctx=decord.cpu(0))
    wanted = _uniform_indices(n, len(reader))
    return reader.get_batch(wanted).asnumpy(), wanted


_IMPORTS = {
    "mmlong": ("mmlong.video.sampling", "av"),
    "pyav_sequential": ("av", "numpy"),
    "transformers_pyav": ("transformers.video_utils", "av"),
    "decord": ("decord",),
}


def worker(method: str, path: str, n: int) -> dict:
    """Run one method once in this (fresh) process; return timing, memory, correctness."""
    import importlib

    for module in _IMPORTS[method]:
        importlib.import_module(module)
    from mmlong.data.synth_video import read_frame_index

    rss_before = _rss_bytes()
    start = time.perf_counter()
    frames, indices = globals()[f"_run_{method}"](path, n)
    seconds = time.perf_counter() - start
    growth = max(_peak_rss_bytes(), _rss_bytes()) - rss_before
    decoded = [read_frame_index(f) for f in frames]
    return {
        "seconds": round(seconds, 3),
        "rss_growth_mb": round(growth / 2**20, 1),
        "output_mb": round(frames.nbytes / 2**20, 1),
        "frames": len(frames),
        "frames_correct": decoded == list(indices),
    }


def ensure_video(cache_dir: Path, seconds: float, fps: float, gop: int) -> tuple[Path, float]:
    """Write (once) the benchmark video; return its path and generation time (0 if cached)."""
    from mmlong.data.synth_video import write_test_video

    path = cache_dir / f"bench_{int(seconds)}s_640x360_{fps:g}fps_gop{gop}.mp4"
    if path.exists():
        return path, 0.0
    tmp = path.with_name(path.name + ".part.mp4")
    start = time.perf_counter()
    write_test_video(tmp, seconds=seconds, fps=fps, size=(360, 640), gop=gop)
    tmp.replace(path)
    return path, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=REPO / ".mmlong_cache" / "bench")
    parser.add_argument("--seconds", type=float, default=3600.0)
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--gop", type=int, default=250, help="keyframe interval in frames (x264 default 250)")
    parser.add_argument("--frames", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--worker", nargs=3, metavar=("METHOD", "PATH", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        method, path, n = args.worker
        print(json.dumps(worker(method, path, int(n))))
        return

    path, gen_seconds = ensure_video(args.cache_dir, args.seconds, args.fps, args.gop)
    methods = [m for m in args.methods if m != "decord" or importlib.util.find_spec("decord")]
    results: dict[str, dict[str, dict]] = {m: {} for m in methods}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    for n in args.frames:
        for method in methods:
            proc = subprocess.run(
                [sys.executable, __file__, "--worker", method, str(path), str(n)],
                capture_output=True, text=True, env=env,
            )  # fmt: skip
            if proc.returncode != 0:
                tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
                results[method][str(n)] = {"error": tail}
            else:
                results[method][str(n)] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps({
        "benchmark": "video_sampling",
        "video": {"path": str(path), "seconds": args.seconds, "fps": args.fps, "size": [360, 640],
                  "gop": args.gop, "mb": round(path.stat().st_size / 2**20, 1),
                  "generation_seconds": round(gen_seconds, 1)},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.machine()},
        "results": results,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
