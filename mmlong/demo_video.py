"""Write the demo video used by ``make demo``: ``python -m mmlong.demo_video OUT.mp4``.

The clip is 20 s at 30 fps, 128×128: the background is red for the first 10 s and blue
afterwards, and the top half shows each frame's index as black/white blocks (see
:mod:`mmlong.data.synth_video`). An existing file is left alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

SECONDS, FPS, SIZE = 20.0, 30, (128, 128)
RED, BLUE = (255, 0, 0), (0, 0, 255)


def demo_color(t: float) -> tuple[int, int, int]:
    """Red before 10 s, blue from 10 s on."""
    return RED if t < SECONDS / 2 else BLUE


def write_demo(path: str | Path) -> bool:
    """Write the demo clip to ``path`` (creating parent directories).

    Returns:
        True if it was written, False if ``path`` already existed.
    """
    from mmlong.data.synth_video import write_test_video

    path = Path(path)
    if path.exists():
        return False
    tmp = path.with_name(path.name + ".part.mp4")
    write_test_video(tmp, seconds=SECONDS, fps=FPS, size=SIZE, color_fn=demo_color)
    tmp.replace(path)  # never leave a half-written demo behind
    return True


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: ``python -m mmlong.demo_video OUT.mp4``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mmlong.demo_video OUT.mp4", file=sys.stderr)
        return 2
    written = write_demo(args[0])
    print(f"{'wrote' if written else 'exists, kept'} {args[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
