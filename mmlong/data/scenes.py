"""Generated captioned scenes for CLIP training and retrieval tests (no downloads).

A scene is a ``size`` x ``size`` image cut into a 2 x 2 grid; each cell holds one coloured
shape. Its short caption names the top-left object; its compact caption names the four
objects in reading order (at most 20 CLIP tokens); its long caption names every cell, in
reading order, with ``filler`` neutral sentences before the last cells, so the details that
tell two scenes apart can lie past CLIP's 77 tokens::

    scenes = make_scenes(8, seed=0)
    scenes[0].short    # "A red circle at the top left."
    scenes[0].compact  # "red circle, blue square, green triangle, white square."
    spans = write_scene_video("scenes.mp4", scenes, seconds=3.0)   # [(0.0, 3.0), (3.0, 6.0), ...]
    write_caption_folder("data/", scenes)          # images/ + captions.jsonl (mmlong train longclip)
    write_retrieval_folder("urban/", scenes)       # image/N.png + caption/N.txt (Urban-1k layout)
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

__all__ = ["Scene", "make_scenes", "render", "write_caption_folder", "write_retrieval_folder", "write_scene_video",
           "COLORS", "SHAPES", "CELLS"]

COLORS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 70, 220), "yellow": (230, 210, 40),
          "purple": (150, 60, 190), "white": (245, 245, 245)}
SHAPES = ("square", "circle", "triangle")
CELLS = ("top left", "top right", "bottom left", "bottom right")
_FILLER = ("The picture is calm and evenly lit.", "Nothing else stands out in the frame.",
           "The background is a plain dark grey.", "The shapes are drawn with clean edges.")


@dataclasses.dataclass(frozen=True)
class Scene:
    """Four ``(colour, shape)`` objects in :data:`CELLS` order, and the scene's captions."""

    objects: tuple
    filler: int = 0

    @property
    def short(self) -> str:
        c, s = self.objects[0]
        return f"A {c} {s} at the {CELLS[0]}."

    @property
    def compact(self) -> str:
        return ", ".join(f"{c} {s}" for c, s in self.objects) + "."

    @property
    def long(self) -> str:
        parts = [self.short]
        parts += [_FILLER[i % len(_FILLER)] for i in range(self.filler)]
        parts += [f"At the {cell} there is a {c} {s}." for cell, (c, s) in zip(CELLS[1:], self.objects[1:])]
        return " ".join(parts)


def make_scenes(n: int, *, seed: int = 0, filler: int = 0) -> list[Scene]:
    """``n`` distinct random scenes (a seeded stream)."""
    rng, seen, out = random.Random(seed), set(), []
    while len(out) < n:
        objs = tuple((rng.choice(list(COLORS)), rng.choice(SHAPES)) for _ in CELLS)
        if objs not in seen:
            seen.add(objs)
            out.append(Scene(objs, filler))
    return out


def render(scene: Scene, size: int = 64):
    """The scene as an ``(size, size, 3)`` uint8 array."""
    import numpy as np

    img = np.full((size, size, 3), 60, np.uint8)
    half = size // 2
    yy, xx = np.mgrid[0:half, 0:half]
    c = (half - 1) / 2
    masks = {"square": (abs(yy - c) < half * 0.35) & (abs(xx - c) < half * 0.35),
             "circle": (yy - c) ** 2 + (xx - c) ** 2 < (half * 0.4) ** 2,
             "triangle": (yy > half * 0.15) & (yy < half * 0.85) & (abs(xx - c) < (yy - half * 0.15) * 0.6)}
    for k, (colour, shape) in enumerate(scene.objects):
        y0, x0 = (k // 2) * half, (k % 2) * half
        img[y0:y0 + half, x0:x0 + half][masks[shape]] = COLORS[colour]
    return img


def write_caption_folder(root: str | Path, scenes: list[Scene], size: int = 64) -> Path:
    """``root/images/N.png`` + ``root/captions.jsonl`` rows ``{"image", "long", "short"}``; returns root."""
    from PIL import Image

    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, sc in enumerate(scenes):
        Image.fromarray(render(sc, size)).save(root / "images" / f"{i:05d}.png")
        lines.append(json.dumps({"image": f"{i:05d}.png", "long": sc.long, "short": sc.short}) + "\n")
    (root / "captions.jsonl").write_text("".join(lines))
    return root


def write_retrieval_folder(root: str | Path, scenes: list[Scene], size: int = 64, *, short: bool = False) -> Path:
    """The Urban-1k layout: ``root/image/N.png`` and ``root/caption/N.txt`` (first line the caption)."""
    from PIL import Image

    root = Path(root)
    (root / "image").mkdir(parents=True, exist_ok=True)
    (root / "caption").mkdir(parents=True, exist_ok=True)
    for i, sc in enumerate(scenes):
        Image.fromarray(render(sc, size)).save(root / "image" / f"{i:05d}.png")
        (root / "caption" / f"{i:05d}.txt").write_text((sc.short if short else sc.long) + "\n")
    return root


def write_scene_video(path: str | Path, scenes: list[Scene], *, seconds: float = 3.0, fps: float = 2.0,
                      size: int = 64) -> list[tuple[float, float]]:
    """The scenes shown one after another for ``seconds`` each, as H.264 at ``fps``; returns each
    scene's ``(start, end)`` span in seconds."""
    from mmlong.data.mp4 import write_slideshow

    spans = [(i * seconds, (i + 1) * seconds) for i in range(len(scenes))]
    write_slideshow(path, [(a, b, render(s, size)) for (a, b), s in zip(spans, scenes)], fps=fps)
    return spans
