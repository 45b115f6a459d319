"""ChatML prompts with vision placeholders, as the Qwen-VL chat templates and processors produce.

A prompt is kept as a list of *parts*: plain strings (template text, user text, Qwen3-VL
timestamps) and :class:`Pad` runs (``count`` copies of ``<|image_pad|>`` / ``<|video_pad|>``).
:func:`render` joins them into the exact string the HF processor would build;
:func:`encode` turns them into token ids without ever tokenizing the (possibly 100k-long)
pad runs. Because every pad run is bracketed by special tokens (``<|vision_start|>`` /
``<|vision_end|>``), and tokenizers split on special tokens before BPE, encoding the text
pieces separately gives the same ids as tokenizing the rendered string.

Worked example (Qwen2.5-VL, one image with grid (1, 4, 6), merge 2 -> 4*6/4 = 6 pads)::

    <|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n<|im_start|>user\\n
    <|vision_start|><|image_pad|>x6<|vision_end|>Describe.<|im_end|>\\n<|im_start|>assistant\\n

Qwen3-VL video with grid (2, 4, 4), frames at 0.0, 0.5, 1.0, 1.5 s: temporal patch k covers
frames 2k and 2k+1, so ``ts = [(0.0+0.5)/2, (1.0+1.5)/2] = [0.25, 1.25]``, formatted with
``:.1f`` as ``"0.2"`` and ``"1.2"``; each patch is ``<0.2 seconds><|vision_start|>`` +
4*4/4 = 4 pads + ``<|vision_end|>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from mmlong.errors import MmlongError
from mmlong.models.families import Family, family_of

__all__ = [
    "IM_START", "IM_END", "VISION_START", "VISION_END", "IMAGE_PAD", "VIDEO_PAD", "ENDOFTEXT",
    "Pad", "image_parts", "video_parts", "patch_timestamps", "chat_parts", "render", "encode",
]

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
IMAGE_PAD = "<|image_pad|>"
VIDEO_PAD = "<|video_pad|>"


@dataclass(frozen=True)
class Pad:
    """A run of ``count`` identical placeholder tokens (``IMAGE_PAD`` or ``VIDEO_PAD``)."""

    token: str
    count: int



def image_parts(grid_thw: Sequence[int], merge_size: int) -> list:
    """Placeholder parts for one image: ``<|vision_start|>`` + t*h*w/merge^2 pads + ``<|vision_end|>``."""
    t, h, w = (int(x) for x in grid_thw)
    return [VISION_START, Pad(IMAGE_PAD, t * h * w // merge_size**2), VISION_END]


def patch_timestamps(times: Sequence[float], temporal_patch_size: int) -> list[float]:
    """Time of each temporal patch: the mean of its first and last frame time.

    Args:
        times: (T,) frame times in seconds, T already a multiple of ``temporal_patch_size``.
        temporal_patch_size: frames per temporal patch (2 for every released Qwen-VL).

    Returns:
        (T / temporal_patch_size,) patch times, e.g. ``[0, .5, 1, 1.5] -> [0.25, 1.25]``.
    """
    tps = temporal_patch_size
    if len(times) % tps:
        raise MmlongError(f"{len(times)} frame times is not a multiple of temporal_patch_size={tps}; "
                          "pad the clip first")
    return [(float(times[i]) + float(times[i + tps - 1])) / 2 for i in range(0, len(times), tps)]


def video_parts(family: Family | str, grid_thw: Sequence[int], merge_size: int,
                times: Sequence[float] | None = None, temporal_patch_size: int = 2) -> list:
    """Placeholder parts for one video.

    Qwen2-VL / Qwen2.5-VL: one block of t*h*w/merge^2 ``<|video_pad|>``. Qwen3-VL: per temporal
    patch k, ``"<{ts_k:.1f} seconds>"`` then a block of h*w/merge^2 pads (no outer wrapper, as
    the reference processor replaces the template's whole vision_start/pad/end triple).

    Args:
        family: the model family (decides the layout).
        grid_thw: (3,) the video's patch grid (t = temporal patches).
        merge_size: spatial merge size (2).
        times: (t * temporal_patch_size,) padded frame times; required for Qwen3-VL.
        temporal_patch_size: frames per temporal patch.
    """
    fam = family_of(family)
    t, h, w = (int(x) for x in grid_thw)
    per_patch = h * w // merge_size**2
    if not fam.per_frame_timestamps:
        return [VISION_START, Pad(VIDEO_PAD, t * per_patch), VISION_END]
    if times is None:
        raise MmlongError(f"{fam.name} videos need frame timestamps; pass a clip with .timestamps")
    ts = patch_timestamps(times, temporal_patch_size)
    if len(ts) != t:
        raise MmlongError(f"{len(ts)} patch timestamps for a video grid with t={t}; timestamps must match frames")
    parts: list = []
    for tk in ts:
        parts += [f"<{tk:.1f} seconds>{VISION_START}", Pad(VIDEO_PAD, per_patch), VISION_END]
    return parts


def chat_parts(family: Family | str, text: str, media: Sequence = (), *, system: str | None = None,
               add_generation_prompt: bool = True) -> list:
    """One user turn in ChatML, media first, then ``text``.

    Args:
        family: decides the default system prompt (Qwen2/2.5: "You are a helpful assistant.",
            Qwen3: none).
        text: the user's text; must not contain ``<|image_pad|>`` / ``<|video_pad|>``.
        media: parts from :func:`image_parts` / :func:`video_parts` and plain strings
            (interleaved text), concatenated in order before ``text``.
        system: system message; None uses the family default, ``""`` omits the system turn.
        add_generation_prompt: append ``<|im_start|>assistant\\n``.
    """
    fam = family_of(family)
    for reserved in (IMAGE_PAD, VIDEO_PAD):
        if any(reserved in piece for piece in (text, *media) if isinstance(piece, str)):
            raise MmlongError(f"text contains the reserved token {reserved}; pass media via images=/videos= instead")
    system = fam.system_prompt if system is None else system
    parts: list = []
    if system:
        parts.append(f"{IM_START}system\n{system}{IM_END}\n")
    parts.append(f"{IM_START}user\n")
    parts.extend(media)
    parts.append(f"{text}{IM_END}\n")
    if add_generation_prompt:
        parts.append(f"{IM_START}assistant\n")
    return parts


def render(parts: Sequence) -> str:
    """Join parts into the prompt string (pads written out), as the HF processor builds it."""
    return "".join(p if isinstance(p, str) else p.token * p.count for p in parts)


def encode(parts: Sequence, tokenizer: Any) -> list[int]:
    """Token ids of ``parts``: adjacent strings are tokenized together, pads emitted as ids.

    Equal to ``tokenizer(render(parts), add_special_tokens=False).input_ids``.
    """
    ids: list[int] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            ids.extend(tokenizer.encode("".join(buf), add_special_tokens=False))
            buf.clear()

    for p in parts:
        if isinstance(p, str):
            buf.append(p)
            continue
        flush()
        tid = tokenizer.convert_tokens_to_ids(p.token)
        if tid is None or tid == getattr(tokenizer, "unk_token_id", object()):
            raise MmlongError(f"the tokenizer has no {p.token} token; use the model's own Qwen-VL tokenizer")
        ids.extend([tid] * p.count)
    flush()
    return ids
