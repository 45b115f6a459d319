"""Primary component matching (PCM), Long-CLIP's fine-tuning loss.

Long captions are matched to the full image feature; short captions, which name only the
salient content, to a coarse feature that keeps the image batch's first ``components``
principal components (32, as the paper). Both are symmetric InfoNCE losses with label
smoothing 0.1, added with weight 1 : ``short_weight`` (1.0 in the released code)::

    I = normalize(image);  C = pca_reconstruct(I, 32)          # (B, E) each; C is not re-normalised
    L = CE(s I T_long^T) / 2 + CE(s T_long I^T) / 2 + w * [CE(s C T_short^T) / 2 + CE(s T_short C^T) / 2]

with ``s = exp(logit_scale)``. The PCA runs over the batch, in float32.

Several processes (accelerate / torch.distributed), as the authors and open_clip's ``ClipLoss``
with ``gather_with_grad``: the image, long-text and short-text features of every process are
all-gathered with gradients (:func:`gather_features`, which ``mmlong train longclip`` passes as
``gather``), and each process contrasts its own ``B_r`` rows with all ``N`` rows of the global
batch in both directions, its row ``i`` matching global column ``offset_r + i`` (``offset_r``:
the rows of the processes before it; shares may differ, e.g. 3 and 5)::

    L_r = CE(s I_r T_all^T) / 2 + CE(s T_r I_all^T) / 2 + w * [the same with C, T_short]   # (B_r, N) logits

The coarse feature's mean and principal directions come from the image features of the whole
global batch, so the components do not depend on how the batch is split; the authors take the
PCA over each process's local batch instead (a deliberate difference: their coarse feature
changes with the number of processes). Gradients: the gathered rows carry them back to the
process that owns them (the gather's backward pass sums each row's gradient over the processes'
losses), so with DDP averaging the parameter gradients over ``R`` processes the update is the
gradient of ``(L_0 + ... + L_{R-1}) / R`` taken on one machine (``mmlong train longclip``'s loop
weights ``L_r`` by its share of the rows instead, ``R B_r / N``, so that every row counts once
when shares differ); the principal directions are constants of the step, the mean is not. With
one process nothing is gathered and the numbers are exactly those of the local batch.
"""

from __future__ import annotations

import functools

from mmlong.errors import MmlongError

__all__ = ["COMPONENTS", "LABEL_SMOOTHING", "gather_features", "row_offset", "pca_reconstruct", "contrastive",
           "pcm_loss"]

COMPONENTS = 32  # principal components kept in the coarse image feature
LABEL_SMOOTHING = 0.1


