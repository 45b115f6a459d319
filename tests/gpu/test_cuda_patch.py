"""GPU checks (skipped without CUDA): the patch on CUDA in bf16 and fp32.

Run on a GPU machine with ``pytest -m gpu tests/gpu``; CI (CPU) skips them.
"""

import pytest
import torch

import mmlong
from conftest import IMG, TEXT, VEND, VID, VSTART, make_config

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

CLASSES = {"qwen2_vl": "Qwen2VLForConditionalGeneration", "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
           "qwen3_vl": "Qwen3VLForConditionalGeneration"}


def build(family, dtype, attn="sdpa"):
    import transformers

    torch.manual_seed(0)
    cfg = make_config(family, head_dim=64)
    m = getattr(transformers, CLASSES[family])._from_config(cfg, attn_implementation=attn, dtype=dtype)
    return m.to("cuda").eval()


def inputs(model, video_t=0):
    vc = model.config.vision_config
    dim = 3 * vc.temporal_patch_size * vc.patch_size**2
    q3 = model.config.model_type.startswith("qwen3")
    row = [TEXT] * 3 + [VSTART] + [IMG] * 6 + [VEND] + [TEXT + 1] * 2
    out = dict(image_grid_thw=torch.tensor([[1, 4, 6]]))
    if video_t:
        row += ([TEXT] * 3 + [VSTART] + [VID] * 4 + [VEND]) * video_t if q3 else [VSTART] + [VID] * 4 * video_t + [VEND]
        out["video_grid_thw"] = torch.tensor([[video_t, 4, 4]])
        out["pixel_values_videos"] = torch.randn(16 * video_t, dim)
        if model.config.model_type == "qwen2_5_vl":
            out["second_per_grid_ts"] = torch.tensor([0.5])
    ids = torch.tensor([row + [TEXT + 2] * 4])
    out.update(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=torch.randn(24, dim),
               mm_token_type_ids=(ids == IMG).long() + 2 * (ids == VID).long())
    return {k: v.to("cuda").to(model.dtype) if k.startswith("pixel") else v.to("cuda") for k, v in out.items()}


@pytest.mark.parametrize("family", list(CLASSES))
def test_native_bf16_identical_on_images(family):
    model = build(family, torch.bfloat16)
    inp = inputs(model)
    with torch.no_grad():
        ref = model(**inp).logits
        mmlong.apply(model, "native")
        got = model(**inp).logits
    assert torch.equal(got, ref)


def test_apply_then_move_to_cuda():
    """Patching on the CPU and moving the model afterwards: the patch's buffers follow, and CUDA computes what
    the CPU computes (fp32)."""
    import transformers

    from mmlong.models.families import rotary_module

    torch.manual_seed(0)
    model = transformers.Qwen2_5_VLForConditionalGeneration._from_config(make_config("qwen2_5_vl")).eval()
    mmlong.apply(model, "videorope")
    inp = inputs(model.to("cuda"), video_t=3)
    model.to("cpu")
    with torch.no_grad():
        cpu = model(**{k: v.cpu() for k, v in inp.items()}).logits
        model.to("cuda")
        rot = rotary_module(model)
        assert rot._mmlong_axis.device.type == "cuda" and rot._mmlong_inv_freq.device.type == "cuda"
        got = model(**inp).logits
    assert got.device.type == "cuda" and torch.allclose(got.cpu(), cpu, atol=1e-4)


@pytest.mark.parametrize("scheme", ["native", "hope", "videorope", "mrope_pp"])
def test_generation_equals_full_forward_cuda_fp32(scheme):
    model = build("qwen2_5_vl", torch.float32)
    mmlong.apply(model, scheme, **({"gamma": 0.75} if scheme == "hope" else {}))
    inp = inputs(model, video_t=3)
    with torch.no_grad():
        out = model.generate(**inp, max_new_tokens=5, min_new_tokens=5, do_sample=False, output_logits=True,
                             return_dict_in_generate=True, pad_token_id=256, eos_token_id=None,
                             suppress_tokens=list(range(256, 300)))
        L = inp["input_ids"].shape[1]
        full = dict(inp, input_ids=out.sequences, attention_mask=torch.ones_like(out.sequences),
                    mm_token_type_ids=torch.cat([inp["mm_token_type_ids"], torch.zeros_like(out.sequences[:, L:])], 1))
        logits = model(**full).logits[:, L - 1 : L + 4]
    assert torch.allclose(torch.stack(out.logits, 1), logits, atol=1e-3)
