"""The ``mmlong`` command: ``ask``, ``doctor``, ``schemes``.

    mmlong ask VIDEO "question" --model Qwen/Qwen2.5-VL-7B-Instruct --pos hope --opt gamma=1.5
    mmlong doctor
    mmlong schemes

Errors print one line (``mmlong: error: ...``) and exit with status 2; no tracebacks (an error
mmlong did not anticipate is one line too, marked :data:`UNEXPECTED`; ``mmlong --debug ...`` shows its traceback).
"""

from __future__ import annotations

import argparse
import json
import sys

from mmlong.errors import MmlongError


def _value(text: str):
    """Parse an --opt value: int, float, comma list, bool, None or string."""
    low = text.lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    if "," in text:
        return tuple(_value(t) for t in text.split(",") if t)
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _opts(pairs: list[str], flag: str = "--opt", example: str = "gamma=1.5") -> dict:
    """``["k=v", ...]`` -> ``{k: parsed v}``; a pair without ``=`` fails naming ``flag``."""
    out = {}
    for p in pairs or []:
        if "=" not in p:
            raise MmlongError(f"{flag} takes key=value (got {p!r}), e.g. {flag} {example}")
        k, v = p.split("=", 1)
        out[k.strip()] = _value(v.strip())
    return out


def _load_kwargs(args) -> dict:
    """``mmlong.load`` keyword arguments for ``mmlong ask`` flags (a flag the route cannot use is refused there)."""
    from mmlong.video.settings import from_args

    return dict(route=args.route, pos=args.pos, device=args.device, dtype=args.dtype, max_new_tokens=args.max_new_tokens,
                frames=from_args(args), reduce=args.reduce, prefill=args.prefill, patterns=args.patterns,
                prefill_opts=_opts(args.prefill_opt, "--prefill-opt", "local=512") or None, reasoner=args.reasoner,
                cache_dir=args.cache_dir, clip=args.clip, **_opts(args.opt))


def _dry_run(args, kw: dict, video: str | None) -> int:
    """Print the resolved settings (and, for a video on the direct route, its plan) without loading weights."""
    import dataclasses

    from mmlong.api import resolve

    cfg = resolve(args.model, **kw)
    out: dict = {"settings": dataclasses.asdict(cfg)}
    plan = None
    if video is not None and cfg.route == "direct":
        from mmlong.tokens.planner import plan as make_plan

        plan = make_plan(video, cfg.model, cfg.frames, max_new_tokens=cfg.max_new_tokens, dtype=cfg.dtype,
                         attn_implementation=cfg.attn_implementation)
        out["plan"] = plan.as_dict()
    if args.json:
        print(json.dumps(out, default=str))
        return 0
    for key, value in out["settings"].items():
        print(f"{key:20s} {value}")
    if plan is not None:
        from mmlong.tokens.cli import format_plan

        print(format_plan(plan, video))
    return 0


def _ask_inputs(args) -> tuple[str | None, str | None, list]:
    """``(video, document, images)`` of ``mmlong ask``, checked before any model loads.

    Every refusal speaks the CLI's words (FILE, --image, --model, --route), not the Python
    API's: the media are opened with the rules the pipelines apply later
    (:func:`mmlong.video.source.check_file` and the decoder's metadata read, ``open_pdf``,
    ``load_images``), so a bad file fails in one line before OCR, ASR or a VLM is loaded.
    """
    import os

    from mmlong.api import default_route

    path = args.video
    if path is None and len(args.question) == 1 and os.path.isfile(args.question[0]):
        raise MmlongError(f"no question given for {args.question[0]!r}; ask one: mmlong ask {args.question[0]} "
                          "\"What happens at the start?\"")
    if any(not q.strip() for q in args.question):
        raise MmlongError("a question is empty; ask e.g.: mmlong ask FILE \"What happens at the start?\"")
    route = default_route(args.model, args.route)
    if path is None and not args.image:
        raise MmlongError("nothing to ask about: pass a video or PDF file first (mmlong ask FILE \"question\")"
                          + ("" if route == "silvr" else ", or images with --image IMG"))
    if args.image and route == "silvr":
        raise MmlongError("--image needs the direct route: pass --model with a Qwen-VL model (a hub id, a local "
                          "checkpoint or tiny:qwen2_5_vl)")
    from mmlong.models.vision_inputs import load_images

    images = load_images(args.image) if args.image else []
    if path is None:
        return None, None, images
    from mmlong.media_sources import local_path

    path = os.fspath(local_path(path, "video or PDF"))  # a file:// / data: / http(s) URL -> its local file
    if not os.path.exists(path):
        raise MmlongError(f"{path!r} does not exist; pass the path of a video file or a PDF")
    if path.lower().endswith(".pdf"):
        from mmlong.docs import open_pdf

        with open_pdf(path):
            pass
        return None, path, images
    from mmlong.video import open as open_video

    with open_video(path):  # metadata only: a file that is not a video fails here, in one line
        pass
    return path, None, images


