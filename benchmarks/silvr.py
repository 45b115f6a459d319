"""The language route on generated lectures and reports: grounded answers, "not found", stage-1 speed.

    python benchmarks/silvr.py --quick                       # smoke run: 2 short lectures, 1 PDF, 1 check lecture
    python benchmarks/silvr.py                               # full: both ASR models, all three sets
    python benchmarks/silvr.py --asr base --sets check       # one ASR model, one set
    python benchmarks/silvr.py --sets main --videos 26:30 --asr base   # the four hour-long lectures only
    python benchmarks/silvr.py --sets check --asr-opt beam_size=5      # an ASR setting (labelled tiny.en+beam_size=5)

Sets (all generated here, reproducible from ``--seed``):

* ``main``: :mod:`mmlong.data.lecture` lectures with all four fact kinds (spoken secret
  numbers and keywords, code words and reference numbers on slides), several facts per kind,
  each asked in one of :data:`mmlong.data.questions.PHRASINGS` (rotating), plus 20%
  unanswerable questions (a kind asked about a section without one, or a kind no lecture has).
  Full: 26 lectures of 5 minutes (2 facts per kind) and 4 of 60 minutes (4 per kind).
* ``pdf``: :mod:`mmlong.data.report` PDFs of 50-300 pages, archive numbers and code words per chapter.
* ``check``: :mod:`mmlong.data.checkset` lectures, an independent generator (other layout,
  voice, fact sentences and question wording): 10 of 5 minutes and 1 of 30 minutes.

Scoring (:mod:`mmlong.silvr.scoring`): an answer is right when it holds the reference value
(numbers compared by digits, words case-blind) and no other value of the same kind from the
same video or document; it is right *and timed* when its cited time lies in the fact's span
widened by ``--tolerance`` seconds for speech (a slide's display span, 1 s early allowed; a
PDF fact's page). An unanswerable question is right only when the answer starts with "Not found". Stage-1
timings are appended to ``OUT/results.jsonl`` and every answer to ``OUT/answers_<reasoner>.jsonl``
as they are made; a rerun skips what is there (``--fresh`` answers again, stage 1 stays cached).
Prints one JSON line: per set, ASR model and fact kind, answer accuracy, answer-and-time (or
page) accuracy, "not found" accuracy and seconds per question; per ASR model the stage-1
real-time factors (wall clock, and per CPU-second of this process: on a busy machine the
wall clock includes waiting for the cores).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

ASR = {"tiny.en": "packaged:tiny.en", "base": "packaged:base"}


def _videos(args, root: Path) -> dict[str, list[dict]]:
    """Generate (or reuse) every set; returns set -> question rows (with a "path" per row)."""
    from mmlong.data.checkset import make_check_lecture
    from mmlong.data.lecture import make_lecture
    from mmlong.data.questions import lecture_questions, report_questions
    from mmlong.data.report import make_report
    from mmlong.data.text import KINDS

    q = args.quick
    plans = {
        "main": [(2.0, 1)] * 2 if q else [(5.0, 2)] * 26 + [(60.0, 4)] * 4,
        "pdf": [50] if q else [50, 80, 120, 180, 240, 300],
        "check": [(3.0, 1)] if q else [(5.0, 1)] * 5 + [(5.0, 2)] * 5 + [(30.0, 3)],
    }
    out = {}
    for name in args.sets:
        d = root / "data" / name
        d.mkdir(parents=True, exist_ok=True)
        rows = []
        for i, spec in list(enumerate(plans[name]))[args.videos]:  # --videos: only these are generated
            seed = args.seed * 1000 + i
            stem = {"main": "lecture", "pdf": "report", "check": "check"}[name] + f"_{i:03d}"
            qfile = d / f"{stem}.questions.jsonl"  # one per video / PDF, written once it is complete
            if qfile.exists():
                rows += [json.loads(line) for line in qfile.read_text().splitlines()]
                continue
            if name == "main":
                lec = make_lecture(d / f"{stem}.mp4", minutes=spec[0], seed=seed, facts_per_kind=spec[1],
                                   kinds=KINDS, id_prefix=f"{stem}/")
                got = [{**r, "path": str(lec.path)} for r in lecture_questions(lec, seed)]
            elif name == "pdf":
                rep = make_report(d / f"{stem}.pdf", pages=spec, seed=seed, id_prefix=f"{stem}/")
                got = [{**r, "path": str(rep.path)} for r in report_questions(rep, seed)]
            else:
                lec = make_check_lecture(d / f"{stem}.mp4", minutes=spec[0], seed=seed, facts_per_kind=spec[1])
                got = [{**r, "path": str(lec.path)} for r in lec.questions]
            qfile.write_text("".join(json.dumps(r) + "\n" for r in got))
            rows += got
        out[name] = rows
    return out


def score(row: dict, text: str, cited: list[float], pages: list[int], others: set[str], tolerance: float) -> dict:
    """``{"right": ..., "timed": ...}`` for one answer (:mod:`mmlong.silvr.scoring`)."""
    from mmlong.silvr.scoring import cited_in_span, holds

    ok = holds(text, row["answer"], others)
    if row["answer"] is None:
        return {"right": ok, "timed": ok}
    a, b = row["span"]
    timed = int(a) in pages if "document" in row else cited_in_span(cited, (a, b), row["source"], tolerance)
    return {"right": ok, "timed": ok and timed}


def _done(path: Path) -> dict:
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r["set"], r["asr"], r.get("id") or r.get("path")): r for r in rows}


def _append(path: Path, row: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def _stage1(pipe, asr: str, path: str, log: Path, done: dict, seen: set) -> None:
    """Run stage 1 for ``path`` unless cached; log its timings when it ran (a later row replaces an earlier one)."""
    if (asr, path) in seen:
        return
    seen.add((asr, path))
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    _, timings = pipe.describe(path)
    if ("stage1", asr, path) in done and max(timings.values(), default=0.0) < 0.5:
        return  # cached, and its timings are in the log already
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    from mmlong.video import open as open_video

    with open_video(path) as src:
        duration = float(src.duration)
    row = {"set": "stage1", "asr": asr, "path": path, "duration": duration, "wall_s": time.perf_counter() - t0,
           "cpu_s": (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime), "load": os.getloadavg()[0],
           **{k: v for k, v in timings.items()}}
    _append(log, row)
    done[("stage1", asr, path)] = row


def _summary(results: list[dict], stage1: list[dict], all_stage1: list[dict]) -> dict:
    out: dict = {}
    for r in results:
        for kind in (r["kind"], "all"):
            row = out.setdefault(r["set"], {}).setdefault(r["asr"], {}).setdefault(kind, {"n": 0, "right": 0,
                                                                                      "timed": 0, "s": 0.0})
            row["n"] += 1
            row["right"] += r["right"]
            row["timed"] += r["timed"]
            row["s"] += r["seconds"]
    for sets in out.values():
        for kinds in sets.values():
            for row in kinds.values():
                n = max(1, row.pop("n"))
                row.update(n=n, answer_accuracy=round(row.pop("right") / n, 3),
                           answer_and_time_accuracy=round(row.pop("timed") / n, 3),
                           seconds_per_question=round(row.pop("s") / n, 2))
            if "none" in kinds:
                kinds["not_found_accuracy"] = kinds["none"]["answer_accuracy"]
    speed: dict = {}
    ocr = {r["path"]: r["ocr_s"] for r in all_stage1 if r.get("ocr_s", 0) > 1}  # the run that did the OCR
    for r in stage1:
        s = speed.setdefault(r["asr"], {"video_s": 0.0, "ocr_s": 0.0, "asr_s": 0.0, "cpu_s": 0.0, "loads": []})
        s["video_s"] += r["duration"]
        s["ocr_s"] += ocr.get(r["path"], r.get("ocr_s", 0.0))
        s["asr_s"] += r.get("asr_s", 0.0)
        s["cpu_s"] += r["cpu_s"]
        s["loads"].append(r["load"])
    for s in speed.values():
        loads = s.pop("loads")
        s.update(stage1_x_realtime=round(s["video_s"] / max(1e-9, s["ocr_s"] + s["asr_s"]), 1),
                 asr_x_realtime=round(s["video_s"] / max(1e-9, s["asr_s"]), 1),
                 ocr_x_realtime=round(s["video_s"] / max(1e-9, s["ocr_s"]), 1),
                 # per CPU-second of the process that ran the describers (OCR counts only where it ran)
                 cpu_x_realtime=round(s["video_s"] / max(1e-9, s["cpu_s"]), 1),
                 mean_load=round(sum(loads) / max(1, len(loads)), 2))
        for k in ("video_s", "ocr_s", "asr_s", "cpu_s"):
            s[k] = round(s[k], 1)
    return {"accuracy": out, "stage1": speed}


def _part(text: str) -> slice:
    """``--videos``: "N" -> the first N, "A:B" -> numbers A to B-1."""
    a, _, b = text.rpartition(":")
    try:
        return slice(int(a) if a else None, int(b)) if _ else slice(None, int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--videos takes N or A:B (got {text!r}), e.g. --videos 26:30") from None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: tiny sets (own data folder)")
    ap.add_argument("--asr", default=None, help="comma-separated: tiny.en,base (default: both; quick: tiny.en)")
    ap.add_argument("--asr-opt", action="append", default=[], metavar="KEY=VALUE", help="an ASRSettings field for "
                    "every ASR model, e.g. --asr-opt beam_size=5 --asr-opt screen_prompt=false (results are labelled "
                    "tiny.en+beam_size=5,...)")
    ap.add_argument("--sets", default="main,pdf,check")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tolerance", type=float, default=None, help="seconds around a spoken fact's span "
                    "(default: mmlong.silvr.scoring.TOLERANCE_S)")
    ap.add_argument("--out", default=None, help="default: .mmlong_cache/bench/silvr (or silvr_quick)")
    ap.add_argument("--stage1-only", action="store_true", help="generate the sets and run stage 1, answer nothing")
    ap.add_argument("--videos", type=_part, default=slice(None), help="only the first N videos / PDFs of each set, "
                    "or A:B for those numbered A to B-1 (a partial run; e.g. --sets main --videos 26:30: the hour-long)")
    ap.add_argument("--fresh", action="store_true", help="answer this run's sets and ASR models again (stage 1 stays cached)")
    ap.add_argument("--reasoner", default="smollm2", help="the reasoner that scores candidates: smollm2 (default), "
                    "a transformers causal LM id / folder, or a .gguf file")
    args = ap.parse_args()
    from mmlong.silvr.scoring import TOLERANCE_S

    args.tolerance = TOLERANCE_S if args.tolerance is None else args.tolerance
    args.sets = args.sets.split(",")
    from mmlong.cli import _opts
    from mmlong.errors import reject_unknown_fields
    from mmlong.silvr.asr import ASRSettings

    opts = _opts(args.asr_opt, "--asr-opt", "beam_size=5")
    reject_unknown_fields(ASRSettings, opts, "ASR setting", " (--asr-opt)")
    suffix = ("+" + ",".join(f"{k}={v}" for k, v in opts.items())) if opts else ""
    asrs = [a + suffix for a in (args.asr or ("tiny.en" if args.quick else "tiny.en,base")).split(",")]
    root = Path(args.out or (".mmlong_cache/bench/silvr_quick" if args.quick else ".mmlong_cache/bench/silvr"))
    root.mkdir(parents=True, exist_ok=True)
    rows = _videos(args, root)
    log = root / "results.jsonl"  # stage-1 timings
    slug = "".join(c if c.isalnum() else "_" for c in Path(args.reasoner).name.lower())
    answers = root / f"answers_{slug}.jsonl"  # one file per reasoner
    previous = _done(answers)
    if args.fresh:  # this run's sets and ASR models are answered again; other answers stay
        previous = {k: v for k, v in previous.items() if not (k[0] in args.sets and k[1] in asrs + ["-"])}
        answers.write_text("".join(json.dumps(v) + "\n" for v in previous.values()))
    done = {**{k: v for k, v in _done(log).items() if k[0] == "stage1"}, **previous}

    from mmlong.silvr import SilvrConfig, SilvrPipeline
    from mmlong.silvr.reasoner import ReasonerSettings

    seen: set = set()
    for asr in asrs:
        model = asr.split("+", 1)[0]
        pipe = SilvrPipeline(SilvrConfig(asr=ASRSettings(model=ASR.get(model, model), **opts), cache_dir=str(root / "cache"),
                                         reasoner=ReasonerSettings(model=args.reasoner)))
        if not args.stage1_only:
            pipe.tokenizer  # noqa: B018 - loads the reasoner now, so seconds per question leave its load out
        for name, qs in rows.items():
            values: dict[tuple[str, str], set[str]] = {}
            for r in qs:
                if r["answer"] is not None:
                    values.setdefault((r["path"], r["kind"]), set()).add(r["answer"].lower())
            sets = ["pdf"] if name == "pdf" else [name]
            for r in qs:
                key = (name, asr if name != "pdf" else "-", r["id"])
                if key in done or (name == "pdf" and asr != asrs[0]):
                    continue
                if name != "pdf":
                    _stage1(pipe, asr, r["path"], log, done, seen)
                if args.stage1_only:
                    continue
                t0 = time.perf_counter()
                kw = {"document": r["path"]} if name == "pdf" else {"video": r["path"]}
                ans = pipe.ask(r["question"], **kw)
                sec = time.perf_counter() - t0
                res = score(r, ans.text, ans.cited_times, ans.cited_pages, values.get((r["path"], r["kind"]), set()),
                            args.tolerance)
                out = {"set": sets[0], "asr": key[1], "id": r["id"], "kind": r["kind"], "question": r["question"],
                       "reference": r["answer"], "span": r["span"], "answer": ans.text, "cited": ans.cited_times,
                       "pages": ans.cited_pages, "seconds": round(sec, 2), **res}
                _append(answers, out)
                done[key] = out
    ids = {r["id"] for qs in rows.values() for r in qs}  # report this run's questions only
    paths = {r["path"] for qs in rows.values() for r in qs}
    answered = [r for r in done.values() if r["set"] != "stage1" and r["id"] in ids and r["asr"] in asrs + ["-"]]
    timed = [r for r in done.values() if r["set"] == "stage1" and r["path"] in paths and r["asr"] in asrs]
    summary = _summary(answered, timed, [r for r in done.values() if r["set"] == "stage1"])
    part = f"{args.videos.start or 0}:{args.videos.stop or ''}"
    print(json.dumps({"benchmark": "silvr", "quick": args.quick, "videos": part, "tolerance_s": args.tolerance,
                      "reasoner": args.reasoner, **summary, "machine": {"cpus": os.cpu_count()}}))


if __name__ == "__main__":
    main()
