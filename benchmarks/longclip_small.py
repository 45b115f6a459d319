"""Long-CLIP in miniature: a tiny CLIP trained from scratch on short captions, extended to long ones four ways.

Synthetic data, measured on CPU. Each scene (:mod:`mmlong.data.scenes`) is a 2 x 2 grid of coloured
shapes. Pre-training captions have at most 20 tokens (77-position context): one-object sentences
("a red circle at the top left .") and compact full descriptions ("red circle , blue square ,
..."), sometimes with a neutral filler sentence. Long captions (100-240 tokens) open with the
top-left sentence, then filler, then the three other cells, so what tells two scenes apart lies
past token 77. The pre-trained model is extended four ways and evaluated on unseen scenes:

* ``truncate``: no change, long captions cut at 77 tokens;
* ``uniform``: the 77-row table linearly resampled to 248 (open_clip's resize) + fine-tune on long captions;
* ``kps``: Long-CLIP's knowledge-preserved stretching (rows < 20 kept and frozen) + the same fine-tune;
* ``kps_pcm``: stretching + PCM fine-tune (long captions to full image features, first sentences to
  the batch's top principal components).

Every fine-tune starts from the same pre-trained weights, with the same steps, data stream and
learning rate, and keeps the pre-trained logit scale (the authors re-set it to ln 100, the value
OpenAI's CLIP had learnt; a tiny model trained for minutes has learnt a smaller one).

The model (defaults): both towers width 128, 5 layers, 4 heads (1.02M / 1.04M parameters),
64 x 64 images in 8 x 8 patches, trained from open_clip's own initialisation (text position
table std 0.01: rows 20-76 never get a gradient in pre-training, as CLIP's rarely trained tail).

Reported per method, mean and spread (population std) over seeds, R@1 text->image and
image->text on 200 unseen scenes for three kinds of caption: ``long`` (100-240 tokens), ``short``
(the compact <= 20-token descriptions, the pre-training kind, one right image each) and
``first`` (the long caption's first sentence, the short caption PCM trains on; it names the
top-left object only, so every scene with that object counts as a hit). One JSON line on
stdout. The model uses mmlong.vision (tiny_open_clip, longclip, freeze_rows, pcm_loss) in an
in-memory training loop (no checkpoints); the seeds run in parallel processes, one thread each::

    python benchmarks/longclip_small.py --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time

import mmlong  # noqa: F401  (the torchvision op-schema fix before open_clip imports it)

FILLER = ["the picture is calm and evenly lit .", "nothing else stands out in the frame .",
          "the background is a plain dark grey .", "the shapes are drawn with clean edges .",
          "it looks like a simple test card .", "there is no text anywhere in view ."]


class WordTokenizer:
    """Word-level ids: 0 pad, 1.. words, then SOT and EOT (the largest id, pooled at as CLIP does)."""

    def __init__(self, words):
        self.ids = {w: i + 1 for i, w in enumerate(sorted(set(words)))}
        self.sot, self.eot = len(self.ids) + 1, len(self.ids) + 2
        self.vocab = self.eot + 1

    def count(self, text: str) -> int:
        return len(text.split()) + 2

    def __call__(self, texts, context: int):
        import torch

        out = torch.zeros(len(texts), context, dtype=torch.long)
        for i, t in enumerate(texts):
            ids = [self.sot] + [self.ids[w] for w in t.split()] + [self.eot]
            ids = ids[:context]
            ids[-1] = self.eot  # truncated: EOT last, as CLIP's tokenizer
            out[i, :len(ids)] = torch.tensor(ids)
        return out


def _sentence(cell: str, obj) -> str:
    return f"a {obj[0]} {obj[1]} at the {cell} ."


def pretrain_caption(scene, rng) -> str:
    from mmlong.data.scenes import CELLS

    if rng.random() < 0.5:
        text = " , ".join(f"{c} {s}" for c, s in scene.objects) + " ."
    else:
        k = rng.randrange(4)
        text = _sentence(CELLS[k], scene.objects[k])
    if rng.random() < 0.3:
        text = text + " " + rng.choice(FILLER)
    return text


def compact_caption(scene) -> str:
    return " , ".join(f"{c} {s}" for c, s in scene.objects) + " ."


def long_caption(scene, rng, tok: WordTokenizer) -> str:
    from mmlong.data.scenes import CELLS

    first = _sentence(CELLS[0], scene.objects[0])
    rest = " ".join(_sentence(c, o) for c, o in zip(CELLS[1:], scene.objects[1:]))
    target = rng.randint(100, 240)
    filler = []
    while tok.count(" ".join([first, *filler])) < 80 or tok.count(" ".join([first, *filler, rest])) + 8 <= target:
        filler.append(rng.choice(FILLER))  # until the other cells start past token 77 and the target length
    text = " ".join([first, *filler, rest])
    return text


def first_sentence(scene) -> str:
    from mmlong.data.scenes import CELLS

    return _sentence(CELLS[0], scene.objects[0])


def images(scenes, size):
    import numpy as np
    import torch

    from mmlong.data.scenes import render
    from mmlong.vision.features import OPENAI_MEAN, OPENAI_STD

    a = np.stack([render(s, size) for s in scenes]).astype(np.float32) / 255.0
    a = (a - np.array(OPENAI_MEAN, np.float32)) / np.array(OPENAI_STD, np.float32)
    return torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()


def recall1(model, pixels, ids, targets=None) -> dict:
    """R@1 both ways; ``targets[i]``: the images (= captions) right for row i (default: i alone)."""
    import torch

    from mmlong.vision.features import image_features, text_features
    from mmlong.vision.retrieval import recall_at_k

    with torch.no_grad():
        sim = (image_features(model, pixels, normalize=True) @ text_features(model, ids, normalize=True).t()).numpy()
    targets = targets or [[i] for i in range(len(sim))]
    return {"t2i": recall_at_k(sim.T, targets, ks=(1,))["r@1"], "i2t": recall_at_k(sim, targets, ks=(1,))["r@1"]}


def clip_loss(model, pixels, ids):
    from mmlong.vision.features import image_features, text_features
    from mmlong.vision.pcm import contrastive

    return contrastive(image_features(model, pixels, normalize=True), text_features(model, ids, normalize=True),
                       model.logit_scale.exp(), label_smoothing=0.1)


def pcm(model, pixels, long_ids, short_ids, components):
    from mmlong.vision.features import image_features, text_features
    from mmlong.vision.pcm import pcm_loss

    return pcm_loss(image_features(model, pixels), text_features(model, long_ids), text_features(model, short_ids),
                    model.logit_scale, components=components)["loss"]


def uniform_resize(model, length):
    import torch
    import torch.nn.functional as F

    from mmlong.vision.stretch import text_tables

    t = model.positional_embedding.detach()
    new = F.interpolate(t.t().unsqueeze(0), size=length, mode="linear", align_corners=False)[0].t()
    text_tables(model).set(new.contiguous(), None)
    return model


def pretrain(seed: int, a):
    """The seed's tokenizer, scenes and pre-trained 77-position model (short captions only)."""
    import torch

    from mmlong.data.scenes import COLORS, SHAPES, make_scenes
    from mmlong.vision.scene_clip import fit_in_memory
    from mmlong.vision.tiny import tiny_open_clip

    torch.manual_seed(seed)
    rng = random.Random(seed)
    words = " ".join(FILLER + list(COLORS) + list(SHAPES) + ["a", "at", "the", "top", "bottom", "left", "right",
                                                              ",", "."]).split()
    tok = WordTokenizer(words)
    pool = make_scenes(a.train + a.test, seed=1000 + seed)
    train_sc, test_sc = pool[:a.train], pool[a.train:]
    train_px, test_px = images(train_sc, a.size), images(test_sc, a.size)
    t0 = time.perf_counter()

    model = tiny_open_clip(width=a.width, layers=a.layers, heads=a.heads, embed_dim=a.width, vocab=tok.vocab, position_std=None,
                           image_size=a.size, patch_size=a.patch, seed=seed)

    def pre_batch(step):
        idx = [rng.randrange(len(train_sc)) for _ in range(a.batch)]
        return train_px[idx], tok([pretrain_caption(train_sc[i], rng) for i in idx], 77)

    pre_losses = fit_in_memory(model, a.pretrain_steps, pre_batch, clip_loss, a.lr)
    return dict(model=model, tok=tok, rng=rng, train_sc=train_sc, test_sc=test_sc, train_px=train_px,
                test_px=test_px, pre_losses=pre_losses, t_pre=time.perf_counter() - t0)


