"""Knowledge-preserved stretching (``stretch={"keep": K, "ratio": r}``): the formula, the model, decoding.

* the ids follow ``f(v) = v (v < K), K + (v - K) / r`` exactly on a hand-built layout, in both
  modes (default: every id; temporal_only: ``t - t0`` of video tokens, spatial ids move with t
  only under the diagonal rules);
* below K the patched model's logits equal the unstretched scheme's, beyond K they differ;
* for every scheme with the stretch on, step-by-step generation (KV cache, left padding) equals
  one forward over the full sequence, through ``generate`` and through a plain forward loop
  (transformers' rope-delta path);
* bad settings are one-line errors, on Python and on the command line.
"""

import pytest
import torch

import mmlong
from conftest import TEXT, VID, make_config
from mmlong.errors import MmlongError
from mmlong.pos_encodings import position_ids
from mmlong.pos_encodings.options import PosOptions, Stretch
from mmlong.pos_encodings.registry import SCHEMES
from mmlong.pos_encodings.stretch import stretch_values
from pos_encodings.test_patch import SCHEME_OPTS, batch, build, greedy_matches_full_forward

# 2 text, a video with LLM grid (T, H, W) = (4, 1, 2) (processor grid (4, 2, 4)), 1 text
IDS = torch.tensor([[TEXT] * 2 + [VID] * 8 + [TEXT]])
VGRID = torch.tensor([[4, 2, 4]])


def ids_of(scheme, **kw):
    pos, delta = position_ids(scheme, IDS, config=make_config("qwen2_vl"), video_grid_thw=VGRID, **kw)
    return pos[:, 0].tolist(), delta[0, 0].item()


def test_formula_values():
    got = stretch_values(torch.tensor([0.0, 7, 8, 12, 16, 7.5]), 8, 4)
    assert got.tolist() == [0, 7, 8, 9, 10, 7.5]
    assert stretch_values(torch.tensor([0.0, 3, 6]), 0, 3).tolist() == [0, 1, 2]


def test_default_mode_pinned_mrope():
    (t, h, w), delta = ids_of("mrope")
    assert t == [0, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6] and h == [0, 1] + [2] * 8 + [6]
    assert w == [0, 1] + [2, 3] * 4 + [6] and delta == 7 - 11
    (t, h, w), sdelta = ids_of("mrope", stretch={"keep": 4, "ratio": 2})
    assert t == [0, 1, 2, 2, 3, 3, 4, 4, 4.5, 4.5, 5]
    assert h == [0, 1] + [2] * 8 + [5] and w == [0, 1] + [2, 3] * 4 + [5]
    assert sdelta == delta  # the deltas stay those of the unstretched ids


def test_temporal_only_pinned_mrope():
    (t, h, w), _ = ids_of("mrope", stretch_keep=1, stretch_ratio=2, stretch_temporal_only=True)
    assert t == [0, 1, 2, 2, 3, 3, 3.5, 3.5, 4, 4, 6]  # offsets 0 1 2 3 -> 0 1 1.5 2; text untouched
    assert h == [0, 1] + [2] * 8 + [6] and w == [0, 1] + [2, 3] * 4 + [6]  # spatial ids untouched


def test_temporal_only_pinned_diagonal_moves_spatial_with_t():
    # VideoRoPE delta 2: t = 2 + 2k; h = t + r - 0 = t; w = t + c - 0 (W = 2: centre offset 0)
    (t, h, w), _ = ids_of("videorope")
    assert t == [0, 1, 2, 2, 4, 4, 6, 6, 8, 8, 9] and w == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9]
    (t, h, w), _ = ids_of("videorope", stretch={"keep": 2, "ratio": 4, "temporal_only": True})
    # offsets 0 2 4 6 -> 0, 2, 2.5, 3: t = 2, 4, 4.5, 5; h and w keep their offset from t; text stays
    assert t == [0, 1, 2, 2, 4, 4, 4.5, 4.5, 5, 5, 9]
    assert h == t and w == [0, 1, 2, 3, 4, 5, 4.5, 5.5, 5, 6, 9]
    (t, h, w), _ = ids_of("videorope", stretch={"keep": 4, "ratio": 2})  # default: every id through f
    assert t == [0, 1, 2, 2, 4, 4, 5, 5, 6, 6, 6.5] and w == [0, 1, 2, 3, 4, 4.5, 5, 5.5, 6, 6.5, 6.5]


