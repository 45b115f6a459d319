"""MMNeedle haystacks: captioned sub-image pools, stitching, and the official sampling.

Pools (``key -> caption`` plus a loader):

* :func:`scene_pool`: drawn scenes whose caption is exact by construction ("a red circle at
  the top left and a blue square at the bottom right, on a white background"), unlimited;
* :func:`coco_pool`: a local COCO folder (``val2014/*.jpg`` + ``annotations/captions_val2014.json``,
  the caption of an image is its *last* annotation, as MMNeedle's ``file_to_caption``);
* :func:`asset_pool`: the few public-domain / CC0 images that ship inside installed packages.

:func:`stitch_metadata` and :func:`sample_sequences` follow MMNeedle's
``sample_stitched_images.py`` / ``sample_single_needle.py`` / ``sample_multiple_needles.py``
with ``random.seed(0)``-style generators; :func:`stitch` pastes sub-images resized to S x S at
(col * S, row * S) (N = 1 keeps the raw image).

:mod:`mmlong.eval.tasks.mmneedle_release` reads the *released* pre-built files instead.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mmlong.errors import MmlongError

COLOURS = {"red": (220, 30, 30), "green": (30, 160, 60), "blue": (30, 70, 220), "yellow": (240, 210, 30),
           "orange": (245, 130, 30), "purple": (140, 50, 170), "cyan": (40, 200, 210), "pink": (240, 120, 180),
           "brown": (120, 75, 30), "black": (20, 20, 20)}
BACKGROUNDS = {"white": (250, 250, 250), "gray": (150, 150, 150), "beige": (225, 210, 170), "navy": (20, 30, 80)}
SHAPES = ("circle", "square", "triangle", "diamond", "cross", "ring")
POSITIONS = ("top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right")


@dataclass(frozen=True)
class Pool:
    """Captioned images: ``keys`` in a fixed order, ``captions[key]``, ``load(key) -> PIL.Image``."""

    keys: list
    captions: dict
    load: Callable


def scene_caption(bg: str, objects: tuple) -> str:
    parts = [f"a {colour} {shape} at the {pos}" for shape, colour, pos in objects]
    return f"{' and '.join(parts)}, on a {bg} background"


def render_scene(bg: str, objects: tuple, size: int):
    """Draw a scene at ``size`` x ``size`` (objects fill their cell of a 3 x 3 grid)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), BACKGROUNDS[bg])
    draw = ImageDraw.Draw(img)
    cell = size / 3
    for shape, colour, pos in objects:
        r, c = divmod(POSITIONS.index(pos), 3)
        x0, y0 = c * cell + cell * 0.1, r * cell + cell * 0.1
        x1, y1 = (c + 1) * cell - cell * 0.1, (r + 1) * cell - cell * 0.1
        fill, mx, my = COLOURS[colour], (x0 + x1) / 2, (y0 + y1) / 2
        if shape == "circle":
            draw.ellipse([x0, y0, x1, y1], fill=fill)
        elif shape == "square":
            draw.rectangle([x0, y0, x1, y1], fill=fill)
        elif shape == "triangle":
            draw.polygon([(mx, y0), (x1, y1), (x0, y1)], fill=fill)
        elif shape == "diamond":
            draw.polygon([(mx, y0), (x1, my), (mx, y1), (x0, my)], fill=fill)
        elif shape == "cross":
            w = (x1 - x0) / 3
            draw.rectangle([mx - w / 2, y0, mx + w / 2, y1], fill=fill)
            draw.rectangle([x0, my - w / 2, x1, my + w / 2], fill=fill)
        else:  # ring
            draw.ellipse([x0, y0, x1, y1], outline=fill, width=max(1, int(cell * 0.15)))
    return img


#: Mean absolute pixel difference (0-255, over the whole image) at or below which two images count as the
#: same picture: the pixel oracle's match threshold (:func:`mmlong.eval.models.locate_by_pixels`).
MATCH_TOL = 6.0


