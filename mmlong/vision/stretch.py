"""Long-CLIP's knowledge-preserved stretching of a CLIP text positional table, applied in place.

CLIP's text encoder has 77 learned absolute positions and uses well only about the first 20.
Long-CLIP keeps those rows and stretches the rest ``ratio`` times by linear interpolation, so a
77-row table becomes 20 + 57 * 4 = 248 rows and the model reads 248-token text with no new
parameters (fine-tuning then adapts the stretched rows; :mod:`mmlong.vision.pcm`).

:func:`longclip` applies it to an open_clip ``CLIP`` / ``CustomTextCLIP`` or a transformers
``CLIPModel`` / ``CLIPTextModel`` / ``CLIPTextModelWithProjection``: the table, the context
length, the causal mask (open_clip keeps a fixed-size buffer; transformers builds it per call),
the position-id buffer, the config and, when given, the tokenizer's length.
"""

from __future__ import annotations

import dataclasses
import math

from mmlong.errors import MmlongError

__all__ = ["KEEP", "RATIO", "LongClipInfo", "stretched_length", "stretch_positional_embedding", "longclip",
           "text_tables", "hf_text_module", "info"]

KEEP = 20  # rows copied unchanged (the positions CLIP trained well)
RATIO = 4  # how many new rows per old row past KEEP


@dataclasses.dataclass(frozen=True)
class LongClipInfo:
    """What :func:`longclip` did to a model (``mmlong.vision.info(model)``)."""

    keep: int
    ratio: float
    original_length: int
    length: int


def stretched_length(rows: int, keep: int = KEEP, ratio: float = RATIO) -> int:
    """``keep + (rows - keep) * ratio`` rounded down: 248 for 77 rows, keep 20, ratio 4."""
    return keep + int(math.floor((rows - keep) * ratio + 1e-9))


def _check(rows: int, keep: int, ratio: float, length: int | None) -> int:
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise MmlongError(f"keep must be an integer >= 0, got {keep!r}")
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio > 0 or not math.isfinite(ratio):
        raise MmlongError(f"ratio must be a number > 0, got {ratio!r}")
    if rows < 2:
        raise MmlongError(f"the positional table has {rows} row(s); stretching needs at least 2")
    if keep >= rows:
        raise MmlongError(f"keep={keep} leaves nothing to stretch in a {rows}-row positional table; pass keep < {rows}")
    length = stretched_length(rows, keep, ratio) if length is None else length
    if isinstance(length, bool) or not isinstance(length, int) or length < keep:
        raise MmlongError(f"length {length!r} is shorter than keep={keep}; pass a length >= keep (default "
                          f"{stretched_length(rows, keep, ratio)})")
    return length


def stretch_positional_embedding(table, *, keep: int = KEEP, ratio: float = RATIO, length: int | None = None):
    """The Long-CLIP table: ``(L, D) -> (length, D)``.

    Row ``p < keep`` is copied. Row ``p >= keep`` reads the old table at the fractional index
    ``x = keep + (p - keep) / ratio``: linear interpolation between rows ``floor(x)`` and
    ``floor(x) + 1``, and linear extrapolation from the last two rows where ``x > L - 1``.

    Worked example (L = 77, keep 20, ratio 4, length 248): row 20 = old 20; row 22 =
    (old 20 + old 21) / 2; row 24 = old 21; row 240 = old 75; row 244 = old 76; row 247 =
    old 76 + 0.75 * (old 76 - old 75).

    Args:
        table: ``(L, D)`` tensor (any float dtype; computed in at least float32, returned in its dtype).
        keep: rows copied unchanged.
        ratio: new rows per old row past ``keep``.
        length: rows of the result (default ``keep + (L - keep) * ratio``).
    """
    import torch

    rows = table.shape[0]
    length = _check(rows, keep, ratio, length)
    src = table.detach().to(torch.promote_types(table.dtype, torch.float32))
    p = torch.arange(keep, length, dtype=torch.float64)
    x = keep + (p - keep) / ratio
    lo = torch.clamp(torch.floor(x), max=rows - 2).long()  # past the end: extrapolate from the last two rows
    a = (x - lo.double()).to(src.dtype).unsqueeze(1)
    out = torch.cat([src[:keep], (1 - a) * src[lo] + a * src[lo + 1]], 0)
    return out.to(table.dtype)


def _causal_mask(n: int, like):
    import torch

    return torch.full((n, n), float("-inf"), dtype=like.dtype, device=like.device).triu_(1)