def _cmd_ask(args) -> int:
    import mmlong
    from mmlong.pipeline.base import check_batch_size, check_max_new_tokens

    check_batch_size(args.batch_size, "--batch-size")
    check_max_new_tokens(args.max_new_tokens, "--max-new-tokens")
    if args.cache_dir is not None:
        from mmlong.paths import check_output_dir

        check_output_dir(args.cache_dir, "--cache-dir")
    kw = _load_kwargs(args)
    mmlong.resolve(args.model, **kw)  # every setting is checked before the media are read or weights load
    video, document, images = _ask_inputs(args)
    if args.dry_run:
        return _dry_run(args, kw, video)
    pipe = mmlong.load(args.model, **kw)
    pipe.progress = not args.json
    questions = list(args.question)
    asks = [{"question": q, "video": video, "images": images or None, "document": document} for q in questions]
    answers = pipe.ask_many(asks, batch_size=args.batch_size)  # one decode per video, batches on the direct route
    for q, ans in zip(questions, answers):
        _print_answer(q, ans, args.json, header=len(questions) > 1)
    return 0


def _print_answer(question: str, ans, as_json: bool, header: bool) -> None:
    if as_json:
        print(json.dumps({"question": question, "answer": ans.text, "cited_times": ans.cited_times,
                          "cited_pages": ans.cited_pages, "frame_times": ans.frame_times, "tokens": ans.tokens,
                          "timings": ans.timings, "config": ans.config, "evidence": ans.evidence, "notes": ans.notes,
                          "granularity": ans.context.get("granularity"),
                          **({"clip_frames": ans.context["clip_frames"]} if "clip_frames" in ans.context else {})},
                         default=str))
        return
    from mmlong.silvr.segments import hms

    cites = [hms(t) for t in ans.cited_times] + [f"page {p}" for p in ans.cited_pages]
    print((f"Q: {question}\n" if header else "") + f"{ans.text}\n[cited: {', '.join(cites) or 'none'}]")
    if "clip_frames" in ans.context:  # --clip on the language route: the frames most like the question
        print(f"[clip: {', '.join(hms(f['time']) for f in ans.context['clip_frames'])}]")
    for note in ans.notes:
        print(f"[note: {note}]", file=sys.stderr)


def _cmd_doctor(args) -> int:
    from mmlong.doctor import run

    print(run(as_json=args.json))
    return 0


def _cmd_schemes(args) -> int:
    from mmlong.pos_encodings.registry import SCHEMES

    for name, s in SCHEMES.items():
        print(f"{name:16s} {s.description}")
    return 0


# Subcommands living in their own modules: each exposes ``add_parser(subparsers)`` that
# registers its parser with ``set_defaults(fn=...)``. Add a capability by adding one line.
PLUGINS: list[str] = [
    "mmlong.eval.cli",
    "mmlong.tokens.cli",
    "mmlong.data.cli",
    "mmlong.sparse.cli",
    "mmlong.demo.cli",
    "mmlong.train.cli",
]


