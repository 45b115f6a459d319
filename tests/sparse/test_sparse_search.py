"""Offline search: candidate selection rules, the patterns JSON, and ``mmlong sparse search``."""

import json

import pytest
import torch

from mmlong.cli import main
from mmlong.errors import MmlongError
from mmlong.sparse.search import SCHEMA, default_candidates, load_patterns, search_heads, search_patterns
from mmlong.data.synth_attention import SCALE, grid_qkv




GRID_V = {"type": "grid", "v": True, "local": 256}
GRID_S = {"type": "grid", "v": False, "s": True, "local": 256}
A_WIDE = {"type": "a_shape", "n_init": 64, "n_local": 1536}


def test_search_picks_the_permuted_grid_on_grid_video():
    q, k, _, lay = grid_qkv(60, 32, heads=2, kv_heads=1, dim=64, seed=1)  # L = 2048
    best, recalls, dens = search_heads(q[0], k[0], lay, [GRID_V, GRID_S, A_WIDE], scale=SCALE)
    for h in range(2):
        assert best[h]["type"] == "grid" and best[h]["s"] and not best[h]["v"], (best[h], recalls[h])
        assert recalls[h][0] < 0.6 < 0.95 < recalls[h][1]
        assert best[h]["recall"] == recalls[h][1]
    assert best[0]["phase"] is None and len(dens) == 3


def test_later_candidates_need_a_recall_gain_and_no_more_density():
    q, k, _, lay = grid_qkv(60, 32, heads=1, kv_heads=1, dim=64, seed=1)
    dense_ish = {"type": "a_shape", "n_init": 64, "n_local": 4096}  # covers everything at 2k: recall 1
    best, rec, dens = search_heads(q[0], k[0], lay, [GRID_S, dense_ish], scale=SCALE, max_density=0.5)
    assert rec[0][1] > rec[0][0] + 0.01 and dens[1] > 0.5 and best[0]["type"] == "grid"  # too dense
    best, _, _ = search_heads(q[0], k[0], lay, [GRID_S, dense_ish], scale=SCALE, max_density=1.1)
    assert best[0]["type"] == "a_shape"
    best, _, _ = search_heads(q[0], k[0], lay, [GRID_S, dense_ish], scale=SCALE, max_density=1.1, min_delta=0.5)
    assert best[0]["type"] == "grid"  # gain below min_delta


def test_grid_candidates_search_the_phase():
    q, k, _, lay = grid_qkv(20, 8, heads=1, kv_heads=1, dim=32, seed=3)
    hot = torch.arange(64 + 7, 64 + 160, 8)  # in-frame slot 7 = g - 1
    k[0, 0, hot] += 4.0
    q[0, 0, 64:] += 4.0 / 32
    best, _, _ = search_heads(q[0], k[0], lay, [{"type": "grid", "v": True, "local": 16}], scale=SCALE)
    assert best[0]["phase"] == 7


def test_default_candidates_by_modality():
    from mmlong.sparse.layout import SeqLayout

    assert default_candidates(SeqLayout.text(100))[0]["type"] == "a_shape"
    vid = default_candidates(SeqLayout.video(100, start=10, frames=4, frame_tokens=10))
    assert vid[0]["type"] == "grid" and "q_boundary" not in {c["type"] for c in vid}
    mixed = SeqLayout.from_spans([("text", 0, 5), ("image", 5, 9), ("text", 9, 12), ("video", 12, 20, 4),
                                  ("text", 20, 22)])
    assert {"q_boundary", "2d_boundary"} <= {c["type"] for c in default_candidates(mixed)}


def test_search_patterns_json_round_trip_and_apply(video):
    from mmlong.models.tiny import tiny
    from mmlong.models.vision_inputs import build_inputs, model_inputs
    from mmlong.sparse import apply_prefill, remove_prefill
    from mmlong.sparse.patch import current
    from mmlong.video import sample

    b = tiny("qwen2_vl")
    inp = model_inputs(build_inputs(b.family, b.tokenizer, b.spec, "What?", videos=[sample(video, num_frames=8)]))
    data = search_patterns(b.model, inp, model_name="tiny:qwen2_vl")
    assert data["schema"] == SCHEMA and data["tokens"] == inp["input_ids"].shape[1]
    assert set(data["layers"]) == {"0", "1"} and all(set(h) == {"0", "1", "2", "3"} for h in data["layers"].values())
    assert data["layout"]["tokens"]["video"] == int((inp["mm_token_type_ids"] == 2).sum())
    assert len(data["recalls"]["0"]["0"]) == len(data["candidates"]) == len(data["densities"]["0"])
    assert json.loads(json.dumps(data)) == data
    specs = load_patterns(data)
    assert len(specs) == 2 and len(specs[0]) == 4 and "recall" not in specs[0][0]
    with torch.no_grad():
        ref = b.model(**inp).logits
        apply_prefill(b.model, patterns=data, min_len=0)
        got = b.model(**inp).logits
        assert current(b.model).calls["sparse"] == 2
        remove_prefill(b.model)
    assert torch.isfinite(got).all() and (got - ref).abs().max() < 1e-4  # short sample: every pattern is dense here


def test_cli_search_writes_patterns(video, tmp_path, capsys):
    out = tmp_path / "p.json"
    assert main(["sparse", "search", "--model", "tiny:qwen2_5_vl", "--sample", video, "--out", str(out),
                 "--frames", "8"]) == 0
    summary = json.loads(capsys.readouterr().out)
    data = json.loads(out.read_text())
    assert summary["layers"] == 2 and sum(summary["patterns"].values()) == 8 and data["sample"] == "clip.mp4"
    assert len(load_patterns(str(out))) == 2


def test_cli_search_with_a_target_records_it(video, tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main(["sparse", "search", "--model", "tiny:qwen2_5_vl", "--sample", video, "--out", str(out),
                 "--frames", "8", "--target", "0.99"]) == 0
    data = json.loads(out.read_text())
    assert data["target"] == 0.99
    for heads in data["layers"].values():
        recs = [h["recall"] for h in heads.values()]
        assert sum(recs) / len(recs) >= 0.99


@pytest.mark.parametrize("argv, needle", [
    (["sparse", "search", "--model", "tiny:qwen2_vl", "--sample", "/no/such.mp4", "--out", "x.json"], "does not exist"),
    (["sparse", "search", "--model", "tiny:nope", "--sample", "VIDEO", "--out", "x.json"], "unsupported model family"),
    (["sparse", "search", "--model", "tiny:qwen2_vl", "--sample", "VIDEO", "--out", "x.json", "--max-tokens", "10"],
     "max_tokens=10"),
    (["sparse", "search", "--model", "tiny:qwen2_vl", "--sample", "VIDEO", "--out", "x.json", "--target", "1.5"],
     "--target must be a recall"),
])
def test_cli_errors_are_one_line(argv, needle, video, capsys):
    argv = [video if a == "VIDEO" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and err.startswith("mmlong: error:")


def test_load_patterns_rejects_bad_specs(tmp_path):
    bad = {"schema": SCHEMA, "layers": {"0": {"0": {"type": "vs", "vertical": "many"}}}}
    with pytest.raises(MmlongError, match="layer 0 head 0: vs: vertical must be a positive int"):
        load_patterns(bad)
    with pytest.raises(MmlongError, match="expected 0..1"):
        load_patterns({"schema": SCHEMA, "layers": {"0": {"0": {"type": "dense"}, "2": {"type": "dense"}}}})
    p = tmp_path / "broken.json"
    p.write_text("{not json")
    with pytest.raises(MmlongError, match="cannot read sparse patterns"):
        load_patterns(str(p))
