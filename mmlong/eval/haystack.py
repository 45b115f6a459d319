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

:func:`load_released` reads the *released* pre-built files instead (the MMNeedle repo / its
Google Drive and Hugging Face archives): ``metadata_stitched/`` annotation records,
``images_stitched/{N}_{N}/`` stitched JPEGs and ``annotations_trainval/file_to_caption.pkl``.
"""

from __future__ import annotations

import json
import pickle
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


def scene_pool(n: int, size: int, seed: int = 0) -> Pool:
    """``n`` distinct two-object scenes (keys ``scene_00000.png`` ...), drawn at ``size`` px."""
    rng, seen, specs = random.Random(seed), set(), []
    colours, bgs = list(COLOURS), list(BACKGROUNDS)
    while len(specs) < n:
        bg = rng.choice(bgs)
        p1, p2 = rng.sample(POSITIONS, 2)
        objs = tuple(sorted(((rng.choice(SHAPES), rng.choice(colours), p1), (rng.choice(SHAPES), rng.choice(colours), p2)),
                            key=lambda o: POSITIONS.index(o[2])))
        if (bg, objs) not in seen and all(BACKGROUNDS[bg] != COLOURS[o[1]] for o in objs):
            seen.add((bg, objs))
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


#: Images shipped inside packages (benchmarks.md §G) with hand-written captions: (package, path, caption).
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


# --------------------------------------------------------------------------- released MMNeedle files
#: Where the released pieces live under the data folder (the layout of the MMNeedle repository).
RELEASED_META = "metadata_stitched"  # annotation records (and {N}_{N}.json stitch metadata)
RELEASED_IMAGES = "images_stitched"  # {N}_{N}/COCO_val2014_stitched_0000.jpg ...
#: Caption files tried in order: the repo's pickle, the Hugging Face JSON, then COCO's own annotations.
CAPTION_FILES = ("annotations_trainval/file_to_caption.pkl", "file_to_caption.pkl", "file_to_caption.json",
                 "annotations_trainval/captions_val2014.json", "annotations/captions_val2014.json")


def released_annotation_name(m: int, n: int, needles: int = 1) -> str:
    """The released record file: ``annotations_{M}_{N}_{N}.json``, or ``{K}_annotations_{M}_{N}_{N}.json``."""
    base = f"annotations_{m}_{n}_{n}.json"
    return base if needles == 1 else f"{needles}_{base}"


def is_released(root: str | Path) -> bool:
    """True when ``root`` has the released layout (``metadata_stitched/`` or ``images_stitched/``)."""
    root = Path(root)
    return (root / RELEASED_META).is_dir() or (root / RELEASED_IMAGES).is_dir()


def released_captions(root: str | Path) -> tuple[dict, str]:
    """``({COCO file name: caption}, source file)`` from the first of :data:`CAPTION_FILES` present.

    Keys are bare file names (``COCO_val2014_000000334399.jpg``), as in MMNeedle's
    ``file_to_caption.pkl`` (built from ``captions_val2014.json``, last annotation wins).
    The pickle is the user's own downloaded data and is trusted (``pickle.load``).
    """
    root = Path(root)
    for rel in CAPTION_FILES:
        path = root / rel
        if not path.exists():
            continue
        if path.suffix == ".pkl":
            with open(path, "rb") as f:
                data = pickle.load(f)  # trusted: the benchmark's own caption file
        elif "captions_val2014" in path.name:
            data = coco_captions(path)
        else:
            data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise MmlongError(f"{path} is not a {{file name: caption}} mapping; re-download it")
        return {str(k).split("/")[-1]: str(v) for k, v in data.items()}, rel
    raise MmlongError(f"no MMNeedle captions under {root}: put annotations_trainval/file_to_caption.pkl (MMNeedle "
                      "repo) or annotations/captions_val2014.json (COCO) there")


def _check_record(rec, i: int, m: int, n: int, needles: int, name: str) -> None:
    """Raise unless ``rec`` is an official record for (m, n, needles): lists of length K when K > 1."""
    keys = ("id", "image_ids", "index", "row", "col", "target")
    ok = isinstance(rec, dict) and all(k in rec for k in keys) and len(rec["image_ids"]) == m
    if ok:
        idx, row, col, target = (rec[k] if needles > 1 else [rec[k]] for k in keys[2:])
        ok = all(isinstance(v, list) and len(v) == needles for v in (idx, row, col, target))
        ok = ok and all(-1 <= i < m for i in idx) and all(-1 <= x < n for x in row + col)
    if not ok:
        raise MmlongError(f"{name} record {i} is not an MMNeedle record for m={m}, n={n}, needles={needles} "
                          f"(needs {', '.join(keys)}); pass the m/n/needles the file was built for")


@dataclass(frozen=True)
class Released:
    """The released records of one setting, with their captions and file resolution.

    A record (``annotations_{M}_{N}_{N}.json``, a JSON list) is::

        {"id": 0, "image_ids": ["images_stitched/2_2/COCO_val2014_stitched_7687.jpg", ...],  # M paths
         "index": 1, "row": 0, "col": 1, "target": "val2014/COCO_val2014_000000334399.jpg"}

    ``index`` is 0-based into ``image_ids``; ``row``/``col`` are 0-based cells of the N x N grid,
    the cell at pixels ``[row*S, (row+1)*S) x [col*S, (col+1)*S)`` (y, x) of that image (S = 256).
    The example is the 2nd image, top row, right cell; its answer is ``"2, 1, 2"``. Negatives
    have ``index = row = col = -1`` and a target absent from the haystack. ``{K}_annotations_*``
    files hold K-long lists in ``index``/``row``/``col``/``target``.
    """

    root: Path
    n: int
    records: list
    captions: dict  # COCO file name -> caption
    caption_file: str

    def caption(self, target: str) -> str:
        return self.captions[target.split("/")[-1]]

    def stitched_path(self, image_id: str) -> Path:
        """``root/image_id``, else ``root/images_stitched/{N}_{N}/<file name>``."""
        folder = self.root / RELEASED_IMAGES / f"{self.n}_{self.n}"
        for path in (self.root / image_id, folder / image_id.split("/")[-1]):
            if path.exists():
                return path
        raise MmlongError(f"stitched image {image_id} not found under {self.root}; unpack images_stitched.zip "
                          f"there (images_stitched/{self.n}_{self.n}/...)")

    def load_stitched(self, image_id: str):
        """One stitched haystack image, PIL RGB, (N*S) x (N*S)."""
        from PIL import Image

        with Image.open(self.stitched_path(image_id)) as im:
            return im.convert("RGB")

    def load_needles(self, targets: list) -> list | None:
        """The needles' own COCO images (``root/val2014/...``) for the pixel oracle; None if any is missing."""
        from PIL import Image

        paths = [self.root / t for t in targets]
        if not all(p.exists() for p in paths):
            return None
        out = []
        for p in paths:
            with Image.open(p) as im:
                out.append(im.convert("RGB"))
        return out


