"""``mmlong.apply`` / ``mmlong.remove``: every in-place adapter on a loaded model, in one call.

    mmlong.apply(model, pos="hope", gamma=0.75)                       # position scheme
    mmlong.apply(model, prefill="mminference", patterns="p.json")      # sparse prefill (decode stays dense)
    mmlong.apply(model, pos="videorope", prefill="mminference", prefill_opts={"local": 512})
    mmlong.remove(model)                                               # back to the stock model
"""

from __future__ import annotations

from mmlong.errors import MmlongError


def apply(model, pos: str | None = None, *, prefill: str | None = None, patterns=None,
          prefill_opts: dict | None = None, **pos_opts):
    """Patch ``model`` in place; returns it.

    Args:
        model: a loaded Qwen-VL ``*ForConditionalGeneration`` (sparse prefill also takes text LMs).
        pos: position scheme (``mmlong.pos_encodings.schemes()``); None with no ``prefill`` = "native".
        prefill: ``"mminference"`` for sparse prefill attention, or None.
        patterns: sparse patterns (a ``mmlong sparse search`` JSON path, a dict, or one spec name).
        prefill_opts: sparse options (``Budgets`` fields such as ``local=512``, ``min_len``, ``kernel``).
        **pos_opts: position scheme options (``gamma``, ``delta``, ``scaling``, ``factor``, ...).
    """
    from mmlong.pos_encodings import patch as pos_patch

    if pos is None and prefill is None:
        pos = "native"
    if pos is not None:
        pos_patch.apply(model, pos, **pos_opts)
    elif pos_opts:
        raise MmlongError(f"position options {sorted(pos_opts)} need pos=...; e.g. mmlong.apply(model, pos='hope', gamma=1.5)")
    if prefill is not None:
        from mmlong.sparse import apply_prefill

        apply_prefill(model, prefill, patterns, **(prefill_opts or {}))
    elif patterns is not None or prefill_opts:
        raise MmlongError("patterns/prefill_opts need prefill='mminference'")
    return model


def remove(model):
    """Undo every mmlong adapter on ``model``; returns it."""
    from mmlong.pos_encodings import patch as pos_patch
    from mmlong.sparse import remove_prefill

    remove_prefill(model)
    pos_patch.remove(model)
    return model
