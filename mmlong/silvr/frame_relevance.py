"""CLIP's view of a video's clips for the language route's clip selection (the ``clip=`` setting).

The video is sampled once at :data:`FPS` frames per second (at most :data:`MAX_FRAMES`, spread
evenly over a longer video; decoded at CLIP's input side) and its frames are embedded by CLIP
once per video; for a
question, a clip ``[start, end)`` scores the best cosine of its frames with the question (the
frame nearest the clip's middle when no sampled frame falls inside it).
:func:`mmlong.silvr.context.combine_relevance` joins these scores with the text relevance at
CLIP's own temperature (``exp(logit_scale)``, :attr:`FrameRelevance.scale`). Every answer
about a video also lists the frames CLIP finds most like the question (:meth:`FrameRelevance.best`,
``Answer.context["clip_frames"]``), which the demo shows in its strip::

    fr = FrameRelevance("longclip-B.pt")
    score = fr.for_video("talk.mp4")                  # frames sampled and embedded on first use
    score("the slide with the bar chart", [(0, 32), (32, 64)])   # one cosine per clip
"""

from __future__ import annotations

import os
from typing import Sequence

__all__ = ["FPS", "MAX_FRAMES", "FrameRelevance", "VideoFrameScores"]

FPS = 1.0  # frames per second sampled for CLIP
MAX_FRAMES = 512  # at most this many per video (evenly spread beyond FPS * duration)


class FrameRelevance:
    """CLIP scores of clips of a video against a question.

    Args:
        clip: the ``clip=`` setting (a path of CLIP weights) or a :class:`~mmlong.vision.ClipRetriever`.
        fps, max_frames: how the video is sampled.
    """

    def __init__(self, clip, *, fps: float = FPS, max_frames: int = MAX_FRAMES):
        self.clip, self.fps, self.max_frames = clip, fps, max_frames
        self._retriever = None
        self._key, self._times, self._embeds = None, None, None  # the last video: (T,) s, (T, E)

    @property
    def retriever(self):
        """The :class:`~mmlong.vision.ClipRetriever` (loaded on first use)."""
        if self._retriever is None:
            from mmlong.vision.retrieval import retriever_for

            self._retriever = retriever_for(self.clip)
        return self._retriever

    @property
    def scale(self) -> float:
        """CLIP's temperature: cosine -> logit."""
        return self.retriever.scale

    def frames(self, video: str):
        """``(times (T,), embeddings (T, E))`` of ``video``'s sampled frames (cached for the last video)."""
        import numpy as np

        from mmlong.video import sample

        st = os.stat(video)
        key = (os.path.abspath(video), st.st_size, st.st_mtime_ns)
        if key != self._key:
            # decoded straight to CLIP's input side (its transform's resize), so memory stays small
            clip = sample(video, fps=self.fps, max_frames=self.max_frames, size=self.retriever.size)
            self._times = np.asarray(clip.timestamps, dtype=np.float64)
            self._embeds = self.retriever.embed_images(clip.frames).numpy()
            self._key = key
        return self._times, self._embeds

    def similarity(self, video: str, question: str):
        """``(times (T,), cosines (T,))`` of ``video``'s sampled frames with ``question``."""
        times, embeds = self.frames(video)
        return times, embeds @ self.retriever.embed_text([question])[0].numpy()

    def scores(self, video: str, question: str, spans: Sequence[tuple[float, float]]) -> list[float]:
        """Per span ``(start, end)``: the best cosine of its frames with ``question``."""
        import numpy as np

        times, sim = self.similarity(video, question)
        out = []
        for start, end in spans:
            inside = (times >= start) & (times < end)
            if inside.any():
                out.append(float(sim[inside].max()))
            else:
                out.append(float(sim[int(np.abs(times - (start + end) / 2).argmin())]))
        return out

    def best(self, video: str, question: str, k: int = 3) -> list[dict]:
        """The ``k`` sampled frames of ``video`` most similar to ``question``, best first:
        ``[{"time": s, "score": cosine}]``."""
        import numpy as np

        times, sim = self.similarity(video, question)
        return [{"time": round(float(times[i]), 2), "score": round(float(sim[i]), 4)}
                for i in np.argsort(-sim, kind="stable")[:k]]

    def for_video(self, video: str) -> "VideoFrameScores":
        """``score(question, spans)`` bound to ``video``, with this scorer's ``scale`` (what ``fit`` takes)."""
        return VideoFrameScores(self, video)


class VideoFrameScores:
    """:meth:`FrameRelevance.scores` of one video as ``score(question, spans)``, with ``scale``."""

    def __init__(self, scorer: FrameRelevance, video: str):
        self.scorer, self.video = scorer, video

    @property
    def scale(self) -> float:
        return self.scorer.scale

    def __call__(self, question: str, spans: Sequence[tuple[float, float]]) -> list[float]:
        return self.scorer.scores(self.video, question, spans)
