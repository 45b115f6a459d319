"""Training conversations: the sharegpt JSONL layout LLaMA-Factory users have, read into examples.

One JSON object per line::

    {"messages": [{"role": "system", "content": "..."},              # optional
                  {"role": "user", "content": "<video>What happens after the door opens?"},
                  {"role": "assistant", "content": "A dog runs in."},
                  {"role": "user", "content": "What colour is it?"},   # more turns: optional
                  {"role": "assistant", "content": "Brown."}],
     "videos": ["clips/door.mp4"], "images": []}

``conversations`` with ``from`` / ``value`` (``human`` / ``gpt`` / ``system``) is read too.
Media paths are relative to the JSONL's folder. ``<image>`` / ``<video>`` mark where each
image / video sits, in order; they must all be in the first user turn, and a conversation
holds at most one video (the direct route's input). Videos are sampled exactly as
``mmlong ask`` samples them (the pipeline's :class:`~mmlong.video.settings.FrameSettings`),
so training and inference see the same frames and positions.

An example's ``labels`` are -100 everywhere except on the assistant answers and their
closing ``<|im_end|>``: the loss is on assistant tokens only. Rows that cannot be used
(malformed JSON, no assistant turn, a missing or unreadable video, too many tokens, ...)
are skipped and counted by reason, never fatal.
"""

from __future__ import annotations

import collections
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmlong.errors import MmlongError, first_line

__all__ = ["Conversation", "read_conversations", "ConversationData", "collate", "MEDIA"]

MEDIA = re.compile(r"<image>|<video>")
_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


@dataclass(frozen=True)
class Conversation:
    """One usable row: an optional system message, (user, assistant) turns, and its media paths."""

    system: str | None
    turns: tuple[tuple[str, str], ...]  # (user text, assistant answer) pairs; media markers in turn 0
    videos: tuple[str, ...]
    images: tuple[str, ...]
    line: int  # 1-based line in the JSONL


