"""``apply_prefill`` / ``remove_prefill`` on tiny Qwen-VL models and a tiny Llama: prefill sparse, decode dense."""

import pytest
import torch

from mmlong.errors import MmlongError
from mmlong.sparse import apply_prefill, remove_prefill
from mmlong.sparse.layout import token_arrays
from mmlong.sparse.patch import current, fixed_layout

FULL_GRID = {"type": "grid", "s": True, "local": 10**6}
SPARSE_GRID = {"type": "grid", "s": True, "v": True, "local": 8}




def build(family, video, question="What is shown?", frames=8):
    from mmlong.models.tiny import tiny
    from mmlong.models.vision_inputs import build_inputs, model_inputs
    from mmlong.video import sample

    b = tiny(family)
    clip = sample(video, num_frames=frames)
    return b, model_inputs(build_inputs(b.family, b.tokenizer, b.spec, question, videos=[clip]))


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def test_dense_and_full_budget_patterns_equal_the_stock_model(family, video):
    b, inp = build(family, video)
    model = b.model
    with torch.no_grad():
        ref = model(**inp).logits
        apply_prefill(model, patterns="dense", min_len=0)
        dense = model(**inp).logits
        st = current(model)
        assert st.calls["sparse"] == model.config.text_config.num_hidden_layers
        lay = st.layouts[0][1]
        assert int((token_arrays(lay).kind == 2).sum()) == int((inp["mm_token_type_ids"] == 2).sum())
        apply_prefill(model, patterns=FULL_GRID, min_len=0)
        full = model(**inp).logits
        apply_prefill(model, patterns=SPARSE_GRID, min_len=0)
        sparse = model(**inp).logits
        remove_prefill(model)
        back = model(**inp).logits
    assert (dense - ref).abs().max() < 1e-5 and (full - ref).abs().max() < 1e-4
    assert (sparse - ref).abs().max() > 1e-3  # the sparse path really ran
    assert torch.equal(back, ref) and current(model) is None
    assert model.config.text_config._attn_implementation == "sdpa"


def test_generate_prefills_sparse_and_decodes_dense(video):
    b, inp = build("qwen2_5_vl", video)
    model = b.model
    with torch.no_grad():
        ref = model.generate(**inp, max_new_tokens=5, do_sample=False)
        apply_prefill(model, patterns=FULL_GRID, min_len=0)
        out = model.generate(**inp, max_new_tokens=5, do_sample=False)
    calls = current(model).calls
    remove_prefill(model)
    n = model.config.text_config.num_hidden_layers
    assert torch.equal(out, ref)
    assert calls == {"sparse": n, "dense": 4 * n}  # one prefill, four decode steps


def test_short_prompts_stay_dense(video):
    b, inp = build("qwen2_vl", video)
    apply_prefill(b.model, patterns=SPARSE_GRID, min_len=10_000)
    with torch.no_grad():
        b.model(**inp)
    assert current(b.model).calls["sparse"] == 0
    remove_prefill(b.model)


def test_left_padded_batch(video):
    from mmlong.models.tiny import tiny
    from mmlong.models.vision_inputs import build_batch, build_inputs
    from mmlong.video import sample

    b = tiny("qwen2_vl")
    items = [build_inputs(b.family, b.tokenizer, b.spec, q, videos=[sample(video, num_frames=n)])
             for q, n in (("Describe it in one long sentence please.", 4), ("Why?", 8))]
    batch = build_batch(items, pad_token_id=b.tokenizer.pad_token_id)
    batch.pop("video_timestamps", None)
    with torch.no_grad():
        ref = b.model(**batch).logits
        apply_prefill(b.model, patterns=FULL_GRID, min_len=0)
        got = b.model(**batch).logits
        lays = current(b.model).layouts
        remove_prefill(b.model)
    m = batch["attention_mask"].bool()
    offs = sorted(off for off, _ in lays)
    assert offs[0] == 0 and offs[1] > 0  # the shorter row is left-padded and run on its own span
    assert (got[m] - ref[m]).abs().max() < 1e-4


def test_causal_lm_text_only_with_vs(tiny_llama):
    model, ids = tiny_llama
    with torch.no_grad():
        ref = model(input_ids=ids).logits
        apply_prefill(model, patterns={"type": "vs", "vertical": 10**6, "slash": 10**6}, min_len=0)
        full = model(input_ids=ids).logits
        apply_prefill(model, patterns={"type": "vs", "vertical": 30, "slash": 50}, min_len=0)
        sparse = model(input_ids=ids).logits
        with fixed_layout(model, current(model).layouts[0][1]):
            pinned = model(input_ids=ids).logits
        remove_prefill(model)
    assert (full - ref).abs().max() < 1e-4 and (sparse - ref).abs().max() > 1e-4 and torch.equal(pinned, sparse)
    assert model.config._attn_implementation == "sdpa"


@pytest.mark.parametrize("kwargs, needle", [
    (dict(method="xattention"), "unknown sparse prefill method"),
    (dict(patterns="zzz"), "unknown sparse pattern"),
    (dict(local=0), "budget local must be a positive int"),
    (dict(patterns={"schema": "nope", "layers": {}}), "not a sparse patterns file"),
    (dict(patterns="/no/such/patterns.json"), "cannot read sparse patterns"),
    (dict(min_len=-1), "min_len"),
])
def test_apply_errors_are_one_line(kwargs, needle):
    import transformers as T

    model = T.LlamaForCausalLM._from_config(T.LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64,
                                                          num_hidden_layers=1, num_attention_heads=2))
    with pytest.raises(MmlongError) as err:
        apply_prefill(model, **kwargs)
    assert needle in str(err.value) and "\n" not in str(err.value) and current(model) is None
