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

``--stretch-grid`` adds the knowledge-preserved stretch (``stretch={"keep": K, "ratio": r}``)
at each multiple: no stretch, and K at L/4, L/2, L frames (converted to ids, see
``benchmarks/stretch_grid.py``) x r in {2, 4, 8}; ``--finetune SCHEME`` also fine-tunes that
model for ``--finetune-steps`` steps at ``--finetune-length`` x L under ``--finetune-keep`` /
``--finetune-ratio`` (and, as a control, without a stretch) and evaluates the results::

    python benchmarks/length_generalization.py --schemes native --multiples 2 4 8 --samples 6 \
        --stretch-grid --finetune native --finetune-keep 1 --finetune-ratio 2

The JSON line then also holds ``stretch`` (scheme -> setting -> kind -> multiple), ``keep_ids``
(the K of each fraction) and ``finetuned``.
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
    ap.add_argument("--batch-size", type=int, default=1, help="docs per generate call (left-padded)")
    ap.add_argument("--stretch-grid", action="store_true", help="also evaluate the K x r stretch grid")
    ap.add_argument("--stretch-mode", choices=["default", "temporal_only"], default="default")
    ap.add_argument("--keeps", type=float, nargs="+", default=[0.25, 0.5, 1.0], help="K as fractions of L")
    ap.add_argument("--ratios", type=float, nargs="+", default=[2, 4, 8], help="stretch ratios r")
    ap.add_argument("--grid-schemes", nargs="+", default=None,
                    help="schemes that get the full --keeps x --ratios grid (default: all); the others get --subset")
    ap.add_argument("--subset", nargs="+", default=["1:2"], metavar="FRACTION:RATIO",
                    help="the (K fraction, r) settings of the schemes outside --grid-schemes")
    ap.add_argument("--finetune", default=None, metavar="SCHEME", help="fine-tune this scheme's model stretched")
    ap.add_argument("--finetune-keep", type=float, default=1.0, help="K of the fine-tune, a fraction of L")
    ap.add_argument("--finetune-ratio", type=float, default=2.0)
    ap.add_argument("--finetune-length", type=int, default=2, help="fine-tune on videos of this multiple of L")
    ap.add_argument("--finetune-steps", type=int, default=40)
    ap.add_argument("--finetune-videos", type=int, default=480)
    args = ap.parse_args()

    lengths = tuple(args.length * m for m in args.multiples)
    t0 = time.perf_counter()

    def measure(model: str, run: str, pos_options: dict | None = None) -> dict:
        """kind -> "<m>x" -> {acc, ci95, n} of ``model`` (with ``pos_options``) at ``lengths``."""
        folder = Path(args.output_path) / model_dir_name(model)
        cfg = EvalConfig(model=model, tasks=("vniah_synth",), output_path=args.output_path, run_id=run,
                         resume=(folder / f"{run}_results.json").exists(), pos_options=dict(pos_options or {}),
                         batch_size=args.batch_size,
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
        return {kind: {f"{m}x": {"acc": round(r / n, 4), "ci95": [round(x, 4) for x in wilson(r, n)], "n": n}
                       for m, (r, n) in sorted(row.items(), key=lambda kv: int(kv[0]))}
                for kind, row in cells.items()}

    def model_of(scheme: str) -> str:
        return str(Path(args.models) / scheme / "model") if args.models else f"tiny-vniah:{scheme}"

    tag = f"L{args.length}_x{'-'.join(map(str, args.multiples))}_s{args.samples}"
    table, stretch, keeps = {}, {}, {}
    for scheme in args.schemes:
        table[scheme] = measure(model_of(scheme), f"len_{scheme}_{tag}")
        if not args.stretch_grid:
            continue
        from stretch_grid import keep_ids, label

        temporal = args.stretch_mode == "temporal_only"
        stretch[scheme] = {}
        full = args.grid_schemes is None or scheme in args.grid_schemes
        pairs = [(f, r) for f in args.keeps for r in args.ratios] if full else [
            (float(a), float(b)) for a, b in (p.split(":") for p in args.subset)]
        keeps[scheme] = keep_ids(model_of(scheme), scheme, args.length, sorted({f for f, _ in pairs}),
                                 temporal_only=temporal, work=Path(args.output_path))
        for frac, r in pairs:
            st = {"keep": keeps[scheme][frac], "ratio": r, "temporal_only": temporal}
            name = label(frac, r, temporal)
            stretch[scheme][name] = measure(model_of(scheme), f"len_{scheme}_{tag}_{name}", {"stretch": st})
    finetuned = {}
    if args.finetune:
        from stretch_grid import finetune, keep_ids, label

        scheme, temporal = args.finetune, args.stretch_mode == "temporal_only"
        k = keep_ids(model_of(scheme), scheme, args.length, [args.finetune_keep], temporal_only=temporal,
                     work=Path(args.output_path))[args.finetune_keep]
        st = {"keep": k, "ratio": args.finetune_ratio, "temporal_only": temporal}
        name = label(args.finetune_keep, args.finetune_ratio, temporal)
        for what, setting in ((name, st), ("no_stretch", None)):
            out = Path(args.output_path) / "finetune" / f"{scheme}_{what}_x{args.finetune_length}_{args.finetune_steps}steps"
            info = finetune(scheme, out, length=args.length * args.finetune_length, stretch=setting,
                            steps=args.finetune_steps, videos=args.finetune_videos)
            run = f"len_ft_{scheme}_{what}_x{args.finetune_length}_{args.finetune_steps}_{tag}"
            finetuned[f"{scheme}_{what}"] = {"stretch": setting, "train_length_frames": args.length * args.finetune_length,
                                             **info, "accuracy": measure(info["model"], run)}
    row = {"benchmark": "length_generalization", "trained_length_frames": args.length,
           "lengths_frames": list(lengths), "docs_per_cell": args.samples * 5, "chance": CHANCE,
           "accuracy": table, "seconds": round(time.perf_counter() - t0, 1)}
    if args.stretch_grid:
        row.update(stretch_mode=args.stretch_mode, keep_ids=keeps, stretch=stretch)
    if args.finetune:
        row["finetuned"] = finetuned
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
