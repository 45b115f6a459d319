"""Benchmark: visual-token reduction on a generated lecture video (prints ONE JSON line).

The video (:func:`mmlong.data.synth_slides.write_lecture_video`, cached under
``.mmlong_cache/bench/``): 5 minutes at 2 fps, 640x360, static PIL-drawn slides changing every
30-60 s, a moving webcam inset (1/16 of the frame), libx264 ``crf 28`` with a keyframe every
2 s, so static regions carry real H.264 compression noise at every keyframe.

Steps, each timed:

1. ``plan``: frames x resolution for ``--budget`` visual tokens (Qwen2.5-VL geometry by
   default) from metadata only; ``sample``: decode exactly those frames at that size;
   ``inputs``: ``build_inputs`` (patchify).
2. For each reducer (``temporal`` = pixel redundancy at the default threshold, and
   ``temporal+budget:K``): tokens kept / total, the reduction time, and the slide-change check:
   for every slide change, the first temporal patch showing the new slide must keep at least
   one token outside the inset (reported with the minimum kept there).
3. With ``--model tiny:qwen2_5_vl`` (default; ``--model none`` skips): prefill time of the
   tiny random model on the full vs the reduced sequence (vision tower included in both).

Usage::

    .venv/bin/python benchmarks/token_reduction.py
    .venv/bin/python benchmarks/token_reduction.py --seconds 120 --budget 8k --model none   # quick
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _inset_slots(lec, p):
    """(S,) bool: merged tokens whose 28x28 (resized) box overlaps the inset."""
    import torch

    f = p.factor
    H, W = lec.size
    rows, cols = p.height // f, p.width // f
    y0, y1, x0, x1 = lec.inset
    sy, sx = p.height / H, p.width / W
    r = torch.arange(rows)[:, None].expand(rows, cols)
    c = torch.arange(cols)[None, :].expand(rows, cols)
    hit = ((r + 1) * f > y0 * sy) & (r * f < y1 * sy) & ((c + 1) * f > x0 * sx) & (c * f < x1 * sx)
    return hit.reshape(-1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--video-fps", type=float, default=2.0)
    ap.add_argument("--sample-fps", type=float, default=1.0)
    ap.add_argument("--budget", default="16k")
    ap.add_argument("--family", default="qwen2_5_vl", help="token geometry of the plan (patch 14 or 16)")
    ap.add_argument("--model", default="tiny:qwen2_5_vl", help="tiny:FAMILY for prefill timing, or none")
    ap.add_argument("--cache-dir", type=Path, default=REPO / ".mmlong_cache" / "bench")
    args = ap.parse_args()

    import numpy as np
    import torch

    from mmlong.models.tiny import tiny_tokenizer
    from mmlong.models.vision_inputs import build_inputs
    from mmlong.tokens.planner import plan, sample_planned
    from mmlong.tokens.reduce import reducer_from, select_tokens
    from mmlong.data.synth_slides import write_lecture_video

    path = args.cache_dir / f"lecture_{int(args.seconds)}s_{args.video_fps:g}fps_640x360.mp4"
    t0 = time.perf_counter()
    lec = write_lecture_video(path, seconds=args.seconds, fps=args.video_fps, size=(360, 640))
    write_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    p = plan(path, args.family, args.budget, fps=args.sample_fps)
    plan_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    clip = sample_planned(path, p)
    sample_s = time.perf_counter() - t0
    spec = p.vision_spec()
    t0 = time.perf_counter()
    inp = build_inputs(args.family, tiny_tokenizer(), spec, "What is on the slide about attention?", videos=[clip])
    inputs_s = time.perf_counter() - t0
    inset = _inset_slots(lec, p)
    grid = inp["video_grid_thw"]

    results = []
    total = int(grid[0, 0]) * inset.numel()
    for name in ("temporal", f"budget:{max(1, total // 8)}", f"temporal+budget:{max(1, total // 32)}"):
        red = reducer_from(name)
        t0 = time.perf_counter()
        sel = select_tokens(red, grid, pixel_values_videos=inp["pixel_values_videos"], image_std=spec.image_std)
        red_s = time.perf_counter() - t0
        rep = sel.reports[0]
        keep = sel.keep.reshape(-1, inset.numel())  # (T, S)
        times = clip.timestamps
        kept_outside = []
        for c in lec.change_times[1:]:
            k = next((k for k in range(keep.shape[0])
                      if times[min(k * p.temporal_patch_size + p.temporal_patch_size - 1, len(times) - 1)] >= c), None)
            if k is not None:
                kept_outside.append(int(keep[k][~inset].sum()))
        static = keep[:, ~inset]
        results.append({
            "reducer": name, "settings": red.describe(), "kept": rep.kept, "total": rep.total,
            "ratio": round(rep.ratio, 2), "reduce_s": round(red_s, 3),
            "kept_inset": int(keep[:, inset].sum()), "kept_slides": int(static.sum()),
            "slide_changes": len(kept_outside), "slide_tokens_kept_at_change": kept_outside,
            "all_changes_kept": all(v >= 1 for v in kept_outside),
        })

    model_res = None
    if args.model.lower() != "none":
        import mmlong
        from mmlong.tokens.reduce_model import prefill, prepare_reduced

        pipe = mmlong.load(args.model)
        batch = {k: (v.to(pipe.model.dtype) if k.startswith("pixel_values") else v) for k, v in inp.items()}
        model_res = {"model": args.model, "note": "tiny 2-layer random model: only the LLM prefill shrinks; "
                     "prepare = vision tower + positions + reducer"}
        for name in ("none", "temporal"):
            with torch.no_grad():
                t0 = time.perf_counter()
                rb = prepare_reduced(pipe.model, batch, name)
                t1 = time.perf_counter()
                prefill(pipe.model, rb)
                t2 = time.perf_counter()
            tag = "full" if name == "none" else "reduced"
            model_res.update({f"{tag}_tokens": int(rb.attention_mask.sum()), f"{tag}_prepare_s": round(t1 - t0, 3),
                              f"{tag}_llm_prefill_s": round(t2 - t1, 3)})
        model_res["llm_prefill_speedup"] = round(model_res["full_llm_prefill_s"] /
                                                 max(model_res["reduced_llm_prefill_s"], 1e-9), 1)

    best = results[0]
    print(json.dumps({
        "benchmark": "token_reduction",
        "video": {"path": str(path), "seconds": args.seconds, "fps": args.video_fps, "size": [360, 640],
                  "slide_changes_s": list(lec.change_times), "write_s": round(write_s, 2)},
        "plan": {"budget": p.budget, "frames": p.frames, "height": p.height, "width": p.width,
                 "tokens_per_frame": p.tokens_per_frame, "total_tokens": p.total_tokens, "plan_s": round(plan_s, 3),
                 "sample_s": round(sample_s, 2), "inputs_s": round(inputs_s, 2)},
        "reducers": results,
        "model": model_res,
        "goal_4x": best["ratio"] >= 4.0 and best["all_changes_kept"],
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "cpu": platform.machine()},
        "numpy": np.__version__,
    }))


if __name__ == "__main__":
    main()
