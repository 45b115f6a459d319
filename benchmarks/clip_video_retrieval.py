"""ClipRetriever on a generated video: is the top-1 frame for a scene's caption within 1 s of that scene?

Synthetic, measured on CPU. A tiny CLIP is pre-trained from scratch exactly as in
``benchmarks/longclip_small.py`` (same scenes, captions and settings; one seed). A video of
``--scenes`` unseen scenes, each shown for ``--seconds`` s, is encoded as H.264, sampled with
``mmlong.video.sample`` at ``--fps``, and every scene's compact caption is a query to
:class:`mmlong.vision.ClipRetriever`. A query is a hit when the best frame's timestamp lies
within 1 s of its scene's span. One JSON line::

    OMP_NUM_THREADS=1 python benchmarks/clip_video_retrieval.py
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import longclip_small as lcs  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scenes", type=int, default=30)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--fps", type=float, default=2.0)
    p.add_argument("--pretrain-steps", type=int, default=500, dest="pretrain_steps")
    args = p.parse_args(argv)
    a = lcs.parser().parse_args(["--pretrain-steps", str(args.pretrain_steps)])

    from mmlong.data.mp4 import write_slideshow
    from mmlong.data.scenes import make_scenes, render
    from mmlong.video import sample
    from mmlong.vision import ClipRetriever

    t0 = time.perf_counter()
    pre = lcs.pretrain(args.seed, a)
    model, tok = pre["model"], pre["tok"]
    scenes = make_scenes(args.scenes, seed=50_000 + args.seed)  # a stream the training scenes never use
    slides = [(i * args.seconds, (i + 1) * args.seconds, render(s, a.size)) for i, s in enumerate(scenes)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scenes.mp4"
        write_slideshow(path, slides, fps=args.fps)
        clip = sample(str(path), fps=args.fps)
    r = ClipRetriever(model, tokenizer=lambda texts: tok(texts, 77))
    hits, errors = 0, []
    for i, s in enumerate(scenes):
        t = r.top_times(clip, lcs.compact_caption(s))[0]
        start, end = i * args.seconds, (i + 1) * args.seconds
        off = max(0.0, start - t, t - end)
        errors.append(round(off, 2))
        hits += off <= 1.0
    print(json.dumps({"benchmark": "clip_video_retrieval", "synthetic": True, "seed": args.seed,
                      "scenes": args.scenes, "seconds_per_scene": args.seconds, "frames": int(len(clip.timestamps)),
                      "within_1s": hits / args.scenes, "chance_within_1s": round(min(1.0, (args.seconds + 2) /
                                                                                  (args.scenes * args.seconds)), 3),
                      "offsets_s": errors, "pretrain_steps": args.pretrain_steps,
                      "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    random.seed(0)
    raise SystemExit(main())
