"""Benchmark: frame sampling against the code a user would otherwise write, in one run.

Cases (each a textured 640x360 H.264 video made once by
:func:`mmlong.data.synth_video.write_test_video` with ``texture=True``, one slice per frame, so frames cost what
camera footage costs to decode, and cached under ``--cache-dir``):

* ``hour_64``: 64 frames (segment centres) from a 1-hour video, for each ``--gops`` size
  (without ``sequential``, which decodes the whole hour: about 13x the seek loop).
* ``ten_min_2fps``: 2 frames per second (1200 frames) from a 10-minute video (without
  ``seek_loop``, which restarts its GOP for every target: about 9x a sequential decode).

Methods, each run in a fresh subprocess (clean RSS, imports not timed), all given the same
frame indices, every returned frame's index decoded from its pixels and checked:

* ``mmlong``: :func:`mmlong.video.decode_at` (keyframe-aware runs, decoded in parallel,
  non-reference pictures before a target not decoded).
* ``seek_loop``: the plain PyAV loop: for each target, ``container.seek`` to it, decode
  until the first frame at or after it (PyAV's default threading).
* ``sequential``: one PyAV decode from the start to the last target, converting only the
  wanted frames (PyAV's ``AUTO`` threading).
* ``decord``: ``VideoReader.get_batch`` (if decord imports).
* ``torchcodec``: ``VideoDecoder.get_frames_at`` (if torchcodec imports).

Each case runs ``--repeats`` rounds (default 5); every round runs every method once, in
turn, so background load hits all methods alike. Reported: the median seconds, the
ratio to ``seek_loop`` (and, for the 2 fps case, to ``sequential``), the largest RSS
growth over the returned frames' size, and whether every frame was right.

Usage::

    .venv/bin/python benchmarks/video_sampling.py                 # prints ONE JSON line
    .venv/bin/python benchmarks/video_sampling.py --gops 250 50 --repeats 5
    .venv/bin/python benchmarks/video_sampling.py --bframes auto 3   # also a fixed IBBBP encoding
    .venv/bin/python benchmarks/video_sampling.py --cases hour_64 --repeats 1   # quick look
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

METHODS = ("mmlong", "seek_loop", "sequential", "decord", "torchcodec")
OPTIONAL = {"decord": "decord", "torchcodec": "torchcodec"}


def _rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _run_mmlong(path: str, indices: list[int], fps: float):
    import mmlong.video as mv

    return mv.decode_at(path, [i / fps for i in indices]).frames


def _run_seek_loop(path: str, indices: list[int], fps: float):
    import av
    import numpy as np

    out = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        tb = stream.time_base
        for i in indices:
            target = i / fps
            container.seek(int(target / tb), stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.time >= target - 1e-3:
                    out.append(frame.to_ndarray(format="rgb24"))
                    break
    return np.stack(out)


def _run_sequential(path: str, indices: list[int], fps: float):
    import av
    import numpy as np

    want, out = set(indices), {}
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if i in want:
                out[i] = frame.to_ndarray(format="rgb24")
            if i >= indices[-1]:
                break
    return np.stack([out[i] for i in indices])


def _run_decord(path: str, indices: list[int], fps: float):
    import decord

    return decord.VideoReader(path, ctx=decord.cpu(0)).get_batch(indices).asnumpy()


def _run_torchcodec(path: str, indices: list[int], fps: float):
    from torchcodec.decoders import VideoDecoder

    batch = VideoDecoder(path, dimension_order="NHWC").get_frames_at(indices)
    return batch.data.numpy()


_IMPORTS = {
    "mmlong": ("mmlong.video", "mmlong.video.sampling", "mmlong.video._pyav", "mmlong.media_sources", "av"),
    "seek_loop": ("av", "numpy"),
    "sequential": ("av", "numpy"),
    "decord": ("decord",),
    "torchcodec": ("torchcodec.decoders",),
}


def worker(method: str, path: str, indices: list[int], fps: float) -> dict:
    """Run one method once in this (fresh) process; return timing, memory, correctness."""
    import importlib

    for module in _IMPORTS[method]:
        importlib.import_module(module)
    from mmlong.data.synth_video import read_frame_index

    rss_before = _rss_bytes()
    start = time.perf_counter()
    frames = globals()[f"_run_{method}"](path, indices, fps)
    seconds = time.perf_counter() - start
    growth = max(_peak_rss_bytes(), _rss_bytes()) - rss_before
    return {
        "seconds": seconds,
        "rss_growth_mb": growth / 2**20,
        "output_mb": frames.nbytes / 2**20,
        "frames_correct": [read_frame_index(f) for f in frames] == list(indices),
    }


def ensure_video(cache_dir: Path, seconds: float, fps: float, gop: int, bframes: int | None = None) -> Path:
    """Write (once) a textured 640x360 benchmark video; return its path.

    ``bframes``: None lets x264 veryfast choose (almost only P-frames on this texture), N a
    fixed pattern of N B-frames per reference frame (see ``write_test_video``)."""
    from mmlong.data.synth_video import write_test_video

    tag = "" if bframes is None else f"_b{bframes}"
    path = cache_dir / f"textured1slice_{int(seconds)}s_640x360_{fps:g}fps_gop{gop}{tag}.mp4"
    if not path.exists():
        tmp = path.with_name(path.name + ".part.mp4")
        write_test_video(tmp, seconds=seconds, fps=fps, size=(360, 640), gop=gop, preset="veryfast", texture=True,
                         bframes=bframes)  # fmt: skip
        tmp.replace(path)
    return path


def _centres(n: int, total: int) -> list[int]:
    """Frame indices at the centres of ``n`` equal segments of ``total`` frames (mmlong's rule)."""
    return [int((k + 0.5) * total / n) for k in range(n)]


def run_case(path: Path, indices: list[int], fps: float, methods: list[str], repeats: int) -> dict:
    """``repeats`` rounds of every method in turn, each in a fresh process; medians per method."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    runs: dict[str, list[dict]] = {m: [] for m in methods}
    errors: dict[str, str] = {}
    for _ in range(repeats):
        for method in methods:
            if method in errors:
                continue
            spec = json.dumps({"method": method, "path": str(path), "indices": indices, "fps": fps})
            proc = subprocess.run([sys.executable, __file__, "--worker", spec], capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                errors[method] = (proc.stderr.strip().splitlines() or ["?"])[-1]
            else:
                runs[method].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    out = {}
    for method in methods:
        if method in errors:
            out[method] = {"error": errors[method]}
            continue
        rows = runs[method]
        out[method] = {
            "median_seconds": round(statistics.median(r["seconds"] for r in rows), 3),
            "seconds": [round(r["seconds"], 3) for r in rows],
            "max_rss_growth_mb": round(max(r["rss_growth_mb"] for r in rows), 1),
            "output_mb": round(rows[0]["output_mb"], 1),
            "frames_correct": all(r["frames_correct"] for r in rows),
        }
    for base in ("seek_loop", "sequential"):
        ref = out.get(base, {}).get("median_seconds")
        for method, row in out.items():
            if ref and "median_seconds" in row:
                row[f"x_{base}"] = round(row["median_seconds"] / ref, 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=REPO / ".mmlong_cache" / "bench")
    parser.add_argument("--fps", type=float, default=25.0, help="frame rate of the generated videos")
    parser.add_argument("--gops", type=int, nargs="+", default=[250], help="keyframe intervals in frames")
    parser.add_argument("--cases", nargs="+", default=["hour_64", "ten_min_2fps"], choices=["hour_64", "ten_min_2fps"])
    parser.add_argument("--bframes", nargs="+", default=["auto"],
                        help="encodings: 'auto' (x264 veryfast's choice: almost only P-frames here) and/or N "
                             "(a fixed pattern of N B-frames per reference frame)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps(worker(spec["method"], spec["path"], spec["indices"], spec["fps"])))
        return

    methods = [m for m in args.methods if m not in OPTIONAL or importlib.util.find_spec(OPTIONAL[m])]
    cases = {}
    for gop in args.gops:
        for bf in args.bframes:
            bframes = None if bf == "auto" else int(bf)
            tag = "" if bframes is None else f"_b{bframes}"
            if "hour_64" in args.cases:
                path = ensure_video(args.cache_dir, 3600, args.fps, gop, bframes)
                indices = _centres(64, int(3600 * args.fps))
                seeking = [m for m in methods if m != "sequential"]
                cases[f"hour_64_gop{gop}{tag}"] = {
                    "video": path.name, "gop_seconds": gop / args.fps, "bframes": bf, "frames": 64,
                    "results": run_case(path, indices, args.fps, seeking, args.repeats)}  # fmt: skip
            if "ten_min_2fps" in args.cases:
                path = ensure_video(args.cache_dir, 600, args.fps, gop, bframes)
                indices = [int((k + 0.5) * args.fps / 2) for k in range(1200)]
                dense = [m for m in methods if m != "seek_loop"]
                cases[f"ten_min_2fps_gop{gop}{tag}"] = {
                    "video": path.name, "gop_seconds": gop / args.fps, "bframes": bf, "frames": 1200,
                    "results": run_case(path, indices, args.fps, dense, args.repeats)}  # fmt: skip
    print(json.dumps({
        "benchmark": "video_sampling",
        "input": "textured 640x360 H.264 (x264 veryfast, crf 23), index-coded frames",
        "repeats": args.repeats,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.machine(),
                    "load_avg_1m": round(os.getloadavg()[0], 2)},
        "cases": cases,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
