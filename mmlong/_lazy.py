"""Lazy package exports: ``import mmlong.video`` stays cheap until a name is used.

In a package ``__init__``::

    _HOMES = {"sample": "mmlong.video.sampling", "Clip": "mmlong.video.sampling"}
    __getattr__, __dir__ = lazy_exports(__name__, _HOMES, __all__)

``mmlong.video.sample`` then imports ``mmlong.video.sampling`` on first access (PEP 562).
"""

from __future__ import annotations

import importlib
import sys
from typing import Callable


def lazy_exports(package: str, homes: dict[str, str], names: list[str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``: each name in ``homes`` is read from its module."""

    def __getattr__(name: str):
        if name in homes:
            return getattr(importlib.import_module(homes[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__


def moved(old: str, new: str) -> None:
    """Make module ``old`` an alias of module ``new``, with a DeprecationWarning (kept for one release).

    A module that moved keeps its old path as a two-line file::

        from mmlong._lazy import moved
        moved(__name__, "mmlong.tokens.planner")
    """
    import warnings

    warnings.warn(f"{old} moved to {new}; the old import path will be removed in the next release",
                  DeprecationWarning, stacklevel=3)
    sys.modules[old] = importlib.import_module(new)
