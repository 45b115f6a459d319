"""The released MMNeedle files: records, stitched images and captions of the official download.

Layout (the MMNeedle repository / its Hugging Face release)::

    DATA_DIR/metadata_stitched/annotations_{M}_{N}_{N}.json       # single needle
    DATA_DIR/metadata_stitched/{K}_annotations_{M}_{N}_{N}.json   # K needles
    DATA_DIR/images_stitched/{N}_{N}/COCO_val2014_stitched_0000.jpg ...
    DATA_DIR/annotations_trainval/file_to_caption.pkl              # or file_to_caption.json / COCO captions
    DATA_DIR/val2014/...                                           # optional: the needles (pixel oracle)

:func:`load_released` reads and checks one setting; :func:`select_records` takes the first
positives and negatives as the README protocol does. The rebuild path is :mod:`mmlong.eval.tasks.mmneedle_haystack`.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path

from mmlong.errors import MmlongError
from mmlong.eval.tasks.mmneedle_haystack import coco_captions

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
