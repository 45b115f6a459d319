"""``mmlong train longclip``: Long-CLIP fine-tuning (stretched positions + PCM) on mmlong's training loop.

::

    mmlong train longclip --model clip.pt --images imgs/ --captions caps.jsonl --out runs/lc --steps 2000

Data: an image folder and a JSONL whose rows name an image in it and give its long caption and,
optionally, a short one (default: the long caption's first sentence, the text before the first
``". "``, as the authors built theirs)::

    {"image": "0001.jpg", "long": "A red bus waits at ... . Behind it ...", "short": "A red bus."}

The model (a released-format ``.pt``, a transformers CLIP folder, ``tiny`` for a random tiny
CLIP, or a model object from Python) is stretched with :func:`~mmlong.vision.longclip` unless it
already reads more than 77 positions; its first ``keep`` position rows stay frozen (the
authors' two tables: rows < keep come from a frozen copy, the rest are trained); both towers
are trained with :func:`~mmlong.vision.pcm.pcm_loss` by :func:`mmlong.train.loop.run`
(accelerate, checkpoints every ``save_every`` steps, resume by running the command again).
``OUT/model`` is the result: ``longclip.pt`` in the released layout for open_clip models (load
it with :func:`~mmlong.vision.load_longclip`), a transformers folder for transformers models.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from mmlong.errors import MmlongError
from mmlong.vision.stretch import KEEP, RATIO

__all__ = ["CaptionData", "read_captions", "short_caption", "freeze_rows", "unfreeze_rows", "resolve_clip",
           "train_longclip", "settings", "DEFAULTS"]

#: The authors' recipe where the caller gives no value (AdamW lr 1e-6, wd 1e-2, 200 warm-up steps, batch 128).
DEFAULTS = dict(lr=1e-6, weight_decay=0.01, warmup_steps=200, batch_size=128, lora=False, group_by_length=False)


def short_caption(long: str) -> str:
    """The text before the first ``". "`` (with its full stop): ``"A cat. It sleeps."`` -> ``"A cat."``."""
    head, sep, _ = long.partition(". ")
    return head + "." if sep else long


def read_captions(path: str | Path, images: str | Path) -> list[dict]:
    """Rows ``{"image": Path, "long": str, "short": str}``; a bad row fails naming its line."""
    path, images = Path(path), Path(images)
    if not path.is_file():
        raise MmlongError(f"no captions file at {path}; pass a JSONL of {{\"image\", \"long\", \"short\"}} rows")
    if not images.is_dir():
        raise MmlongError(f"no image folder at {images}; pass the folder the captions' images are in")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise MmlongError(f"{path}:{n} is not JSON; each line is {{\"image\", \"long\", \"short\"}}") from None
        if not isinstance(row, dict) or not isinstance(row.get("image"), str) or not isinstance(row.get("long"), str):
            raise MmlongError(f"{path}:{n} needs \"image\" (a file in {images}) and \"long\" (its long caption)")
        file = images / row["image"]
        if not file.is_file():
            raise MmlongError(f"{path}:{n}: image {row['image']!r} is not in {images}")
        long = " ".join(row["long"].split())  # newlines -> spaces, as the authors' loader
        rows.append({"image": file, "long": long, "short": row.get("short") or short_caption(long)})
    if not rows:
        raise MmlongError(f"{path} holds no caption rows")
    return rows


class CaptionData:
    """Examples for the loop: ``data[i]`` = ``{"pixels" (3, S, S), "long" (T,), "short" (T,)}``;
    ``lengths`` (token counts of the long captions) for the loop's data order."""

    def __init__(self, rows: list[dict], model, tokenizer=None):
        from mmlong.vision.features import image_size, tokenizer_for

        self.rows, self.size = rows, image_size(model)
        self.tokenize = tokenizer or tokenizer_for(model)
        self.long = self.tokenize([r["long"] for r in rows])
        self.short = self.tokenize([r["short"] for r in rows])
        self.lengths = [int((t != 0).sum()) for t in self.long]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        from PIL import Image

        from mmlong.vision.features import preprocess

        with Image.open(self.rows[i]["image"]) as im:
            pixels = preprocess([im], self.size)[0]
        return {"pixels": pixels, "long": self.long[i], "short": self.short[i]}


