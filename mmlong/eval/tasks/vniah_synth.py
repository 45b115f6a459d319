"""vniah_synth: needle frames (drawn shapes or words) in a generated video; what, when and in what order.

Each doc is one question about one haystack video (see :mod:`mmlong.data.vniah`): ``what``
needle was shown (needs no positions; chance 1/6 for shapes), in ``when`` — which fifth of the
video (chance 1/5), or which of two needles came first (``order``, chance 1/2). Docs are cells
of kind x length x depth, ``samples_per_cell`` each. The video is sampled at ``fps`` with no
frame cap, so a length of L seconds is L * fps frames and the needle is always among them.
Videos are generated once into ``data_dir`` (default ``.mmlong_cache/eval/vniah_synth``) and
reused. Metrics: ``acc`` and ``acc_<kind>``; ``finalize`` draws one accuracy heatmap (depth x
length) per kind as ``<run>_vniah_synth_heatmap.png`` (needs matplotlib: ``mmlong[plot]``).
The defaults are the training setup of the shipped ``tiny-vniah:SCHEME`` models (16 s at
1 fps, 96 px, 200 docs per kind), and a model that records its training length (``length`` in
the ``mmlong.json`` that ``mmlong train tiny-vlm`` writes) is evaluated at that length unless
``lengths`` is given: ``mmlong eval --model tiny-vniah:hope --tasks vniah_synth`` evaluates it
at the length it was trained at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmlong.data.vniah import CHANCE, KINDS, WORDS, draw_doc, video_name, write_haystack
from mmlong.errors import MmlongError
from mmlong.eval.tasks.base import Doc, Request, Task, doc_rng, mean_metrics


class VNiahSynth(Task):
    name = "vniah_synth"
    summary = "Synthetic video needles: what, when (which fifth) and order of drawn needle frames; heatmaps"
    version = "2"
    metrics = ("acc", "acc_what", "acc_when", "acc_order")

    @dataclass(frozen=True)
    class Options:
        """Synthetic video needle-in-a-haystack settings."""

        data_dir: str | None = None  # where the generated videos live; None = .mmlong_cache/eval/vniah_synth
        question: tuple = KINDS  # question kinds: what (chance 1/6), when (which fifth, 1/5), order (1/2)
        lengths: tuple = (16,)  # video lengths in seconds (frames at 1 fps)
        depths: tuple = (0.1, 0.3, 0.5, 0.7, 0.9)  # needle place as a fraction of the length (centres of fifths)
        samples_per_cell: int = 40  # docs per kind x length x depth
        needle: str = "shape"  # "shape" (6 drawn shapes) or "text" (10 words)
        fps: float = 1.0  # haystack frame rate = sampling rate (no frame cap)
        needle_seconds: float = 1.0  # how long a needle is shown
        size: int = 96  # frame side in pixels
        seed: int = 0  # needle and distractor draws
        max_new_tokens: int = 8  # answer length cap

    def __init__(self, options=None, **kwargs):
        for key in ("lengths", "depths", "question"):
            if key in kwargs and not isinstance(kwargs[key], (tuple, list)):
                kwargs[key] = (kwargs[key],)
        super().__init__(options, **kwargs)
        o = self.options
        if o.needle not in ("shape", "text"):
            raise MmlongError(f"vniah_synth needle must be shape or text (got {o.needle!r})")
        if any(not 0 <= d <= 1 for d in o.depths) or any(int(L) != L or L <= 0 for L in o.lengths):
            raise MmlongError("vniah_synth depths must be in [0, 1] and lengths whole seconds > 0")
        if bad := [k for k in o.question if k not in KINDS]:
            raise MmlongError(f"vniah_synth question kinds must be from {', '.join(KINDS)} (got {', '.join(bad)})")
        if o.samples_per_cell < 1:
            raise MmlongError("vniah_synth samples_per_cell must be >= 1")

    @classmethod
    def model_defaults(cls, trained: dict) -> dict:
        """``{"lengths": (L,)}`` for a model trained at ``L`` seconds (``trained["length"]``), else ``{}``."""
        length = trained.get("length")
        return {"lengths": (int(length),)} if isinstance(length, (int, float)) and length > 0 else {}

    @property
    def choices(self) -> tuple:
        """Every answer a doc may have (the union over kinds)."""
        names = ("circle", "square", "triangle", "diamond", "cross", "ring") if self.options.needle == "shape" else WORDS
        return (*names, "1", "2", "3", "4", "5")

    def docs(self) -> list[Doc]:
        o, out = self.options, []
        for kind in o.question:
            for length in o.lengths:
                for depth in o.depths:
                    for j in range(o.samples_per_cell):
                        key = (kind, int(length), float(depth), j, o.needle)
                        doc = draw_doc(kind, int(length), float(depth), doc_rng(o.seed, "vniah", *key), needle=o.needle)
                        doc.update(fps=o.fps, size=o.size, needle_kind=o.needle,
                                   haystack_seed=doc_rng(o.seed, "vniah-haystack", *key).randrange(2**31))
                        out.append(Doc(f"{kind}_L{int(length)}_d{int(round(depth * 100)):03d}_{j:03d}", doc))
        return out

    def _video(self, d: dict) -> Path:
        root = Path(self.options.data_dir or ".mmlong_cache/eval/vniah_synth")
        path = root / video_name(d, fps=d["fps"], size=d["size"], needle=d["needle_kind"], seed=d["haystack_seed"])
        if not path.exists():
            write_haystack(path, d, fps=d["fps"], size=d["size"], needle=d["needle_kind"],
                           needle_seconds=self.options.needle_seconds, seed=d["haystack_seed"])
        return path

    def request(self, doc: Doc) -> Request:
        from mmlong.video import sample

        d, o = doc.data, self.options
        frames = max(1, int(round(d["length"] * d["fps"])))  # every frame: no cap
        return Request(text=d["question"], video=lambda: sample(str(self._video(d)), fps=d["fps"], max_frames=frames),
                       max_new_tokens=o.max_new_tokens, choices=tuple(d["choices"]), oracle=d["answer"],
                       media={"length_s": d["length"], "depth": d["depth"], "kind": d["kind"],
                              "needles": [list(n) for n in d["needles"]]})

    def reference(self, doc: Doc) -> tuple[str, dict]:
        d = doc.data
        return d["answer"], {"answer": d["answer"], "kind": d["kind"], "length": d["length"], "depth": d["depth"],
                             "choices": list(d["choices"])}

    def score(self, ref: dict, response, *, seed: int = 0, doc_id: str = "") -> dict:
        kind = ref.get("kind", "what")
        out = {f"acc_{k}": None for k in KINDS}
        if response is None:
            return {"acc": 0, **out, f"acc_{kind}": 0, "parsed": None}
        words = re.findall(r"[a-z]+|\d+", response.lower())
        found = next((w for w in words if w in ref["choices"]), None)
        right = int(found == ref["answer"])
        return {"acc": right, **out, f"acc_{kind}": right, "parsed": found}

    def aggregate(self, samples: list[dict]) -> tuple[dict, dict]:
        grid: dict = {}
        for s in samples:
            ref = s["ref"]
            cell = grid.setdefault(ref.get("kind", "what"), {}).setdefault(str(ref["length"]), {})
            cell.setdefault(f"{ref['depth']:.2f}", []).append(s["acc"])
        table = {kind: {L: {d: sum(v) / len(v) for d, v in sorted(row.items())} for L, row in rows.items()}
                 for kind, rows in grid.items()}
        chance = {k: (1 / len(WORDS) if k == "what" and self.options.needle == "text" else CHANCE[k]) for k in grid}
        return mean_metrics(samples, list(self.metrics)), {"acc_by_kind_length_depth": table, "chance": chance}

    def finalize(self, samples: list[dict], files) -> dict:
        """Accuracy heatmaps (depth x length), one panel per kind (skipped with a warning without matplotlib)."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            import sys

            print("mmlong: warning: vniah_synth heatmap skipped: install matplotlib (pip install 'mmlong[plot]')",
                  file=sys.stderr)
            return {}
        tables = self.aggregate(samples)[1]["acc_by_kind_length_depth"]
        fig, axes = plt.subplots(1, len(tables), figsize=(3.2 * len(tables), 3.2), squeeze=False)
        for ax, (kind, table) in zip(axes[0], tables.items()):
            lengths = sorted(table, key=float)
            depths = sorted({d for row in table.values() for d in row}, key=float)
            acc = np.array([[table[L].get(d, np.nan) for L in lengths] for d in depths], dtype=float)
            im = ax.imshow(acc, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
            ax.set_xticks(range(len(lengths)), [f"{L}s" for L in lengths])
            ax.set_yticks(range(len(depths)), [f"{float(d):.0%}" for d in depths])
            ax.set_xlabel("video length")
            ax.set_ylabel("needle depth")
            for i in range(len(depths)):
                for j in range(len(lengths)):
                    if not np.isnan(acc[i, j]):
                        ax.text(j, i, f"{acc[i, j]:.2f}", ha="center", va="center", fontsize=8)
            ax.set_title(f"vniah_synth: {kind}")
        fig.colorbar(im, ax=axes[0].tolist(), label="accuracy")
        path = files.extra_path(self.name, "heatmap", "png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return {"heatmap": path}
