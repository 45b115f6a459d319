"""Clip captions by a VLM (any supported Qwen-VL through ``mmlong.load``), one prompt per clip.

The video is cut into consecutive clips of ``clip_seconds``; each clip is sampled at
``frames_per_clip`` frames and captioned. With real weights this is SiLVR's captioner; with a
``tiny:`` model it exercises the same path with random captions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmlong.silvr.segments import Segment, Transcript

PROMPT = "Describe what happens in this video clip in one sentence."


@dataclass(frozen=True)
class CaptionSettings:
    """How clips are captioned."""

    model: str = "Qwen/Qwen2.5-VL-7B-Instruct"  # hub id, path or tiny:FAMILY
    clip_seconds: float = 16.0  # clip length
    frames_per_clip: int = 4  # frames shown per clip
    max_new_tokens: int = 48  # caption length cap
    prompt: str = PROMPT


class CaptionDescriber:
    """Captions consecutive clips with a Qwen-VL pipeline."""

    name = "caption"
    version = 1

    def __init__(self, settings: CaptionSettings = CaptionSettings(), pipeline=None):
        self.settings = settings
        self._pipe = pipeline

    def key(self) -> dict:
        return {"describer": self.name, "version": self.version, **self.settings.__dict__}

    def describe(self, path: str, progress=None) -> Transcript:
        import mmlong
        from mmlong.video import Clip
        from mmlong.video import open as open_video

        st = self.settings
        if self._pipe is None:
            self._pipe = mmlong.load(st.model, max_new_tokens=st.max_new_tokens)
        segs = []
        with open_video(path) as src:
            duration = float(src.duration)
            starts = np.arange(0.0, max(duration, 1e-6), st.clip_seconds)
            for i, s in enumerate(starts):
                e = min(duration, s + st.clip_seconds)
                times = s + (np.arange(st.frames_per_clip) + 0.5) * (e - s) / st.frames_per_clip
                frames, actual = src.frames_at(times)
                clip = Clip.from_frames(frames, actual)
                text = self._pipe.ask(st.prompt, video=clip, max_new_tokens=st.max_new_tokens).text.strip()
                if text:
                    segs.append(Segment(float(s), float(e), text, "caption"))
                if progress:
                    progress(i + 1, len(starts))
        return Transcript(duration, tuple(segs), (), {"caption": self.key()})
