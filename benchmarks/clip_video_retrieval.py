"""ClipRetriever on a generated video: is the top-1 frame for a scene's caption within 1 s of that scene?

Synthetic, measured on CPU. A tiny CLIP (:func:`mmlong.vision.scene_clip.train_scene_clip`:
open_clip layout, CLIP's BPE vocabulary, trained from scratch on compact captions of
generated scenes) is scored by :func:`mmlong.vision.scene_clip.video_retrieval`: a video of
``--scenes`` scenes of another seeded stream, each shown for ``--seconds`` s, is encoded as
H.264, sampled with ``mmlong.video.sample`` at ``--fps``, and every scene's compact caption is
a query to :class:`mmlong.vision.ClipRetriever`. A query is a hit when the best frame's
timestamp lies within 1 s of its scene's span. The same model with ``--steps 0`` (random
weights) is the baseline. One JSON line::

    OMP_NUM_THREADS=1 python benchmarks/clip_video_retrieval.py --seeds 0,1,2

``tests/vision/test_scene_clip.py`` runs the same check (seed 0, default steps) in CI.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import mmlong  # noqa: F401  (the torchvision op-schema fix before open_clip imports it)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0")
    p.add_argument("--scenes", type=int, default=30)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--fps", type=float, default=2.0)
    p.add_argument("--steps", type=int, default=None, help="training steps (default: SceneClipSettings')")
    args = p.parse_args(argv)

    import dataclasses

    from mmlong.vision import ClipRetriever
    from mmlong.vision.scene_clip import SceneClipSettings, train_scene_clip, video_retrieval

    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        s = SceneClipSettings(seed=seed, **({} if args.steps is None else {"steps": args.steps}))
        row = {"seed": seed}
        for name, settings in (("trained", s), ("random", dataclasses.replace(s, steps=0))):
            t0 = time.perf_counter()
            model = train_scene_clip(settings)
            t_train = time.perf_counter() - t0
            with tempfile.TemporaryDirectory() as tmp:
                got = video_retrieval(ClipRetriever(model), tmp, scenes=args.scenes, seconds=args.seconds,
                                      fps=args.fps, seed=50_000 + seed)
            row[name] = {**got, "train_s": round(t_train, 1), "check_s": round(time.perf_counter() - t0 - t_train, 1)}
        rows.append(row)
    print(json.dumps({"benchmark": "clip_video_retrieval", "synthetic": True, "settings": dataclasses.asdict(s),
                      "scenes": args.scenes, "seconds_per_scene": args.seconds, "fps": args.fps,
                      "within_1s": {k: [r[k]["within"] for r in rows] for k in ("trained", "random")},
                      "per_seed": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
