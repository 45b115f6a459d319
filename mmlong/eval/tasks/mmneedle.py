"""MMNeedle (NAACL 2025): find the sub-image matching a caption in M stitched N x N images.

The official construction, prompt and format-strict metrics of the paper's code. The samples are
either the *released* pre-built files (``--data-dir mmneedle=MMNEEDLE_DIR`` holding
``metadata_stitched/`` + ``images_stitched/`` + ``annotations_trainval/file_to_caption.pkl``),
or rebuilt with the official algorithm from a local COCO folder (``--data-dir mmneedle=COCO``)
or, offline, from generated scenes with exact captions. Metrics: ``exist_acc``, ``index_acc``,
``exact_acc`` over positives and ``neg_exist_acc`` over negatives; multi-needle adds ``first_*``
and per-needle ``all_*``. No-response samples are excluded and listed under ``empty_ids``.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmlong.eval.tasks import mmneedle_haystack as H
from mmlong.eval.tasks import mmneedle_release as R
from mmlong.eval.metrics import needle_gt, needle_multi, needle_single
from mmlong.eval.tasks.base import Doc, Request, Task, binary_stderr, mean_metrics
from mmlong.errors import MmlongError


def needle_prompt(m: int, n: int, captions: list[str]) -> str:
    """The official instruction (singular/plural by M > 1 and N > 1), captions on their own lines."""
    img, sub, k = ("images" if m > 1 else "image"), ("subimages" if n > 1 else "subimage"), len(captions)
    head = f"Given {m} {img} indexed from 1 to {m}, each divided into {n}*{n} {sub}, "
    if k == 1:
        return (head + "identify the subimage that best matches the provided caption. Respond with 'index, row, column' "
                "and nothing else. For example, '1, 2, 3' indicates the subimage in the first image, second row, and "
                "third column. If no match is found, respond only with '-1'." + "\nCaption: " + captions[0])
    fmt = "; ".join(f"index_{i + 1}, row_{i + 1}, column_{i + 1}" for i in range(k))
    return (head + f"identify the subimages that best match the provided {k} captions. Respond in the format: {fmt}. "
            "Only provide this information. For example, '1, 2, 3' indicates the subimage in the first image, second "
            "row, and third column. If no subimage matches a caption, respond with '-1' for that caption."
            + "".join(f"\nCaption_{i + 1}: {c}" for i, c in enumerate(captions)))


def needle_answer(rec: dict) -> str:
    """The ideal response to a record: ``"i, r, c"`` 1-based per needle, ``"-1"`` when absent, joined by ``"; "``."""
    cols = [rec[k] if isinstance(rec[k], list) else [rec[k]] for k in ("index", "row", "col")]
    return "; ".join("-1" if i < 0 else f"{i + 1}, {r + 1}, {c + 1}" for i, r, c in zip(*cols))


class MMNeedle(Task):
    name = "mmneedle"
    summary = "MMNeedle: locate the captioned sub-image among M stitched N x N images (1/2/5 needles)"
    version = "2"  # 2: generated scenes are pairwise told apart by pixels (no negative needle passes for a cell)

    @dataclass(frozen=True)
    class Options:
        """MMNeedle settings (paper: m in {1, 10}, n in {1, 2, 4, 8}, needles in {1, 2, 5}, size 256)."""

        data_dir: str | None = None  # released MMNeedle folder or COCO folder (val2014/ + annotations/); None = scenes
        source: str = "auto"  # "released" files, "rebuild" (official algorithm), "auto": released if data_dir has them
        pool: str = "scenes"  # without data_dir: "scenes" (generated) or "assets" (images shipped in packages)
        m: int = 10  # stitched images per haystack
        n: int = 2  # each stitched image is n x n sub-images
        needles: int = 1  # captions per question (1, 2 or 5 in the paper)
        n_seq: int = 20  # sequences; the first half are positives, the rest negatives (released: the first of each)
        n_stitched: int | None = None  # stitched images to draw from; None = 10000 (COCO) or max(2m, n_seq)
        size: int = 256  # sub-image side in pixels (the paper's 256; small values for CPU tests; rebuild only)
        seed: int = 0  # the official scripts' random.seed(0)
        max_new_tokens: int = 30  # open-model setting of the paper (API models: 300)

    @property
    def metrics(self):
        base = ("exist_acc", "index_acc", "exact_acc", "neg_exist_acc")
        return base + (("first_index_acc", "first_exact_acc", "all_index_acc", "all_exact_acc")
                       if self.options.needles > 1 else ())

    def _released(self) -> bool:
        """Whether docs come from the released files (``source``, or ``auto`` and the layout is there)."""
        o = self.options
        if o.source not in ("auto", "released", "rebuild"):
            raise MmlongError(f"unknown mmneedle source {o.source!r}; use auto, released or rebuild")
        if o.source == "released" and not o.data_dir:
            raise MmlongError("mmneedle source=released needs --data-dir mmneedle=MMNEEDLE_DIR "
                              "(the folder holding metadata_stitched/ and images_stitched/)")
        return o.source == "released" or (o.source == "auto" and bool(o.data_dir) and R.is_released(o.data_dir))

    def _build(self):
        if getattr(self, "_records", None) is not None:
            return
        o = self.options
        if min(o.m, o.n, o.needles, o.n_seq, o.size) < 1:
            raise MmlongError("mmneedle options m, n, needles, n_seq and size must be >= 1")
        self.released = R.load_released(o.data_dir, o.m, o.n, o.needles) if self._released() else None
        if self.released is not None:
            self._records = R.select_records(self.released.records, o.n_seq)
            return
        count = o.n_stitched or (10000 if o.data_dir else max(2 * o.m, o.n_seq if o.m == 1 else 0))
        if o.data_dir:
            pool, unique = H.coco_pool(o.data_dir), False
        elif o.pool == "assets":
            pool, unique = H.asset_pool(), True
        elif o.pool == "scenes":
            pool, unique = H.scene_pool(count * o.n * o.n + o.needles * o.n_seq + 16, o.size, o.seed), True
        else:
            raise MmlongError(f"unknown mmneedle pool {o.pool!r}; use scenes or assets, or --data-dir mmneedle=COCO_DIR")
        need = count * o.n * o.n + o.needles if unique else o.n * o.n + o.needles
        if len(pool.keys) < need:
            raise MmlongError(f"the {o.pool} pool has {len(pool.keys)} images, too few for m={o.m} n={o.n}; "
                              "lower m/n/n_stitched or pass --data-dir mmneedle=COCO_DIR")
        self.pool = pool
        self.meta = H.stitch_metadata(pool.keys, count, o.n, o.seed, unique=unique)
        self._records = H.sample_sequences(self.meta, pool.keys, o.m, o.n, o.n_seq, o.needles, o.seed)

    def docs(self) -> list[Doc]:
        self._build()
        return [Doc(str(r["id"]), r) for r in self._records]

    def _targets(self, rec) -> list:
        return rec["target"] if isinstance(rec["target"], list) else [rec["target"]]

    def request(self, doc: Doc) -> Request:
        """Prompt + haystack loader; ``hidden`` holds the needles' own images for the pixel oracle.

        Released files without the needles' COCO images (``DATA_DIR/val2014/``) leave ``hidden``
        empty, and the oracle then returns the reference answer (a pipeline check only).
        """
        self._build()
        o, rec, rel, targets = self.options, doc.data, self.released, self._targets(doc.data)
        if rel is not None:
            captions, needles = [rel.caption(t) for t in targets], rel.load_needles(targets)

            def images():
                return [rel.load_stitched(s) for s in rec["image_ids"]]
        else:
            captions, needles = [self.pool.captions[t] for t in targets], [self.pool.load(t) for t in targets]

            def images():
                return [H.stitch([self.pool.load(self.meta[s][f"{r}_{c}"]) for r in range(o.n) for c in range(o.n)],
                                 o.n, o.size) for s in rec["image_ids"]]

        slots = [f"{i}, {r}, {c}" for i in range(1, o.m + 1) for r in range(1, o.n + 1) for c in range(1, o.n + 1)]
        k = o.needles
        choices = (lambda rng: "; ".join(rng.choice(slots + ["-1"]) for _ in range(k))) if k > 1 else tuple(slots + ["-1"])
        return Request(text=needle_prompt(o.m, o.n, captions), images=images, max_new_tokens=o.max_new_tokens,
                       choices=choices, media={"images": list(rec["image_ids"]), "needles": targets},
                       hidden={} if needles is None else {"needles": needles, "grid": o.n},
                       oracle=needle_answer(rec) if needles is None else None)

    def reference(self, doc: Doc) -> tuple[str, dict]:
        rec = doc.data
        gt = needle_gt(rec["index"], rec["row"], rec["col"])
        idx = rec["index"] if isinstance(rec["index"], list) else [rec["index"]]
        ref = {"gt": gt, "needles": self.options.needles, "positive": idx[0] >= 0, "index": rec["index"],
               "row": rec["row"], "col": rec["col"]}
        return gt, ref

    def score(self, ref: dict, response, *, seed: int = 0, doc_id: str = "") -> dict:
        multi = ref["needles"] > 1
        s = needle_multi(ref["gt"], response) if multi else needle_single(ref["gt"], response)
        pos = ref["positive"]
        out = {"exist_acc": s["exist"] if pos else None, "index_acc": s["index"] if pos else None,
               "exact_acc": s["exact"] if pos else None, "neg_exist_acc": None if pos else s["exist"]}
        if multi:
            out.update({"first_index_acc": s["first_index"] if pos else None,
                        "first_exact_acc": s["first_exact"] if pos else None,
                        "all_index_acc": s["all_index"] if pos else None,
                        "all_exact_acc": s["all_exact"] if pos else None})
        return out

    def aggregate(self, samples: list[dict]) -> tuple[dict, dict]:
        flat = [m for m in self.metrics if not m.startswith("all_")]
        out = mean_metrics(samples, flat)
        for m in self.metrics:
            if m.startswith("all_"):
                vals = [v for s in samples if s.get(m) is not None for v in s[m]]
                out[m] = sum(vals) / len(vals) if vals else None
                out[f"{m}_stderr"] = binary_stderr(out[m], len(vals)) if vals else None
        depth, cell = {}, {}
        for s in samples:
            ref = s.get("ref") or {}
            if ref.get("positive") and ref.get("needles") == 1 and s.get("exact_acc") is not None:
                depth.setdefault(str(ref["index"] + 1), []).append(s["exact_acc"])
                cell.setdefault(f"{ref['row'] + 1},{ref['col'] + 1}", []).append(s["exact_acc"])
        mean = lambda d: {k: sum(v) / len(v) for k, v in sorted(d.items())}  # noqa: E731
        empty = [s["doc_id"] for s in samples if s["filtered_resps"][0] is None]
        return out, {"exact_acc_by_index": mean(depth), "exact_acc_by_row_col": mean(cell), "empty_ids": empty}
