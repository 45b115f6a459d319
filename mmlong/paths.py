"""Output paths given on the command line, checked before anything is written or loaded.

::

    check_output_dir("runs/", "--output-path")      # a folder is there, or can be made there
    make_output_dir("runs/oracle", "--output-path")  # ... and make it
    check_output_file("p.json", "--out")            # a file can be written there (not a folder)

Each refusal is one :class:`~mmlong.errors.MmlongError` line naming the flag and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path

from mmlong.errors import MmlongError

__all__ = ["check_output_dir", "make_output_dir", "check_output_file"]


def _creatable(p: Path, flag: str) -> None:
    """Raise unless the nearest existing ancestor of ``p`` is a folder this process can write into."""
    anc = p
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise MmlongError(f"{flag} {str(p)!r} cannot be created: {str(anc)!r} is a file, not a folder; "
                          "pass another path")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise MmlongError(f"{flag} {str(p)!r} cannot be written: {str(anc)!r} is not writable; pass a folder you "
                          "can write to")


def check_output_dir(path: str | os.PathLike, flag: str) -> Path:
    """``path`` as a Path when it is a folder or one can be created there (nothing is created).

    Raises:
        MmlongError: ``path`` is a file, lies under a file, or under a folder that is not writable.
    """
    p = Path(os.fspath(path)).expanduser()
    if p.exists() and not p.is_dir():
        raise MmlongError(f"{flag} {str(path)!r} is a file, not a folder; pass a folder (it is created when missing)")
    _creatable(p, flag)
    return p


def make_output_dir(path: str | os.PathLike, flag: str) -> Path:
    """:func:`check_output_dir`, then create the folder (with its parents)."""
    p = check_output_dir(path, flag)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MmlongError(f"cannot create the {flag} folder {str(p)!r}: {exc.strerror or exc}; pass another "
                          "folder") from None
    return p


def check_output_file(path: str | os.PathLike, flag: str) -> Path:
    """``path`` as a Path when a file can be written there (its folder is created on writing).

    Raises:
        MmlongError: ``path`` is a folder, or its folder cannot be created or written.
    """
    p = Path(os.fspath(path)).expanduser()
    if p.is_dir():
        raise MmlongError(f"{flag} {str(path)!r} is a folder; pass a file path, e.g. {flag} {p / 'out.json'}")
    if p.exists():
        if not os.access(p, os.W_OK):
            raise MmlongError(f"{flag} {str(path)!r} is not writable; pass another file path")
        return p
    _creatable(p.parent, flag)
    return p
