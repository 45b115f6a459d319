"""``mmlong eval``: lmms-eval's flags and output layout, plus resume, rescore and single-doc reruns.

    mmlong eval --model tiny:qwen2_5_vl --pos hope --opt gamma=1.5 --tasks mmneedle,vniah_synth \\
        --limit 8 --output-path runs/ --log-samples
    mmlong eval --model Qwen/Qwen2.5-VL-7B-Instruct --tasks longvideobench_val_v \\
        --data-dir longvideobench_val_v=/data/LongVideoBench --output-path runs/
    mmlong eval ... --resume RUN_ID             # continue a killed run
    mmlong eval ... --resume RUN_ID --only 12   # rerun one doc of it
    mmlong eval --rescore runs/oracle/RUN_ID_results.json
    mmlong eval --compare runs/                 # runs side by side, labelled by their differing settings
    accelerate launch --num_processes 8 -m mmlong.cli eval ...   # data parallel, rank 0 merges
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mmlong.errors import MmlongError

#: lmms-eval ``--model_args`` keys -> mmlong settings (frame settings are FrameSettings fields).
MODEL_ARGS = {"pretrained": "model", "max_num_frames": "max_frames", "max_frames": "max_frames", "fps": "fps",
              "num_frames": "num_frames", "max_new_tokens": "max_new_tokens", "device": "device", "dtype": "dtype",
              "torch_dtype": "dtype", "max_pixels": "max_pixels", "min_pixels": "min_pixels",
              "total_pixels": "total_pixels", "min_frames": "min_frames", "sampling": "sampling"}
_FRAME_KEYS = ("fps", "num_frames", "max_frames", "min_pixels", "max_pixels", "total_pixels", "min_frames", "sampling")


def _value(text: str):
    from mmlong.cli import _value as parse

    return parse(text)


def _pairs(items, flag: str, sep: str = "=") -> list[tuple[str, str]]:
    out = []
    for item in items or []:
        if sep not in item:
            raise MmlongError(f"{flag} takes KEY{sep}VALUE (got {item!r})")
        k, v = item.split(sep, 1)
        out.append((k.strip(), v.strip()))
    return out


def config_from_args(args):
    """The :class:`EvalConfig` for parsed CLI arguments."""
    from mmlong.cli import _opts
    from mmlong.eval.config import EvalConfig
    from mmlong.video.settings import FrameSettings, from_args

    fields = {"model": args.model, "max_new_tokens": args.max_new_tokens, "device": args.device, "dtype": args.dtype}
    frame_args = {}
    for k, v in _pairs([p for chunk in args.model_args or [] for p in chunk.split(",") if p], "--model_args"):
        if k not in MODEL_ARGS:
            raise MmlongError(f"--model_args key {k!r} is not supported; use {', '.join(MODEL_ARGS)} or mmlong flags")
        key = MODEL_ARGS[k]
        (frame_args if key in _FRAME_KEYS else fields)[key] = v if key in ("model", "device", "dtype") else _value(v)
    frames = FrameSettings.of(from_args(args), **frame_args)
    data_dirs = {}
    for item in args.data_dir or []:
        task, _, path = item.rpartition("=") if "=" in item else ("*", "", item)
        data_dirs[task or "*"] = path
    task_opts: dict = {}
    for k, v in _pairs(args.task_opt, "--task-opt"):
        task, _, key = k.partition(".")
        if not key:
            raise MmlongError(f"--task-opt takes TASK.KEY=VALUE (got {k}={v}), e.g. mmneedle.m=10")
        task_opts.setdefault(task, {})[key] = _value(v)
    seed = _seed(args.seed)
    only = tuple(o for chunk in args.only or [] for o in chunk.split(",") if o)
    run_id, resume = args.run_id, bool(args.resume)
    if isinstance(args.resume, str):
        run_id = args.resume
    if resume and not run_id:
        run_id = _latest_run(args.output_path, fields["model"])
    tasks = tuple(t for t in (args.tasks or "").split(",") if t)
    unknown_opts = set(task_opts) - set(tasks)
    if unknown_opts:
        raise MmlongError(f"--task-opt names task(s) {', '.join(sorted(unknown_opts))} that are not in --tasks")
    return EvalConfig(
        tasks=tasks, pos=args.pos, pos_options=_opts(args.opt), prefill=args.prefill, patterns=args.patterns,
        prefill_options=_opts(args.prefill_opt, "--prefill-opt", "local=512"), reduce=args.reduce,
        frames=frames, limit=args.limit, only=only, output_path=args.output_path, log_samples=args.log_samples,
        batch_size=args.batch_size, prefetch=args.prefetch, seed=seed, run_id=run_id, resume=resume, data_dirs=data_dirs,
        task_options=task_opts, **fields)


def _seed(text) -> int:
    """``--seed``: an integer, or lmms-eval's comma form (``0,1234,1234,1234``: the first value is used)."""
    first = str(text).split(",")[0].strip()
    try:
        return int(first)
    except ValueError:
        raise MmlongError(f"--seed must be an integer (or lmms-eval's comma list such as 0,1234,1234,1234), "
                          f"got {text!r}") from None


def _latest_run(output_path, model) -> str:
    from mmlong.eval.output import model_dir_name

    if not output_path or not model:
        raise MmlongError("--resume without a run id needs --output-path and --model to find the latest run")
    runs = sorted((Path(output_path) / model_dir_name(model)).glob("*_results.json"))
    if not runs:
        raise MmlongError(f"no run to resume in {Path(output_path) / model_dir_name(model)}; start one without --resume")
    return runs[-1].name[: -len("_results.json")]