def run_seed(seed: int, a) -> dict:
    import copy

    import torch

    from mmlong.vision import longclip
    from mmlong.vision.scene_clip import fit_in_memory
    from mmlong.vision.train import freeze_rows

    t0, c0 = time.perf_counter(), time.process_time()
    pre = pretrain(seed, a)
    model, tok, rng, pre_losses, t_pre = pre["model"], pre["tok"], pre["rng"], pre["pre_losses"], pre["t_pre"]
    train_sc, test_sc, train_px, test_px = pre["train_sc"], pre["test_sc"], pre["train_px"], pre["test_px"]
    long_test = [long_caption(s, random.Random(seed * 7919 + i), tok) for i, s in enumerate(test_sc)]
    compact_test = [compact_caption(s) for s in test_sc]
    first_test = [first_sentence(s) for s in test_sc]
    same_first = [[j for j, o in enumerate(test_sc) if o.objects[0] == s.objects[0]] for s in test_sc]

    def evaluate(m):
        ctx = m.context_length
        return {"long": recall1(m, test_px, tok(long_test, ctx)), "short": recall1(m, test_px, tok(compact_test, ctx)),
                "first": recall1(m, test_px, tok(first_test, ctx), same_first)}

    out = {"logit_scale": round(float(model.logit_scale.detach().exp()), 2), "pretrain_loss": [round(pre_losses[0], 3), round(pre_losses[-1], 3)], "pretrain_s": round(t_pre, 1),
           "truncate": evaluate(model)}

    def ft_batch(step):
        idx = [rng.randrange(len(train_sc)) for _ in range(a.ft_batch)]
        longs = [long_caption(train_sc[i], rng, tok) for i in idx]
        return train_px[idx], tok(longs, 248), tok([first_sentence(train_sc[i]) for i in idx], 248)

    for name in ("uniform", "kps", "kps_pcm"):
        m = copy.deepcopy(model)
        if name == "uniform":
            uniform_resize(m, 248)
        else:
            longclip(m)
            freeze_rows(m, 20)
        if name == "kps_pcm":
            loss = lambda mm, px, li, si: pcm(mm, px, li, si, a.components)  # noqa: E731
        else:
            loss = lambda mm, px, li, si: clip_loss(mm, px, li)  # noqa: E731
        t1 = time.perf_counter()
        ft_losses = fit_in_memory(m, a.finetune_steps, ft_batch, loss, a.ft_lr)
        out[name] = evaluate(m)
        out[name]["seconds"] = round(time.perf_counter() - t1, 1)
        out[name]["loss"] = [round(ft_losses[0], 3), round(ft_losses[-1], 3)]
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["cpu_seconds"] = round(time.process_time() - c0, 1)
    out["params_per_tower"] = {"text": sum(p.numel() for n, p in model.named_parameters() if not n.startswith("visual")),
                               "image": sum(p.numel() for p in model.visual.parameters())}
    print(json.dumps({"seed": seed, **out}), file=sys.stderr, flush=True)
    return out


