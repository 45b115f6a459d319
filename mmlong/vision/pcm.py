"""Primary component matching (PCM), Long-CLIP's fine-tuning loss.

Long captions are matched to the full image feature; short captions, which name only the
salient content, to a coarse feature that keeps the image batch's first ``components``
principal components (32, as the paper). Both are symmetric InfoNCE losses with label
smoothing 0.1, added with weight 1 : ``short_weight`` (1.0 in the released code)::

    I = normalize(image);  C = pca_reconstruct(I, 32)          # (B, E) each; C is not re-normalised
    L = CE(s I T_long^T) / 2 + CE(s T_long I^T) / 2 + w * [CE(s C T_short^T) / 2 + CE(s T_short C^T) / 2]

with ``s = exp(logit_scale)``. The PCA runs over the batch, in float32.

Several processes (accelerate / torch.distributed): each computes the loss over its own share
of the batch, but the coarse feature's mean and principal directions come from the image
features of the whole global batch (:func:`gather_features`, which ``mmlong train longclip``
passes as ``gather``). Gradients: the directions are constants of the step anyway; through the
mean, a process's loss reaches only its own rows (their share of the global mean), since
``all_gather`` has no backward; the other processes' rows reach the parameters through their
own losses, and DDP averages the gradients. With one process nothing is gathered and the
numbers are those of the local batch. This differs from the authors' code in two ways that
matter only with several processes: it takes the PCA over each process's local batch, and it
all-gathers the four feature sets with gradients so that each process's rows are contrasted
with the whole global batch (targets ``rank * B + arange(B)``); here the components do not
depend on how the batch is split, and the contrastive terms stay within each process's share.
"""

from __future__ import annotations

from mmlong.errors import MmlongError

__all__ = ["COMPONENTS", "LABEL_SMOOTHING", "gather_features", "pca_reconstruct", "contrastive", "pcm_loss"]

COMPONENTS = 32  # principal components kept in the coarse image feature
LABEL_SMOOTHING = 0.1


def gather_features(x):
    """``(B, E)`` -> ``(B_0 + B_1 + ..., E)``: every process's rows, process 0's first, when
    torch.distributed runs more than one process (as accelerate does); else ``x`` itself.

    This process's rows are ``x`` itself (gradients flow to them); the others' are constants
    (``all_gather`` has no backward). Processes may hold different numbers of rows.
    """
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return x
    world, rank = dist.get_world_size(), dist.get_rank()
    n = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(sizes, n)
    sizes = [int(v) for v in sizes]
    pad = x.detach().new_zeros(max(sizes) - x.shape[0], *x.shape[1:])
    parts = [x.new_empty(max(sizes), *x.shape[1:]) for _ in range(world)]
    dist.all_gather(parts, torch.cat([x.detach(), pad]).contiguous())
    parts = [p[:k] for p, k in zip(parts, sizes)]
    parts[rank] = x
    return torch.cat(parts)


def pca_reconstruct(x, components: int = COMPONENTS, *, basis=None):
    """``(B, E) -> (B, E)``: ``x`` projected on the first ``components`` principal directions of
    ``basis`` (``(N, E)`` rows, default ``x``: the batch itself; the all-gathered batch across processes).

    Centre on the basis mean, SVD ``B_c = U S V^T``, keep ``V_k``: ``(x - mean) V_k V_k^T + mean``.
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
    ref = x if basis is None else basis.float()
    mean = ref.mean(0, keepdim=True)
    xc = x - mean
    rc = xc if basis is None else ref - mean
    with torch.no_grad():  # the directions are constants of the step: the SVD's backward divides by
        # differences of singular values (inf where two coincide, e.g. the zeros of a batch narrower than E)
        _, _, vh = torch.linalg.svd(rc.detach(), full_matrices=False)
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
             short_weight: float = 1.0, label_smoothing: float = LABEL_SMOOTHING, gather=None) -> dict:
    """The PCM loss of one batch.

    Args:
        image, long_text, short_text: ``(B, E)`` features (normalised here).
        logit_scale: the model's log temperature.
        components: principal components of the coarse image feature.
        short_weight: weight of the short-caption term.
        gather: ``(B, E) -> (N, E)``, the normalised image features of the whole global batch for
            the principal components (:func:`gather_features`); None = this batch only. Every
            process must call it (a collective).

    Returns:
        ``{"loss", "long", "short"}`` (scalars; ``loss = long + short_weight * short``).
    """
    import torch.nn.functional as F

    if len(image) < 2:
        raise MmlongError(f"PCM needs a batch of at least 2 images, got {len(image)}; raise --batch-size")
    img = F.normalize(image, dim=-1)
    coarse = pca_reconstruct(img, components, basis=None if gather is None else gather(img))
    scale = logit_scale.exp()
    long = contrastive(img, F.normalize(long_text, dim=-1), scale, label_smoothing)
    short = contrastive(coarse, F.normalize(short_text, dim=-1), scale, label_smoothing)
    return {"loss": long + short_weight * short, "long": long, "short": short}