class _Parser(argparse.ArgumentParser):
    """argparse with mmlong's error format: one ``mmlong: error: ...`` line naming the help to read, exit 2.

    Subcommand parsers (plugins included) are made by ``add_subparsers`` with this same class.
    """

    def error(self, message: str):
        self.exit(2, f"mmlong: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    from mmlong.video.settings import add_frame_arguments

    p = _Parser(prog="mmlong", description="Long multimodal input for Qwen-VL models.")
    p.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error (mmlong --debug ask ...)")
    sub = p.add_subparsers(dest="cmd", required=True)

    a = sub.add_parser("ask", help="answer a question about a video or a PDF (and/or images)")
    a.add_argument("video", nargs="?", help="video file, or a .pdf document")
    a.add_argument("question", nargs="+", help="one or more questions (the model loads, and the video is read, once)")
    a.add_argument("--model", default="default",
                   help="default (offline language route), a Qwen-VL hub id / local checkpoint, or tiny:FAMILY")
    a.add_argument("--route", choices=["silvr", "direct"], default=None,
                   help="silvr: OCR+ASR(+captions) -> LLM; direct: frames -> VLM (default: silvr for --model default)")
    a.add_argument("--reasoner", default=None, help="language route LLM: smollm2 (default) or a hub id / path")
    a.add_argument("--cache-dir", default=None, help="language route cache (default ~/.cache/mmlong)")
    a.add_argument("--image", action="append", help="image file (repeatable)")
    a.add_argument("--pos", default=None, help="position scheme (see `mmlong schemes`); default native")
    a.add_argument("--opt", action="append", metavar="KEY=VALUE", help="scheme option, e.g. gamma=1.5 (repeatable)")
    a.add_argument("--reduce", default=None, help="direct route: token reduction, e.g. temporal or temporal+budget:4096")
    a.add_argument("--prefill", default=None, choices=["mminference"], help="direct route: sparse prefill attention")
    a.add_argument("--batch-size", type=int, default=1, help="direct route: questions per generate call")
    a.add_argument("--patterns", default=None, help="sparse patterns JSON from `mmlong sparse search` (or a spec, e.g. vs)")
    a.add_argument("--prefill-opt", action="append", metavar="KEY=VALUE",
                   help="sparse budget, e.g. local=512 or min_len=8192 (repeatable)")
    a.add_argument("--max-new-tokens", type=int, default=None, help="answer length cap (default: the route's)")
    a.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA when available)")
    a.add_argument("--dtype", default=None, help="float32, bfloat16, float16 (default: bf16 on CUDA, fp32 on CPU)")
    a.add_argument("--json", action="store_true", help="print one JSON object per question")
    a.add_argument("--dry-run", action="store_true",
                   help="print the resolved settings and, for a video on the direct route, its frame plan; load nothing")
    add_frame_arguments(a)
    from mmlong.vision.retrieval import add_clip_argument

    add_clip_argument(a)
    a.set_defaults(fn=_cmd_ask)

    d = sub.add_parser("doctor", help="versions, extras, decoders, CUDA, transformers position-id divergences")
    d.add_argument("--json", action="store_true")
    d.set_defaults(fn=_cmd_doctor)

    s = sub.add_parser("schemes", help="list position schemes")
    s.set_defaults(fn=_cmd_schemes)
    for mod in PLUGINS:
        importlib.import_module(mod).add_parser(sub)
    return p


#: Ends the line of an error mmlong did not anticipate (tests assert it never appears).
UNEXPECTED = "(unexpected error: please report it; rerun as mmlong --debug ... for the traceback)"


def main(argv: list[str] | None = None) -> int:
    """Run the ``mmlong`` command; an error is one ``mmlong: error: ...`` line on stderr and exit status 2."""
    from mmlong.errors import user_line

    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except MmlongError as exc:
        print(f"mmlong: error: {user_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - no traceback reaches a user; --debug shows it
        if args.debug:
            raise
        print(f"mmlong: error: {user_line(exc)} {UNEXPECTED}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
