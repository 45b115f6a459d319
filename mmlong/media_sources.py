"""Where an image or video reference points: a path, a ``file://`` URL, a ``data:`` string or an http(s) URL.

The forms qwen-vl-utils users pass, turned into a local file once, for images
(:func:`mmlong.models.vision_inputs.load_images`) and videos (:func:`mmlong.video.open`) alike::

    local_path("talk.mp4")                           # a path: returned as it is
    local_path("file:///data/talk.mp4")              # -> Path("/data/talk.mp4")
    local_path("data:image/png;base64,iVBORw0...")   # -> a temporary .png holding the decoded bytes
    local_path("https://example.org/talk.mp4")       # -> a temporary .mp4, fetched once per process

``file://`` takes what follows the scheme as the path (``file:///a b.mp4`` and
``file:///a%20b.mp4`` both mean ``/a b.mp4``); a ``data:`` string is base64 (``;base64,``) or
percent-encoded bytes (RFC 2397). Fetched and decoded files live in one temporary folder,
removed when the process exits; the same reference is resolved once per process.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import hashlib
import mimetypes
import os
import shutil
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

from mmlong.errors import MmlongError

__all__ = ["is_url", "local_path", "label", "FETCH_TIMEOUT_S"]

FETCH_TIMEOUT_S = 30.0  # seconds an http(s) fetch may wait for the server
_SCHEMES = ("file://", "data:", "http://", "https://")
_resolved: dict[str, Path] = {}  # reference digest -> local file, for this process
_folder: list[Path] = []  # the temporary folder, made on first need


def is_url(ref: Any) -> bool:
    """Whether ``ref`` is a string in one of the URL forms (``file://``, ``data:``, ``http(s)://``)."""
    return isinstance(ref, str) and ref[:8].lower().startswith(_SCHEMES)


def label(ref: Any) -> str:
    """``ref`` as an error message shows it: a ``data:`` string cut to its header, e.g.
    ``"data:video/mp4;base64,... (12,345 characters)"``; anything else as ``repr``."""
    if isinstance(ref, str) and ref[:5].lower() == "data:":
        return f"'{ref.split(',', 1)[0]},...' ({len(ref):,} characters)"
    return repr(os.fspath(ref)) if isinstance(ref, (str, os.PathLike)) else repr(ref)


def local_path(ref: Any, what: str = "video", *, timeout: float = FETCH_TIMEOUT_S) -> Any:
    """A local file for ``ref``; anything that is not a URL string is returned unchanged.

    Args:
        ref: a path, a ``file://`` URL, a ``data:`` string or an http(s) URL.
        what: the kind of media, for error messages (``"video"``, ``"image"``).
        timeout: seconds an http(s) fetch may wait.

    Returns:
        ``ref`` itself, or a :class:`~pathlib.Path` to the file it names or holds.

    Raises:
        MmlongError: a malformed ``data:`` string, or an http(s) URL that cannot be fetched.
    """
    if not is_url(ref):
        return ref
    scheme = ref.split(":", 1)[0].lower()
    if scheme == "file":
        return _file_url(ref)
    key = hashlib.sha256(ref.encode("utf-8", "surrogatepass")).hexdigest()
    if key in _resolved and _resolved[key].exists():
        return _resolved[key]
    if scheme == "data":
        data, mime = _data_url(ref, what)
        path = _write(key, data, mime, "")
    else:
        path = _fetch(ref, key, what, timeout)
    _resolved[key] = path
    return path


def _file_url(ref: str) -> Path:
    """``file:///a/b.mp4`` -> ``/a/b.mp4``; percent escapes decoded unless the raw name exists."""
    raw = ref[len("file://"):]
    if raw.lower().startswith("localhost/"):
        raw = raw[len("localhost"):]
    decoded = urllib.parse.unquote(raw)
    return Path(raw if os.path.exists(raw) and not os.path.exists(decoded) else decoded)


def _data_url(ref: str, what: str) -> tuple[bytes, str]:
    """``(bytes, media type)`` of a ``data:[<type>][;base64],<data>`` string."""
    header, sep, body = ref[len("data:"):].partition(",")
    if not sep:
        raise MmlongError(f"{what} {label(ref)} is not a data: URL (no comma); write data:<type>;base64,<data>")
    params = header.split(";")
    try:
        if "base64" in (p.strip().lower() for p in params[1:]):
            data = base64.b64decode("".join(body.split()), validate=True)
        else:
            data = urllib.parse.unquote_to_bytes(body)
    except (binascii.Error, ValueError):
        raise MmlongError(f"{what} {label(ref)} does not hold valid base64; encode the file with "
                          "base64.b64encode(open(path, 'rb').read()).decode()") from None
    if not data:
        raise MmlongError(f"{what} {label(ref)} holds no bytes; pass the encoded file after the comma")
    return data, params[0].strip().lower()


def _fetch(url: str, key: str, what: str, timeout: float) -> Path:
    """Download ``url`` into the temporary folder."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            mime = response.headers.get_content_type() if response.headers else ""
            path = _target(key, mime, urllib.parse.urlparse(url).path)
            with open(path, "wb") as fh:
                shutil.copyfileobj(response, fh)
    except urllib.error.HTTPError as exc:
        raise MmlongError(f"cannot fetch {what} {url!r}: the server answered HTTP {exc.code} {exc.reason}; "
                          "check the URL") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise MmlongError(f"cannot fetch {what} {url!r}: {' '.join(str(reason).split())}; check the URL and the "
                          "network, or download the file and pass its path") from None
    return path


def _target(key: str, mime: str, url_path: str) -> Path:
    """The temporary file for a reference: named by its digest, with the suffix of its type or URL."""
    if not _folder:
        _folder.append(Path(tempfile.mkdtemp(prefix="mmlong-media-")))
        atexit.register(shutil.rmtree, _folder[0], ignore_errors=True)
    suffix = Path(url_path).suffix if Path(url_path).suffix.isascii() else ""
    suffix = suffix or (mimetypes.guess_extension(mime) or "" if mime else "")
    return _folder[0] / f"{key[:24]}{suffix[:10]}"


def _write(key: str, data: bytes, mime: str, url_path: str) -> Path:
    path = _target(key, mime, url_path)
    path.write_bytes(data)
    return path
