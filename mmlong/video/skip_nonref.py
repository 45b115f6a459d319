"""Not decoding the pictures nothing needs: non-reference frames before a decode target.

Decoding forward from a keyframe to a target decodes every picture on the way, but a
picture that no target shows and no other picture references need not be decoded at all.
In H.264 / HEVC streams with B-frames that is about half the pictures of a typical
IBBBP pattern (the B-frames outside the b-pyramid's middle); in streams without B-frames it
is none, and decoding is unchanged. FFmpeg's decoders drop such pictures when told
``skip_frame = NONREF``; :class:`NonRefSkip` tells them, packet by packet, only where the
picture cannot be one a target shows, so every returned frame is bit-identical to a full
decode. ``MMLONG_DECODE_SKIP_NONREF=0`` turns it off.
"""

from __future__ import annotations

import os

__all__ = ["NonRefSkip", "skip_nonref"]


def skip_nonref() -> bool:
    """Whether decoders drop unneeded non-reference pictures (``MMLONG_DECODE_SKIP_NONREF``, default on)."""
    return os.environ.get("MMLONG_DECODE_SKIP_NONREF", "1").strip() != "0"


class NonRefSkip:
    """Decide, packet by packet, whether the decoder may drop a frame nothing references.

    A packet may be dropped when its picture is never shown: its pts lies before the
    target's and some packet already demuxed has a pts between the two (so a later
    picture, not this one, is shown at the target and at every later one). The decoder is
    then told to discard the picture if nothing references it (FFmpeg's ``skip_frame =
    NONREF``: non-reference B-frames); reference pictures are always decoded, so every
    returned frame is bit-exact. Streams without B-frames decode exactly as before.

    Example: display order I0 B1 B2 B3 P4 B5 B6 B7 P8, decode order I0 P4 B2 B1 B3 P8 B6 B5
    B7 (B2 and B6 referenced), target pts 5. B2, B1 and B3 may be dropped: P4 was demuxed
    before them and is shown after them, still at or before the target (4 <= 5). The
    decoder drops B1 and B3 and decodes B2, a reference. P8, B6, B5 (the target's picture) and B7 are all decoded.
    """

    _RECENT = 16  # packets looked back on: H.264 / HEVC reorder at most 16 pictures

    def __init__(self, codec_context):
        self._ctx = codec_context
        self._ctx.skip_frame = "DEFAULT"  # a decoder reused after a seek may still be skipping
        self._recent: list[int] = []
        self._skipping = False

    def before(self, pts: int | None, target_pts: float) -> None:
        """Set the decoder's discard level for the packet with ``pts`` (None: decode)."""
        skip = pts is not None and pts < target_pts and any(pts < q <= target_pts for q in self._recent)
        if skip != self._skipping:
            self._ctx.skip_frame = "NONREF" if skip else "DEFAULT"
            self._skipping = skip
        if pts is not None:
            self._recent.append(pts)
            if len(self._recent) > self._RECENT:
                del self._recent[0]