def _signature(img, size: int):
    """``(box-averaged pixels, box side)`` of an image: box means over ``f x f`` blocks (f = size // 16).

    For two images of one size, ``f^2 * sum|sig_a - sig_b| / (size^2 * 3)`` is a lower bound of
    their mean absolute difference (averaging never grows a difference; pixels beyond the last
    whole block only add to it), so a signature distance above :data:`MATCH_TOL` proves the
    pictures are told apart.
    """
    import numpy as np

    f = max(1, size // 16)
    k = size // f
    arr = np.asarray(img, np.float32)[: k * f, : k * f]
    return arr.reshape(k, f, k, f, 3).mean(axis=(1, 3)).reshape(-1), f


def scene_pool(n: int, size: int, seed: int = 0) -> Pool:
    """``n`` two-object scenes (keys ``scene_00000.png`` ...), drawn at ``size`` px, no two alike.

    Every two scenes of the pool differ by more than :data:`MATCH_TOL` in mean absolute pixel
    difference (checked on the drawn pixels, see :func:`_signature`), so a generated haystack
    never holds a scene that passes for another one: not a negative's needle, not a second copy
    of a cell.

    Raises:
        MmlongError: ``size`` is too small to draw ``n`` scenes that far apart.
    """
    import numpy as np

    rng, seen, specs = random.Random(seed), set(), []
    colours, bgs = list(COLOURS), list(BACKGROUNDS)
    sigs: dict[str, list] = {bg: [] for bg in bgs}  # scenes on different backgrounds are far apart anyway
    tries = 0
    while len(specs) < n:
        tries += 1
        if tries > 50 * n + 1000:
            raise MmlongError(f"only {len(specs)} scenes drawn at {size} px are told apart by pixels, {n} are needed; "
                              "raise the mmneedle size or lower m / n / n_stitched")
        bg = rng.choice(bgs)
        p1, p2 = rng.sample(POSITIONS, 2)
        objs = tuple(sorted(((rng.choice(SHAPES), rng.choice(colours), p1), (rng.choice(SHAPES), rng.choice(colours), p2)),
                            key=lambda o: POSITIONS.index(o[2])))
        if (bg, objs) in seen or any(BACKGROUNDS[bg] == COLOURS[o[1]] for o in objs):
            continue
        seen.add((bg, objs))
        sig, f = _signature(render_scene(bg, objs, size), size)
        if sigs[bg]:
            gaps = np.abs(np.stack(sigs[bg]) - sig).sum(axis=1) * (f * f) / (size * size * 3)
            if gaps.min() <= MATCH_TOL:
                continue
        sigs[bg].append(sig)
        specs.append((bg, objs))
    keys = [f"scene_{i:05d}.png" for i in range(n)]
    spec_of = dict(zip(keys, specs))
    return Pool(keys, {k: scene_caption(*spec_of[k]) for k in keys}, lambda k: render_scene(*spec_of[k], size))


def coco_captions(path: str | Path) -> dict:
    """``{file_name: caption}`` from a COCO ``captions_*.json``; the *last* annotation of an image wins."""
    data = json.loads(Path(path).read_text())
    by_id = {a["image_id"]: a["caption"] for a in data["annotations"]}
    return {im["file_name"]: by_id[im["id"]] for im in data["images"] if im["id"] in by_id}


def coco_pool(root: str | Path) -> Pool:
    """``val2014/*.jpg`` with captions from ``annotations/captions_val2014.json`` (last annotation wins)."""
    from PIL import Image

    root = Path(root)
    ann = root / "annotations" / "captions_val2014.json"
    if not (root / "val2014").is_dir() or not ann.exists():
        raise MmlongError(f"{root} is not a COCO folder (needs val2014/ and annotations/captions_val2014.json) nor a "
                          "released MMNeedle folder (metadata_stitched/ + images_stitched/); pass --data-dir "
                          "mmneedle=COCO_DIR or MMNEEDLE_DIR, or no data dir for generated scenes")
    captions = {f"val2014/{name}": cap for name, cap in coco_captions(ann).items()}
    keys = sorted(k for k in captions if (root / k).exists())
    if not keys:
        raise MmlongError(f"no captioned images found under {root / 'val2014'}; check the COCO folder")
    return Pool(keys, captions, lambda k: Image.open(root / k).convert("RGB"))


#: Images shipped inside installed packages (scikit-image, ...) with hand-written captions: (package, path, caption).
ASSETS = (
    ("skimage", "data/astronaut.png", "an astronaut in an orange suit in front of a flag"),
    ("skimage", "data/coffee.png", "a cup of coffee with latte art on a saucer"),
    ("skimage", "data/chelsea.png", "a tabby cat"),
    ("skimage", "data/rocket.jpg", "a rocket launching with smoke"),
    ("skimage", "data/hubble_deep_field.jpg", "a field of galaxies on black"),
    ("skimage", "data/camera.png", "a man with a camera on a tripod"),
    ("skimage", "data/coins.png", "old coins on a dark background"),
    ("skimage", "data/moon.png", "the surface of the moon"),
    ("skimage", "data/horse.png", "the silhouette of a horse"),
    ("skimage", "data/page.png", "a page of printed text"),
    ("skimage", "data/retina.jpg", "a fundus photo of an eye"),
    ("skimage", "data/brick.png", "a brick wall texture"),
    ("skimage", "data/grass.png", "a grass texture"),
    ("skimage", "data/gravel.png", "a gravel texture"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "a woman in a navy uniform"),
)


def asset_pool() -> Pool:
    """The :data:`ASSETS` found in installed packages (located without importing them)."""
    import importlib.util

    from PIL import Image

    found = {}
    for pkg, rel, caption in ASSETS:
        spec = importlib.util.find_spec(pkg)
        for base in (spec.submodule_search_locations or []) if spec else []:
            if (Path(base) / rel).exists():
                found[f"{pkg}/{rel}"] = (Path(base) / rel, caption)
    keys = sorted(found)
    return Pool(keys, {k: found[k][1] for k in keys}, lambda k: Image.open(found[k][0]).convert("RGB"))


def stitch(images: list, n: int, size: int):
    """MMNeedle's stitcher: image ``i*n + j`` resized to size x size, pasted at (j*size, i*size); n=1 keeps it raw."""
    from PIL import Image

    if n == 1:
        return images[0].convert("RGB")
    out = Image.new("RGB", (n * size, n * size))
    for i in range(n):
        for j in range(n):
            out.paste(images[i * n + j].convert("RGB").resize((size, size)), (j * size, i * size))
    return out


def stitch_metadata(keys: list, count: int, n: int, seed: int = 0, *, unique: bool = False) -> dict:
    """``{"stitched_0000.png": {"r_c": key}}`` for ``count`` stitched images of n x n sub-images.

    Official: ``random.sample(keys, n*n)`` per image (no repeats within an image). With
    ``unique`` (generated pools) sub-images are also distinct *across* images, so every needle
    has exactly one true location.
    """
    rng = random.Random(seed)
    if unique and len(keys) < count * n * n:
        raise MmlongError(f"pool of {len(keys)} images cannot fill {count} stitched {n}x{n} images uniquely")
    order = rng.sample(keys, count * n * n) if unique else None
    meta = {}
    for i in range(count):
        picked = order[i * n * n:(i + 1) * n * n] if unique else rng.sample(keys, n * n)
        meta[f"stitched_{i:04d}.png"] = {f"{r}_{c}": picked[r * n + c] for r in range(n) for c in range(n)}
    return meta


def sample_sequences(meta: dict, keys: list, m: int, n: int, n_seq: int, needles: int = 1, seed: int = 0) -> list[dict]:
    """MMNeedle sequence records ``{id, image_ids, index, row, col, target}`` (first half positive).

    Positives pick a uniform slot ``j``: ``idx, loc = divmod(j, n*n)``, ``row, col = divmod(loc, n)``;
    negatives pick an image absent from the haystack with ``idx = row = col = -1``.
    ``needles > 1`` gives lists (distinct slots / distinct absent images).
    """
    rng = random.Random(seed)
    stitched = sorted(meta)
    if m == 1 and len(stitched) < n_seq:
        raise MmlongError(f"M=1 needs one stitched image per sequence: {len(stitched)} < {n_seq}")
    records = []
    for i in range(n_seq):
        seq = [stitched[i]] if m == 1 else rng.sample(stitched, m)
        idx, row, col, target = [], [], [], []
        if i < n_seq / 2:
            used = set()
            for _ in range(needles):
                while True:
                    j = rng.randint(0, m * n * n - 1)
                    if j not in used or len(used) >= m * n * n:
                        used.add(j)
                        break
                k, loc = divmod(j, n * n)
                r, c = divmod(loc, n)
                idx.append(k), row.append(r), col.append(c), target.append(meta[seq[k]][f"{r}_{c}"])
        else:
            exclude = {v for s in seq for v in meta[s].values()}
            free = [p for p in keys if p not in exclude]
            for _ in range(needles):
                while True:
                    t = rng.choice(free)
                    if t not in target:
                        break
                idx.append(-1), row.append(-1), col.append(-1), target.append(t)
        one = needles == 1
        records.append({"id": i, "image_ids": seq, "index": idx[0] if one else idx, "row": row[0] if one else row,
                        "col": col[0] if one else col, "target": target[0] if one else target})
    return records
