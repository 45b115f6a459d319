"""``mmlong.apply`` on real transformers models (tiny random weights built from configs).

* ``native`` gives logits identical to the unpatched model on text and images;
* ``remove`` restores the stock model;
* for every scheme, greedy generation step by step (KV cache) equals one forward over the
  full sequence, so every decoded token gets the right (possibly fractional) position.
"""

import pytest
import torch

import mmlong
from conftest import IMG, TEXT, VEND, VID, VSTART, make_config
from mmlong.errors import MmlongError
from mmlong.pos_encodings.registry import SCHEMES

CLASSES = {"qwen2_vl": "Qwen2VLForConditionalGeneration", "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
           "qwen3_vl": "Qwen3VLForConditionalGeneration"}


def build(family, seed=0):
    import transformers

    torch.manual_seed(seed)
    cfg = make_config(family)
    return getattr(transformers, CLASSES[family])._from_config(cfg, attn_implementation="sdpa").eval()


def patch_dim(model):
    vc = model.config.vision_config
    return 3 * vc.temporal_patch_size * vc.patch_size**2


def batch(model, *, video_t=0, pad=True, seed=1):
    """Two left-padded samples: text + image (+ video) + text. Returns model kwargs."""
    g = torch.Generator().manual_seed(seed)
    q3 = model.config.model_type.startswith("qwen3")
    rows, igrids, vgrids = [], [], []
    for b in range(2):
        row = [TEXT + b] * (3 + 2 * b) + [VSTART] + [IMG] * (2 * 3) + [VEND] + [TEXT + 1] * 2
        igrids.append([1, 4, 6])
        if video_t:
            vgrids.append([video_t, 4, 4])
            if q3:
                for _ in range(video_t):
                    row += [TEXT + 2] * 3 + [VSTART] + [VID] * 4 + [VEND]
            else:
                row += [VSTART] + [VID] * (4 * video_t) + [VEND]
        row += [TEXT + 3] * (4 - b)
        rows.append(row)
    L = max(map(len, rows))
    ids = torch.tensor([[256] * (L - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (L - len(r)) + [1] * len(r) for r in rows])
    ig = torch.tensor(igrids)
    out = dict(input_ids=ids, attention_mask=mask, image_grid_thw=ig,
               pixel_values=torch.randn(int(ig.prod(-1).sum()), patch_dim(model), generator=g),
               mm_token_type_ids=((ids == IMG).int() + 2 * (ids == VID).int()))
    if video_t:
        vg = torch.tensor(vgrids)
        out.update(video_grid_thw=vg, pixel_values_videos=torch.randn(int(vg.prod(-1).sum()), patch_dim(model), generator=g))
        if model.config.model_type == "qwen2_5_vl":
            out["second_per_grid_ts"] = torch.tensor([0.5, 2 / 3])
    if not pad:
        out = {k: (v[1:] if k in ("input_ids", "attention_mask", "mm_token_type_ids") else v) for k, v in out.items()}
    return out


@pytest.mark.parametrize("family", list(CLASSES))
def test_native_logits_identical_on_text_and_images(family):
    model = build(family)
    inp = batch(model)
    with torch.no_grad():
        ref = model(**inp).logits
        mmlong.apply(model, "native")
        got = model(**inp).logits
        mmlong.remove(model)
        back = model(**inp).logits
    m = inp["attention_mask"].bool()
    assert torch.equal(got[m], ref[m])
    assert torch.equal(back, ref)
    assert "get_rope_index" not in model.model.__dict__ and "forward" not in model.model.language_model.rotary_emb.__dict__


@pytest.mark.parametrize("family", list(CLASSES))
def test_native_text_only_identical(family):
    model = build(family)
    ids = torch.tensor([[TEXT, TEXT + 1, TEXT + 2, TEXT + 3, TEXT + 4]])
    with torch.no_grad():
        ref = model(input_ids=ids).logits
        mmlong.apply(model, "native")
        assert torch.equal(model(input_ids=ids).logits, ref)


def greedy_matches_full_forward(model, inp, steps=5, atol=2e-4):
    with torch.no_grad():
        out = model.generate(**inp, max_new_tokens=steps, min_new_tokens=steps, do_sample=False,
                             output_logits=True, return_dict_in_generate=True, pad_token_id=256, eos_token_id=None,
                             suppress_tokens=list(range(256, 300)))
        seq = out.sequences
        L = inp["input_ids"].shape[1]
        full = dict(inp)
        full["input_ids"] = seq
        full["attention_mask"] = torch.cat([inp["attention_mask"], torch.ones(seq.shape[0], seq.shape[1] - L, dtype=torch.long)], 1)
        full["mm_token_type_ids"] = torch.cat([inp["mm_token_type_ids"], torch.zeros(seq.shape[0], seq.shape[1] - L, dtype=torch.int)], 1)
        logits = model(**full).logits
    step_logits = torch.stack(out.logits, 1)  # (B, steps, V)
    ref = logits[:, L - 1 : L - 1 + steps]
    assert torch.allclose(step_logits, ref, atol=atol), (step_logits - ref).abs().max()


SCHEME_OPTS = {"hope": {"gamma": 0.75}, "videorope": {"delta": 2.0}, "mrope_pp": {"factor": 4.0},
               "v2pe": {"v2pe_delta": 0.25}}


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_generation_equals_full_forward_qwen2_5(scheme):
    model = build("qwen2_5_vl")
    mmlong.apply(model, scheme, **SCHEME_OPTS.get(scheme, {}))
    greedy_matches_full_forward(model, batch(model, video_t=3))


@pytest.mark.parametrize("scheme", ["native", "hope", "videorope", "mrope_pp"])
@pytest.mark.parametrize("family", ["qwen2_vl", "qwen3_vl"])
def test_generation_equals_full_forward_other_families(family, scheme):
    model = build(family)
    mmlong.apply(model, scheme, **SCHEME_OPTS.get(scheme, {}))
    greedy_matches_full_forward(model, batch(model, video_t=3))


def test_fractional_deltas_stay_float():
    model = build("qwen2_5_vl")
    mmlong.apply(model, "hope", gamma=0.75)
    inp = batch(model, video_t=3)
    with torch.no_grad():
        model(**inp)
    d = model.model.rope_deltas
    assert d.dtype == torch.float32 and (d.frac() != 0).any()


def test_yarn_scaling_through_patch_changes_logits_and_is_removable():
    model = build("qwen2_5_vl")
    inp = batch(model, video_t=2)
    with torch.no_grad():
        stock = model(**inp).logits
        mmlong.apply(model, "native")
        a = model(**inp).logits
        mmlong.apply(model, "native", scaling="yarn", factor=4.0, original_max_position_embeddings=16)
        b = model(**inp).logits
        mmlong.apply(model, "native")  # re-applying replaces the extension
        again = model(**inp).logits
        mmlong.remove(model)
        removed = model(**inp).logits
    assert not torch.allclose(a, b)
    assert torch.equal(again, a) and torch.equal(removed, stock)


def test_errors():
    from transformers import LlamaConfig, LlamaForCausalLM

    llama = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=2, vocab_size=50))
    with pytest.raises(MmlongError, match="unsupported model family"):
        mmlong.apply(llama, "hope")
    model = build("qwen2_vl")
    with pytest.raises(MmlongError, match="unknown position scheme"):
        mmlong.apply(model, "ropey")
    with pytest.raises(MmlongError, match="gamma must be > 0"):
        mmlong.apply(model, "hope", gamma=-1)
    with pytest.raises(MmlongError, match="unknown position option"):
        mmlong.apply(model, "hope", gama=1.0)
