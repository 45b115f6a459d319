"""One error type for mmlong: a single line that names the problem and the fix.

Every user-facing failure (bad grid, unknown scheme, missing extra, unreadable video)
is raised as :class:`MmlongError` so the CLI can print it without a traceback.
"""

from __future__ import annotations


class MmlongError(ValueError):
    """A user-facing error; ``str(err)`` is one line saying what is wrong and how to fix it."""


def reject_unknown_fields(cls, given, what: str, where: str = "") -> None:
    """Raise unless every name in ``given`` is a field of the dataclass ``cls``.

    Example: ``reject_unknown_fields(Budgets, {"locl": 1}, "sparse budget")`` raises
    ``unknown sparse budget(s) locl; valid: local, ...`` (``where`` is inserted before "; valid").
    """
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls)}
    bad = sorted(set(given) - names)
    if bad:
        raise MmlongError(f"unknown {what}(s) {', '.join(bad)}{where}; valid: {', '.join(sorted(names))}")


def first_line(exc: BaseException, *, typed: bool = False) -> str:
    """The first line of an exception's message, or its type name when it has none.

    ``typed=True`` prefixes the type: ``"KeyError: 'x'"`` (how eval sample records store errors).
    """
    lines = str(exc).strip().splitlines()
    if not lines:
        return type(exc).__name__
    return f"{type(exc).__name__}: {lines[0]}" if typed else lines[0]


def user_line(exc: BaseException) -> str:
    """What a user is shown: an :class:`MmlongError`'s message, any other error with its type."""
    return first_line(exc, typed=not isinstance(exc, MmlongError))


def require(module: str, extra: str):
    """Import an optional dependency or fail with the extra to install.

    Args:
        module: importable module name, e.g. ``"gradio"``.
        extra: the mmlong extra that provides it, e.g. ``"ui"``.

    Returns:
        The imported module.

    Raises:
        MmlongError: ``"... needs 'gradio': pip install 'mmlong[ui]'"``.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - message path tested via a fake module
        raise MmlongError(
            f"this feature needs the optional package {module!r} ({exc}); "
            f"install it with: pip install 'mmlong[{extra}]'"
        ) from None
