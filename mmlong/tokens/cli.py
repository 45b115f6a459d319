"""``mmlong plan``: frames x resolution x tokens x memory for a video, without loading weights.

::

    mmlong plan talk.mp4 --model Qwen/Qwen2.5-VL-7B-Instruct --budget 64k
    mmlong plan talk.mp4 --model tiny:qwen3_vl --budget 16k --fps 2 --max-frames 256 --json
    mmlong plan talk.mp4 --model tiny:qwen2_5_vl            # no budget: what `mmlong ask` does by default

Registered by :data:`mmlong.cli.PLUGINS` through :func:`add_parser`. Only the video's
metadata is read (no frame decoded) and only the model's ``config.json`` /
``preprocessor_config.json`` (no weights). The frame flags are ``mmlong ask``'s
(:func:`mmlong.video.settings.add_frame_arguments`), so ``mmlong plan V FLAGS`` prints exactly
the frames ``mmlong ask V "q" FLAGS`` feeds the model. Errors are one line (``mmlong: error: ...``).
"""

from __future__ import annotations

import argparse
import json

__all__ = ["add_parser", "format_plan"]

from mmlong.tokens.memory import human_bytes as _human


def format_plan(p, video: str) -> str:
    """The human-readable report of a :class:`~mmlong.tokens.planner.Plan` (5-6 lines)."""
    s, fs = p.source, p.settings
    lines = [
        f"video   {video}: {s['duration']:.1f} s, {s['fps']:.3g} fps, {s['height']}x{s['width']} (HxW)"
        + (f", window {p.start:.1f}-{p.end:.1f} s" if (p.start, p.end) != (0.0, s["duration"]) else ""),
        f"model   {p.model} ({p.family or 'unknown family'}, factor {p.factor}, temporal patch {p.temporal_patch_size})",
        f"frames  {fs.describe()}; {p.min_pixels}..{p.max_pixels} px per frame (minimum .. cap used)",
        f"plan    {p.frames} frames ({p.sample_fps:.3g} fps) at {p.height}x{p.width} (HxW) -> {p.tokens_per_frame} "
        f"tokens x {p.temporal_patches} temporal patches = {p.total_tokens} visual tokens"
        + (f"; second_per_grid_ts {p.second_per_grid_ts:.4g} s" if p.second_per_grid_ts else ""),
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
    from mmlong.pipeline.base import DEFAULT_MAX_NEW_TOKENS, check_max_new_tokens
    from mmlong.tokens.planner import plan
    from mmlong.video.settings import from_args

    if args.model is None:
        raise MmlongError("pass --model: a hub id, a local checkpoint folder, a family such as qwen2_5_vl, "
                          "or tiny:qwen2_5_vl")
    p = plan(args.video, args.model, from_args(args), dtype=args.dtype, text_tokens=args.text_tokens,
             max_new_tokens=check_max_new_tokens(args.max_new_tokens, "--max-new-tokens") or DEFAULT_MAX_NEW_TOKENS,
             attn_implementation=args.attn)
    if args.json:
        print(json.dumps({"video": args.video, **p.as_dict()}))
    else:
        print(format_plan(p, args.video))
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``plan`` on the ``mmlong`` subcommand parsers; returns the new parser."""
    from mmlong.video.settings import add_frame_arguments

    p = subparsers.add_parser("plan", help="frames x resolution x tokens x memory of a video for a model (no weights)")
    p.add_argument("video", help="video file (only its metadata is read)")
    p.add_argument("--model", help="hub id, local checkpoint folder, family (qwen2_5_vl) or tiny:FAMILY")
    add_frame_arguments(p)
    p.add_argument("--dtype", default="bfloat16", help="dtype of the memory estimate (default bfloat16)")
    p.add_argument("--attn", default="sdpa", help="attention of the memory estimate: sdpa | flash_attention_2 | eager")
    p.add_argument("--text-tokens", type=int, default=128, help="prompt text tokens assumed (default 128)")
    p.add_argument("--max-new-tokens", type=int, default=None,
                   help="generated tokens assumed (default: mmlong ask's answer cap)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(fn=_cmd_plan)
    return p
