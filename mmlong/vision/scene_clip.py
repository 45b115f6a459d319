"""A tiny CLIP trained from scratch on generated scenes, and the video retrieval check it passes.

Synthetic and CPU-sized; for tests and benchmarks, since no CLIP weights exist offline.
:func:`train_scene_clip` trains an open_clip ``CLIP`` (OpenAI layout, QuickGELU) with CLIP's
BPE vocabulary on :mod:`mmlong.data.scenes`: each step draws ``batch`` of ``train_scenes``
scenes, pairs each image with its compact caption ("red circle, blue square, green triangle,
white square.", at most 20 tokens) and takes an AdamW step on the symmetric InfoNCE loss
(label smoothing 0.1), warm-up then cosine decay. Images are drawn at ``render_size`` and go
through CLIP's transform (:func:`~mmlong.vision.features.preprocess`) as
:class:`~mmlong.vision.ClipRetriever` feeds frames.

Training looks up only the ids its captions use (21 of 49408), so it runs on a table of those
rows (ids remapped in order, end-of-text still the largest, where CLIP pools) and scatters
the trained rows back into a 49408-row table (the rows of ids it never saw are zero): the
result reads open_clip's tokenizer ids without updating 49408 rows every step.
``torch.save(model.state_dict(), "scene_clip.pt")`` writes the OpenAI layout, which
:func:`~mmlong.vision.load_longclip` (and so every ``clip=PATH`` setting) reads back.

:func:`video_retrieval` writes ``scenes`` scenes of another seeded stream as an H.264 video
(``seconds`` each), samples it with :func:`mmlong.video.sample` at ``fps``, and asks the
retriever for the best frame of each scene's compact caption: a hit when that frame's time
lies within ``tolerance`` seconds of the scene's span::

    model = train_scene_clip(SceneClipSettings(steps=300))
    video_retrieval(ClipRetriever(model), "tmp/")["within"]   # share of queries that hit
"""

from __future__ import annotations

import dataclasses
import math
import random
from pathlib import Path

__all__ = ["SceneClipSettings", "train_scene_clip", "fit_in_memory", "video_retrieval", "caption_ids"]


@dataclasses.dataclass(frozen=True)
class SceneClipSettings:
    """How :func:`train_scene_clip` builds and trains the model (defaults: about 10 s on one core)."""

    seed: int = 0
    steps: int = 300
    batch: int = 32
    lr: float = 2e-3
    warmup: int = 20  # linear warm-up steps, then cosine decay to 0
    train_scenes: int = 2000  # scenes of the seeded stream 1000 + seed
    width: int = 64  # both towers and the joint embedding; one head per 64 (OpenAI's rule, so a saved state reloads)
    layers: int = 2
    context: int = 32  # text positions (compact captions have at most 20 tokens)
    image_size: int = 32
    patch_size: int = 8
    render_size: int = 64  # scenes are drawn at this side, then resized by CLIP's transform


def caption_ids(texts, context: int):
    """``(len(texts), context)`` open_clip tokenizer ids (CLIP's BPE; end-of-text 49407, pad 0)."""
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer(context_length=context)(list(texts))


def fit_in_memory(model, steps: int, batch_fn, loss_fn, lr: float, *, warmup: int = 20) -> list[float]:
    """A plain in-memory training loop (no checkpoints), for tiny models trained in seconds.

    AdamW (weight decay 0.01) on the trainable parameters, ``lr`` warmed up linearly over
    ``warmup`` steps then cosine-decayed to 0, gradients clipped to norm 1. Each step takes
    ``loss_fn(model, *batch_fn(step))``. Leaves the model in ``eval()``; returns the losses.
    """
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    model.train()
    losses = []
    for step in range(steps):
        loss = loss_fn(model, *batch_fn(step))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


def train_scene_clip(settings: SceneClipSettings = SceneClipSettings()):
    """The trained model (``eval()``), an open_clip ``CLIP`` with a 49408-row token table."""
    import torch

    from mmlong.data.scenes import make_scenes, render
    from mmlong.errors import require
    from mmlong.vision.features import image_features, preprocess, text_features
    from mmlong.vision.hf_tokenizer import VOCAB_SIZE
    from mmlong.vision.pcm import contrastive
    from mmlong.vision.tiny import tiny_open_clip

    require("open_clip", "clip")
    s = settings
    scenes = make_scenes(s.train_scenes, seed=1000 + s.seed)
    pixels = preprocess([render(sc, s.render_size) for sc in scenes], s.image_size)  # (N, 3, S, S)
    ids = caption_ids([sc.compact for sc in scenes], s.context)  # (N, context)
    used = torch.unique(ids)  # sorted: 0 (pad) first, 49407 (end of text) last
    compact = torch.zeros(VOCAB_SIZE, dtype=torch.long)
    compact[used] = torch.arange(len(used))
    model = tiny_open_clip(width=s.width, layers=s.layers, heads=max(1, s.width // 64), embed_dim=s.width,
                           vocab=len(used), context=s.context, image_size=s.image_size, patch_size=s.patch_size,
                           seed=s.seed)
    rng = random.Random(s.seed)

    def batch(step):
        idx = [rng.randrange(len(scenes)) for _ in range(s.batch)]
        return pixels[idx], compact[ids[idx]]

    def loss(m, px, tokens):
        return contrastive(image_features(m, px, normalize=True), text_features(m, tokens, normalize=True),
                           m.logit_scale.exp(), label_smoothing=0.1)

    fit_in_memory(model, s.steps, batch, loss, s.lr, warmup=s.warmup)
    full = torch.nn.Embedding(VOCAB_SIZE, s.width)
    with torch.no_grad():
        full.weight.zero_()
        full.weight[used] = model.token_embedding.weight
    model.token_embedding, model.vocab_size = full, VOCAB_SIZE
    model.requires_grad_(False)
    return model.eval()


def video_retrieval(retriever, folder: str | Path, *, scenes: int = 30, seconds: float = 3.0, fps: float = 2.0,
                    size: int = 64, seed: int = 50_000, tolerance: float = 1.0) -> dict:
    """Top-1 frame of each scene's compact caption on a generated video (module docstring).

    Returns ``{"within": share of hits, "hits", "queries", "frames", "offsets_s": per query the
    distance (s) from the best frame to its scene's span, "chance": the share a random frame would hit}``.
    """
    from mmlong.data.scenes import make_scenes, write_scene_video
    from mmlong.video import sample

    shown = make_scenes(scenes, seed=seed)
    path = Path(folder) / f"scenes-{seed}-{scenes}.mp4"
    spans = write_scene_video(path, shown, seconds=seconds, fps=fps, size=size)
    clip = sample(str(path), fps=fps, max_frames=math.ceil(spans[-1][1] * fps))  # every frame at fps
    offsets = []
    for sc, (start, end) in zip(shown, spans):
        t = retriever.top_times(clip, sc.compact)[0]
        offsets.append(round(max(0.0, start - t, t - end), 3))
    hits = sum(o <= tolerance for o in offsets)
    return {"within": hits / scenes, "hits": hits, "queries": scenes, "frames": int(len(clip.timestamps)),
            "offsets_s": offsets, "chance": round(min(1.0, (seconds + 2 * tolerance) / (scenes * seconds)), 3)}
