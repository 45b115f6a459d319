"""Length generalization of the position schemes, on tiny VLMs that mmlong trained itself.

Each ``tiny-vniah:SCHEME`` model was trained (``mmlong train tiny-vlm --pos SCHEME``) on
videos of L = 16 frames (16 s at 1 fps). This evaluates each at 1x, 2x, 4x and 8x L frames
on the three ``vniah_synth`` question kinds (what: which needle, chance 1/6; when: which
fifth, 1/5; order: which needle first, 1/2), with 95% confidence intervals (Wilson), and
prints one JSON line; ``--png`` draws the table as a chart. mmlong's offline, reproducible
version of the HoPE / VideoRoPE length comparisons::

    python benchmarks/length_generalization.py                      # the shipped models, 60 docs per cell
    python benchmarks/length_generalization.py --models runs/ --samples 4 --multiples 1 2   # your own runs

``--models DIR`` takes ``DIR/<scheme>/model`` folders (``mmlong train tiny-vlm --out DIR/<scheme>``).
Results are appended per doc under ``--output-path`` (default ``.mmlong_cache/bench/length``), so
an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path


def wilson(right: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (``(0, 1)`` for n = 0)."""
    if n == 0:
        return 0.0, 1.0
    p = right / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def main() -> None:
    from mmlong.data.vniah import CHANCE, KINDS
    from mmlong.eval import EvalConfig, evaluate
    from mmlong.eval.output import model_dir_name, read_jsonl
    from mmlong.train.tiny_vlm import SCHEMES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schemes", nargs="+", default=list(SCHEMES))
    ap.add_argument("--models", default=None, help="folder of DIR/<scheme>/model runs (default: the shipped models)")
    ap.add_argument("--length", type=int, default=16, help="the training length L in seconds (frames at 1 fps)")
    ap.add_argument("--multiples", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--samples", type=int, default=12, help="docs per kind x length x depth (5 depths)")
    ap.add_argument("--output-path", default=".mmlong_cache/bench/length")
    ap.add_argument("--data-dir", default=".mmlong_cache/eval/vniah_synth")
    ap.add_argument("--png", default=None, help="write the chart here")
    args = ap.parse_args()

    lengths = tuple(args.length * m for m in args.multiples)
    table, t0 = {}, time.perf_counter()
    for scheme in args.schemes:
        model = str(Path(args.models) / scheme / "model") if args.models else f"tiny-vniah:{scheme}"
        run = f"len_{scheme}_L{args.length}_x{'-'.join(map(str, args.multiples))}_s{args.samples}"
        folder = Path(args.output_path) / model_dir_name(model)
        cfg = EvalConfig(model=model, tasks=("vniah_synth",), output_path=args.output_path, run_id=run,
                         resume=(folder / f"{run}_results.json").exists(),
                         task_options={"vniah_synth": {"lengths": lengths, "samples_per_cell": args.samples,
                                                       "data_dir": args.data_dir}})
        evaluate(cfg, echo=False)
        samples = read_jsonl(folder / f"{run}_samples_vniah_synth.jsonl")
        cells: dict = {}
        for s in samples:
            ref = s["ref"]
            cell = cells.setdefault(ref["kind"], {}).setdefault(str(ref["length"] // args.length), [0, 0])
            cell[0] += int(s["acc"])
            cell[1] += 1
        table[scheme] = {kind: {f"{m}x": {"acc": round(r / n, 4), "ci95": [round(x, 4) for x in wilson(r, n)], "n": n}
                                for m, (r, n) in sorted(row.items(), key=lambda kv: int(kv[0]))}
                         for kind, row in cells.items()}
    row = {"benchmark": "length_generalization", "trained_length_frames": args.length,
           "lengths_frames": list(lengths), "docs_per_cell": args.samples * 5, "chance": CHANCE,
           "accuracy": table, "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(row))
    if args.png:
        _chart(row, KINDS, args.png)


def _chart(row: dict, kinds, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 3.4), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        for scheme, per_kind in row["accuracy"].items():
            cells = per_kind.get(kind, {})
            xs = [int(k[:-1]) for k in cells]
            ys = [c["acc"] for c in cells.values()]
            lo = [c["acc"] - c["ci95"][0] for c in cells.values()]
            hi = [c["ci95"][1] - c["acc"] for c in cells.values()]
            ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=scheme)
        ax.axhline(row["chance"][kind], color="grey", linestyle=":", label="chance")
        ax.set_xscale("log", base=2)
        ax.set_xticks([int(m) for m in (1, 2, 4, 8)], ["1x", "2x", "4x", "8x"])
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{kind} (trained at {row['trained_length_frames']} frames)")
        ax.set_xlabel("video length / training length")
        ax.set_ylabel("accuracy")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
