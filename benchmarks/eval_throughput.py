"""Eval throughput on LongVideoBench-layout data: batching and media prefetch (prints ONE JSON line).

Writes ``--videos`` generated H.264 videos (``--seconds`` long, 640x360, ``--video-fps``, a
keyframe every 250 frames) in the official LongVideoBench layout, one question each, then runs
``longvideobench_val_v`` (64 frames per video, the official sampler) three ways:

* ``serial``: batch size 1, each video decoded only when it is its turn (the default);
* ``prefetch``: batch size 1, the next video decoded in a background thread while the model answers
  (``--prefetch``);
* ``batch``: ``--batch`` docs per generate call, with prefetch.

The model is the random-weight Qwen2.5-VL of ``batched_generation.py`` (``--small`` for the
tiny widths on CPU), answers forced to ``--new`` tokens. Reports docs per second per mode and
whether the three runs produced the same per-sample records.

    python benchmarks/eval_throughput.py --small --videos 4 --seconds 60        # CPU smoke run
    python benchmarks/eval_throughput.py --device cuda --dtype bfloat16 --videos 16
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batched_generation import build, model_args  # noqa: E402  (the same random Qwen2.5-VL)


def main():
    ap = model_args(argparse.ArgumentParser())
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--seconds", type=int, default=300)
    ap.add_argument("--video-fps", type=float, default=10)
    ap.add_argument("--new", type=int, default=16)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--data", default=None, help="reuse this folder (written when missing)")
    ap.add_argument("--repeat", action="store_true", help="run the serial mode twice (checks determinism)")
    args = ap.parse_args()
    args.side, args.questions, args.frames = 336, 0, 0
    if args.small:
        args.layers = 2

    from mmlong.eval import EvalConfig, evaluate
    from mmlong.eval.models import PipelineModel
    from mmlong.eval.output import read_jsonl
    from mmlong.data.benchmark_files import write_longvideobench

    root = Path(args.data or tempfile.mkdtemp(prefix="mmlong_lvb_")) / "lvb"
    t = time.perf_counter()
    if not (root / "lvb_val.json").exists():
        write_longvideobench(root, n=args.videos, seconds=tuple(args.seconds + k for k in range(args.videos)),
                             fps=args.video_fps, size=(360, 640))
    write_s = time.perf_counter() - t
    pipe = build(args)
    model = PipelineModel(pipe)
    seen: dict = {}  # mode -> {prompt: sha256 of the model inputs}: tells input from kernel differences apart
    prepare = pipe._prepare

    def hashed_prepare(*a, **k):
        import hashlib

        prep = prepare(*a, **k)
        h = hashlib.sha256()
        for key in ("input_ids", "pixel_values_videos", "video_grid_thw"):
            if key in prep.inputs:
                h.update(prep.inputs[key].float().numpy().tobytes())
        seen.setdefault(seen.get("_mode"), {})[prep.prompt] = h.hexdigest()
        return prep

    pipe._prepare = hashed_prepare
    out = Path(tempfile.mkdtemp(prefix="mmlong_evalbench_"))
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    row = {"bench": "eval_throughput", "device": torch.cuda.get_device_name() if args.device.startswith("cuda")
           else "cpu", "dtype": args.dtype, "layers": args.layers, "videos": args.videos, "seconds": args.seconds,
           "video_fps": args.video_fps, "new_tokens": args.new, "write_s": round(write_s, 1)}
    evaluate(EvalConfig(model="bench", tasks=("longvideobench_val_v",), data_dirs={"*": str(root)}, limit=2,
                        max_new_tokens=args.new), model=model, echo=False)  # warm-up
    records = {}
    modes = [("serial", 1, False), ("prefetch", 1, True), ("batch", args.batch, True)]
    if args.repeat:  # the serial run again: run-to-run (non)determinism of the model on this device
        modes.append(("serial_again", 1, False))
    for mode, bs, prefetch in modes:
        cfg = EvalConfig(model="bench", tasks=("longvideobench_val_v",), data_dirs={"*": str(root)},
                         max_new_tokens=args.new, batch_size=bs, prefetch=prefetch, output_path=str(out),
                         run_id=mode)
        seen["_mode"] = mode
        sync()
        t = time.perf_counter()
        evaluate(cfg, model=model, echo=False)
        sync()
        took = time.perf_counter() - t
        row[f"{mode}_docs_per_s"] = round(args.videos / took, 3)
        records[mode] = [{k: v for k, v in r.items() if k not in ("timings", "date")}
                         for r in read_jsonl(out / "bench" / f"{mode}_samples_longvideobench_val_v.jsonl")]
    row["prefetch_speedup"] = round(row["prefetch_docs_per_s"] / row["serial_docs_per_s"], 2)
    row["batch_speedup"] = round(row["batch_docs_per_s"] / row["serial_docs_per_s"], 2)
    for mode in ("prefetch", "batch"):
        row[f"{mode}_inputs_equal"] = seen.get(mode) == seen.get("serial")
        row[f"{mode}_records_equal"] = records[mode] == records["serial"]
        row[f"{mode}_answers_equal"] = sum(a["filtered_resps"] == b["filtered_resps"]
                                           for a, b in zip(records[mode], records["serial"]))
        row[f"{mode}_fields_differing"] = sorted({k for a, b in zip(records[mode], records["serial"])
                                                  for k in a if a.get(k) != b.get(k)})
    if args.repeat:
        row["serial_again_records_equal"] = records["serial_again"] == records["serial"]
        row["serial_again_answers_equal"] = sum(a["filtered_resps"] == b["filtered_resps"]
                                                for a, b in zip(records["serial_again"], records["serial"]))
    errors = [r["error"] for r in records["serial"] if r["error"]]
    row["errors"] = len(errors)
    if errors:
        row["first_error"] = errors[0]
    else:
        row["video_tokens_per_doc"] = records["serial"][0]["token_counts"]["video"]
    print(json.dumps(row))


if __name__ == "__main__":
    main()
