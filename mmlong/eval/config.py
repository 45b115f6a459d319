"""The resolved settings of one evaluation run (:class:`EvalConfig`) and its shard (:class:`Shard`).

Everything that can change a score is a field here; the whole object is printed by
``--dry-run`` and written into ``results.json``. ``--resume`` refuses to continue a run
whose scoring fields differ (see :data:`RUN_LOCAL`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from mmlong.errors import MmlongError
from mmlong.video.settings import FrameSettings

#: Fields that may differ between a run and its resumption (they do not change any answer).
RUN_LOCAL = ("limit", "only", "output_path", "log_samples", "batch_size", "prefetch", "run_id", "resume", "device")

TEST_MODELS = ("random", "oracle")


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation run."""

    model: str  # random | oracle | tiny:FAMILY | hub id | local checkpoint folder
    tasks: tuple[str, ...]  # task names, see `mmlong eval --tasks list`
    pos: str | None = None  # position scheme for mmlong.load (None = native)
    pos_options: dict = field(default_factory=dict)  # scheme options (--opt key=value)
    prefill: str | None = None  # sparse prefill attention ("mminference") or None = dense
    patterns: str | None = None  # sparse patterns: a `mmlong sparse search` JSON or one spec name (default vs)
    prefill_options: dict = field(default_factory=dict)  # sparse budgets, e.g. {"local": 512, "min_len": 8192}
    reduce: str | None = None  # visual token reduction, e.g. "temporal+budget:4096"
    frames: FrameSettings = field(default_factory=FrameSettings)  # mmlong.load's frame settings (budget, fps, ...);
    # tasks pin their own frames; frames.max_frames (--max-frames) also replaces each task's frame count
    max_new_tokens: int | None = None  # answer length cap; None = each task's default
    device: str | None = None  # torch device; None = CUDA when available (per rank under accelerate)
    dtype: str | None = None  # model dtype name; None = bf16 on CUDA, fp32 on CPU
    limit: float | None = None  # >= 1: first N docs per task; in (0, 1): that fraction; None: all
    only: tuple[str, ...] = ()  # run only these docs: "DOC_ID" (any task) or "TASK:DOC_ID"
    output_path: str | None = None  # root output folder; None = write nothing, return results
    log_samples: bool = False  # also store each prompt in the samples files
    batch_size: int = 1  # docs per generate call (left-padded; greedy answers equal batch size 1 up to float rounding)
    prefetch: bool = False  # load the next docs' media in a background thread while the model answers
    seed: int = 0  # seeds the random model, tie-breaks and unparsable-answer draws
    run_id: str | None = None  # output file prefix; None = start time (lmms-eval's date id)
    resume: bool = False  # continue run_id, skipping docs already in its samples files
    data_dirs: dict = field(default_factory=dict)  # task name (or "*") -> data folder
    task_options: dict = field(default_factory=dict)  # task name -> {option: value}

    def __post_init__(self):
        if not isinstance(self.frames, FrameSettings):
            object.__setattr__(self, "frames", FrameSettings.of(self.frames))
        if isinstance(self.tasks, str):
            object.__setattr__(self, "tasks", tuple(t for t in self.tasks.split(",") if t))
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "only", tuple(self.only))
        if not self.tasks:
            raise MmlongError("pass --tasks with at least one task; `mmlong eval --tasks list` shows them")
        if not self.model:
            raise MmlongError("pass --model: random, oracle, tiny:qwen2_5_vl, a hub id or a checkpoint folder")
        if (self.patterns or self.prefill_options) and not self.prefill:
            raise MmlongError("--patterns / --prefill-opt set sparse prefill options; add --prefill mminference")
        if self.limit is not None and not (self.limit > 0):
            raise MmlongError(f"--limit must be > 0 (got {self.limit}): N docs per task, or a fraction below 1")
        from mmlong.pipeline.base import check_batch_size, check_max_new_tokens

        check_batch_size(self.batch_size, "--batch-size")
        check_max_new_tokens(self.max_new_tokens, "--max-new-tokens")
        if self.resume and not self.run_id:
            raise MmlongError("--resume needs the run id to continue (the prefix of its _results.json)")
        if self.resume and not self.output_path:
            raise MmlongError("--resume needs --output-path, the folder the run was written to")

    def as_dict(self) -> dict:
        """Plain JSON-able dict (tuples become lists)."""
        return json_safe(dataclasses.asdict(self))

    def scoring_fields(self) -> dict:
        """The fields a resumed run must share with the original."""
        return {k: v for k, v in self.as_dict().items() if k not in RUN_LOCAL}


@dataclass(frozen=True)
class Shard:
    """Which slice of every task's docs this process runs (data parallel, as ``accelerate launch``)."""

    rank: int = 0  # this process's index
    world_size: int = 1  # number of processes

    def __post_init__(self):
        if not (0 <= self.rank < self.world_size):
            raise MmlongError(f"shard rank must be in [0, world_size), got rank {self.rank} of {self.world_size}")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def take(self, items: list) -> list:
        """Every ``world_size``-th item starting at ``rank`` (round-robin keeps long docs spread out)."""
        return list(items[self.rank :: self.world_size])

    @classmethod
    def detect(cls) -> "Shard":
        """This process's shard under ``accelerate launch`` / ``torchrun``, else (0, 1).

        accelerate's ``PartialState`` decides when it runs distributed (GPUs); otherwise the
        launcher's ``RANK`` / ``WORLD_SIZE`` (e.g. ``torchrun`` on CPU) are used.
        """
        import os

        world = int(os.environ.get("WORLD_SIZE", "1"))  # set by the launcher, not user configuration
        if world <= 1:
            return cls()
        try:
            from accelerate import PartialState

            state = PartialState()
            if state.num_processes > 1:
                return cls(state.process_index, state.num_processes)
        except Exception:  # pragma: no cover - accelerate refuses this environment: fall back to the env
            pass
        return cls(int(os.environ.get("RANK", "0")), world)


def apply_limit(items: list, limit: float | None) -> list:
    """lmms-eval's --limit: N >= 1 keeps the first N, a fraction keeps ceil(len * x)."""
    if limit is None:
        return list(items)
    n = int(limit) if limit >= 1 else int(math.ceil(len(items) * limit))
    return list(items[:n])


def json_safe(obj):
    """Tuples -> lists, Paths -> str, dataclasses -> dicts, recursively (for JSON output and comparisons)."""
    import os

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return json_safe(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
