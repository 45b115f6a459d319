"""Primary component matching (PCM), Long-CLIP's fine-tuning loss.

Long captions are matched to the full image feature; short captions, which name only the
salient content, to a coarse feature that keeps the image batch's first ``components``
principal components (32, as the paper). Both are symmetric InfoNCE losses with label
smoothing 0.1, added with weight 1 : ``short_weight`` (1.0 in the released code)::

    I = normalize(image);  C = pca_reconstruct(I, 32)          # (B, E) each; C is not re-normalised
    L = CE(s I T_long^T) / 2 + CE(s T_long I^T) / 2 + w * [CE(s C T_short^T) / 2 + CE(s T_short C^T) / 2]

with ``s = exp(logit_scale)``. The PCA runs over the batch, in float32. Several processes each
compute the loss over their own batch share (the authors all-gather the features first).
"""

from __future__ import annotations

from mmlong.errors import MmlongError

__all__ = ["COMPONENTS", "LABEL_SMOOTHING", "pca_reconstruct", "contrastive", "pcm_loss"]

COMPONENTS = 32  # principal components kept in the coarse image feature
LABEL_SMOOTHING = 0.1


def pca_reconstruct(x, components: int = COMPONENTS):
    """``(B, E) -> (B, E)``: ``x`` projected on its first ``components`` principal directions.

    Centre on the batch mean, SVD ``X_c = U S V^T``, keep ``V_k``: ``X_c V_k V_k^T + mean``.
    Gradients flow through the projection; ``V_k`` is held fixed in the backward pass.
    With ``components >= min(B, E)`` the result is ``x`` itself (up to rounding). Example: rows
    (0, 0), (4, 0), (0, 1), (4, 1) (mean (2, 0.5); the x axis has the larger spread) with 1
    component become (0, 0.5), (4, 0.5), (0, 0.5), (4, 0.5).
    """
    import torch

    if isinstance(components, bool) or not isinstance(components, int) or components < 1:
        raise MmlongError(f"components must be an integer >= 1, got {components!r}")
    dtype = x.dtype
    x = x.float()
    mean = x.mean(0, keepdim=True)
    xc = x - mean
    with torch.no_grad():  # the directions are constants of the step: the SVD's backward divides by
        # differences of singular values (inf where two coincide, e.g. the zeros of a batch narrower than E)
        _, _, vh = torch.linalg.svd(xc.detach(), full_matrices=False)
    v = vh[:components].t()
    return (xc @ v @ v.t() + mean).to(dtype)


def contrastive(a, b, scale, label_smoothing: float = LABEL_SMOOTHING):
    """Symmetric InfoNCE of matched rows: ``(CE(s a b^T) + CE(s b a^T)) / 2`` over the batch."""
    import torch
    import torch.nn.functional as F

    logits = scale * a @ b.t()
    y = torch.arange(len(a), device=a.device)
    return (F.cross_entropy(logits, y, label_smoothing=label_smoothing)
            + F.cross_entropy(logits.t(), y, label_smoothing=label_smoothing)) / 2


def pcm_loss(image, long_text, short_text, logit_scale, *, components: int = COMPONENTS,
             short_weight: float = 1.0, label_smoothing: float = LABEL_SMOOTHING) -> dict:
    """The PCM loss of one batch.

    Args:
        image, long_text, short_text: ``(B, E)`` features (normalised here).
        logit_scale: the model's log temperature.
        components: principal components of the coarse image feature.
        short_weight: weight of the short-caption term.

    Returns:
        ``{"loss", "long", "short"}`` (scalars; ``loss = long + short_weight * short``).
    """
    import torch.nn.functional as F

    if len(image) < 2:
        raise MmlongError(f"PCM needs a batch of at least 2 images, got {len(image)}; raise --batch-size")
    img = F.normalize(image, dim=-1)
    coarse = pca_reconstruct(img, components)
    scale = logit_scale.exp()
    long = contrastive(img, F.normalize(long_text, dim=-1), scale, label_smoothing)
    short = contrastive(coarse, F.normalize(short_text, dim=-1), scale, label_smoothing)
    return {"loss": long + short_weight * short, "long": long, "short": short}