def _list_tasks() -> int:
    """Each task: name, summary, and its options (``--task-opt TASK.KEY=VALUE``) with defaults."""
    from mmlong.eval.tasks import TASKS, task_class
    from mmlong.eval.tasks.base import option_docs

    for name in TASKS:
        cls = task_class(name)
        print(f"{name} (v{cls.version}): {cls.summary}")
        for key, default, comment in option_docs(cls.Options):
            print(f"    {key} = {default}" + (f"  # {comment}" if comment else ""))
        print()
    print("Set an option with --task-opt TASK.KEY=VALUE, a data folder with --data-dir TASK=DIR.")
    return 0


def _import_agent(spec: str):
    """``"package.module:function"`` -> the callable (the agent of ``videowebarena_agent``)."""
    import importlib

    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise MmlongError(f"--agent takes MODULE:FUNCTION (got {spec!r}), e.g. --agent my_agents.webarena:run")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise MmlongError(f"cannot load --agent {spec}: {exc}; check the module is importable (PYTHONPATH)") from None
    if not callable(fn):
        raise MmlongError(f"--agent {spec} is not callable; pass a function agent(task_config, clip) -> dict")
    return fn


def run(args) -> int:
    from mmlong.eval.runner import evaluate, rescore, resolve

    if args.compare:
        from mmlong.eval.compare import compare

        print(compare(args.compare))
        return 0
    if args.rescore:
        path = Path(args.rescore)
        if not path.exists() and args.output_path and args.model:
            from mmlong.eval.output import model_dir_name

            path = Path(args.output_path) / model_dir_name(args.model) / f"{args.rescore}_results.json"
        rescore(path)
        return 0
    if args.tasks == "list":
        return _list_tasks()
    cfg = config_from_args(args)
    if args.dry_run:
        print(json.dumps(resolve(cfg), indent=2))
        return 0
    results = evaluate(cfg, agent=_import_agent(args.agent) if args.agent else None)
    return 0 if results is None or not results.get("task_errors") else 1


def add_parser(subparsers) -> None:
    from mmlong.video.settings import add_frame_arguments

    p = subparsers.add_parser("eval", help="evaluate on long-input benchmarks (lmms-eval flags and output layout)",
                              description=__doc__.split("\n\n")[0])
    a = p.add_argument
    a("--model", help="random | oracle | tiny:FAMILY | hub id | local checkpoint folder")
    a("--model_args", "--model-args", action="append", metavar="K=V,...",
      help="lmms-eval style: pretrained=, max_num_frames=, fps=, num_frames=, max_new_tokens=, device=, dtype=")
    a("--tasks", help="comma-separated task names; 'list' prints them")
    a("--pos", help="position scheme (see `mmlong schemes`); default native")
    a("--opt", action="append", metavar="KEY=VALUE", help="scheme option, e.g. gamma=1.5 (repeatable)")
    a("--prefill", choices=["mminference"], help="sparse prefill attention (decode stays dense)")
    a("--patterns", help="sparse patterns: a `mmlong sparse search` JSON, or one spec for all heads (default vs)")
    a("--prefill-opt", action="append", metavar="KEY=VALUE", help="sparse budget, e.g. local=512 or min_len=16384 (repeatable)")
    a("--reduce", help="visual token reduction, e.g. temporal or temporal+budget:4096")
    add_frame_arguments(p)  # tasks pin their own frames; --max-frames also sets each task's frame count
    a("--max-new-tokens", type=int, help="answer length cap (default: each task's)")
    a("--device")
    a("--dtype")
    a("--limit", type=float, help="N >= 1: first N docs per task; 0 < x < 1: that fraction")
    a("--only", action="append", metavar="DOC_ID", help="run only these docs (ID or TASK:ID; repeatable, comma list)")
    a("--output-path", "--output_path", dest="output_path", help="root folder: DIR/<model>/<run id>_results.json ...")
    a("--log-samples", "--log_samples", dest="log_samples", action="store_true",
      help="store prompts in the samples files (samples are always written: resume and rescore read them)")
    a("--batch-size", "--batch_size", dest="batch_size", type=int, default=1, help="docs per generate call on the direct route (left-padded batch; greedy answers match --batch-size 1)")
    a("--prefetch", action="store_true", help="decode the next docs' media in a background thread while the model "
      "answers (1.15x docs/s on an H100; see README for its reproducibility note)")
    a("--seed", default="0", help="seed (lmms-eval's comma form accepted; the first value is used)")
    a("--run-id", help="output prefix (default: start time)")
    a("--resume", nargs="?", const=True, default=False, metavar="RUN_ID",
      help="continue a run (default: the latest in --output-path), skipping finished docs")
    a("--compare", nargs="+", metavar="RUN", help="compare finished runs: results files or folders holding them; "
      "one row per run labelled by the settings that differ, with paired +/- counts against the first")
    a("--agent", metavar="MODULE:FUNCTION", help="agent for videowebarena_agent: agent(task_config, clip) -> "
      "{'answer', 'url', ...}; it must drive the live WebArena sites itself")
    a("--rescore", metavar="RUN", help="recompute metrics from a run's samples: its _results.json (or run id)")
    a("--data-dir", action="append", metavar="[TASK=]DIR", help="data folder of a task (or of all tasks)")
    a("--task-opt", action="append", metavar="TASK.KEY=VALUE", help="task option, e.g. mmneedle.m=10 (repeatable)")
    a("--dry-run", action="store_true", help="print the resolved configuration and exit")
    p.set_defaults(fn=run)


if __name__ == "__main__":  # pragma: no cover
    from mmlong.cli import main

    sys.exit(main(["eval", *sys.argv[1:]]))
