"""Small benchmark data in the official file layouts, generated offline (tests and smoke runs).

* :func:`write_longvideobench`: ``lvb_val.json``, ``lvb_test_wo_gt.json``, ``videos/``, ``subtitles/``;
* :func:`write_coco`: ``val2014/*.jpg`` + ``annotations/captions_val2014.json`` (several captions per
  image; MMNeedle uses the last) from drawn scenes;
* :func:`write_videowebarena_videos`: stand-in ``<video>.mov`` files named by the tasks' ``video`` fields.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

CATEGORIES = ("S2E", "S2O", "S2A", "E2O", "O2E", "T2E", "T2O", "T2A", "E3E", "O3O", "SSS", "SOS", "SAA", "T3E", "T3O",
              "TOS", "TAA")


def write_longvideobench(root, n: int = 8, seconds=(6, 12), fps: float = 4, size=(48, 64), seed: int = 0) -> Path:
    """A LongVideoBench-layout folder: one video per length in ``seconds``, ``n`` questions spread over them."""
    from mmlong.data.synth_video import write_test_video

    root, rng = Path(root), random.Random(seed)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    (root / "subtitles").mkdir(parents=True, exist_ok=True)
    for k, sec in enumerate(seconds):
        write_test_video(root / "videos" / f"vid{k}.mp4", seconds=sec, fps=fps, size=size)
        if k % 2 == 0:  # {"timestamp": [s, e], "text"} form, with a null end (= video end)
            subs = [{"timestamp": [float(t), float(t) + 1.5], "text": f"line {t}"} for t in range(0, sec - 2, 2)]
            subs.append({"timestamp": [float(sec - 1), None], "text": "the end"})
        else:  # {"start": "HH:MM:SS.fff", "end", "line"} form, shifted by a starting offset of 100 s
            subs = [{"start": f"00:01:{40 + t:02d}.000", "end": f"00:01:{40 + t:02d}.800", "line": f"line {t}"}
                    for t in range(0, sec - 1, 3)]
        (root / "subtitles" / f"vid{k}_en.json").write_text(json.dumps(subs))
    val, test = [], []
    for i in range(n):
        k = i % len(seconds)
        n_opt = 4 + i % 2
        item = {"video_id": f"vid{k}", "id": f"vid{k}_{i}",
                "question": f"What colour is shown at second {i % seconds[k]}?",
                "question_wo_referring_query": "What colour is shown?",
                "candidates": [f"colour {j}" for j in range(n_opt)], "correct_choice": rng.randrange(n_opt),
                "position": [i], "topic_category": "synthetic", "question_category": CATEGORIES[i % len(CATEGORIES)],
                "level": "L1-Perception" if i % 2 == 0 else "L2-Relation", "video_path": f"vid{k}.mp4",
                "subtitle_path": f"vid{k}_en.json", "duration_group": 15 if seconds[k] <= 15 else 60,
                "starting_timestamp_for_subtitles": 0 if k % 2 == 0 else 100, "duration": float(seconds[k]),
                "view_count": 0}
        val.append(item)
        test.append({key: v for key, v in item.items() if key != "correct_choice"})
    (root / "lvb_val.json").write_text(json.dumps(val, indent=1))
    (root / "lvb_test_wo_gt.json").write_text(json.dumps(test, indent=1))
    return root


def write_coco(root, n: int = 40, size: int = 48, seed: int = 0) -> Path:
    """A COCO-layout folder of ``n`` drawn scenes; each image has 2 captions, the last one exact."""
    from mmlong.eval.tasks.mmneedle_haystack import scene_pool

    root = Path(root)
    (root / "val2014").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    pool = scene_pool(n, size, seed)
    images, anns = [], []
    for i, key in enumerate(pool.keys):
        name = f"COCO_val2014_{i + 1:012d}.jpg"
        pool.load(key).save(root / "val2014" / name, quality=90)
        images.append({"id": i + 1, "file_name": name, "width": size, "height": size})
        anns.append({"image_id": i + 1, "id": 2 * i + 1, "caption": "an image"})
        anns.append({"image_id": i + 1, "id": 2 * i + 2, "caption": pool.captions[key]})
    (root / "annotations" / "captions_val2014.json").write_text(json.dumps({"images": images, "annotations": anns}))
    return root


def write_videowebarena_videos(video_dir, names, seconds: float = 3, fps: float = 2) -> Path:
    """Stand-in videos ``<name>.mov`` (H.264 in an mp4 container) for the given ``video`` fields."""
    from mmlong.data.synth_video import write_test_video

    video_dir = Path(video_dir)
    for name in sorted(set(names)):
        write_test_video(video_dir / f"{name}.mov", seconds=seconds, fps=fps, size=(48, 64))
    return video_dir
