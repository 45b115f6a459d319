"""``mmlong plan``: frames x resolution x tokens x memory for a video, without loading weights.

::

    mmlong plan talk.mp4 --model Qwen/Qwen2.5-VL-7B-Instruct --budget 64k
    mmlong plan talk.mp4 --model tiny:qwen3_vl --budget 16k --fps 1 --max-frames 256 --json

Registered by :data:`mmlong.cli.PLUGINS` through :func:`add_parser`. Only the video's
metadata is read (no frame decoded) and only the model's ``config.json`` /
``preprocessor_config.json`` (no weights). Errors are one line (``mmlong: error: ...``).
"""

from __future__ import annotations

import argparse
import json

__all__ = ["add_parser", "format_plan"]

_GIB = 1024**3


def _human(nbytes: int) -> str:
    """``3758096384 -> "3.50 GiB"``; below 1 GiB in MiB."""
    return f"{nbytes / _GIB:.2f} GiB" if nbytes >= _GIB else f"{nbytes / 1024**2:.1f} MiB"


def format_plan(p, video: str) -> str:
    """The human-readable report of a :class:`~mmlong.tokens.planner.Plan` (5-6 lines)."""
    s, b = p.source, p.budget
    lines = [
        f"video   {video}: {s['duration']:.1f} s, {s['fps']:.3g} fps, {s['width']}x{s['height']}"
        + (f", window {p.start:.1f}-{p.end:.1f} s" if (p.start, p.end) != (0.0, s["duration"]) else ""),
        f"model   {p.model} ({p.family or 'unknown family'}, factor {p.factor}, temporal patch {p.temporal_patch_size})",
        f"budget  {b.max_visual_tokens} visual tokens, max {b.max_frames} frames at {b.fps:g} fps, "
        f"{p.min_pixels}..{p.max_pixels} px per frame (model minimum .. cap after the budget)",
        f"plan    {p.frames} frames ({p.sample_fps:.3g} fps) at {p.height}x{p.width} -> {p.tokens_per_frame} tokens "
        f"x {p.temporal_patches} temporal patches = {p.total_tokens} visual tokens",
    ]
    m = p.memory
    if m is None:
        lines.append("memory  unknown (no config.json: pass a local checkpoint folder or a cached hub id)")
    else:
        lines.append(f"memory  seq {m.seq_len} tokens: KV cache {_human(m.kv_cache_bytes)} ({m.dtype}; {m.layers} layers "
                     f"x {m.kv_heads} kv heads x {m.head_dim}), activations ~{_human(m.activation_bytes)} LLM / "
                     f"~{_human(m.vision_activation_bytes)} vision ({m.attn_implementation}); weights not included")
    return "\n".join(lines)


def _cmd_plan(args: argparse.Namespace) -> int:
    from mmlong.errors import MmlongError
    from mmlong.tokens.planner import TokenBudget, plan

    if args.model is None:
        raise MmlongError("pass --model: a hub id, a local checkpoint folder, a family such as qwen2_5_vl, "
                          "or tiny:qwen2_5_vl")
    budget = TokenBudget.of(args.budget, min_pixels_per_frame=args.min_pixels, max_pixels_per_frame=args.max_pixels)
    p = plan(args.video, args.model, budget, fps=args.fps, max_frames=args.max_frames, num_frames=args.frames,
             start=args.start, end=args.end, dtype=args.dtype, text_tokens=args.text_tokens,
             max_new_tokens=args.max_new_tokens, attn_implementation=args.attn)
    if args.json:
        print(json.dumps({"video": args.video, **p.as_dict()}))
    else:
        print(format_plan(p, args.video))
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``plan`` on the ``mmlong`` subcommand parsers; returns the new parser."""
    p = subparsers.add_parser("plan", help="frames x resolution x tokens x memory for a token budget (no weights)")
    p.add_argument("video", help="video file (only its metadata is read)")
    p.add_argument("--model", help="hub id, local checkpoint folder, family (qwen2_5_vl) or tiny:FAMILY")
    p.add_argument("--budget", default="16k", help="visual tokens for the video: 16384, 16k, 64k, 256k (default 16k)")
    p.add_argument("--fps", type=float, default=None, help="sampling rate before caps (default 2)")
    p.add_argument("--max-frames", type=int, default=None, help="frame cap (default 768)")
    p.add_argument("--frames", type=int, default=None, help="a fixed frame count instead of --fps")
    p.add_argument("--min-pixels", type=int, default=None, help="per-frame minimum area (default: the model's)")
    p.add_argument("--max-pixels", type=int, default=None, help="per-frame maximum area (default: the model's)")
    p.add_argument("--start", type=float, default=None, help="window start (s)")
    p.add_argument("--end", type=float, default=None, help="window end (s)")
    p.add_argument("--dtype", default="bfloat16", help="dtype of the memory estimate (default bfloat16)")
    p.add_argument("--attn", default="sdpa", help="attention of the memory estimate: sdpa | flash_attention_2 | eager")
    p.add_argument("--text-tokens", type=int, default=128, help="prompt text tokens assumed (default 128)")
    p.add_argument("--max-new-tokens", type=int, default=128, help="generated tokens assumed (default 128)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(fn=_cmd_plan)
    return p