def _seed_worker(seed, args):
    import torch

    torch.set_num_threads(1)
    return run_seed(seed, args)


def summarize(per_seed: list[dict]) -> dict:
    table = {}
    for name in ("truncate", "uniform", "kps", "kps_pcm"):
        row = {}
        for kind in ("long", "short", "first"):
            for d in ("t2i", "i2t"):
                vals = [r[name][kind][d] for r in per_seed]
                row[f"{kind}_{d}_r1"] = {"mean": round(statistics.mean(vals), 4),
                                         "std": round(statistics.pstdev(vals), 4)}
        table[name] = row
    return table


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a = p.add_argument
    a("--seeds", default="0,1,2")
    a("--train", type=int, default=2000, help="training scenes")
    a("--test", type=int, default=200, help="unseen evaluation scenes")
    a("--size", type=int, default=64, help="image side in pixels")
    a("--patch", type=int, default=8)
    a("--width", type=int, default=128)
    a("--layers", type=int, default=5)
    a("--heads", type=int, default=4)
    a("--batch", type=int, default=64)
    a("--pretrain-steps", type=int, default=500, dest="pretrain_steps")
    a("--finetune-steps", type=int, default=150, dest="finetune_steps")
    a("--lr", type=float, default=1e-3)
    a("--ft-lr", type=float, default=5e-4, dest="ft_lr")
    a("--ft-batch", type=int, default=32, dest="ft_batch", help="fine-tuning batch (248-token text)")
    a("--jobs", type=int, default=0, help="seeds run in parallel processes, one thread each (0: one per seed)")
    a("--components", type=int, default=8, help="PCM components (8 = ft batch / 4, the paper's 32 of 128)")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    t0 = time.perf_counter()
    seeds = [int(s) for s in args.seeds.split(",")]
    args.jobs = args.jobs or len(seeds)
    if args.jobs > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(min(args.jobs, len(seeds))) as pool:
            per_seed = pool.starmap(_seed_worker, [(s, args) for s in seeds])
    else:
        per_seed = [run_seed(s, args) for s in seeds]
    print(json.dumps({"benchmark": "longclip_small", "synthetic": True, "seeds": seeds,
                      "config": {k: v for k, v in vars(args).items() if k != "seeds"},
                      "results": summarize(per_seed), "per_seed": per_seed,
                      "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
