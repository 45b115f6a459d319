"""Batched vs one-at-a-time answers (``Pipeline.ask_many`` vs ``Pipeline.ask``): time and agreement.

A random-weight Qwen2.5-VL with the 3B model's LLM shape (or ``--small`` for a CPU smoke
run) answers ``--questions`` video questions (``--frames`` generated frames each, different
prompt lengths so batches are really padded), every answer forced to ``--new`` tokens (EOS
disabled) so both runs do the same work. Prints one JSON line: seconds per question, the
speed-up, and how many greedy answers are token-identical to the one-at-a-time run (bf16 may
flip near-tied logits; fp32 should match exactly).

    python benchmarks/batched_generation.py --small                  # CPU smoke run
    python benchmarks/batched_generation.py --device cuda --dtype bfloat16 --batch 4 8
"""

from __future__ import annotations

import argparse
import json
import time
from types import SimpleNamespace

import numpy as np
import torch


def build(args):
    from mmlong.models.tiny import tiny_config, tiny_spec, tiny_tokenizer
    from mmlong.models.vision_inputs import VisionSpec
    from mmlong.pipeline import DirectPipeline, PipelineConfig
    from mmlong.pos_encodings.patch import apply

    cfg = tiny_config("qwen2_5_vl")
    if not args.small:  # Qwen2.5-VL-3B LLM and vision widths (the vocabulary stays the tiny tokenizer's)
        t, v = cfg.text_config, cfg.vision_config
        t.hidden_size, t.intermediate_size, t.num_hidden_layers = 2048, 11008, args.layers
        t.num_attention_heads, t.num_key_value_heads, t.head_dim = 16, 2, 128
        t.rope_parameters["mrope_section"] = [16, 24, 24]
        if getattr(t, "layer_types", None) is not None:
            t.layer_types = ["full_attention"] * args.layers
        v.depth, v.hidden_size, v.intermediate_size, v.num_heads, v.out_hidden_size = 8, 1280, 3420, 16, 2048
        v.fullatt_block_indexes = [7]
        v.window_size = 112
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)
    from transformers import Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration._from_config(cfg, attn_implementation=args.attn, dtype=dtype)
    model = model.to(args.device).eval()
    model.generation_config.eos_token_id = None  # every answer runs --new tokens
    model.generation_config.pad_token_id = cfg.text_config.pad_token_id
    apply(model, args.pos)
    spec = tiny_spec("qwen2_5_vl") if args.small else VisionSpec.for_family("qwen2_5_vl")
    conf = PipelineConfig(model="random-3B-shape", family="qwen2_5_vl", pos=args.pos, device=args.device,
                          dtype=args.dtype, max_new_tokens=args.new)
    return DirectPipeline(model, tiny_tokenizer(), spec, model_family(), conf)


def model_family():
    from mmlong.models.families import family_of

    return family_of("qwen2_5_vl")


def questions(n: int, frames: int, side: int) -> list[dict]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        clip = SimpleNamespace(frames=rng.integers(0, 256, (frames, side, side, 3), dtype=np.uint8),
                               timestamps=np.arange(frames) * 2.0)
        out.append({"question": "What happens in this video? " * (1 + 3 * (i % 4)), "video": clip})
    return out


def model_args(ap: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The flags :func:`build` reads (shared with ``eval_throughput.py``)."""
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--attn", default="sdpa")
    ap.add_argument("--pos", default="native")
    ap.add_argument("--small", action="store_true", help="tiny widths (CPU smoke run)")
    ap.add_argument("--layers", type=int, default=36)
    return ap


def main():
    ap = model_args(argparse.ArgumentParser())
    ap.add_argument("--questions", type=int, default=8)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--side", type=int, default=336, help="frame side in pixels")
    ap.add_argument("--new", type=int, default=32, help="tokens generated per answer")
    ap.add_argument("--batch", type=int, nargs="+", default=[4])
    args = ap.parse_args()
    if args.small:
        args.side, args.layers = min(args.side, 112), 2
    pipe = build(args)
    qs = questions(args.questions, args.frames, args.side)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    pipe.ask_many(qs[:2], batch_size=2)  # warm-up (kernels, allocator)
    sync()
    t = time.perf_counter()
    one = [pipe.ask(**q) for q in qs]
    sync()
    t_one = time.perf_counter() - t
    row = {"bench": "batched_generation", "device": torch.cuda.get_device_name() if args.device.startswith("cuda")
           else "cpu", "dtype": args.dtype, "attn": args.attn, "layers": args.layers, "questions": len(qs),
           "prompt_tokens": [a.tokens["prompt"] for a in one], "new_tokens": args.new,
           "one_at_a_time_s_per_q": round(t_one / len(qs), 4)}
    ids = [pipe.tokenizer.encode(a.text) for a in one]
    for bs in args.batch:
        sync()
        t = time.perf_counter()
        many = pipe.ask_many(qs, batch_size=bs)
        sync()
        took = time.perf_counter() - t
        same = sum(pipe.tokenizer.encode(a.text) == b for a, b in zip(many, ids))
        row[f"bs{bs}_s_per_q"] = round(took / len(qs), 4)
        row[f"bs{bs}_speedup"] = round(t_one / took, 2)
        row[f"bs{bs}_identical_answers"] = f"{same}/{len(qs)}"
        if args.device.startswith("cuda"):
            row[f"bs{bs}_peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    print(json.dumps(row))


if __name__ == "__main__":
    main()
