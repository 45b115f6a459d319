"""``mmlong sparse search``: search per-head sparse patterns on one calibration video.

    mmlong sparse search --model tiny:qwen2_vl --sample clip.mp4 --out patterns.json
    mmlong sparse search --model Qwen/Qwen2.5-VL-7B-Instruct --sample talk.mp4 --frames 64 --out p.json

The model is loaded and the sample's inputs are built exactly as ``mmlong ask`` does
(``mmlong.load`` with the same frame flags, ``DirectPipeline.inputs``); the JSON schema is in
:mod:`mmlong.sparse.search`.
"""

from __future__ import annotations

import json
import os


def _cmd_search(args) -> int:
    import mmlong
    from mmlong.errors import MmlongError
    from mmlong.models.vision_inputs import model_inputs
    from mmlong.sparse.search import search_patterns, write_patterns
    from mmlong.video.settings import from_args

    from mmlong.paths import check_output_file
    from mmlong.video import open as open_video

    if args.target is not None and not 0.0 < args.target <= 1.0:
        raise MmlongError(f"--target must be a recall in (0, 1] (got {args.target}), e.g. 0.96")
    if not os.path.exists(args.sample):
        raise MmlongError(f"sample {args.sample!r} does not exist; pass a video file")
    check_output_file(args.out, "--out")
    with open_video(args.sample):  # a sample that is not a video fails here, before the model loads
        pass
    pipe = mmlong.load(args.model, route="direct", device="cpu", dtype="float32", frames=from_args(args))
    model = pipe.model
    inputs = model_inputs(pipe.inputs(args.question, video=args.sample))
    data = search_patterns(model, inputs, min_delta=args.min_delta, max_density=args.max_density,
                           max_tokens=args.max_tokens, target=args.target,
                           model_name=args.model, sample=os.path.basename(args.sample))
    write_patterns(data, args.out)
    kinds: dict[str, int] = {}
    for heads in data["layers"].values():
        for s in heads.values():
            kinds[s["type"]] = kinds.get(s["type"], 0) + 1
    print(json.dumps({"out": args.out, "tokens": data["tokens"], "layers": len(data["layers"]), "patterns": kinds}))
    return 0


def add_parser(subparsers) -> None:
    """Register ``sparse`` with its ``search`` subcommand."""
    from mmlong.video.settings import add_frame_arguments

    p = subparsers.add_parser("sparse", help="sparse prefill: offline per-head pattern search")
    sub = p.add_subparsers(dest="sparse_cmd", required=True)
    s = sub.add_parser("search", help="search per-layer, per-head patterns on a calibration video; writes JSON")
    s.add_argument("--model", required=True, help="tiny:FAMILY, hub id or local checkpoint folder")
    s.add_argument("--sample", required=True, help="calibration video file")
    s.add_argument("--out", required=True, help="patterns JSON to write")
    s.add_argument("--question", default="Describe the video.", help="user text after the video")
    add_frame_arguments(s)
    s.add_argument("--min-delta", type=float, default=0.01, help="recall gain a later candidate needs (default 0.01)")
    s.add_argument("--max-density", type=float, default=0.5,
                   help="a later candidate may not compute more than max(this, best's) of the causal pairs")
    s.add_argument("--max-tokens", type=int, default=25000, help="refuse longer calibration samples")
    s.add_argument("--target", type=float, default=None,
                   help="instead: per layer, the cheapest mix of candidates and dense (by measured time) whose "
                        "mean recall reaches this, e.g. 0.96")
    s.set_defaults(fn=_cmd_search)
