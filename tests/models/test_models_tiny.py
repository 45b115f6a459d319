"""Tiny random models: every family runs forward and generate on a video and an image."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from mmlong.errors import MmlongError
from mmlong.models import (
    FAMILIES, build_batch, build_inputs, family_of, inner_model, model_inputs, rotary_module, text_config, tiny,
)
from mmlong.models.tiny import tiny_tokenizer

FRAMES = np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
TIMES = np.arange(8) / 2.0
IMAGE = np.random.default_rng(1).integers(0, 256, (64, 96, 3), dtype=np.uint8)


@pytest.fixture(scope="module", params=list(FAMILIES))
def bundle(request):
    return tiny(request.param)


def test_tokenizer_round_trips_utf8_and_ids():
    tok = tiny_tokenizer()
    assert tiny_tokenizer() is tok and len(tok) == 263
    for text in ["hello wörld", "日本語 ✓ 🎬", "a\nb\tc  d"]:
        assert tok.decode(tok(text)["input_ids"]) == text
    ids = [tok.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>",
                                                  "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
                                                  "<|video_pad|>")]
    assert ids == list(range(256, 263))
    assert (tok.eos_token_id, tok.pad_token_id, tok.bos_token_id) == (258, 256, None)
    chat = tok.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
                                   tokenize=False, add_generation_prompt=True)
    assert chat == "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>hi<|im_end|>\n<|im_start|>assistant\n"


def test_forward_and_generate_video_and_image(bundle):
    model, tok, spec, fam = bundle.model, bundle.tokenizer, bundle.spec, bundle.family
    assert family_of(model) is fam and not model.training
    cfg = model.config
    assert (cfg.image_token_id, cfg.video_token_id, cfg.vision_start_token_id, cfg.vision_end_token_id) == (
        261, 262, 259, 260)
    assert text_config(cfg).eos_token_id == 258 and text_config(cfg).pad_token_id == 256
    for kw in (dict(videos=[(FRAMES, TIMES)]), dict(images=[IMAGE])):
        inputs = build_inputs(fam, tok, spec, "What happens?", **kw)
        mi = model_inputs(inputs)
        assert inputs["input_ids"].shape[1] < 300
        with torch.no_grad():
            logits = model(**mi).logits
        assert logits.shape == (1, inputs["input_ids"].shape[1], len(tok)) and torch.isfinite(logits).all()
        out = model.generate(**mi, max_new_tokens=4, do_sample=False)
        L = inputs["input_ids"].shape[1]
        assert out.shape[0] == 1 and 0 < out.shape[1] - L <= 4
        # each generated token is the argmax after the prompt and the tokens before it (cached decode is right)
        with torch.no_grad():
            full = model(**{**mi, "input_ids": out, "attention_mask": torch.ones_like(out),
                            "mm_token_type_ids": torch.nn.functional.pad(mi["mm_token_type_ids"], (0, out.shape[1] - L))})
        assert torch.equal(full.logits[0, L - 1:-1].argmax(-1), out[0, L:])


def test_batched_generate_matches_single(bundle):
    model, tok, spec, fam = bundle.model, bundle.tokenizer, bundle.spec, bundle.family
    a = build_inputs(fam, tok, spec, "Short?", videos=[(FRAMES[:4], TIMES[:4])])
    b = build_inputs(fam, tok, spec, "A longer question here?", images=[IMAGE])
    batch = model_inputs(build_batch([a, b], tok.pad_token_id))
    with torch.no_grad():
        lb = model(**batch).logits[:, -1]
        la = model(**model_inputs(a)).logits[:, -1]
        lb1 = model(**model_inputs(b)).logits[:, -1]
    torch.testing.assert_close(lb[0], la[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(lb[1], lb1[0], atol=1e-4, rtol=1e-4)


def test_seed_determinism_and_dtype():
    a, b = tiny("qwen2_vl", seed=3), tiny("qwen2_vl", seed=3)
    c = tiny("qwen2_vl", seed=4, dtype=torch.bfloat16)
    pa, pb, pc = (next(x.model.parameters()) for x in (a, b, c))
    assert torch.equal(pa, pb) and pc.dtype == torch.bfloat16 and not torch.equal(pa, pc.float())


def test_family_helpers(bundle):
    model = bundle.model
    inner = inner_model(model)
    assert inner is model.model and inner_model(inner) is inner
    assert rotary_module(model) is inner.language_model.rotary_emb
    assert hasattr(rotary_module(model), "inv_freq")
    assert text_config(model.config) is model.config.text_config


def test_family_of_names():
    assert family_of("qwen2_5_vl").native_scheme == "mrope_abs_time"
    assert family_of("qwen3_vl_text").name == "qwen3_vl"
    assert family_of("tiny:qwen3_vl_moe").name == "qwen3_vl_moe"
    assert family_of("Qwen/Qwen2.5-VL-7B-Instruct").name == "qwen2_5_vl"
    assert family_of("Qwen/Qwen2-VL-2B-Instruct").name == "qwen2_vl"
    assert family_of("Qwen/Qwen3-VL-30B-A3B-Instruct").name == "qwen3_vl_moe"
    assert family_of("Qwen/Qwen3-VL-8B-Instruct").per_frame_timestamps
    assert family_of(FAMILIES["qwen2_vl"]).system_prompt == "You are a helpful assistant."
    with pytest.raises(MmlongError, match="qwen2_vl"):
        family_of("llava-hf/llava-1.5-7b-hf")
    with pytest.raises(MmlongError):
        inner_model(torch.nn.Linear(2, 2))