def test_below_keep_logits_identical_beyond_keep_differ():
    model = build("qwen2_5_vl")
    inp = batch(model, video_t=3)
    m = inp["attention_mask"].bool()
    with torch.no_grad():
        mmlong.apply(model, "native")
        ref = model(**inp).logits
        pos, _ = position_ids("native", inp["input_ids"], config=model.config, attention_mask=inp["attention_mask"],
                              image_grid_thw=inp["image_grid_thw"], video_grid_thw=inp["video_grid_thw"],
                              second_per_grid_ts=inp["second_per_grid_ts"])
        top = float(pos[:, m].max())
        mmlong.apply(model, "native", stretch={"keep": top + 1, "ratio": 4})
        same = model(**inp).logits
        mmlong.apply(model, "native", stretch_keep=top + 1, stretch_ratio=2, stretch_temporal_only=True)
        same_t = model(**inp).logits
        mmlong.apply(model, "native", stretch={"keep": 8, "ratio": 4})
        other = model(**inp).logits
    assert torch.equal(same[m], ref[m]) and torch.equal(same_t[m], ref[m])
    assert not torch.allclose(other[m], ref[m])
    # tokens whose ids (and all earlier ones) are below K keep their logits exactly
    early = (pos < 8).all(0) & m & (torch.cumsum((pos >= 8).any(0).int(), 1) == 0)
    assert early.any() and torch.equal(other[early], ref[early])


def last_row(inp):
    """The unpadded second row of :func:`batch` with its own image and video inputs only."""
    def split(values, grids):
        return values[int(grids[0].prod()):]
    out = {k: inp[k][1:] for k in ("input_ids", "attention_mask", "mm_token_type_ids", "image_grid_thw",
                                   "video_grid_thw", "second_per_grid_ts")}
    out["pixel_values"] = split(inp["pixel_values"], inp["image_grid_thw"])
    out["pixel_values_videos"] = split(inp["pixel_values_videos"], inp["video_grid_thw"])
    assert out["attention_mask"].all()
    return out


def forward_loop_matches_full_forward(model, inp, steps=4, atol=2e-4):
    """Greedy decode with a plain forward per step and no position_ids: transformers' rope-delta
    path (``cache_position + rope_deltas``). One unpadded row: with an attention mask that path
    builds ids for the whole mask, not the new token (transformers 5.24), so only ``generate``
    decodes padded batches."""
    with torch.no_grad():
        out = model(**inp, use_cache=True)
        cache, seq, logits = out.cache, inp["input_ids"], [out.logits[:, -1]]
        for _ in range(steps - 1):
            nxt = logits[-1][:, :256].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], 1)
            out = model(input_ids=nxt, cache=cache, use_cache=True)
            cache = out.cache
            logits.append(out.logits[:, -1])
        full = dict(inp, input_ids=seq, attention_mask=torch.ones_like(seq),
                    mm_token_type_ids=torch.cat([inp["mm_token_type_ids"],
                                                 torch.zeros(seq.shape[0], steps - 1, dtype=torch.int)], 1))
        ref = model(**full).logits[:, inp["input_ids"].shape[1] - 1:]
    got = torch.stack(logits, 1)
    assert torch.allclose(got, ref, atol=atol), (got - ref).abs().max()


STRETCH = {"keep": 10, "ratio": 3}  # K inside the prompt: the decoded ids all lie beyond it


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_generation_equals_full_forward_stretched(scheme):
    model = build("qwen2_5_vl")
    mmlong.apply(model, scheme, **SCHEME_OPTS.get(scheme, {}), stretch=STRETCH)
    greedy_matches_full_forward(model, batch(model, video_t=3))
    forward_loop_matches_full_forward(model, last_row(batch(model, video_t=3)))


@pytest.mark.parametrize("scheme", ["native", "hope", "videorope"])
def test_generation_equals_full_forward_temporal_only(scheme):
    model = build("qwen2_5_vl")
    mmlong.apply(model, scheme, **SCHEME_OPTS.get(scheme, {}), stretch={"keep": 1, "ratio": 2, "temporal_only": True})
    greedy_matches_full_forward(model, batch(model, video_t=3))