def load_released(root: str | Path, m: int, n: int, needles: int = 1) -> Released:
    """The released records for (m, n, needles) under ``root`` with their captions, checked.

    Raises a one-line :class:`MmlongError` naming the missing file (and the settings present)
    or the first record without a caption.
    """
    root = Path(root)
    name = released_annotation_name(m, n, needles)
    path = root / RELEASED_META / name
    if not path.exists():
        have = sorted(p.name for p in (root / RELEASED_META).glob("*annotations_*.json"))
        raise MmlongError(f"no {RELEASED_META}/{name} under {root} (m={m}, n={n}, needles={needles}); "
                          f"pass m/n/needles of a released file ({', '.join(have) or 'none found'}) "
                          "or unpack metadata_stitched.zip there")
    records = json.loads(path.read_text())
    if not isinstance(records, list) or not records:
        raise MmlongError(f"{path} holds no records; re-download metadata_stitched")
    for i, rec in enumerate(records):
        _check_record(rec, i, m, n, needles, name)
    captions, source = released_captions(root)
    rel = Released(root, n, records, captions, source)
    for rec in records:
        for t in rec["target"] if needles > 1 else [rec["target"]]:
            if t.split("/")[-1] not in captions:
                raise MmlongError(f"no caption for {t} (record {rec['id']}) in {root / source}; "
                                  "use the caption file of the same MMNeedle release")
    rel.stitched_path(records[0]["image_ids"][0])  # fail early on a missing images_stitched/
    return rel


def select_records(records: list, n_seq: int) -> list:
    """The first ceil(n_seq/2) positives and first floor(n_seq/2) negatives, in file order.

    Mirrors the README protocol (BEGIN=0 and BEGIN=5000, N_SEQ=1000 each: ``n_seq=2000``);
    ``n_seq >= len(records)`` keeps the whole file. E.g. 10 records (ids 0-4 positive,
    5-9 negative) and ``n_seq=4`` give ids 0, 1, 5, 6.
    """
    if n_seq >= len(records):
        return list(records)
    positive = [(r["index"][0] if isinstance(r["index"], list) else r["index"]) >= 0 for r in records]
    pos = [r for r, p in zip(records, positive) if p][: (n_seq + 1) // 2]
    neg = [r for r, p in zip(records, positive) if not p][: n_seq // 2]
    keep = {id(r) for r in pos + neg}
    return [r for r in records if id(r) in keep]