class _OpenClipText:
    """The text tower of an open_clip ``CLIP`` (attributes on the model) or ``CustomTextCLIP`` (``model.text``)."""

    def __init__(self, model):
        self.model = model
        self.owner = model.text if hasattr(model, "text") and hasattr(model.text, "positional_embedding") else model

    @property
    def table(self):
        return self.owner.positional_embedding

    def set(self, new, tokenizer) -> None:
        import torch

        old = self.owner.positional_embedding
        self.owner.positional_embedding = torch.nn.Parameter(new.to(old.device), requires_grad=old.requires_grad)
        n = new.shape[0]
        for obj in {id(self.owner): self.owner, id(self.model): self.model}.values():
            obj.context_length = n
        if hasattr(self.owner, "num_pos"):
            self.owner.num_pos = n
        if getattr(self.owner, "attn_mask", None) is not None:
            self.owner.attn_mask = _causal_mask(n, self.owner.attn_mask)
        if tokenizer is not None:
            tokenizer.context_length = n


class _HfText:
    """The text tower of a transformers ``CLIPModel`` / ``CLIPTextModel`` / ``CLIPTextModelWithProjection``."""

    def __init__(self, model):
        self.model = model
        self.text = hf_text_module(model)
        self.embeddings = self.text.embeddings

    @property
    def table(self):
        return self.embeddings.position_embedding.weight

    def set(self, new, tokenizer) -> None:
        import torch

        old = self.embeddings.position_embedding
        n, d = new.shape
        emb = torch.nn.Embedding(n, d, device=old.weight.device, dtype=old.weight.dtype)
        emb.weight.data.copy_(new)
        emb.weight.requires_grad_(old.weight.requires_grad)
        self.embeddings.position_embedding = emb
        self.embeddings.position_ids = torch.arange(n, device=old.weight.device).expand((1, -1))
        configs = [self.text.config, getattr(self.model.config, "text_config", None), self.model.config]
        for cfg in configs:
            if cfg is not None and hasattr(cfg, "max_position_embeddings"):
                cfg.max_position_embeddings = n
        if tokenizer is not None:
            tokenizer.model_max_length = n


def hf_text_module(model):
    """The transformers ``CLIPTextModel`` inside ``model`` (``model.text_model``, or ``model`` itself), or None."""
    text = getattr(model, "text_model", model)
    emb = getattr(text, "embeddings", None)
    return text if hasattr(emb, "position_embedding") and hasattr(emb, "position_ids") else None


def text_tables(model):
    """The adapter over ``model``'s text positions (``.table``, ``.set(new, tokenizer)``); a non-CLIP model fails."""
    if hasattr(model, "config") and hf_text_module(model) is not None:
        return _HfText(model)
    owner = model.text if hasattr(model, "text") else model
    if hasattr(owner, "positional_embedding") and hasattr(owner, "token_embedding") \
            and getattr(owner.positional_embedding, "ndim", 0) == 2:
        return _OpenClipText(model)
    raise MmlongError(f"{type(model).__name__} is not a CLIP model; longclip takes an open_clip CLIP / CustomTextCLIP "
                      "or a transformers CLIPModel / CLIPTextModel(WithProjection)")


def longclip(model, *, keep: int = KEEP, ratio: float = RATIO, length: int | None = None, tokenizer=None):
    """Stretch ``model``'s text positions in place (Long-CLIP) and return the model.

    A 77-position CLIP becomes a 248-position one (keep 20, ratio 4). Text shorter than
    ``keep`` tokens encodes exactly as before: its positions are the copied rows and the causal
    mask hides the longer padding.

    Args:
        model: open_clip ``CLIP`` / ``CustomTextCLIP`` or transformers ``CLIPModel`` /
            ``CLIPTextModel`` / ``CLIPTextModelWithProjection``.
        keep, ratio, length: see :func:`stretch_positional_embedding`.
        tokenizer: optional; its length is set to the new context (open_clip ``context_length``,
            transformers ``model_max_length``).
    """
    import torch

    text = text_tables(model)
    table = text.table
    with torch.no_grad():
        new = stretch_positional_embedding(table, keep=keep, ratio=ratio, length=length)
    text.set(new, tokenizer)
    previous = info(model)
    model._mmlong_longclip = LongClipInfo(keep=keep, ratio=float(ratio), length=new.shape[0],
                                          original_length=previous.original_length if previous else table.shape[0])
    return model


def info(model) -> LongClipInfo | None:
    """How :func:`longclip` stretched ``model`` (None if it did not)."""
    return getattr(model, "_mmlong_longclip", None)
