"""The knowledge-preserved stretch grid of ``benchmarks/length_generalization.py --stretch-grid``.

The shipped ``tiny-vniah:SCHEME`` models were trained on L = 16-frame videos (1 fps). Here they
are evaluated at 2x, 4x and 8x L with no stretch and with ``stretch={"keep": K, "ratio": r}``
for K at L/4, L/2 and L frames and r in {2, 4, 8}; and after a short fine-tune with a stretch.

K in ids. A vniah prompt is 45 text ids (system + user header), the video, then the question
and the answer header. Temporal patch k (frames 2k, 2k+1) starts at ``t0 + k * step`` with
t0 = 45, so frame f is ``step / 2 * f`` ids into the video: 2 ids per frame for native and
mrope_pp (Qwen2.5-VL absolute time: 2 s per patch x 2 ids per second), 1 for VideoRoPE
(delta 2 per patch), 0.5 for HoPE (gamma 1 per patch). "K = x L" is the id of frame x * L:
the default mode keeps every id below ``t0 + x * L * ids_per_frame`` (native: 53, 61, 77 for
L/4, L/2, L; HoPE 47, 49, 53; VideoRoPE 49, 53, 61) and stretches the rest of the video and
the question after it; ``temporal_only`` keeps the video's first ``x * L * ids_per_frame``
temporal offsets. :func:`keep_ids` measures t0 and the step on a real prompt.
"""

from __future__ import annotations

import random
from pathlib import Path

KEEPS = (0.25, 0.5, 1.0)  # K as fractions of the training length L (in frames, converted to ids)
RATIOS = (2, 4, 8)


def keep_ids(model: str, scheme: str, length: int, fractions, *, temporal_only: bool, work: Path) -> dict:
    """``{fraction: K}``: the id (default mode) or temporal offset (temporal_only) of frame ``fraction * length``.

    Reads t0 (the video's first t id) and the ids per frame from the position ids of a real
    ``length``-frame vniah prompt under ``scheme``.
    """
    import mmlong
    from mmlong.data.vniah import draw_doc, write_haystack
    from mmlong.models.vision_inputs import model_inputs
    from mmlong.pos_encodings import patch, position_ids
    from mmlong.video import sample

    doc = draw_doc("what", length, 0.5, random.Random(0))
    path = work / f"keep_probe_{length}.mp4"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_haystack(path, doc, fps=1.0, size=96, seed=0)
    pipe = mmlong.load(model, pos=scheme)
    inp = model_inputs(pipe.inputs(doc["question"], video=sample(str(path), fps=1.0, max_frames=length)))
    pos, _ = position_ids(scheme, inp["input_ids"], config=pipe.model.config, video_grid_thw=inp["video_grid_thw"],
                          second_per_grid_ts=inp.get("second_per_grid_ts"), options=patch.current(pipe.model).options)
    t = pos[0, 0][inp["input_ids"][0] == pipe.model.config.video_token_id]
    t0, per_frame = float(t[0]), float(t[-1] - t[0]) / (length - 2)  # the last patch starts at frame length - 2
    return {f: round((0.0 if temporal_only else t0) + f * length * per_frame, 4) for f in fractions}


def label(keep: float, ratio: float, temporal_only: bool) -> str:
    return f"{'t' if temporal_only else ''}K{keep:g}r{ratio:g}"


def finetune(scheme: str, out: Path, *, length: int, stretch: dict | None, steps: int, videos: int,
             lr: float = 5e-4, seed: int = 0) -> dict:
    """Fine-tune the shipped ``tiny-vniah:SCHEME`` on ``length``-frame videos (all kinds) under ``stretch``.

    Uses the training recipes (:func:`mmlong.train.sft.fit`, the tiny-vlm recipe's settings with
    ``steps``, a 5-step warmup and ``lr``); the model is exported to ``OUT/model`` with the
    stretch recorded, so ``mmlong.load(OUT/model)`` runs it stretched. Videos come from the
    training stream (never an eval video). A finished run is reused.
    """
    import time

    from mmlong.data.vniah import write_dataset
    from mmlong.models.hub import load_model
    from mmlong.train.settings import TrainSettings
    from mmlong.train.sft import fit
    from mmlong.train.tiny_vlm import RECIPE, TRAIN_SEED_OFFSET

    if (out / "model" / "mmlong.json").exists():
        return {"model": str(out / "model"), "reused": True}
    t0 = time.perf_counter()
    data = write_dataset(out.parent / f"data_{length}", videos, length=length, seed=100 * seed + TRAIN_SEED_OFFSET + 50)
    s = TrainSettings.of(out, **{**RECIPE, "seed": seed, "steps": steps, "lr": lr, "warmup_steps": 5,
                                 "save_every": steps, "log_every": 10})
    result = fit(load_model(f"tiny-vniah:{scheme}"), data, s,
                 model_name=f"tiny-vniah:{scheme}", pos=scheme, pos_options={"stretch": stretch} if stretch else {},
                 frames={"fps": 1.0, "max_frames": 10 * length}, cache_frames=True, echo=False,
                 meta={"recipe": "stretch-finetune", "length": length})
    return {"model": str(out / "model"), "steps": result["step"], "loss": round(float(result["loss"]), 4),
            "seconds": round(time.perf_counter() - t0, 1)}
