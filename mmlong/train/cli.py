"""``mmlong train``: fine-tuning recipes on accelerate.

::

    mmlong train sft --model tiny:qwen2_5_vl --data train.jsonl --out runs/a --steps 20 --lora
    mmlong train sft --model Qwen/Qwen2.5-VL-3B-Instruct --pos videorope --data train.jsonl --out runs/v \\
        --full --gradient-checkpointing --fps 1 --max-frames 64
    mmlong train tiny-vlm --pos hope --out runs/tiny-hope
    mmlong train longclip --model longclip-B.pt --images imgs/ --captions caps.jsonl --out runs/lc
    accelerate launch --num_processes 2 --cpu -m mmlong.cli train sft ...      # several processes

A run folder holds ``train_settings.json``, ``data_report.json`` (rows used / skipped per
reason), ``train_log.jsonl`` (the loss curve), ``checkpoints/step-N`` and, at the end,
``model/`` (LoRA merged; loads with plain transformers). Running the same command again on
an unfinished folder resumes it (``--resume`` only insists that there is something to resume).
Registered by :data:`mmlong.cli.PLUGINS`.
"""

from __future__ import annotations

import argparse
import json

from mmlong.errors import MmlongError

__all__ = ["add_parser"]

_SETTINGS = ("steps", "batch_size", "grad_accum", "lr", "warmup_steps", "schedule", "weight_decay", "max_grad_norm",
             "seed", "save_every", "log_every", "keep_checkpoints", "max_tokens", "lora_r", "lora_alpha",
             "lora_dropout", "mixed_precision")


def _settings(args) -> dict:
    out = {k: getattr(args, k) for k in _SETTINGS if getattr(args, k, None) is not None}
    for flag in ("gradient_checkpointing", "train_vision"):
        if getattr(args, flag, False):
            out[flag] = True
    if getattr(args, "no_group_by_length", False):
        out["group_by_length"] = False
    if getattr(args, "full", False):
        out["lora"] = False
    return out


def _check_resume(args) -> None:
    from mmlong.paths import check_output_dir
    from mmlong.train.loop import latest_checkpoint

    check_output_dir(args.out, "--out")
    if args.resume and latest_checkpoint(args.out) is None:
        raise MmlongError(f"--resume: {args.out} has no finished checkpoint to resume; drop --resume to start a run")


def _cmd_sft(args) -> int:
    from mmlong.cli import _opts
    from mmlong.train.settings import TrainSettings
    from mmlong.train.sft import sft
    from mmlong.video.settings import from_args

    _check_resume(args)
    s = TrainSettings.of(args.out, **_settings(args))
    r = sft(args.model, args.data, s, pos=args.pos, pos_options=_opts(args.opt), frames=from_args(args))
    if "exported" in r:
        print(json.dumps({"out": args.out, "model": str(r["exported"]), "step": r["step"], "loss": r["loss"],
                          "resumed_from": r["resumed_from"], "data": r["data"]}))
    return 0


def _cmd_tiny_vlm(args) -> int:
    from mmlong.train.tiny_vlm import train_tiny_vlm

    _check_resume(args)
    r = train_tiny_vlm(args.pos, args.out, data=args.data, length=args.length,
                       seed=args.seed or 0, **{k: v for k, v in _settings(args).items() if k != "seed"})
    if "exported" in r:
        print(json.dumps({"out": args.out, "model": str(r["exported"]), "step": r["step"], "loss": r["loss"],
                          "resumed_from": r["resumed_from"], "data": r["data"], "stages": r["stages"]}))
    return 0


