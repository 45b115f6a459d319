"""longclip_retrieval: text-to-image and image-to-text recall@1 / @5 of a CLIP on a local folder.

Layouts of ``data_dir``:

* long captions (Urban-1k, ShareGPT4V-1k as usually exported): ``image/NAME.jpg|png`` and
  ``caption/NAME.txt`` whose first line is the caption, one caption per image;
* short captions (COCO): ``annotations/captions_*.json`` (``images`` with ``id`` /
  ``file_name``, ``annotations`` with ``image_id`` / ``caption``) and the images in the
  folder beside it named like the json (``val2017/``), several captions per image.

The scored model is the task's ``clip`` option (a released-format ``.pt``, a transformers CLIP
folder, or ``tiny``), not ``--model``: ``mmlong eval --model random --tasks longclip_retrieval
--task-opt longclip_retrieval.clip=longclip-B.pt --data-dir urban1k/``. Captions are truncated to
the model's context (77, or 248 for Long-CLIP). Each doc is one image; its sample holds
whether it is retrieved from its captions (``i2t``: best caption rank) and the fraction of its
captions that retrieve it (``t2i``); ``t2i_r@K`` is aggregated over captions, ``i2t_r@K`` over
images, as in the authors' evaluation (cosine similarity of L2-normalised features).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mmlong.errors import MmlongError
from mmlong.eval.tasks.base import Doc, Request, Task

_IMAGE_EXT = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def read_pairs(root: str | Path) -> list[tuple[Path, list[str]]]:
    """``[(image path, [captions])]`` of a folder in either layout (sorted by image name)."""
    root = Path(root)
    if (root / "image").is_dir() and (root / "caption").is_dir():
        out = []
        for img in sorted(p for p in (root / "image").iterdir() if p.suffix.lower() in _IMAGE_EXT):
            cap = root / "caption" / (img.stem + ".txt")
            if not cap.is_file():
                raise MmlongError(f"image {img.name} has no caption file {cap}; every image/NAME needs caption/NAME.txt")
            first = (cap.read_text().strip().splitlines() or [""])[0].strip()
            if first:
                out.append((img, [first]))
        if out:
            return out
    files = sorted((root / "annotations").glob("captions_*.json")) if (root / "annotations").is_dir() else []
    if files:
        ann = json.loads(files[0].read_text())
        folder = root / files[0].stem.removeprefix("captions_")
        caps: dict = {}
        for a in ann.get("annotations", []):
            caps.setdefault(a["image_id"], []).append(" ".join(str(a["caption"]).split()))
        out = [(folder / im["file_name"], caps[im["id"]]) for im in sorted(ann.get("images", []), key=lambda r: r["id"])
               if im["id"] in caps]
        missing = [p for p, _ in out if not p.is_file()]
        if missing:
            raise MmlongError(f"{len(missing)} COCO image(s) missing, e.g. {missing[0]}; put them in {folder}")
        if out:
            return out
    raise MmlongError(f"no image/caption pairs in {root}; pass --data-dir with image/ + caption/ (Urban-1k layout) "
                      "or annotations/captions_*.json + its image folder (COCO layout)")


class LongClipRetrieval(Task):
    name = "longclip_retrieval"
    summary = "CLIP / Long-CLIP retrieval R@1, R@5 (text->image, image->text) on a local image + caption folder"
    version = "1"
    metrics = ("t2i_r@1", "t2i_r@5", "i2t_r@1", "i2t_r@5")

    @dataclass(frozen=True)
    class Options:
        """Retrieval settings."""

        data_dir: str | None = None  # the image + caption folder (Urban-1k or COCO layout)
        clip: str = "tiny"  # the CLIP to score: a released-format .pt, a transformers CLIP folder, or tiny
        batch_size: int = 64  # images per forward

    def __init__(self, options=None, **kwargs):
        super().__init__(options, **kwargs)
        self._ranks = None
        self._pairs = None

    def _data(self):
        if self.options.data_dir is None:
            raise MmlongError("longclip_retrieval needs its data folder: pass --data-dir DIR "
                              "(image/ + caption/, or COCO annotations/)")
        if self._pairs is None:
            self._pairs = read_pairs(self.options.data_dir)
        return self._pairs

    def docs(self) -> list[Doc]:
        return [Doc(img.stem, {"image": str(img), "captions": caps}) for img, caps in self._data()]

    def request(self, doc: Doc) -> Request:
        return Request(text="", media={"image": doc.data["image"]}, max_new_tokens=1)

    def reference(self, doc: Doc) -> tuple[str, dict]:
        return doc.data["captions"][0], {"image": doc.data["image"], "captions": len(doc.data["captions"])}

    def _all_ranks(self) -> dict:
        """Per image path: (best rank among its captions (i2t), ranks of its captions (t2i))."""
        if self._ranks is None:
            from PIL import Image

            from mmlong.vision.retrieval import ClipRetriever, ranks

            pairs = self._data()
            r = ClipRetriever(self.options.clip, batch_size=self.options.batch_size)
            imgs = []
            for p, _ in pairs:
                with Image.open(p) as im:
                    imgs.append(im.convert("RGB"))
            caps = [c for _, cs in pairs for c in cs]
            owner = [i for i, (_, cs) in enumerate(pairs) for _ in cs]
            sim = (r.embed_images(imgs) @ r.embed_text(caps).t()).numpy()  # (images, captions)
            i2t = ranks(sim, [[j for j, o in enumerate(owner) if o == i] for i in range(len(pairs))])
            t2i = ranks(sim.T, [[o] for o in owner])
            self._ranks = {str(p): (i2t[i], [t for t, o in zip(t2i, owner) if o == i])
                           for i, (p, _) in enumerate(pairs)}
        return self._ranks

    def respond(self, doc: Doc, req: Request, images: list, clip, model) -> tuple[str, dict]:
        i2t, t2i = self._all_ranks()[doc.data["image"]]
        return json.dumps({"i2t": i2t, "t2i": t2i}), {}

    def score(self, ref: dict, response: str | None, *, seed: int = 0, doc_id: str = "") -> dict:
        try:
            got = json.loads(response or "")
            i2t, t2i = int(got["i2t"]), [int(x) for x in got["t2i"]]
        except (ValueError, KeyError, TypeError):
            return {m: None for m in self.metrics} | {"captions": ref.get("captions", 1)}
        out = {"captions": len(t2i)}
        for k in (1, 5):
            out[f"i2t_r@{k}"] = float(i2t < k)
            out[f"t2i_r@{k}"] = sum(t < k for t in t2i) / len(t2i)
        return out

    def aggregate(self, samples: list[dict]) -> tuple[dict, dict]:
        out = {}
        for m in self.metrics:
            rows = [s for s in samples if s.get(m) is not None]
            weight = [s.get("captions", 1) if m.startswith("t2i") else 1 for s in rows]
            out[m] = sum(s[m] * w for s, w in zip(rows, weight)) / sum(weight) if rows else None
        return out, {}
