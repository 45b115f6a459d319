"""The data order of a run: seeded, length-grouped global batches, a pure function of (seed, epoch).

Because the order is recomputed, not stored, a resumed run continues exactly where it
stopped: micro-batch ``i`` of the run is batch ``i % n`` of epoch ``i // n``.

Length grouping (as HF's ``LengthGroupedSampler``): shuffle, cut into mega-batches of
``mega * batch_size`` examples, sort each by length (longest first), cut into batches, then
shuffle the batches. Example: lengths ``[5, 1, 9, 2]``, batch 2, one mega-batch: sorted
``[9, 5, 2, 1]`` -> batches ``[[2, 0], [3, 1]]`` (indices), in a seeded order.
"""

from __future__ import annotations

import random

__all__ = ["epoch_batches", "position"]


def epoch_batches(lengths: list[int], batch_size: int, *, seed: int, epoch: int, group_by_length: bool = True,
                  mega: int = 50) -> list[list[int]]:
    """The batches (lists of example indices) of one epoch; the last partial batch is dropped.

    Raises:
        ValueError: fewer examples than one batch (the caller turns it into a one-line error).
    """
    n = len(lengths)
    if n < batch_size:
        raise ValueError(f"{n} usable examples cannot fill one batch of {batch_size}")
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(n))
    rng.shuffle(order)
    if group_by_length:
        size = mega * batch_size
        order = [i for k in range(0, n, size) for i in sorted(order[k:k + size], key=lambda j: -lengths[j])]
    batches = [order[k:k + batch_size] for k in range(0, n - batch_size + 1, batch_size)]
    if group_by_length:
        rng.shuffle(batches)
    return batches


def position(micro_batch: int, per_epoch: int) -> tuple[int, int]:
    """``(epoch, batch index in that epoch)`` of the run's ``micro_batch``-th micro-batch."""
    return divmod(micro_batch, per_epoch)