class PcmObjective:
    """The loop's objective for CLIP: a micro-batch is a stack of examples, its count the examples,
    its loss :func:`~mmlong.vision.pcm.pcm_loss` times the count (the loop divides by the global count).
    With several processes ``gather_features`` gives the loss the global batch: the principal
    components and both contrastive terms (each process's rows against every process's)."""

    def __init__(self, components: int, short_weight: float):
        self.components, self.short_weight = components, short_weight

    def collate(self, data, examples: list):
        import torch

        if not examples:
            return None
        return {k: torch.stack([e[k] for e in examples]) for k in ("pixels", "long", "short")}

    def count(self, batch: dict) -> int:
        return len(batch["pixels"])

    def loss(self, model, batch: dict, seed: int):
        """``model``: :func:`_towers_module`'s wrapper (DDP-prepared with several processes)."""
        from mmlong.vision.pcm import gather_features, pcm_loss

        n = len(batch["pixels"])
        image, long, short = model(batch["pixels"], batch["long"], batch["short"])  # through DDP's forward
        out = pcm_loss(image, long, short, getattr(model, "module", model).clip.logit_scale,
                       components=self.components, short_weight=self.short_weight, gather=gather_features)
        return out["loss"] * n, n


def _towers_module(clip):
    """The loop's model: ``clip`` as one module whose forward gives the three features PCM needs.

    DDP all-reduces the gradients only of a step that ran through its own forward, so the loop
    must call the prepared model itself, not the CLIP inside it.
    """
    import torch

    from mmlong.vision.features import image_features, text_features

    class PcmTowers(torch.nn.Module):
        """``(pixels (B, 3, S, S), long (B, T), short (B, T))`` -> ``(B, E)`` image, long and short features."""

        def __init__(self):
            super().__init__()
            self.clip = clip

        def forward(self, pixels, long, short):
            return image_features(self.clip, pixels), text_features(self.clip, long), text_features(self.clip, short)

    return PcmTowers()


def _keep_rows_module(keep: int, frozen):
    import torch

    class KeepRows(torch.nn.Module):
        """Parametrization: rows < keep read a frozen copy, the rest the trained table."""

        def __init__(self):
            super().__init__()
            self.keep = keep
            self.register_buffer("frozen", frozen[:keep].detach().clone())

        def forward(self, table):
            return torch.cat([self.frozen.to(table.dtype), table[self.keep:]], 0)

    return KeepRows()


def _table_owner(model):
    """(module, parameter name) of the text position table."""
    from mmlong.vision.stretch import _HfText, text_tables

    text = text_tables(model)
    if isinstance(text, _HfText):
        return text.embeddings.position_embedding, "weight"
    return text.owner, "positional_embedding"


def freeze_rows(model, keep: int):
    """Keep the first ``keep`` text position rows fixed while the rest train (in place)."""
    from torch.nn.utils import parametrize

    module, name = _table_owner(model)
    table = getattr(module, name)
    if keep > table.shape[0]:
        raise MmlongError(f"keep={keep} exceeds the model's {table.shape[0]} text positions; pass a smaller --keep")
    parametrize.register_parametrization(module, name, _keep_rows_module(keep, table))
    return model


def unfreeze_rows(model) -> None:
    """Fold :func:`freeze_rows` back into one plain table."""
    from torch.nn.utils import parametrize

    module, name = _table_owner(model)
    if parametrize.is_parametrized(module, name):
        parametrize.remove_parametrizations(module, name, leave_parametrized=True)


