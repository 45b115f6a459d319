"""CLIP retrieval: video frames scored against a text query, and recall@K of image / caption pairs.

::

    r = ClipRetriever(load_longclip("longclip-B.pt"))
    scores = r.score_frames(clip.frames, "the slide with the exam password")   # (T,) cosine similarities
    r.top_times(clip, "the whiteboard diagram", k=3)                           # seconds of the 3 best frames

Text is tokenized with CLIP's BPE at the model's context (248 after Long-CLIP, so long queries
are read in full); frames are preprocessed as CLIP's transform (short side resized, centre crop).

A retriever is also the ``embed_fn`` of token reduction's relevance step (``retriever(text)``
-> ``(E,)``, ``retriever(frames)`` -> ``(N, E)``). The routes' ``clip=`` setting (``mmlong.load(...,
clip=PATH)``, ``mmlong ask --clip``, ``mmlong demo --clip``) is read by :func:`clip_setting` (checked,
nothing loaded) and :func:`retriever_for` (loaded): the direct route scores frames with it in a
``relevance`` reduction step; the language route adds its frame scores to the text relevance of
clips and lists the frames most like the question with each answer (:mod:`mmlong.silvr.frame_relevance`).
"""

from __future__ import annotations

from mmlong.errors import MmlongError

__all__ = ["ClipRetriever", "clip_setting", "retriever_for", "add_clip_argument", "recall_at_k", "ranks"]


class ClipRetriever:
    """Embeds frames and text queries with one CLIP (open_clip or transformers) and ranks frames.

    Args:
        model: a CLIP model, or what :func:`mmlong.vision.train.resolve_clip` accepts (a ``.pt``
            checkpoint, a transformers folder).
        tokenizer: ``list[str] -> (B, T)`` ids (default: CLIP's BPE at the model's context).
        batch_size: frames per forward.
    """

    def __init__(self, model, *, tokenizer=None, batch_size: int = 64):
        from mmlong.vision.features import image_size, tokenizer_for
        from mmlong.vision.stretch import text_tables
        from mmlong.vision.train import resolve_clip

        self.model = resolve_clip(model)
        text_tables(self.model)  # refuses a model that is not CLIP
        self.model.eval()
        self.tokenize = tokenizer or tokenizer_for(self.model)
        self.size = image_size(self.model)
        self.batch_size = batch_size

    def __call__(self, x):
        """``embed_fn`` of :class:`mmlong.tokens.Reducer`: a string -> ``(E,)``, ``(N, H, W, 3)``
        uint8 frames (or a list of images) -> ``(N, E)``; L2-normalised torch tensors."""
        if isinstance(x, str):
            if not x.strip():
                raise MmlongError("the retrieval query is empty; pass the text to look for")
            return self.embed_text([x])[0]
        return self.embed_images(x)

    @property
    def scale(self) -> float:
        """The model's learnt temperature ``exp(logit_scale)``: cosine -> logit, as CLIP was trained."""
        from mmlong.vision.features import logit_scale

        return float(logit_scale(self.model).detach().exp())

    def embed_text(self, texts: list[str]):
        """``(len(texts), E)`` L2-normalised text embeddings."""
        import torch

        from mmlong.vision.features import text_features

        with torch.no_grad():
            return text_features(self.model, self.tokenize(list(texts)), normalize=True)

    def embed_images(self, images):
        """PIL images or ``(N, H, W, 3)`` uint8 frames -> ``(N, E)`` L2-normalised embeddings."""
        import torch

        from mmlong.vision.features import image_features, preprocess

        images = list(images)
        if not images:
            raise MmlongError("no frames to score; pass at least one image or frame")
        out = []
        with torch.no_grad():
            for k in range(0, len(images), self.batch_size):
                out.append(image_features(self.model, preprocess(images[k:k + self.batch_size], self.size),
                                          normalize=True))
        return torch.cat(out)

    def score_frames(self, frames, query: str):
        """``(T,)`` cosine similarity of each frame to ``query`` (numpy float32)."""
        if not isinstance(query, str) or not query.strip():
            raise MmlongError("the retrieval query is empty; pass the text to look for")
        return (self.embed_images(frames) @ self.embed_text([query])[0]).numpy()

    def top_frames(self, frames, query: str, k: int = 1) -> list[int]:
        """Indices of the ``k`` best frames, best first."""
        import numpy as np

        scores = self.score_frames(frames, query)
        return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]

    def top_times(self, clip, query: str, k: int = 1) -> list[float]:
        """Timestamps (seconds) of the ``k`` best frames of a :class:`mmlong.video.Clip`."""
        return [float(clip.timestamps[i]) for i in self.top_frames(clip.frames, query, k)]


def clip_setting(value) -> str | None:
    """The ``clip=`` setting checked without loading a weight: None, ``"tiny"`` (a random tiny CLIP,
    for smoke runs) or the path of CLIP weights (a ``.pt`` checkpoint or a transformers folder), as a string."""
    from pathlib import Path

    if value is None or value == "":
        return None
    if not isinstance(value, (str, Path)):
        raise MmlongError(f"clip= takes the path of CLIP weights (a .pt checkpoint or a transformers folder), got "
                          f"{type(value).__name__}")
    if str(value) != "tiny" and not Path(value).exists():
        raise MmlongError(f"no CLIP weights at {value}; pass a .pt checkpoint (Long-CLIP / OpenAI layout) or a "
                          "transformers CLIP folder")
    return str(value)


def retriever_for(value) -> ClipRetriever | None:
    """A :class:`ClipRetriever` for the ``clip=`` setting (None when it is None); a retriever is returned as is."""
    if value is None or isinstance(value, ClipRetriever):
        return value
    return ClipRetriever(clip_setting(value))


def add_clip_argument(parser) -> None:
    """The ``--clip PATH`` flag of ``mmlong ask`` and ``mmlong demo`` (``mmlong.load(clip=...)``)."""
    parser.add_argument("--clip", default=None, metavar="PATH",
                        help="CLIP weights (.pt checkpoint or transformers folder) that score frames against the "
                             "question: the direct route's relevance reduction step; on the language route the "
                             "frames most like the question, listed with the answer (default: none)")


def ranks(similarity, targets) -> list[int]:
    """0-based rank of each row's best target column: ``similarity`` (Q, N), ``targets[q]`` a list of
    the columns that are right for query q. Example: row [0.1, 0.9, 0.5] with target [2] -> rank 1."""
    import numpy as np

    sim = np.asarray(similarity, dtype=np.float64)
    out = []
    for q, cols in enumerate(targets):
        order = np.argsort(-sim[q], kind="stable")
        pos = np.flatnonzero(np.isin(order, list(cols)))
        out.append(int(pos[0]))
    return out


def recall_at_k(similarity, targets, ks=(1, 5)) -> dict:
    """``{"r@1": fraction of rows whose best target ranks < 1, "r@5": ...}``."""
    r = ranks(similarity, targets)
    return {f"r@{k}": sum(x < k for x in r) / len(r) for k in ks}
