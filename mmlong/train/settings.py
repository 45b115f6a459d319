"""The settings of a training run: :class:`TrainSettings` (every default declared here once).

A run is ``steps`` optimizer steps over a JSONL of conversations; each step sees one global
batch of ``batch_size * grad_accum`` examples (split over the processes of ``accelerate
launch``), and the loss is the mean over every answer token of that global batch, so one
process and N processes at the same global batch compute the same loss. The settings are
written to ``OUT/train_settings.json``; ``--resume`` refuses a run made with other settings.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

from mmlong.errors import MmlongError, reject_unknown_fields

__all__ = ["TrainSettings", "SCHEDULES", "LORA_TARGETS", "RUN_LOCAL"]

SCHEDULES = ("cosine", "linear", "constant")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")  # the language model's attention (the vision tower's is qkv/proj)
RUN_LOCAL = ("output_dir", "save_every", "log_every", "keep_checkpoints", "steps")  # may change on --resume


@dataclass(frozen=True)
class TrainSettings:
    """One training run (see the module docstring)."""

    output_dir: str  # checkpoints, the loss log and the exported model go here
    steps: int = 1000  # optimizer steps; a resumed run may extend it
    batch_size: int = 8  # global examples per micro-batch (split over processes)
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = 2e-4  # peak learning rate
    warmup_steps: int = 20  # linear warm-up from 0 to lr
    schedule: str = "cosine"  # after warm-up: cosine | linear (to 0 at `steps`) | constant
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    max_grad_norm: float = 1.0  # gradient clipping (0 = off)
    seed: int = 0  # weights of new modules (LoRA), data order, per-step draws (HoPE's gamma)
    save_every: int = 200  # checkpoint every N steps (and at the end)
    log_every: int = 1  # loss log line every N steps
    keep_checkpoints: int = 2  # older checkpoints are deleted
    group_by_length: bool = True  # batch examples of similar length together (less padding)
    gradient_checkpointing: bool = False  # recompute activations in backward (less memory, ~30% slower)
    max_tokens: int = 8192  # longer examples are skipped and counted
    lora: bool = True  # train LoRA adapters (False: every selected weight, "full")
    lora_r: int = 16  # LoRA rank
    lora_alpha: int = 32  # LoRA scale numerator (scale = alpha / r)
    lora_dropout: float = 0.0  # dropout on the LoRA input
    lora_targets: tuple = LORA_TARGETS  # module names that get adapters
    train_vision: bool = False  # also train the vision tower (frozen by default)
    mixed_precision: str = "no"  # accelerate's mixed precision: no | bf16 | fp16

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "grad_accum", "save_every", "log_every", "keep_checkpoints",
                     "max_tokens", "lora_r", "lora_alpha"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise MmlongError(f"{name} must be an integer >= 1, got {v!r}; e.g. --{name.replace('_', '-')} 8")
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, numbers.Integral) \
                or self.warmup_steps < 0:
            raise MmlongError(f"warmup_steps must be an integer >= 0, got {self.warmup_steps!r}")
        for name in ("lr", "weight_decay", "max_grad_norm", "lora_dropout"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0:
                raise MmlongError(f"{name} must be a number >= 0, got {v!r}")
        if not self.lr > 0:
            raise MmlongError(f"lr must be > 0, got {self.lr!r}; e.g. --lr 2e-4")
        if self.schedule not in SCHEDULES:
            raise MmlongError(f"unknown schedule {self.schedule!r}; use one of {', '.join(SCHEDULES)}")
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            raise MmlongError(f"mixed_precision must be no, bf16 or fp16, got {self.mixed_precision!r}")
        object.__setattr__(self, "lora_targets", tuple(self.lora_targets))

    @property
    def global_batch(self) -> int:
        """Examples per optimizer step."""
        return self.batch_size * self.grad_accum

    @classmethod
    def of(cls, output_dir: str, **fields) -> "TrainSettings":
        """Settings from keyword fields; None values keep the defaults; unknown names fail with the valid list."""
        fields = {k: v for k, v in fields.items() if v is not None}
        reject_unknown_fields(cls, fields, "training setting")
        return cls(output_dir=str(output_dir), **fields)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def scoring_fields(self) -> dict:
        """The fields a resumed run must share with the original."""
        return {k: v for k, v in self.as_dict().items() if k not in RUN_LOCAL}
