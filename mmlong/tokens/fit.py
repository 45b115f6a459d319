"""Does a plan fit the machine? Refuse one whose memory estimate exceeds what is free, up front.

A request whose KV cache and activations (:attr:`mmlong.tokens.planner.Plan.memory`) do not
fit would be killed by the kernel (CPU) or fail deep inside ``generate`` (CUDA) with no line a
user can act on; :func:`check_fits` refuses it before any frame is decoded and names the
largest token budget that fits, found by planning the same video with smaller budgets::

    p = plan(src, model, settings)
    check_fits(p, lambda b: plan(src, model, dataclasses.replace(settings, budget=b)), "cpu")

Free memory (:func:`available_bytes`): on CPU the kernel's ``MemAvailable`` (``/proc/meminfo``,
else ``os.sysconf``); on CUDA ``torch.cuda.mem_get_info`` plus what PyTorch's allocator holds
unused. The model's weights are already loaded when the direct route plans, so they are not
counted again.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from mmlong.errors import MmlongError
from mmlong.tokens.memory import human_bytes as _human

__all__ = ["available_bytes", "check_fits", "largest_fitting_budget"]



def available_bytes(device: str) -> int | None:
    """Memory free for a request on ``device`` (bytes), or None when it cannot be told."""
    if str(device).startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return None
        index = torch.device(device).index
        index = torch.cuda.current_device() if index is None else index
        free, _ = torch.cuda.mem_get_info(index)
        return int(free + torch.cuda.memory_reserved(index) - torch.cuda.memory_allocated(index))
    if str(device) != "cpu":
        return None  # mps, xpu, ...: no portable query
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _needs(p: Any) -> int | None:
    return None if p.memory is None else int(p.memory.total_bytes)


def largest_fitting_budget(replan: Callable[[int], Any], available: int, upper: int) -> int | None:
    """The largest budget ``b <= upper`` whose plan ``replan(b)`` needs at most ``available`` bytes.

    Budgets too small for one frame (``replan`` raises :class:`MmlongError`) are skipped; memory
    grows with the budget, so two binary searches suffice. None when no budget fits.
    """
    def plannable(b: int):
        try:
            return replan(b)
        except MmlongError:
            return None

    lo, hi = 1, max(1, int(upper))
    if plannable(hi) is None:
        return None
    while lo < hi:  # the smallest budget that holds one frame
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if plannable(mid) is not None else (mid + 1, hi)
    first = plannable(lo)
    if (_needs(first) or 0) > available:
        return None
    best, hi = lo, max(lo, int(upper))
    while best < hi:  # the largest that fits
        mid = (best + hi + 1) // 2
        got = plannable(mid)
        if got is not None and (_needs(got) or 0) <= available:
            best = mid
        else:
            hi = mid - 1
    return best


def check_fits(p: Any, replan: Callable[[int], Any], device: str, *, available: int | None = None) -> None:
    """Raise a one-line :class:`MmlongError` when plan ``p`` needs more memory than ``device`` has free.

    Args:
        p: the :class:`~mmlong.tokens.planner.Plan` about to run (no memory estimate: no check).
        replan: the same video and settings planned with another token budget, ``budget -> Plan``.
        device: the model's device (``"cpu"``, ``"cuda:0"``).
        available: free bytes (default: :func:`available_bytes`; unknown: no check).
    """
    need = _needs(p)
    free = available_bytes(device) if available is None else available
    if need is None or free is None or need <= free:
        return
    m = p.memory
    what = (f"this request needs about {_human(need)} ({p.total_tokens} visual tokens, seq {m.seq_len}: KV cache "
            f"{_human(m.kv_cache_bytes)} + activations {_human(max(m.activation_bytes, m.vision_activation_bytes))}) "
            f"but {device} has {_human(free)} free")
    best = largest_fitting_budget(replan, free, p.total_tokens - 1)
    if best is None:
        raise MmlongError(f"{what}, and even one frame does not fit; free memory, use a smaller model or another "
                          "device (--device)")
    raise MmlongError(f"{what}; pass --budget {best} (budget={best} in Python), the largest visual token budget that "
                      "fits, or fewer frames (--max-frames / --fps)")
