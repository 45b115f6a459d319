"""Supervised fine-tuning of a Qwen-VL model on video / image / text conversations (``mmlong train sft``).

::

    mmlong train sft --model Qwen/Qwen2.5-VL-3B-Instruct --pos hope --opt gamma_choices=0.5,0.75,1,1.25,1.5 \\
        --data train.jsonl --out runs/hope --steps 2000 --batch-size 8 --lora
    accelerate launch --num_processes 8 -m mmlong.cli train sft ...     # data parallel (FSDP/DeepSpeed: a config file)

The model is loaded exactly as ``mmlong.load`` loads it, patched with the position scheme
(its training options too: HoPE draws a gamma per video from ``gamma_choices``, a new draw
every step), and trained on the conversations of :mod:`mmlong.train.data` with the loop of
:mod:`mmlong.train.loop`. LoRA (peft) adapts the language model's attention by default; the
vision tower stays frozen unless ``train_vision``. The result is exported to ``OUT/model``
(LoRA merged) as a plain transformers folder (:mod:`mmlong.train.export`); with the
scheme's inference options (``pos_options``) recorded, ``mmlong.load("OUT/model")`` runs it
under the scheme it was trained with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmlong.errors import MmlongError, require
from mmlong.train.settings import TrainSettings

__all__ = ["sft", "fit", "TRAINING_ONLY_OPTIONS"]

#: Scheme options that only make sense while training (dropped from the exported inference options).
TRAINING_ONLY_OPTIONS = ("gamma_choices", "seed")


def _trainable(model, s: TrainSettings):
    """Freeze what the settings do not train; wrap with LoRA when asked. Returns the model to train."""
    from mmlong.models.families import inner_model

    inner = inner_model(model)
    for p in model.parameters():
        p.requires_grad_(not s.lora)
    for p in inner.visual.parameters():
        p.requires_grad_(s.train_vision)
    if not s.lora:
        return model
    peft = require("peft", "train")
    config = peft.LoraConfig(r=s.lora_r, lora_alpha=s.lora_alpha, lora_dropout=s.lora_dropout,
                             target_modules=list(s.lora_targets), bias="none")
    wrapped = peft.get_peft_model(model, config)
    if s.train_vision:
        for p in inner.visual.parameters():
            p.requires_grad_(True)
    return wrapped


def fit(loaded, data: str | Path, settings: TrainSettings, *, model_name: str, pos: str = "native",
        pos_options: dict | None = None, frames: Any = None, cache_frames: bool = False, accelerator=None,
        export_dtype: Any = None, meta: dict | None = None, echo: bool = True) -> dict:
    """Train a loaded model (:class:`~mmlong.models.hub.LoadedModel`) on a conversations JSONL; export it.

    Returns:
        The loop's result plus ``"data"`` (rows used, skipped per reason) and ``"exported"``
        (the folder, on the main process).
    """
    from accelerate import Accelerator

    import mmlong
    from mmlong.models.vision_windows import batch_vision_windows
    from mmlong.pipeline.direct import DirectPipeline, PipelineConfig
    from mmlong.train.data import ConversationData, read_conversations
    from mmlong.train.export import export
    from mmlong.train.loop import run
    from mmlong.video.settings import FrameSettings

    s = settings
    acc = accelerator or Accelerator(mixed_precision=s.mixed_precision)
    model = loaded.model
    opts = dict(pos_options or {})
    mmlong.apply(model, pos, **opts)
    batch_vision_windows(model)  # one SDPA call per window length instead of one per window
    frames = FrameSettings.of(frames)
    pipe = DirectPipeline(model, loaded.tokenizer, loaded.spec, loaded.family,
                          PipelineConfig(model=model_name, family=loaded.family.name, pos=pos, pos_options=opts,
                                         frames=frames))
    rows, bad_rows = read_conversations(data)
    examples = ConversationData(rows, pipe, max_tokens=s.max_tokens, cache_frames=cache_frames)
    skipped = dict(bad_rows + examples.skipped)
    report = {"rows": len(rows) + sum(bad_rows.values()), "used": len(examples), "skipped": skipped}
    if acc.is_main_process:
        Path(s.output_dir).mkdir(parents=True, exist_ok=True)
        (Path(s.output_dir) / "data_report.json").write_text(json.dumps(report, indent=2))
        if echo:
            why = ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items())) or "none"
            print(f"data: {report['used']} of {report['rows']} conversations used; skipped: {why}", flush=True)
    if not len(examples):
        raise MmlongError(f"no usable conversation in {data} (skipped: {skipped}); see the JSONL layout in "
                          "mmlong.train.data")
    train_model = _trainable(model, s)
    if s.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if s.lora:
            model.enable_input_require_grads()
    result = run(train_model, examples, s, accelerator=acc, echo=echo)
    result["data"] = report
    if acc.is_main_process:
        inference = {k: v for k, v in opts.items() if k not in TRAINING_ONLY_OPTIONS}
        info = {"base": model_name, "data": str(data), "steps": result["step"], "final_loss": result["loss"],
                "settings": s.as_dict(), "frames": frames.as_dict(), "training_pos_options": opts, **(meta or {})}
        result["exported"] = export(acc.unwrap_model(result.pop("model")), loaded.tokenizer, loaded.spec,
                                    Path(s.output_dir) / "model", pos=pos, pos_options=inference, meta=info,
                                    dtype=export_dtype)
    else:
        result.pop("model")
    acc.wait_for_everyone()
    return result


def sft(model: str, data: str | Path, settings: TrainSettings, *, pos: str | None = None,
        pos_options: dict | None = None, frames: Any = None, echo: bool = True) -> dict:
    """``mmlong train sft``: load ``model`` (hub id, local folder or ``tiny:FAMILY``) and :func:`fit` it.

    ``pos`` None = the scheme the checkpoint records (``mmlong.json``), else ``"native"``.
    """
    from accelerate import Accelerator

    from mmlong.models.hub import load_model, trained_scheme
    from mmlong.pos_encodings.options import merge_options

    acc = Accelerator(mixed_precision=settings.mixed_precision)
    if pos is None:
        pos, recorded = trained_scheme(model)
        pos_options = merge_options(recorded, pos_options)
    loaded = load_model(model, device=str(acc.device))
    return fit(loaded, data, settings, model_name=model, pos=pos, pos_options=pos_options, frames=frames,
               accelerator=acc, echo=echo)
