"""The training loop every recipe shares, on ``accelerate`` (one CPU or GPU to many, FSDP/DeepSpeed by config).

::

    result = run(model, data, settings, pad_token_id=tok.pad_token_id)
    result["step"], result["loss"]          # the last step and its loss

Per optimizer step: ``grad_accum`` micro-batches of the global batch (each split over the
processes), the loss = sum of every answer token's cross-entropy / the global batch's answer
tokens (so N processes compute exactly one process's loss), gradient clipping, AdamW, the
schedule. ``OUT/train_log.jsonl`` gets one line per ``log_every`` steps (step, loss, lr,
tokens, skipped examples, seconds); ``OUT/checkpoints/step-N`` every ``save_every`` steps
holds the model, optimizer, scheduler and RNG states (``accelerator.save_state``) plus the
step; a run started again on the same ``OUT`` resumes from the newest checkpoint: the step
count, optimizer, scheduler, RNG and data order continue, and the log lines past the
checkpoint are dropped, so the loss curve of a killed and resumed run is one curve.

Per-call position inputs (per-frame video times, a per-step seed for HoPE's gamma draws) reach
a model patched by :func:`mmlong.apply` the same way ``Pipeline.ask`` hands them over.

What a step minimises is the run's ``objective`` (:class:`TokenLoss`, answer-token cross-entropy,
by default): it collates examples into a micro-batch, counts the batch's loss units (tokens,
or examples for a contrastive loss) and returns the micro-batch's loss summed over them, so any
recipe (e.g. ``mmlong train longclip``'s PCM loss) shares the checkpoints, resume and logging.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

from mmlong.errors import MmlongError
from mmlong.train.sampler import epoch_batches, position
from mmlong.train.settings import TrainSettings

__all__ = ["run", "latest_checkpoint", "read_log", "TokenLoss"]


def latest_checkpoint(out: str | Path) -> Path | None:
    """The newest ``OUT/checkpoints/step-N`` that finished writing (has ``trainer_state.json``), or None."""
    root = Path(out) / "checkpoints"
    done = [p for p in root.glob("step-*") if (p / "trainer_state.json").exists()] if root.is_dir() else []
    return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)


def read_log(out: str | Path) -> list[dict]:
    """The loss log of a run (one dict per logged step)."""
    path = Path(out) / "train_log.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def _schedule(optimizer, s: TrainSettings):
    import torch

    def factor(step: int) -> float:
        if step < s.warmup_steps:
            return (step + 1) / (s.warmup_steps + 1)
        if s.schedule == "constant":
            return 1.0
        done = min(1.0, (step - s.warmup_steps) / max(1, s.steps - s.warmup_steps))
        return 0.5 * (1 + math.cos(math.pi * done)) if s.schedule == "cosine" else 1.0 - done

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _inputs_context(model, batch: dict, seed: int):
    """Hand the batch's per-frame video times and the step's draw seed to an mmlong-patched model."""
    from mmlong.pos_encodings.patch import current, draw_seed, video_timestamps

    stack = contextlib.ExitStack()
    if current(model) is not None:
        stack.enter_context(video_timestamps(model, batch.get("video_timestamps")))
        stack.enter_context(draw_seed(model, seed))
    return stack


def _micro_batches(data, s: TrainSettings, acc, start: int, objective):
    """Micro-batches from the run's ``start``-th on: this process's slice of each global batch."""
    world, rank = acc.num_processes, acc.process_index
    if s.batch_size % world:
        raise MmlongError(f"batch_size {s.batch_size} is not divisible by the {world} processes; pass a multiple")
    try:
        per_epoch = len(epoch_batches(data.lengths, s.batch_size, seed=s.seed, epoch=0,
                                      group_by_length=s.group_by_length))
    except ValueError as exc:
        raise MmlongError(f"{exc}; pass more data or a smaller --batch-size") from None
    i = start
    while True:
        epoch, k = position(i, per_epoch)
        batches = epoch_batches(data.lengths, s.batch_size, seed=s.seed, epoch=epoch, group_by_length=s.group_by_length)
        for b in batches[k:]:
            share = b[rank * (len(b) // world):(rank + 1) * (len(b) // world)]
            yield objective.collate(data, [data[j] for j in share])
        i = (epoch + 1) * per_epoch


def _answer_tokens(labels) -> int:
    """How many tokens of a (B, L) label batch are predicted: next-token labels that are not -100."""
    return int((labels[:, 1:] != -100).sum())


def _loss_sum(model, batch: dict, seed: int):
    """(sum of the answer tokens' cross-entropy, their count) for one micro-batch."""
    import torch

    from mmlong.models.vision_inputs import model_inputs

    inner = getattr(model, "module", model)
    labels = batch["labels"]
    feed = {k: v for k, v in model_inputs(batch).items() if k not in ("labels", "dropped")}
    with _inputs_context(inner, batch, seed):
        logits = model(**feed).logits
    shift = labels[:, 1:].to(logits.device)
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), shift.reshape(-1),
                                             ignore_index=-100, reduction="sum")
    return loss, _answer_tokens(labels)


