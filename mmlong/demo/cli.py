"""``mmlong demo``: serve the upload-and-ask page (Gradio) on localhost.

::

    mmlong demo                                   # offline language route on http://127.0.0.1:7860
    mmlong demo --model tiny:qwen2_5_vl --port 7861 --max-upload-mb 512
    mmlong demo --model Qwen/Qwen2.5-VL-7B-Instruct --concurrency 2
    mmlong demo --clip longclip-B.pt              # CLIP scores frames against each question (mmlong.load(clip=))

Registered by :data:`mmlong.cli.PLUGINS` through :func:`add_parser`. Needs the ``ui`` extra
(``pip install 'mmlong[ui]'``). Models load on the first question, once per process.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

__all__ = ["add_parser"]


def _cmd_demo(args: argparse.Namespace) -> int:
    import os

    from mmlong.errors import MmlongError, require

    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported
    if not 0 < args.port < 65536:
        raise MmlongError(f"--port must be 1..65535, got {args.port}")
    if args.max_upload_mb < 1 or args.concurrency < 1:
        raise MmlongError("--max-upload-mb and --concurrency must be at least 1")
    from mmlong.api import resolve
    from mmlong.pipeline.base import check_max_new_tokens

    check_max_new_tokens(args.max_new_tokens, "--max-new-tokens")
    if args.cache_dir is not None:
        from mmlong.paths import check_output_dir

        check_output_dir(args.cache_dir, "--cache-dir")
    resolve(args.model, device=args.device, max_new_tokens=args.max_new_tokens, clip=args.clip)  # before serving
    require("gradio", "ui")
    from mmlong.demo.app import build_app, launch, store_for
    from mmlong.demo.session import SessionManager

    sessions = SessionManager()
    private = args.cache_dir is None  # stage-1 text of uploads stays in the demo's private dir
    store = store_for(args.model, device=args.device, max_new_tokens=args.max_new_tokens, clip=args.clip,
                      cache_dir=str(sessions.root / "stage1") if private else args.cache_dir)
    app = build_app(store, sessions=sessions, max_upload_mb=args.max_upload_mb, concurrency=args.concurrency,
                    private_stage_cache=private)
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback:
        print(f"mmlong: warning: serving on {args.host}: anyone who can reach this address can upload files and "
              "run the model (there is no login)", file=sys.stderr)
    print(f"mmlong demo: model {args.model}{f', CLIP {args.clip}' if args.clip else ''}, uploads up to {args.max_upload_mb} MB in {sessions.root} (private, "
          "deleted with each session); Ctrl+C to stop", file=sys.stderr)
    import signal

    # SIGTERM (systemd, docker stop, kill) exits like Ctrl+C, so uploads are deleted on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        launch(app, host=args.host, port=args.port)
    except OSError as exc:  # the port is taken, or the host is not an address of this machine
        raise MmlongError(f"cannot serve on {args.host}:{args.port}: the port is in use or the address is not one "
                          f"of this machine's ({type(exc).__name__}); pass another --port or --host") from None
    finally:
        sessions.close_all()
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``mmlong demo``."""
    p = subparsers.add_parser("demo", help="web page (Gradio) to upload a video or PDF and ask questions",
                              description="Serve the mmlong demo page: upload a video or a PDF, see the token plan, "
                                          "ask questions, get streamed answers with clickable cited times or pages.")
    p.add_argument("--model", default="default",
                   help="default (offline language route), a Qwen-VL hub id / local checkpoint, or tiny:FAMILY "
                        "(adds the direct route)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--max-upload-mb", type=int, default=2048, help="largest accepted upload in MB (default 2048)")
    p.add_argument("--concurrency", type=int, default=1, help="questions answered at once (queue concurrency)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA when available)")
    p.add_argument("--max-new-tokens", type=int, default=None, help="answer length cap (default: the route's)")
    p.add_argument("--cache-dir", default=None,
                   help="keep the language route's stage-1 text here across runs (default: a private temp dir, "
                        "deleted with each session)")
    from mmlong.vision.retrieval import add_clip_argument

    add_clip_argument(p)
    p.set_defaults(fn=_cmd_demo)
    return p