def _parse(obj: Any, root: Path, line: int) -> Conversation:
    """A :class:`Conversation` from one decoded JSONL object; ``ValueError(reason)`` if unusable."""
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    msgs = obj.get("messages")
    if msgs is None and isinstance(obj.get("conversations"), list):
        msgs = [{"role": m.get("from"), "content": m.get("value")} for m in obj["conversations"] if isinstance(m, dict)]
    if not isinstance(msgs, list) or not msgs:
        raise ValueError("no messages")
    roles = [_ROLES.get(str(m.get("role")).lower()) if isinstance(m, dict) else None for m in msgs]
    texts = [m.get("content") if isinstance(m, dict) else None for m in msgs]
    if None in roles or not all(isinstance(t, str) for t in texts):
        raise ValueError("a message without a known role or text content")
    system = None
    if roles[0] == "system":
        system, roles, texts = texts[0], roles[1:], texts[1:]
    if "assistant" not in roles:
        raise ValueError("no assistant turn")
    if len(roles) % 2 or roles != ["user", "assistant"] * (len(roles) // 2):
        raise ValueError("turns must alternate user, assistant, ..., ending with the assistant")
    turns = tuple(zip(texts[0::2], texts[1::2]))
    videos = tuple(str(root / p) for p in obj.get("videos") or [])
    images = tuple(str(root / p) for p in obj.get("images") or [])
    if any(MEDIA.search(u) for u, _ in turns[1:]) or any(MEDIA.search(a) for _, a in turns):
        raise ValueError("media markers outside the first user turn")
    marks = MEDIA.findall(turns[0][0])
    if marks.count("<video>") != len(videos) or marks.count("<image>") != len(images):
        raise ValueError(f"{marks.count('<video>')} <video> / {marks.count('<image>')} <image> markers for "
                         f"{len(videos)} videos / {len(images)} images")
    if len(videos) > 1:
        raise ValueError("more than one video")
    for p in videos + images:
        if not os.path.isfile(p):
            raise ValueError(f"missing media file {os.path.basename(p)}")
    return Conversation(system, turns, videos, images, line)


def read_conversations(path: str | os.PathLike) -> tuple[list[Conversation], collections.Counter]:
    """Every usable row of a JSONL file, and the count of skipped rows per reason.

    Raises:
        MmlongError: the file does not exist or is not readable.
    """
    path = Path(path)
    if not path.is_file():
        raise MmlongError(f"training data {str(path)!r} is not a file; pass a JSONL of conversations (--data FILE.jsonl)")
    rows, skipped = [], collections.Counter()
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(_parse(json.loads(line), path.parent, line_no))
            except json.JSONDecodeError:
                skipped["malformed JSON"] += 1
            except ValueError as exc:
                skipped[str(exc)] += 1
    return rows, skipped


class ConversationData:
    """The examples of a run (a map-style torch dataset): inputs + labels built on demand.

    Args:
        rows: from :func:`read_conversations`.
        pipe: a :class:`~mmlong.pipeline.direct.DirectPipeline` of the model being trained
            (its tokenizer, vision settings and frame settings build the inputs).
        max_tokens: longer examples are skipped (counted under "too many tokens").
        cache_frames: keep decoded clips in memory (small videos read many times).
    """

    def __init__(self, rows: list[Conversation], pipe: Any, *, max_tokens: int, cache_frames: bool = False):
        self.pipe, self.max_tokens = pipe, max_tokens
        self.skipped: collections.Counter = collections.Counter()
        self._clips: dict | None = {} if cache_frames else None
        self.rows, self.lengths = [], []
        for row in rows:
            try:
                n = self._estimate(row)
            except Exception as exc:  # noqa: BLE001 - an unreadable video is a skipped row, not a crash
                self.skipped[f"unreadable media ({first_line(exc)[:80]})"] += 1
                continue
            if n > max_tokens:
                self.skipped["too many tokens"] += 1
                continue
            self.rows.append(row)
            self.lengths.append(n)

    def _estimate(self, row: Conversation) -> int:
        """Tokens of the example without decoding: text tokens + the plan's visual tokens (+ Qwen3's stamps)."""
        from mmlong.tokens.planner import plan

        tok = self.pipe.tokenizer
        text = (row.system or "") + "".join(u + a for u, a in row.turns)
        n = len(tok.encode(MEDIA.sub("", text), add_special_tokens=False)) + 16 * len(row.turns) + 24
        for v in row.videos:
            p = plan(v, self.pipe, self.pipe.config.frames)
            n += p.total_tokens + (9 * p.temporal_patches if self.pipe.family.per_frame_timestamps else 2)
        for path in row.images:
            from PIL import Image

            with Image.open(path) as im:
                h, w = self.pipe.spec.image_hw(im.height, im.width)
            n += h * w // self.pipe.spec.factor**2 + 2
        return n

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict | None:
        """The example (``build_inputs`` keys + ``labels`` (1, L)), or None when it cannot be built."""
        try:
            return self.example(self.rows[i])
        except Exception:  # noqa: BLE001 - counted by the collator; a corrupt file costs one example
            return None

    def example(self, row: Conversation) -> dict:
        """Inputs + labels of one conversation (see the module docstring)."""
        import torch

        from mmlong.models.prompt import IM_END, IM_START
        from mmlong.models.vision_inputs import build_inputs, load_images

        pipe, tok = self.pipe, self.pipe.tokenizer
        videos = list(row.videos)
        images = load_images(list(row.images))
        spec, content = pipe.spec, []
        for k, piece in enumerate(MEDIA.split(row.turns[0][0])):
            if k:
                marker = MEDIA.findall(row.turns[0][0])[k - 1]
                if marker == "<video>":
                    clip, spec = self._clip(videos.pop(0))
                    content.append(clip)
                else:
                    content.append(images.pop(0))
            if piece:
                content.append(piece)
        if not any(isinstance(c, str) for c in content):
            content.append("")
        inputs = build_inputs(pipe.family, tok, spec, content, system=row.system, add_generation_prompt=True)
        ids, labels = [inputs["input_ids"][0]], [torch.full_like(inputs["input_ids"][0], -100)]
        for k, (_, answer) in enumerate(row.turns):
            a = torch.tensor(tok.encode(answer + IM_END, add_special_tokens=False), dtype=torch.long)
            ids.append(a)
            labels.append(a.clone())
            more = "\n" + (f"{IM_START}user\n{row.turns[k + 1][0]}{IM_END}\n{IM_START}assistant\n"
                           if k + 1 < len(row.turns) else "")
            if k + 1 < len(row.turns):
                t = torch.tensor(tok.encode(more, add_special_tokens=False), dtype=torch.long)
                ids.append(t)
                labels.append(torch.full_like(t, -100))
        ids, labels = torch.cat(ids)[None], torch.cat(labels)[None]
        if ids.shape[1] > self.max_tokens:
            raise MmlongError(f"example of {ids.shape[1]} tokens is above max_tokens={self.max_tokens}")
        extra = ids.shape[1] - inputs["input_ids"].shape[1]
        inputs["input_ids"], inputs["labels"] = ids, labels
        inputs["attention_mask"] = torch.ones_like(ids)
        inputs["mm_token_type_ids"] = torch.nn.functional.pad(inputs["mm_token_type_ids"], (0, extra))
        return inputs

    def _clip(self, path: str):
        if self._clips is not None and path in self._clips:
            return self._clips[path]
        clip, spec, _ = self.pipe.video_input(path)
        if self._clips is not None:
            self._clips[path] = (clip, spec)
        return clip, spec


def collate(examples: list, pad_token_id: int) -> dict | None:
    """Right-pad examples into one batch (labels padded with -100); None examples are dropped and
    counted in ``batch["dropped"]``; None when none is left."""
    import torch

    from mmlong.models.vision_inputs import build_batch

    kept = [e for e in examples if e is not None]
    if not kept:
        return None
    labels = [e.pop("labels") for e in kept]
    batch = build_batch(kept, pad_token_id, padding_side="right")
    width = batch["input_ids"].shape[1]
    batch["labels"] = torch.cat([torch.nn.functional.pad(y, (0, width - y.shape[1]), value=-100) for y in labels])
    batch["dropped"] = len(examples) - len(kept)
    return batch