def resolve_clip(model, *, seed: int = 0):
    """A CLIP model from ``"tiny"``, a ``.pt`` checkpoint (released / OpenAI layout), a transformers
    CLIP folder, or a model object (returned as is)."""
    if not isinstance(model, (str, Path)):
        return model
    if str(model) == "tiny":
        from mmlong.vision.tiny import tiny_open_clip

        return tiny_open_clip(vocab=49408, seed=seed)  # CLIP's BPE vocabulary
    path = Path(model)
    if path.is_dir():
        import transformers

        if not (path / "config.json").is_file():
            raise MmlongError(f"{path} is not a transformers model folder (no config.json); pass a CLIP folder, "
                              "a .pt checkpoint or tiny")
        return transformers.CLIPModel.from_pretrained(path)
    if path.is_file():
        from mmlong.vision.checkpoint import load_longclip

        return load_longclip(path)
    raise MmlongError(f"no CLIP model at {model}; pass a .pt checkpoint, a transformers CLIP folder or tiny")


def _export(model, out: Path, keep: int) -> Path:
    import torch

    from mmlong.vision.features import is_hf

    out.mkdir(parents=True, exist_ok=True)
    if is_hf(model):
        model.save_pretrained(out)
        return out
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    pe = state.get("positional_embedding")
    if pe is None:
        raise MmlongError("only open_clip CLIP models (not CustomTextCLIP) export in the released layout")
    state["positional_embedding_res"] = pe.clone()  # rows >= keep are read from here, rows < keep from pe
    path = out / "longclip.pt"
    torch.save(state, path)
    return path


def train_longclip(model, images: str | Path, captions: str | Path, settings, *, keep: int = KEEP,
                   ratio: float = RATIO, length: int | None = None, components: int | None = None,
                   short_weight: float = 1.0, logit_scale: float | None = math.log(100), tokenizer=None,
                   accelerator=None, echo: bool = True) -> dict:
    """Fine-tune ``model`` as Long-CLIP; returns the loop's result plus ``"exported"`` and ``"data"``.

    Args:
        model: see :func:`resolve_clip`.
        images, captions: the image folder and the captions JSONL (module docstring).
        settings: a :class:`~mmlong.train.settings.TrainSettings` (fields it leaves at their
            defaults are not replaced: build it with :func:`settings` for the authors' recipe).
        keep, ratio, length: the stretch (applied when the model reads 77 positions or fewer).
        components: principal components for PCM (default 32).
        short_weight: weight of the short-caption term (1.0 as the released code).
        logit_scale: re-initialised log temperature (ln 100, as the authors); None keeps the model's.
    """
    import torch
    from accelerate import Accelerator

    from mmlong.train.loop import run
    from mmlong.vision.features import context_length
    from mmlong.vision.pcm import COMPONENTS
    from mmlong.vision.stretch import longclip, text_tables

    s = settings
    model = resolve_clip(model, seed=s.seed)
    text_tables(model)  # a model that is not CLIP fails here, in one line
    if context_length(model) <= 77:
        longclip(model, keep=keep, ratio=ratio, length=length)
    if logit_scale is not None:
        with torch.no_grad():
            model.logit_scale.fill_(logit_scale)
    freeze_rows(model, keep)
    rows = read_captions(captions, images)
    data = CaptionData(rows, model, tokenizer)
    if len(data) < s.batch_size:
        raise MmlongError(f"{len(data)} caption rows cannot fill one batch of {s.batch_size}; pass a smaller "
                          "--batch-size or more data")
    for p in model.parameters():
        p.requires_grad_(True)
    acc = accelerator or Accelerator(mixed_precision=s.mixed_precision)
    objective = PcmObjective(components or COMPONENTS, short_weight)
    result = run(_towers_module(model), data, s, accelerator=acc, echo=echo, objective=objective)
    trained = acc.unwrap_model(result.pop("model")).clip
    result["data"] = {"rows": len(data)}
    if acc.is_main_process:
        unfreeze_rows(trained)
        result["exported"] = str(_export(trained, Path(s.output_dir) / "model", keep))
        result["model"] = trained
    acc.wait_for_everyone()
    return result


def settings(out: str | Path, **fields):
    """:class:`~mmlong.train.settings.TrainSettings` with :data:`DEFAULTS` under the given fields."""
    from mmlong.train.settings import TrainSettings

    return TrainSettings.of(out, **{**DEFAULTS, **{k: v for k, v in fields.items() if v is not None}})
