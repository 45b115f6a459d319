"""Uploads of the demo: validation, one private temp dir per browser session, cleanup.

Nothing here imports gradio, torch or a decoder, so it is unit-testable on its own::

    sessions = SessionManager()                 # <tmp>/mmlong-demo-XXXX (mode 0700)
    s = sessions.open("gradio-session-hash")    # <root>/sessions/<random> (mode 0700)
    up = s.adopt("/tmp/gradio/abc/talk.mp4", max_bytes=2 << 30)   # moved in, mode 0600
    up.kind, up.path, up.name                   # "video", <session dir>/video-<token>.mp4, "talk.mp4"
    sessions.close("gradio-session-hash")       # deletes the dir and runs cleanup hooks

Rules:

* The extension must be a video (``.mp4 .mkv .webm .mov .avi``) or ``.pdf`` and the first
  bytes must agree: ``%PDF-`` for PDFs; an ISO-BMFF box (``ftyp``/``moov``/``mdat``...),
  EBML (Matroska/WebM) or ``RIFF....AVI`` for videos. A text file renamed ``.mp4`` is
  refused with a one-line :class:`UploadError`, before any decoder sees it; a still image named
  like a video is refused as an image (:func:`mmlong.video.source.still_image_format`, the rule
  every video reader applies).
* Size: at most ``max_bytes`` (default 2 GiB), and not empty.
* The accepted file is *moved* out of the web server's upload cache into the session dir
  (so the server cannot serve it back), renamed ``video-<token><ext>`` / ``doc-<token>.pdf``
  (the user's file name is kept for display only), and made owner-only (0600). Errors about it
  name it by that file name (:meth:`Upload.redact`), never by its path on the server.
* A refused upload is deleted at once.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import stat
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from mmlong.errors import MmlongError, user_line

__all__ = ["VIDEO_EXTS", "DOC_EXTS", "DEFAULT_MAX_BYTES", "UploadError", "Upload", "Session", "SessionManager",
           "sniff", "check_upload"]

VIDEO_EXTS = (".mp4", ".mkv", ".webm", ".mov", ".avi")
DOC_EXTS = (".pdf",)
DEFAULT_MAX_BYTES = 2048 * 1024 * 1024
_ISO_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")
_ALLOWED = ", ".join(e[1:] for e in VIDEO_EXTS)


class UploadError(MmlongError):
    """An upload that the demo refuses (one line: what is wrong and what to upload instead)."""


def _mb(n: int) -> str:
    return f"{n / 1024 ** 2:.1f} MB" if n < 1024 ** 3 else f"{n / 1024 ** 3:.2f} GB"


def sniff(head: bytes) -> str | None:
    """What the first bytes of a file are: ``"pdf"``, ``"video"`` or None.

    ``head`` should be the first 1 KiB or more (a PDF header may follow some junk bytes).
    Examples: ``sniff(b"%PDF-1.7...") == "pdf"``; ``sniff(b"\\0\\0\\0\\x18ftypmp42") == "video"``;
    ``sniff(b"hello") is None``.
    """
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if len(head) >= 8 and head[4:8] in _ISO_BOXES:  # mp4 / mov / m4v (ISO base media)
        return "video"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: mkv / webm
        return "video"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video"
    return None


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)


@dataclass(frozen=True)
class Upload:
    """An accepted upload.

    Attributes:
        kind: ``"video"`` or ``"pdf"``.
        path: the file inside the session's private dir.
        name: the user's file name (display only; never used as a path).
        size: bytes.
        token: random id of this upload (part of the stored file's name).
    """

    kind: str
    path: Path
    name: str
    size: int
    token: str

    def redact(self, exc: BaseException) -> MmlongError:
        """``exc`` as a one-line error that names this upload by the user's file name, never by its
        path on the server (nor any other path inside the session's private dir).

        Example: ``cannot read video '/tmp/mmlong-demo-x/sessions/s-y/video-1f.mp4': ...`` ->
        ``cannot read video 'talk.mp4': ...``.
        """
        line = user_line(exc).replace(str(self.path), self.name)
        line = line.replace(str(self.path.parent) + os.sep, "").replace(str(self.path.parent), "the upload folder")
        return MmlongError(line)


def check_upload(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES, name: str | None = None) -> str:
    """Validate an uploaded file and return its kind (``"video"`` or ``"pdf"``).

    Args:
        path: the uploaded file.
        max_bytes: size limit.
        name: the user's file name for messages and the extension check (default: ``path``'s).

    Raises:
        UploadError: missing, empty, too large, wrong extension, or content that is not a
            video container / PDF.
    """
    p = Path(path)
    shown = name or p.name
    if not p.is_file():
        raise UploadError(f"the upload {shown!r} did not arrive (no file); upload it again")
    size = p.stat().st_size
    if size == 0:
        raise UploadError(f"{shown!r} is empty; upload a video ({_ALLOWED}) or a PDF")
    if size > max_bytes:
        raise UploadError(f"{shown!r} is {_mb(size)}, over this demo's {_mb(max_bytes)} limit; trim it "
                          "(e.g. ffmpeg -t 600 -c copy) or restart with a larger --max-upload-mb")
    ext = Path(shown).suffix.lower()
    if ext not in VIDEO_EXTS + DOC_EXTS:
        raise UploadError(f"{shown!r}: {ext or 'files without an extension'} is not supported; "
                          f"upload a video ({_ALLOWED}) or a PDF")
    with open(p, "rb") as f:
        head = f.read(4096)
    want = "pdf" if ext in DOC_EXTS else "video"
    got = sniff(head)
    if got is None and want == "video":
        from mmlong.video.source import still_image_format  # the one "image given as a video" rule

        image = still_image_format(p)
        if image is not None:
            raise UploadError(f"{shown!r} is a {image} image, not a video; this demo answers about videos "
                              f"({_ALLOWED}) and PDFs")
    if got is None:
        what = "text" if _looks_like_text(head) else "neither a video container nor a PDF"
        raise UploadError(f"{shown!r} is not a {'PDF' if want == 'pdf' else 'video'}: its content is {what}; "
                          f"upload a real video ({_ALLOWED}) or PDF file")
    if got != want:
        raise UploadError(f"{shown!r} is named like a {'PDF' if want == 'pdf' else 'video'} but its content is a "
                          f"{'PDF' if got == 'pdf' else 'video'}; rename it to the right extension and upload again")
    return want


def _private_dir(parent: Path | None, prefix: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix=prefix, dir=str(parent) if parent else None))
    os.chmod(d, stat.S_IRWXU)  # 0700 (mkdtemp already does this; be explicit)
    return d


class Session:
    """One browser session: a private dir, its current upload, and cleanup hooks."""

    def __init__(self, root: Path, key: str | None = None):
        self.key = key
        self.dir = _private_dir(root, "s-")
        self.upload: Upload | None = None
        self.history: list[dict] = []  # questions asked about the current upload
        self.meta: dict | None = None  # what the app learned about the upload (duration, pages, ...)
        self.strip_captions: list[str] = []  # captions of the frame strip last shown (clicks seek by them)
        self._hooks: list[Callable[[], None]] = []  # run (and dropped) when the upload is replaced or deleted
        self.closed = False

    def __repr__(self) -> str:
        return f"Session({self.dir}, upload={self.upload.name if self.upload else None}, closed={self.closed})"

    def on_cleanup(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` when the current upload is replaced or the session is closed
        (e.g. delete the web server's copy for the video player, or cached stage-1 text)."""
        self._hooks.append(fn)

    def _drop_upload(self) -> None:
        hooks, self._hooks = self._hooks, []
        for fn in hooks:
            try:
                fn()
            except Exception:  # noqa: BLE001 - cleanup is best effort, never fails a request
                pass
        if self.upload is not None:
            self.upload.path.unlink(missing_ok=True)
        self.upload, self.history, self.meta = None, [], None

    def discard(self) -> None:
        """Delete the current upload (and run its cleanup hooks); the session stays open."""
        self._drop_upload()

    def adopt(self, src: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES, name: str | None = None) -> Upload:
        """Validate ``src`` and move it into this session's dir (replacing the previous upload).

        The source is deleted whether it is accepted or not.

        Raises:
            UploadError: see :func:`check_upload`; also when the session is closed.
        """
        src = Path(src)
        shown = Path(name or src.name).name
        try:
            if self.closed:
                raise UploadError("this session has ended; reload the page and upload again")
            kind = check_upload(src, max_bytes=max_bytes, name=shown)
            self._drop_upload()
            token = secrets.token_hex(8)
            ext = Path(shown).suffix.lower()
            dst = self.dir / f"{'video' if kind == 'video' else 'doc'}-{token}{ext}"
            shutil.move(str(src), str(dst))
            os.chmod(dst, stat.S_IRUSR | stat.S_IWUSR)
        finally:
            src.unlink(missing_ok=True)
        self.upload = Upload(kind, dst, shown, dst.stat().st_size, token)
        return self.upload

    def close(self) -> None:
        """Delete the upload, run the hooks and remove the dir (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self._drop_upload()
        shutil.rmtree(self.dir, ignore_errors=True)


OWNER_FILE = "owner.pid"  # the demo process that owns a default root


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def sweep_orphans(tmp: str | Path | None = None) -> list[Path]:
    """Delete default demo roots (``mmlong-demo-*`` in the temp dir) whose owner process is gone.

    An atexit hook removes a root on a normal exit; a killed server (SIGKILL, OOM) leaves its
    uploads behind, so each new server removes the roots of dead ones. Roots without an owner
    file or owned by a live process (another demo) are left alone. Returns the removed roots.
    """
    removed = []
    for root in Path(tmp or tempfile.gettempdir()).glob("mmlong-demo-*"):
        try:
            if root.stat().st_uid != os.getuid():  # another user's demo
                continue
            pid = int((root / OWNER_FILE).read_text().strip())
        except (OSError, ValueError, KeyError):
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(root, ignore_errors=True)
            removed.append(root)
    return removed


@dataclass
class SessionManager:
    """All sessions of one demo process, under one private root (0700) removed at exit.

    Attributes:
        root: the process's private dir; ``root/sessions`` holds one dir per session and
            ``root/server`` can be the web server's upload cache (see :meth:`server_dir`).
    """

    root: Path | None = None
    _sessions: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.root is None:
            sweep_orphans()
            self.root = _private_dir(None, "mmlong-demo-")
            (self.root / OWNER_FILE).write_text(str(os.getpid()))
            atexit.register(shutil.rmtree, str(self.root), True)
        else:
            self.root = Path(self.root)
            self.root.mkdir(parents=True, exist_ok=True)
            os.chmod(self.root, stat.S_IRWXU)
        self.sessions_dir = self.root / "sessions"
        self.sessions_dir.mkdir(exist_ok=True)
        os.chmod(self.sessions_dir, stat.S_IRWXU)

    def server_dir(self) -> Path:
        """A private dir for the web server's own upload cache (``GRADIO_TEMP_DIR``)."""
        d = self.root / "server"
        d.mkdir(exist_ok=True)
        os.chmod(d, stat.S_IRWXU)
        return d

    def open(self, key: str | None = None) -> Session:
        """A new session (registered under ``key``, e.g. the browser session id, when given)."""
        s = Session(self.sessions_dir, key)
        if key is not None:
            with self._lock:
                old = self._sessions.pop(key, None)
                self._sessions[key] = s
            if old is not None and old is not s:
                old.close()
        return s

    def get(self, key: str) -> Session | None:
        with self._lock:
            return self._sessions.get(key)

    def close(self, key: str | None) -> bool:
        """Close and forget the session registered under ``key``; False if there is none."""
        with self._lock:
            s = self._sessions.pop(key, None)
        if s is None:
            return False
        s.close()
        return True

    def close_all(self) -> None:
        with self._lock:
            items, self._sessions = list(self._sessions.values()), {}
        for s in items:
            s.close()

    def __len__(self) -> int:
        return len(self._sessions)