def _shares(n: int, device):
    """``([B_0, B_1, ...], rank)``: every process's row count (a collective), or None with fewer
    than 2 torch.distributed processes."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    count = torch.tensor([n], device=device)
    sizes = [torch.zeros_like(count) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, count)
    return [int(v) for v in sizes], dist.get_rank()


def row_offset(n: int, device="cpu") -> int:
    """Where this process's ``n`` rows start in the global batch: the rows of the processes
    before it (0 with one process). Every process must call it (a collective)."""
    shares = _shares(n, device)
    return 0 if shares is None else sum(shares[0][:shares[1]])


@functools.cache
def _all_gather_with_grad():
    """The autograd function ``(M, F) -> (R, M, F)``: every process's (equal-sized) block."""
    import torch
    import torch.distributed as dist

    class AllGather(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
            dist.all_gather(parts, x.contiguous())
            return torch.stack(parts)

        @staticmethod
        def backward(ctx, grad):  # (R, M, F): each process's gradient on every block, summed over processes
            grad = grad.contiguous()
            dist.all_reduce(grad)
            return grad[dist.get_rank()]

    return AllGather


def gather_features(x):
    """``(B, E)`` -> ``(B_0 + B_1 + ..., E)``: every process's rows, process 0's first, when
    torch.distributed runs more than one process (as accelerate does); else ``x`` itself.

    Gathered with gradients: this process's rows are ``x`` itself, and the gradient that any
    process's loss puts on a row is summed over the processes and delivered to the process that
    owns the row (an all-reduce in the backward pass, which every process must run). Processes
    may hold different numbers of rows: each share is padded to the largest, gathered, and cut back.
    """
    import torch

    shares = _shares(x.shape[0], x.device)
    if shares is None:
        return x
    sizes, rank = shares
    pad = x.new_zeros(max(sizes) - x.shape[0], *x.shape[1:])
    blocks = _all_gather_with_grad().apply(torch.cat([x, pad]))  # (R, max B, E)
    parts = [block[:k] for block, k in zip(blocks, sizes)]
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


def contrastive(a, b, scale, label_smoothing: float = LABEL_SMOOTHING, *, a_all=None, b_all=None,
                offset: int = 0):
    """Symmetric InfoNCE of matched rows: ``(CE(s a b_all^T) + CE(s b a_all^T)) / 2``, averaged over the rows.

    Args:
        a, b: ``(B, E)`` matched rows (row ``i`` of ``a`` with row ``i`` of ``b``).
        scale: ``s``, multiplies the ``(B, N)`` cosine logits.
        a_all, b_all: ``(N, E)`` the global batch the rows are contrasted with (default ``a``,
            ``b``: the batch itself), holding ``a``, ``b`` at rows ``offset .. offset + B - 1``.
        offset: the global index of row 0, the target of ``a[0]`` and ``b[0]``.
    """
    import torch
    import torch.nn.functional as F

    a_all = a if a_all is None else a_all
    b_all = b if b_all is None else b_all
    if len(a_all) != len(b_all) or not 0 <= offset <= len(a_all) - len(a):
        raise MmlongError(f"contrastive: {len(a)} rows at offset {offset} do not fit global batches of "
                          f"{len(a_all)} and {len(b_all)} rows; pass both global batches, holding the rows")
    logits = scale * a @ b_all.t()  # (B, N)
    back = logits.t() if a_all is a and b_all is b else scale * b @ a_all.t()  # (B, N)
    y = torch.arange(offset, offset + len(a), device=a.device)
    return (F.cross_entropy(logits, y, label_smoothing=label_smoothing)
            + F.cross_entropy(back, y, label_smoothing=label_smoothing)) / 2


def pcm_loss(image, long_text, short_text, logit_scale, *, components: int = COMPONENTS,
             short_weight: float = 1.0, label_smoothing: float = LABEL_SMOOTHING, gather=None) -> dict:
    """The PCM loss of one batch (this process's share of it, contrasted with the global batch).

    Args:
        image, long_text, short_text: ``(B, E)`` features (normalised here).
        logit_scale: the model's log temperature.
        components: principal components of the coarse image feature.
        short_weight: weight of the short-caption term.
        gather: ``(B, F) -> (N, F)``, every process's rows in rank order with gradients
            (:func:`gather_features`): the principal components come from all ``N`` images and
            both terms contrast this process's rows with all ``N``; None = this batch only. Every
            process must call it (a collective).

    Returns:
        ``{"loss", "long", "short"}`` (scalars; ``loss = long + short_weight * short``).
    """
    import torch
    import torch.nn.functional as F

    img, long, short = (F.normalize(t, dim=-1) for t in (image, long_text, short_text))
    img_all, long_all, short_all, offset = img, long, short, 0
    if gather is not None:
        local = torch.cat([img, long, short], 1)  # (B, 3E): one collective for the three sets
        everything = gather(local)
        if everything is not local:  # several processes
            img_all, long_all, short_all = everything.chunk(3, 1)
            offset = row_offset(len(img), img.device)
    if len(img_all) < 2:
        raise MmlongError(f"PCM needs a batch of at least 2 images, got {len(img_all)}; raise --batch-size")
    # basis passed whenever gather is, also with one process: that keeps those runs' bf16 gradients
    # bit-identical to the PCA-only gather's (basis=x and basis=None round differently in bf16)
    coarse_all = pca_reconstruct(img_all, components, basis=None if gather is None else img_all)
    coarse = coarse_all if img_all is img else coarse_all[offset:offset + len(img)]
    scale = logit_scale.exp()
    long_term = contrastive(img, long, scale, label_smoothing, a_all=img_all, b_all=long_all, offset=offset)
    short_term = contrastive(coarse, short, scale, label_smoothing, a_all=coarse_all, b_all=short_all, offset=offset)
    return {"loss": long_term + short_weight * short_term, "long": long_term, "short": short_term}
