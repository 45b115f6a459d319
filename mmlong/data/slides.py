"""Render lecture slides with PIL: a plain background, a title and 3-5 bullet lines.

Font: Pillow's bundled TrueType font, ``ImageFont.load_default(size=...)`` (Aileron
Regular, shipped inside Pillow >= 10.1 when it is built with FreeType, which the PyPI
wheels are). It needs no system font, so slides render the same offline on any machine.
If that Pillow lacks FreeType, DejaVu Sans (Debian ``fonts-dejavu-core``) is used when
present; otherwise :class:`~mmlong.errors.MmlongError` names both fixes.

Text is dark on a light pastel background, large (title about 1/9 of the frame height,
bullets about 1/12), so OCR reads it after H.264 compression at 640x360.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from mmlong.errors import MmlongError

__all__ = ["BACKGROUNDS", "render_slide"]

#: Light pastel backgrounds; consecutive slides never share one.
BACKGROUNDS: tuple[tuple[int, int, int], ...] = (
    (245, 245, 235), (220, 235, 250), (235, 250, 220), (250, 228, 228),
    (240, 228, 250), (250, 240, 210), (215, 245, 240), (230, 230, 230),
)  # fmt: skip
_TEXT = (20, 20, 40)
_DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


@lru_cache(maxsize=32)
def _font(size: int):
    """A TrueType font of ``size`` pixels (see the module docstring for the choice)."""
    from PIL import ImageFont

    try:
        font = ImageFont.load_default(size=size)
        if isinstance(font, ImageFont.FreeTypeFont):
            return font
    except (TypeError, OSError):  # Pillow < 10.1 or no FreeType
        pass
    try:
        return ImageFont.truetype(_DEJAVU, size)
    except OSError:
        raise MmlongError(
            "slides need a TrueType font: install Pillow >= 10.1 with FreeType (pip install -U pillow) "
            "or apt-get install fonts-dejavu-core"
        ) from None


def _fit(draw, lines: list[str], size: int, width: int):
    """Largest font <= ``size`` at which every line is at most ``width`` pixels wide."""
    while True:
        font = _font(size)
        if size <= 10 or all(draw.textlength(line, font=font) <= width for line in lines):
            return font
        size -= 2


def render_slide(
    title: str,
    lines: list[str] | tuple[str, ...],
    *,
    size: tuple[int, int] = (640, 360),
    background: tuple[int, int, int] = BACKGROUNDS[0],
) -> np.ndarray:
    """Draw one slide.

    Args:
        title: the slide title (drawn bold via a text stroke, with a rule below it).
        lines: bullet lines, drawn one per row after a disc-shaped bullet mark.
        size: (width, height) in pixels.
        background: RGB background colour.

    Returns:
        (height, width, 3) uint8 RGB image.
    """
    from PIL import Image, ImageDraw

    width, height = size
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    margin = max(8, width // 20)
    usable = width - 2 * margin
    title_font = _fit(draw, [title], max(12, height // 9), usable)
    draw.text((margin, height // 20), title, font=title_font, fill=_TEXT, stroke_width=1, stroke_fill=_TEXT)
    rule_y = height // 20 + int(title_font.size * 1.35)
    draw.line([(margin, rule_y), (width - margin, rule_y)], fill=_TEXT, width=max(1, height // 180))

    step = (height - rule_y - height // 20) / max(len(lines), 1)
    indent = max(12, width // 24)
    body_font = _fit(draw, list(lines), min(max(10, height // 12), int(step * 0.75)), usable - indent)
    dot = max(2, body_font.size // 8)
    for i, line in enumerate(lines):
        y = rule_y + height // 30 + i * step
        cy = y + body_font.size * 0.6  # bullet mark drawn as a disc: the bundled font has no U+2022
        draw.ellipse([margin, cy - dot, margin + 2 * dot, cy + dot], fill=_TEXT)
        draw.text((margin + indent, y), line, font=body_font, fill=_TEXT)
    return np.asarray(image)