def _cmd_longclip(args) -> int:
    from mmlong.vision.train import settings, train_longclip

    _check_resume(args)
    fields = {k: v for k, v in _settings(args).items() if k not in ("lora", "max_tokens")}
    s = settings(args.out, **fields)
    r = train_longclip(args.model, args.images, args.captions, s, keep=args.keep, ratio=args.ratio,
                       length=args.length, components=args.components, short_weight=args.short_weight)
    if "exported" in r:
        print(json.dumps({"out": args.out, "model": r["exported"], "step": r["step"], "loss": r["loss"],
                          "resumed_from": r["resumed_from"], "data": r["data"]}))
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    a("--out", required=True, help="run folder (an unfinished run in it resumes)")
    a("--resume", action="store_true", help="insist on resuming the run in --out")
    a("--steps", type=int, help="optimizer steps (tiny-vlm: of the last curriculum stage)")
    a("--batch-size", type=int, dest="batch_size", help="global examples per micro-batch (split over processes)")
    a("--grad-accum", type=int, dest="grad_accum", help="micro-batches per optimizer step")
    a("--lr", type=float, help="peak learning rate")
    a("--warmup-steps", type=int, dest="warmup_steps")
    a("--schedule", choices=["cosine", "linear", "constant"])
    a("--weight-decay", type=float, dest="weight_decay")
    a("--max-grad-norm", type=float, dest="max_grad_norm", help="gradient clipping (0 = off)")
    a("--seed", type=int)
    a("--save-every", type=int, dest="save_every", help="checkpoint every N steps")
    a("--log-every", type=int, dest="log_every")
    a("--keep-checkpoints", type=int, dest="keep_checkpoints")
    a("--max-tokens", type=int, dest="max_tokens", help="longer examples are skipped and counted")
    a("--gradient-checkpointing", action="store_true", dest="gradient_checkpointing")
    a("--no-group-by-length", action="store_true", dest="no_group_by_length")
    a("--mixed-precision", choices=["no", "bf16", "fp16"], dest="mixed_precision")


def add_parser(subparsers) -> None:
    """Register ``mmlong train sft``, ``mmlong train tiny-vlm`` and ``mmlong train longclip``."""
    from mmlong.video.settings import add_frame_arguments

    p = subparsers.add_parser("train", help="fine-tuning recipes (accelerate): sft, tiny-vlm, longclip")
    sub = p.add_subparsers(dest="train_cmd", required=True)

    s = sub.add_parser("sft", help="supervised fine-tuning on video / image / text conversations (sharegpt JSONL)")
    s.add_argument("--model", required=True, help="hub id, local checkpoint folder or tiny:FAMILY")
    s.add_argument("--data", required=True, help="conversations JSONL (see mmlong.train.data for the layout)")
    s.add_argument("--pos", default=None, help="position scheme (default: the checkpoint's, else native)")
    s.add_argument("--opt", action="append", metavar="KEY=VALUE",
                   help="scheme option, e.g. gamma_choices=0.5,0.75,1,1.25,1.5 (repeatable)")
    mode = s.add_mutually_exclusive_group()
    mode.add_argument("--lora", action="store_true", help="train LoRA adapters on the LM attention (default)")
    mode.add_argument("--full", action="store_true", help="train every language-model weight")
    s.add_argument("--train-vision", action="store_true", dest="train_vision", help="train the vision tower too")
    s.add_argument("--lora-r", type=int, dest="lora_r")
    s.add_argument("--lora-alpha", type=int, dest="lora_alpha")
    s.add_argument("--lora-dropout", type=float, dest="lora_dropout")
    _common(s)
    add_frame_arguments(s)
    s.set_defaults(fn=_cmd_sft)

    t = sub.add_parser("tiny-vlm", help="train a small Qwen2.5-VL-architecture model from scratch on video needles")
    t.add_argument("--pos", default="native", help="position scheme to train with (default native)")
    t.add_argument("--data", default=None,
                   help="train on this `mmlong data vniah` folder in one stage instead of the curriculum "
                        "(whose videos are written to OUT/data once)")
    t.add_argument("--length", type=int, default=16,
                   help="training length L in seconds (frames at 1 fps); the curriculum starts at L/8")
    _common(t)
    t.set_defaults(fn=_cmd_tiny_vlm)

    c = sub.add_parser("longclip", help="Long-CLIP fine-tuning of a CLIP (248 text positions, PCM loss)")
    c.add_argument("--model", required=True,
                   help="released-format .pt checkpoint, transformers CLIP folder, or tiny (random tiny CLIP)")
    c.add_argument("--images", required=True, help="folder of the captioned images")
    c.add_argument("--captions", required=True,
                   help='JSONL of {"image": FILE, "long": TEXT, "short": TEXT (default: the first sentence)}')
    c.add_argument("--keep", type=int, default=20, help="leading text positions copied and frozen (default 20)")
    c.add_argument("--ratio", type=float, default=4, help="stretch of the other positions (default 4: 77 -> 248)")
    c.add_argument("--length", type=int, default=None, help="text positions after stretching (default 248)")
    c.add_argument("--components", type=int, default=None,
                   help="principal components of the coarse image feature (default 32)")
    c.add_argument("--short-weight", type=float, default=1.0, dest="short_weight",
                   help="weight of the short-caption loss (default 1)")
    _common(c)
    c.set_defaults(fn=_cmd_longclip)
