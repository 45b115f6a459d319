"""Log-likelihood of a continuation after a question, for lmms-eval's loglikelihood requests.

The user turn is built exactly as ``Pipeline.ask`` builds it (``DirectPipeline.inputs``: the
chat template up to the assistant's turn, frames and images included); the continuation's
tokens are appended and scored in one forward pass of the patched model, so position
schemes and sparse prefill apply as they do when answering.

Worked example (token ids): prompt ``[p0 .. p9]`` (L = 10), continuation ``[c0, c1]``; the
model reads ``[p0 .. p9, c0, c1]``; logits at positions 9 and 10 predict ``c0`` and ``c1``,
so ``logprob = log_softmax(logits[9])[c0] + log_softmax(logits[10])[c1]`` and ``greedy`` is
``argmax(logits[9]) == c0 and argmax(logits[10]) == c1``.
"""

from __future__ import annotations

from typing import Any

from mmlong.errors import MmlongError

__all__ = ["continuation_logprob", "append_tokens"]


def append_tokens(inputs: dict, ids: list[int]) -> dict:
    """``inputs`` (one row, from ``DirectPipeline.inputs``) with text tokens ``ids`` appended.

    ``input_ids``, ``attention_mask`` and ``mm_token_type_ids`` (B=1, L) grow to (1, L + len(ids));
    the new tokens are text (type 0) and attended (mask 1); vision tensors are unchanged.
    """
    import torch

    add = torch.tensor([ids], dtype=inputs["input_ids"].dtype)
    out = dict(inputs)
    out["input_ids"] = torch.cat([inputs["input_ids"], add], dim=1)
    out["attention_mask"] = torch.cat([inputs["attention_mask"], torch.ones_like(add)], dim=1)
    if "mm_token_type_ids" in inputs:
        out["mm_token_type_ids"] = torch.cat([inputs["mm_token_type_ids"], torch.zeros_like(add)], dim=1)
    return out


def continuation_logprob(pipe, question: Any, continuation: str, *, video: Any = None,
                         images: Any = None) -> tuple[float, bool, int]:
    """``(sum of log p(continuation tokens | user turn), greedy, number of continuation tokens)``.

    Raises:
        MmlongError: an empty continuation (nothing to score).
    """
    import torch

    from mmlong.models.vision_inputs import model_inputs
    from mmlong.pos_encodings.patch import video_timestamps

    ids = pipe.tokenizer.encode(continuation, add_special_tokens=False)
    if not ids:
        raise MmlongError(f"the continuation {continuation!r} has no tokens to score; the task's doc_to_choice / "
                          "doc_to_target must give non-empty text")
    inputs = append_tokens(pipe.inputs(question, video=video, images=images), ids)
    model = pipe.model
    batch = {k: (v.to(model.device) if hasattr(v, "to") else v) for k, v in model_inputs(inputs).items()}
    for key in ("pixel_values", "pixel_values_videos"):
        if key in batch:
            batch[key] = batch[key].to(model.dtype)
    with torch.no_grad(), video_timestamps(model, inputs.get("video_timestamps")):
        logits = model(**batch).logits[0].float()
    n = len(ids)
    pred = torch.log_softmax(logits[-n - 1:-1], dim=-1)  # (n, vocab): the rows that predict the continuation
    target = torch.tensor(ids, device=pred.device)
    logprob = float(pred.gather(1, target[:, None]).sum())
    return logprob, bool((pred.argmax(-1) == target).all()), n
