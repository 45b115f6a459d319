"""GPU checks (skipped without CUDA): left-padded batches vs one at a time, fp32 and bf16.

Run on a GPU machine with ``pytest -m gpu tests/gpu``; CI (CPU) skips them.
"""

import pytest
import torch

import mmlong
from mmlong.models.vision_inputs import build_batch, model_inputs
from mmlong.pos_encodings.patch import video_timestamps
from test_pipeline import _requests

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def _scores(pipe, inputs):
    batch = pipe._on_device(inputs)
    with torch.no_grad(), video_timestamps(pipe.model, inputs.get("video_timestamps")):
        out = pipe.model.generate(**batch, max_new_tokens=4, do_sample=False, output_scores=True,
                                  return_dict_in_generate=True, pad_token_id=pipe.tokenizer.pad_token_id,
                                  eos_token_id=None)
    return torch.stack(out.scores, 1).float(), out.sequences[:, batch["input_ids"].shape[1]:]


@pytest.mark.parametrize("dtype,atol", [("float32", 1e-5), ("bfloat16", 0.02)])
@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def test_cuda_batch_scores_match_single(family, dtype, atol):
    pipe = mmlong.load(f"tiny:{family}", device="cuda", dtype=dtype)
    items = [pipe._prepare(**{k: v for k, v in r.items() if k != "max_new_tokens"}).inputs for r in _requests(4)]
    batch_scores, batch_ids = _scores(pipe, build_batch(items, pipe.tokenizer.pad_token_id))
    worst = 0.0
    for row, it in enumerate(items):
        s, ids = _scores(pipe, it)
        worst = max(worst, float((batch_scores[row] - s[0]).abs().max()))
        if dtype == "float32":
            assert torch.equal(batch_ids[row], ids[0])
    print(f"{family} {dtype}: max |batch - single| logit = {worst:.2e}")
    assert worst <= atol
