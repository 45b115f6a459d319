"""Planning a batch of frame reads: decode runs and their split over workers (pure functions).

A *decode run* is a stretch of the stream decoded in one go: it starts with a seek to the
keyframe before its first target and then decodes forward through all of its targets. A new
run starts wherever the next target's keyframe lies beyond the previous target (decoding on
from there would decode frames the seek skips); otherwise decoding on is the cheaper way.
So every group of pictures (GOP) is decoded at most once, however many targets it holds.

Runs are independent, so they can be decoded in parallel on separate containers. The runs
(in time order) are cut into at most ``workers`` contiguous groups of near-equal cost, the
cost of a run being the seconds of video it decodes (last target minus its keyframe) plus a
fixed seek cost.

Worked example: keyframes every 10 s, targets at 1, 3, 12, 15, 31, 55 s. Keyframes of the
targets: 0, 0, 10, 10, 30, 50. Runs: [1, 3] (from 0, cost 3), [12, 15] (from 10, cost 5),
[31] (from 30, cost 1), [55] (from 50, cost 5). With 2 workers the cut that balances the
cost best is after the second run: targets [0:4] and [4:6], costs 8 and 6 (plus seeks).
"""

from __future__ import annotations

import numpy as np

__all__ = ["decode_runs", "split_runs", "SEEK_COST"]

#: Cost of one seek (flushing the decoder, reading the keyframe), in seconds of decoded video.
SEEK_COST = 0.2
EPS = 1e-6


def decode_runs(times: np.ndarray, keyframes: np.ndarray) -> np.ndarray:
    """Start index of each decode run.

    Args:
        times: (N,) sorted target times in seconds.
        keyframes: (N,) time of the keyframe at or before each target (``-inf`` if none).

    Returns:
        (R,) int64 indices into ``times`` where a run starts; the first is always 0
        (empty for N = 0). Example: times [1, 3, 12, 15, 31, 55], keyframes
        [0, 0, 10, 10, 30, 50] -> [0, 2, 4, 5].
    """
    times = np.asarray(times, dtype=np.float64)
    keyframes = np.asarray(keyframes, dtype=np.float64)
    if len(times) == 0:
        return np.zeros(0, np.int64)
    new = keyframes[1:] > times[:-1] + EPS
    return np.concatenate([[0], np.flatnonzero(new) + 1]).astype(np.int64)


def run_costs(times: np.ndarray, keyframes: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(R,) cost of each run: seconds decoded (last target - keyframe, a keyframe before the
    stream start counted from 0) plus :data:`SEEK_COST`."""
    times = np.asarray(times, dtype=np.float64)
    ends = np.append(starts[1:], len(times)) - 1
    first_key = np.maximum(np.asarray(keyframes, dtype=np.float64)[starts], 0.0)
    return np.maximum(times[ends] - first_key, 0.0) + SEEK_COST


def split_runs(times: np.ndarray, keyframes: np.ndarray, workers: int) -> list[slice]:
    """Cut the targets into at most ``workers`` contiguous slices of whole runs, balanced by cost.

    Args:
        times: (N,) sorted target times in seconds.
        keyframes: (N,) keyframe time at or before each target.
        workers: how many decoders may run at once (>= 1).

    Returns:
        Slices into ``times``, in order, covering all of it, each holding at least one run.
        One slice when there is a single run or a single worker. See the module example.
    """
    n = len(times)
    starts = decode_runs(times, keyframes)
    workers = max(1, min(int(workers), len(starts)))
    if workers == 1:
        return [slice(0, n)] if n else []
    costs = run_costs(times, keyframes, starts)
    cum = np.cumsum(costs)
    total = cum[-1]
    # cut k lies after the run whose cumulative cost is closest to k/workers of the total
    cuts = []
    for k in range(1, workers):
        j = int(np.argmin(np.abs(cum[:-1] - total * k / workers))) + 1
        if (not cuts or j > cuts[-1]) and j < len(starts):
            cuts.append(j)
    bounds = [0, *(int(starts[j]) for j in cuts), n]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
