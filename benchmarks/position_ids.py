"""Cost of mmlong's position ids and patched rotary vs transformers' own, on a long video prompt.

Builds a Qwen2.5-VL text stack with the 7B's attention shape (head_dim 128, 28 heads, 4 KV
heads) but few layers and random weights, and a prompt holding one video of T x H x W tokens.
Measures: get_rope_index (transformers vs mmlong native), the rotary cos/sin (stock vs patched),
and a prefill forward with sdpa (stock vs patched). Prints one JSON line.

    python benchmarks/position_ids.py                 # CPU: 16k video tokens, 2 layers
    python benchmarks/position_ids.py --device cuda --dtype bfloat16 --tokens 65536 --layers 4
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def timed(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--tokens", type=int, default=16384, help="video tokens (T*H*W, H=W=16)")
    ap.add_argument("--layers", type=int, default=2)
    args = ap.parse_args()

    import transformers as T

    import mmlong

    dtype = getattr(torch, args.dtype)
    T_patches = max(1, args.tokens // 256)
    text = dict(hidden_size=3584, intermediate_size=2048, num_hidden_layers=args.layers, num_attention_heads=28,
                num_key_value_heads=4, vocab_size=300, max_position_embeddings=128000, bos_token_id=None,
                eos_token_id=258, pad_token_id=256,
                rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]})
    cfg = T.Qwen2_5_VLConfig(text_config=text, vision_config=dict(depth=1, hidden_size=64, out_hidden_size=3584,
                             num_heads=2, intermediate_size=64, tokens_per_second=2, spatial_merge_size=2,
                             temporal_patch_size=2), image_token_id=261, video_token_id=262,
                             vision_start_token_id=259, vision_end_token_id=260)
    torch.manual_seed(0)
    model = T.Qwen2_5_VLForConditionalGeneration._from_config(cfg, attn_implementation="sdpa", dtype=dtype)
    model = model.to(args.device).eval()
    ids = torch.tensor([[7] * 20 + [259] + [262] * (T_patches * 256) + [260] + [7] * 30], device=args.device)
    grid = torch.tensor([[T_patches, 32, 32]], device=args.device)
    spg = torch.tensor([1.0], device=args.device)
    types = (ids == 262).int() * 2
    inner = model.model
    emb = inner.language_model.embed_tokens(ids)

    with torch.no_grad():
        hf_idx_s, (hf_pos, _) = timed(lambda: inner.get_rope_index(ids, types, video_grid_thw=grid, second_per_grid_ts=spg))
        hf_rot_s, _ = timed(lambda: inner.language_model.rotary_emb(emb, hf_pos))
        hf_fwd_s, _ = timed(lambda: inner.language_model(inputs_embeds=emb, position_ids=hf_pos), repeat=2)
        mmlong.apply(model, "native")
        mm_idx_s, (mm_pos, _) = timed(lambda: inner.get_rope_index(ids, types, video_grid_thw=grid, second_per_grid_ts=spg))
        mm_rot_s, _ = timed(lambda: inner.language_model.rotary_emb(emb, mm_pos))
        mm_fwd_s, _ = timed(lambda: inner.language_model(inputs_embeds=emb, position_ids=mm_pos), repeat=2)
        mmlong.apply(model, "hope", gamma=1.5)
        hope_idx_s, (hope_pos, _) = timed(lambda: inner.get_rope_index(ids, types, video_grid_thw=grid, second_per_grid_ts=spg))
    same_video = bool(torch.equal(hf_pos[:, :, :-31].float(), mm_pos[:, :, :-31]))
    print(json.dumps({
        "device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
        "dtype": args.dtype, "seq_len": int(ids.shape[1]), "layers": args.layers,
        "rope_index_s": {"transformers": round(hf_idx_s, 4), "mmlong_native": round(mm_idx_s, 4), "mmlong_hope": round(hope_idx_s, 4)},
        "rotary_s": {"transformers": round(hf_rot_s, 5), "mmlong": round(mm_rot_s, 5)},
        "prefill_s": {"transformers": round(hf_fwd_s, 4), "mmlong_native": round(mm_fwd_s, 4)},
        "video_ids_equal": same_video,
        "trailing_text_first_id": {"transformers": int(hf_pos[0, 0, -30]), "mmlong_native": float(mm_pos[0, 0, -30])},
    }))


if __name__ == "__main__":
    main()