class TokenLoss:
    """The default objective: cross-entropy summed over the answer tokens (labels != -100)."""

    def collate(self, data, examples: list):
        from mmlong.train.data import collate

        return collate(examples, data.pipe.tokenizer.pad_token_id)

    def count(self, batch: dict) -> int:
        return _answer_tokens(batch["labels"])

    def loss(self, model, batch: dict, seed: int):
        return _loss_sum(model, batch, seed)


def _check_resume(out: Path, s: TrainSettings) -> None:
    saved = out / "train_settings.json"
    if saved.exists():
        old = TrainSettings(**json.loads(saved.read_text())).scoring_fields()
        diff = [k for k, v in s.scoring_fields().items() if old.get(k) != v]
        if diff:
            raise MmlongError(f"{out} holds a run made with other settings ({diff[0]}: {old.get(diff[0])!r} vs "
                              f"{s.scoring_fields()[diff[0]]!r}); pass another --out or the same settings")
    out.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(s.as_dict(), indent=2))


def run(model, data, settings: TrainSettings, *, params=None, accelerator=None, echo: bool = True,
        objective=None) -> dict:
    """Train ``model`` on ``data`` (a :class:`~mmlong.train.data.ConversationData`) for ``settings.steps`` steps.

    Args:
        model: the model (only parameters with ``requires_grad`` are trained).
        data: the examples.
        settings: the run.
        params: the parameters to optimize (default: those with ``requires_grad``).
        accelerator: an ``accelerate.Accelerator`` (default: a new one).
        echo: print progress lines (main process only).
        objective: ``collate(data, examples)``, ``count(batch)``, ``loss(model, batch, seed) -> (sum, count)``
            (default :class:`TokenLoss`).

    Returns:
        ``{"step", "loss", "resumed_from", "skipped", "seconds"}`` of this call.
    """
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    s = settings
    objective = objective or TokenLoss()
    out = Path(s.output_dir)
    acc = accelerator or Accelerator(mixed_precision=s.mixed_precision)
    if acc.is_main_process:
        _check_resume(out, s)
    acc.wait_for_everyone()
    set_seed(s.seed)
    params = [p for p in (params or model.parameters()) if p.requires_grad]
    if not params:
        raise MmlongError("nothing to train: every parameter is frozen; use --lora, --full or --train-vision")
    optimizer = torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)
    scheduler = _schedule(optimizer, s)
    model, optimizer, scheduler = acc.prepare(model, optimizer, scheduler)
    step, resumed = 0, None
    ckpt = latest_checkpoint(out)
    if ckpt is not None:
        acc.load_state(str(ckpt))
        step = json.loads((ckpt / "trainer_state.json").read_text())["step"]
        resumed = step
        if acc.is_main_process:  # log lines past the checkpoint belong to steps that run again
            kept = [r for r in read_log(out) if r["step"] <= step]
            (out / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    model.train()
    batches = _micro_batches(data, s, acc, step * s.grad_accum, objective)
    t0, last, skipped = time.perf_counter(), None, 0
    while step < s.steps:
        group = [next(batches) for _ in range(s.grad_accum)]
        local = sum(objective.count(b) for b in group if b is not None)
        total = int(acc.reduce(torch.tensor(local, device=acc.device), reduction="sum").item())
        skipped += sum(b.get("dropped", 0) if b is not None else s.batch_size // acc.num_processes for b in group)
        loss_total = torch.zeros((), device=acc.device)
        for k, b in enumerate(group):
            if b is None or total == 0:
                continue
            sync = contextlib.nullcontext() if k == len(group) - 1 else acc.no_sync(model)
            with sync:
                loss, _ = objective.loss(model, b, seed=s.seed * 1_000_003 + step)
                acc.backward(loss * acc.num_processes / total)  # DDP averages: this makes the global token mean
            loss_total += loss.detach()
        if s.max_grad_norm:
            acc.clip_grad_norm_(model.parameters(), s.max_grad_norm)  # the prepared model's (FSDP flattens them)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        last = float(acc.reduce(loss_total, reduction="sum").item()) / max(1, total)
        if acc.is_main_process and (step % s.log_every == 0 or step == s.steps):
            row = {"step": step, "loss": round(last, 6), "lr": scheduler.get_last_lr()[0], "tokens": total,
                   "skipped": skipped, "seconds": round(time.perf_counter() - t0, 2)}
            with (out / "train_log.jsonl").open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            if echo:
                print(f"step {step}/{s.steps}  loss {last:.4f}  lr {row['lr']:.2e}  {row['seconds']:.0f} s", flush=True)
        if step % s.save_every == 0 or step == s.steps:
            _save(acc, out, step, s.keep_checkpoints)
    return {"step": step, "loss": last, "resumed_from": resumed, "skipped": skipped,
            "seconds": time.perf_counter() - t0, "model": acc.unwrap_model(model)}


def _save(acc, out: Path, step: int, keep: int) -> None:
    path = out / "checkpoints" / f"step-{step}"
    acc.save_state(str(path))
    acc.wait_for_everyone()
    if acc.is_main_process:
        (path / "trainer_state.json").write_text(json.dumps({"step": step}))  # written last: marks it complete
        done = sorted((p for p in (out / "checkpoints").glob("step-*") if (p / "trainer_state.json").exists()),
                      key=lambda p: int(p.name.split("-")[1]))
        for old in done[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    acc.wait_for_everyone()