def test_stretch_composes_with_yarn_and_other_families():
    model = build("qwen2_5_vl")
    mmlong.apply(model, "native", scaling="yarn", factor=4.0, original_max_position_embeddings=16, stretch=STRETCH)
    greedy_matches_full_forward(model, batch(model, video_t=2))
    model = build("qwen3_vl")
    mmlong.apply(model, "native", stretch=STRETCH)
    greedy_matches_full_forward(model, batch(model, video_t=3))


@pytest.mark.parametrize("opts, message", [
    ({"stretch": {"keep": -1, "ratio": 2}}, "stretch keep must be >= 0"),
    ({"stretch_keep": 4, "stretch_ratio": 0}, "stretch ratio must be > 0"),
    ({"stretch": {"keep": 4, "ratio": -2}}, "stretch ratio must be > 0"),
    ({"stretch": {"keep": 4, "ratio": 2, "slope": 1}}, "unknown stretch key"),
    ({"stretch_keep": 4, "stretch_ratoi": 2}, "unknown position option.*stretch_ratoi"),
    ({"stretch_keep": 4}, "stretch needs ratio"),
    ({"stretch": {"keep": 4, "ratio": 2}, "stretch_keep": 4}, "not both"),
    ({"stretch_keep": 4, "stretch_ratio": 2, "stretch_temporal_only": "yes"}, "true or false"),
])
def test_bad_settings_one_line(opts, message):
    with pytest.raises(MmlongError, match=message) as err:
        PosOptions.from_kwargs(**opts)
    assert "\n" not in str(err.value)
    with pytest.raises(MmlongError, match=message):
        ids_of("mrope", **opts)


def test_bad_settings_through_apply_and_load():
    with pytest.raises(MmlongError, match="stretch ratio must be > 0"):
        mmlong.apply(build("qwen2_vl"), "native", stretch={"keep": 4, "ratio": 0})
    with pytest.raises(MmlongError, match="stretch keep must be >= 0"):
        mmlong.resolve("tiny:qwen2_5_vl", stretch_keep=-3, stretch_ratio=2)


def test_flat_cli_options_equal_nested(capsys):
    from mmlong.cli import _opts, main

    flat = _opts(["stretch_keep=32", "stretch_ratio=4", "stretch_temporal_only=true"])
    assert PosOptions.from_kwargs(**flat).stretch == Stretch(32, 4, True)
    assert PosOptions.from_kwargs(stretch={"keep": 32, "ratio": 4, "temporal_only": True}) == PosOptions.from_kwargs(**flat)
    cfg = mmlong.resolve("tiny:qwen2_5_vl", **flat)
    assert PosOptions.from_kwargs(**cfg.pos_options).stretch == Stretch(32, 4, True)
    assert main(["ask", "x.mp4", "q", "--model", "tiny:qwen2_5_vl", "--opt", "stretch_keep=1",
                 "--opt", "stretch_ratio=0", "--dry-run"]) == 2
    assert "stretch ratio must be > 0" in capsys.readouterr().err


def test_train_sft_takes_the_stretch_and_records_it(tmp_path, capsys):
    from mmlong.cli import main
    from mmlong.data.vniah import write_dataset
    from mmlong.pos_encodings import patch

    data = write_dataset(tmp_path / "data", 4, length=2, seed=1)
    base = ["train", "sft", "--model", "tiny:qwen2_5_vl", "--data", str(data), "--steps", "1", "--batch-size", "2",
            "--fps", "1"]
    assert main([*base, "--out", str(tmp_path / "bad"), "--opt", "stretch_keep=4", "--opt", "stretch_ratio=0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "stretch ratio must be > 0" in err and len(err.splitlines()) == 1
    assert main([*base, "--out", str(tmp_path / "run"), "--opt", "stretch_keep=4", "--opt", "stretch_ratio=2",
                 "--opt", "stretch_temporal_only=true"]) == 0
    pipe = mmlong.load(str(tmp_path / "run" / "model"))  # runs under the stretch it was trained with
    assert patch.current(pipe.model).options.stretch == Stretch(4, 2, True)
