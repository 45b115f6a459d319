"""Reduced prefill + decode on tiny models equals the full sequence with dropped tokens masked.

Reference: the stock model ``forward`` on the FULL sequence, with the full position ids and a
4-D additive attention mask that hides the dropped tokens as keys. Logits at the kept
positions must match the reduced run within 1e-4; with no reduction the output must be
identical to ``model.generate`` and ``Pipeline.ask``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mmlong
from mmlong.errors import MmlongError
from mmlong.models.families import inner_model
from mmlong.models.vision_inputs import build_batch, build_inputs, model_inputs
from mmlong.pos_encodings.patch import video_timestamps
from mmlong.tokens.reduce import Reducer
from mmlong.tokens.reduce_model import forward_reduced, generate_reduced, prepare_reduced
from mmlong.video.sampling import Clip

TIMES = [0.0, 0.1, 1.0, 1.1, 5.0, 5.1, 5.2, 5.3]  # variable frame rate


def _clip(seed: int = 0) -> Clip:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 255, (8, 64, 64, 3), dtype=np.uint8)
    frames[2:4] = frames[0:2]  # patch 1 repeats patch 0 -> dropped
    frames[6:8, :32] = frames[4:6, :32]  # top half of patch 3 repeats patch 2 -> partly dropped
    return Clip.from_frames(frames, TIMES)


@pytest.fixture(scope="module")
def pipes():
    return {f: mmlong.load(f"tiny:{f}", max_new_tokens=6) for f in ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")}


def _inputs(pipe, with_image=True, question="What changes?"):
    img = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8) if with_image else None
    return build_inputs(pipe.family, pipe.tokenizer, pipe.spec, question, videos=[_clip()],
                        images=[img] if with_image else None)


def _masked_reference(model, inp, keep):
    """Stock forward on the full sequence; dropped tokens hidden as keys by a 4-D mask."""
    batch = model_inputs(inp)
    L = keep.shape[1]
    allowed = torch.tril(torch.ones(L, L, dtype=torch.bool)) & keep[0][None, :]
    allowed |= torch.eye(L, dtype=torch.bool)
    mask = torch.zeros(1, 1, L, L).masked_fill(~allowed, torch.finfo(torch.float32).min)
    kw = {k: batch[k] for k in ("image_grid_thw", "video_grid_thw", "second_per_grid_ts") if k in batch}
    with video_timestamps(model, inp["video_timestamps"]):
        pos, _ = inner_model(model).get_rope_index(batch["input_ids"], mm_token_type_ids=batch["mm_token_type_ids"],
                                                   attention_mask=batch["attention_mask"], **kw)
    batch.pop("attention_mask")
    return model(**batch, attention_mask=mask, position_ids=pos).logits


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
@pytest.mark.parametrize("reducer", ["temporal", Reducer(redundancy=None, max_tokens=20)])
def test_reduced_equals_masked_full_sequence(pipes, family, reducer):
    pipe = pipes[family]
    inp = _inputs(pipe)
    with torch.no_grad():
        logits, batch, _ = forward_reduced(pipe.model, inp, reducer)
        ref = _masked_reference(pipe.model, inp, batch.keep)
    rep = batch.reports[0]
    assert rep.kept < rep.total and int(batch.keep.sum()) == logits.shape[1]
    assert (~batch.keep[0]).sum() == rep.total - rep.kept  # only video tokens were dropped
    assert torch.allclose(ref[0, batch.keep[0]], logits[0], atol=1e-4)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def test_no_reduction_is_identical_to_generate_and_ask(pipes, family):
    pipe = pipes[family]
    inp = _inputs(pipe, with_image=False)
    batch = model_inputs(inp)
    with torch.no_grad(), video_timestamps(pipe.model, inp["video_timestamps"]):
        full = pipe.model(**batch).logits
        gen = pipe.model.generate(**batch, max_new_tokens=6, do_sample=False,
                                  pad_token_id=pipe.tokenizer.pad_token_id)[0, batch["input_ids"].shape[1]:]
    with torch.no_grad():
        logits, rb, _ = forward_reduced(pipe.model, inp, None)
    assert torch.allclose(logits, full, atol=1e-5) and rb.keep.all()
    out = generate_reduced(pipe.model, inp, "none", max_new_tokens=6)
    assert out.sequences[0].tolist() == gen.tolist()
    assert out.prompt_tokens == out.kept_prompt_tokens == batch["input_ids"].shape[1]
    ans = pipe.ask("What changes?", video=_clip())
    assert pipe.tokenizer.decode(out.sequences[0], skip_special_tokens=True).strip() == ans.text


def test_reduced_decode_matches_masked_full_decode(pipes):
    """Greedy decode on the reduced cache == recomputing the full masked sequence each step,
    with generated tokens at L + rope_deltas + i (HF's own deltas from an unreduced forward)."""
    pipe = pipes["qwen2_5_vl"]
    model, inp = pipe.model, _inputs(pipe)
    out = generate_reduced(model, inp, "temporal", max_new_tokens=4, eos_token_id=[])
    batch = model_inputs(inp)
    with torch.no_grad(), video_timestamps(model, inp["video_timestamps"]):
        model(**batch)  # sets inner.rope_deltas the way generate() does
        delta = inner_model(model).rope_deltas
        keep = prepare_reduced(model, inp, "temporal").keep
        kw = {k: batch[k] for k in ("image_grid_thw", "video_grid_thw", "second_per_grid_ts")}
        pos, _ = inner_model(model).get_rope_index(batch["input_ids"], mm_token_type_ids=batch["mm_token_type_ids"],
                                                   attention_mask=batch["attention_mask"], **kw)
    ids, L, toks = batch["input_ids"], batch["input_ids"].shape[1], []
    for i in range(4):
        n = ids.shape[1]
        k = torch.cat([keep[0], torch.ones(i, dtype=torch.bool)])
        allowed = torch.tril(torch.ones(n, n, dtype=torch.bool)) & k[None, :] | torch.eye(n, dtype=torch.bool)
        mask = torch.zeros(1, 1, n, n).masked_fill(~allowed, torch.finfo(torch.float32).min)
        extra = (L + delta + torch.arange(i)).reshape(1, 1, i).expand(3, 1, i).to(pos.dtype)
        types = torch.cat([batch["mm_token_type_ids"], torch.zeros(1, i, dtype=torch.long)], 1)
        with torch.no_grad():
            lg = model(input_ids=ids, pixel_values=batch["pixel_values"], image_grid_thw=batch["image_grid_thw"],
                       pixel_values_videos=batch["pixel_values_videos"], video_grid_thw=batch["video_grid_thw"],
                       mm_token_type_ids=types, attention_mask=mask, position_ids=torch.cat([pos, extra], 2)).logits
        toks.append(int(lg[0, -1].argmax()))
        ids = torch.cat([ids, torch.tensor([[toks[-1]]])], 1)
    assert out.sequences[0].tolist() == toks


def test_kept_tokens_keep_their_true_time_positions(pipes):
    pipe = pipes["qwen2_5_vl"]
    inp = _inputs(pipe, with_image=False)
    no_stamps = {k: v for k, v in inp.items() if k != "video_timestamps"}
    with torch.no_grad():
        with_t = prepare_reduced(pipe.model, inp, "temporal")
        without_t = prepare_reduced(pipe.model, no_stamps, "temporal")
    types = inp["mm_token_type_ids"][0][with_t.keep[0]]
    t_true = with_t.position_ids[0, 0, types == 2].unique()
    t_spg = without_t.position_ids[0, 0, types == 2].unique()
    p0 = float(t_true[0])
    # kept patches 0, 2, 3 start at 0.0, 5.0, 5.2 s -> t = p0 + floor(2 * s) = p0 + 0, 10, 10
    assert sorted({float(x) - p0 for x in t_true}) == [0.0, 10.0]
    assert not torch.equal(t_true, t_spg)  # index * mean interval would give different ids


def test_batch_of_two_with_left_padding(pipes):
    pipe = pipes["qwen3_vl"]
    a = _inputs(pipe, with_image=False, question="Short?")
    b = build_inputs(pipe.family, pipe.tokenizer, pipe.spec, "A much longer question about the video?",
                     videos=[_clip(seed=5)])
    both = build_batch([a, b], pipe.tokenizer.pad_token_id)
    with torch.no_grad():
        lb, rb, _ = forward_reduced(pipe.model, both, "temporal", logits="last")
        la, ra, _ = forward_reduced(pipe.model, a, "temporal", logits="last")
        l2, r2, _ = forward_reduced(pipe.model, b, "temporal", logits="last")
    assert [r.kept for r in rb.reports] == [ra.reports[0].kept, r2.reports[0].kept]
    assert torch.allclose(lb[0, -1], la[0, -1], atol=1e-4) and torch.allclose(lb[1, -1], l2[0, -1], atol=1e-4)


def test_relevance_with_an_embed_fn(pipes):
    pipe = pipes["qwen2_vl"]
    frames = np.zeros((8, 64, 64, 3), np.uint8)
    frames[4:6] = 250  # patch 2 is bright
    clip = Clip.from_frames(frames, TIMES)
    inp = build_inputs(pipe.family, pipe.tokenizer, pipe.spec, "bright?", videos=[clip])

    def embed_fn(x):
        if isinstance(x, str):
            return torch.tensor([1.0, 0.0]) if "bright" in x else torch.tensor([0.0, 1.0])
        m = torch.as_tensor(np.asarray(x), dtype=torch.float32).mean((1, 2, 3)) / 255
        return torch.stack([m, 1 - m], 1)

    red = Reducer(redundancy=None, top_frames=1, embed_fn=embed_fn)
    with torch.no_grad():
        rb = prepare_reduced(pipe.model, inp, red, question="bright?", frames=[clip.frames])
        default = prepare_reduced(pipe.model, inp, Reducer(redundancy=None, top_frames=2))
    assert rb.reports[0].kept_per_patch == (0, 0, 9, 0)
    assert sum(1 for n in default.reports[0].kept_per_patch if n) == 2  # model-space default runs
    with pytest.raises(MmlongError, match="needs question= and frames="):
        prepare_reduced(pipe.model, inp, red)


def test_generate_reduced_rejects_sampling(pipes):
    pipe = pipes["qwen2_vl"]
    with pytest.raises(MmlongError, match="greedy"):
        generate_reduced(pipe.model, _inputs(pipe, with_image=False), "temporal", do_sample=True)
    with pytest.raises(MmlongError, match="greedy"):
        generate_reduced(pipe.model, _inputs(pipe, with_image=False), "temporal", top_k=5)
