"""``mmlong train tiny-vlm``: a small Qwen2.5-VL-architecture model trained from scratch on video needles.

::

    mmlong train tiny-vlm --pos hope --out runs/tiny-vniah-hope

Every weight, the vision tower's included, starts random (seeded); the model learns the three
``vniah_synth`` question kinds (what, when, order) from ``mmlong data vniah`` videos at 1 fps,
sampled exactly as the eval task and ``mmlong ask`` sample them. These models are mmlong's
measuring instrument: which position scheme generalises to longer videos than it was trained
on (``benchmarks/length_generalization.py``), and what a sparse pattern or token reduction
costs on a model that has learned something. The shipped ones load as
``mmlong.load("tiny-vniah:SCHEME")``.

Trained directly on 16-s videos the model stays at chance for hundreds of steps: with uniform
attention the one needle frame is a small part of what the answer reads. The recipe is a
curriculum (:data:`CURRICULUM`): "what" on videos of L/8, L/4, L/2 and then L seconds (the
needle is a large part of a short video, so attention to it is learned early), then all
three kinds on L/2- and L-second videos. Each stage is :func:`mmlong.train.sft.fit` (full
training, vision tower included) from the previous stage's exported model, in
``OUT/stages/NAME/``; the last stage runs in ``OUT`` itself, so the model is ``OUT/model``.
A stopped run resumes in the stage it stopped in. HoPE trains with dynamic temporal scaling
(a gamma drawn per video from ``HOPE_GAMMAS`` every step) and runs with gamma 1.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from mmlong.train.settings import TrainSettings

__all__ = ["build", "train_tiny_vlm", "training_options", "Stage", "CURRICULUM", "TINY_VLM", "RECIPE",
           "HOPE_GAMMAS", "SCHEMES"]

#: The architecture: tiny_config overrides (text width 4 * head_dim).
TINY_VLM = {"head_dim": 32, "layers": 4, "vision_depth": 2}
#: Training defaults of the recipe (TrainSettings fields).
RECIPE = {"batch_size": 16, "lr": 2e-3, "warmup_steps": 50, "schedule": "cosine",
          "weight_decay": 0.01, "lora": False, "train_vision": True, "group_by_length": False, "save_every": 250,
          "log_every": 25, "max_tokens": 4096}
HOPE_GAMMAS = (0.5, 0.75, 1.0, 1.25, 1.5)  # HoPE's dynamic temporal scaling at training time
SCHEMES = ("native", "hope", "videorope", "mrope_pp")  # the schemes whose models ship with mmlong
TRAIN_SEED_OFFSET = 1  # training videos come from seed + 1 on a stream the eval task never draws from


@dataclass(frozen=True)
class Stage:
    """One step of the curriculum: ``steps`` optimizer steps on ``videos`` new training videos.

    ``lengths`` are fractions of the training length L (rounded, at least 2 s): with L = 16,
    ``(0.5, 1.0)`` means videos of 8 and 16 s, half of each (kinds x lengths take turns).
    """

    name: str
    lengths: tuple  # fractions of L
    kinds: tuple  # vniah question kinds
    steps: int
    videos: int

    def seconds(self, length: int) -> tuple[int, ...]:
        """The video lengths in seconds for training length ``length``: (0.125, 1.0) at 16 -> (2, 16)."""
        return tuple(max(2, round(f * length)) for f in self.lengths)


#: The recipe's curriculum (see the module docstring); the last stage is the long one.
CURRICULUM = (
    Stage("what-L8", (0.125,), ("what",), 100, 800),
    Stage("what-L4", (0.25,), ("what",), 100, 800),
    Stage("what-L2", (0.5,), ("what",), 100, 800),
    Stage("what-L", (1.0,), ("what",), 100, 800),
    Stage("all", (0.5, 1.0), ("what", "when", "order"), 600, 3000),
)


def build(seed: int = 0):
    """The untrained model (random weights from ``seed``), its tokenizer and vision settings."""
    import torch

    from mmlong.models.families import family_of
    from mmlong.models.hub import LoadedModel
    from mmlong.models.tiny import tiny_config, tiny_spec, tiny_tokenizer

    fam = family_of("qwen2_5_vl")
    config = tiny_config(fam, **TINY_VLM)
    torch.manual_seed(seed)
    model = fam.load_class()._from_config(config, attn_implementation="sdpa", dtype=torch.float32)
    gen = model.generation_config
    gen.bos_token_id, gen.eos_token_id, gen.pad_token_id = None, config.text_config.eos_token_id, \
        config.text_config.pad_token_id
    return LoadedModel(model, tiny_tokenizer(), tiny_spec(fam), fam)


def training_options(pos: str) -> dict:
    """The scheme options this recipe trains ``pos`` with (the exported model runs without the
    training-only ones: HoPE with its default gamma 1)."""
    return {"gamma_choices": HOPE_GAMMAS} if pos == "hope" else {}


def train_tiny_vlm(pos: str, out: str | Path, *, data: str | Path | None = None, length: int = 16, seed: int = 0,
                   curriculum: tuple = CURRICULUM, echo: bool = True, **settings) -> dict:
    """Train the tiny VLM under scheme ``pos``; the model is exported to ``OUT/model``.

    Args:
        pos: the position scheme to train with.
        out: the run folder (stages, checkpoints, logs, ``model/``); an unfinished run resumes.
        data: a ``mmlong data vniah`` folder to train on in one stage of ``steps`` steps instead
            of the curriculum (whose videos are written to ``OUT/data/STAGE``, in as many
            processes as torch has threads).
        length: the training length L in seconds (= frames at 1 fps).
        seed: the model's initial weights and the data order; stage k's videos use seed
            ``100 * seed + 1 + k`` on the training stream (never an eval video).
        curriculum: the stages (:class:`Stage`); :data:`CURRICULUM` is the shipped models' recipe.
        **settings: :class:`TrainSettings` fields replacing :data:`RECIPE` in every stage;
            ``steps=`` replaces the last stage's steps (or is the steps of a ``data`` run).

    Returns:
        The last stage's result (``step``, ``loss``, ``data``, ``exported``, ...) plus ``"stages"``:
        ``[{"name", "steps", "loss", "seconds"}]``.
    """
    import time

    import torch

    from mmlong.data.vniah import write_dataset
    from mmlong.models.hub import load_model
    from mmlong.pos_encodings.registry import get_scheme
    from mmlong.train.sft import fit

    get_scheme(pos)
    out = Path(out)
    steps = settings.pop("steps", None)
    if data is not None:
        curriculum = (Stage("data", (1.0,), (), steps or curriculum[-1].steps, 0),)
    elif steps is not None:
        curriculum = (*curriculum[:-1], dataclasses.replace(curriculum[-1], steps=steps))
    frames = {"fps": 1.0, "max_frames": 10 * length}  # every frame, as vniah_synth samples them
    meta = {"recipe": "tiny-vlm", "length": length, "architecture": TINY_VLM,
            "curriculum": [{"name": st.name, "seconds": list(st.seconds(length)), "kinds": list(st.kinds),
                            "steps": st.steps, "videos": st.videos} for st in curriculum]}
    done, result, previous = [], {}, None
    for k, st in enumerate(curriculum):
        folder = out if k == len(curriculum) - 1 else out / "stages" / st.name
        if folder != out and (folder / "model" / "mmlong.json").exists():  # finished: its data is not needed
            previous = folder / "model"
            continue
        if data is not None:
            jsonl = Path(data) / "train.jsonl" if Path(data).is_dir() else Path(data)
        else:
            jsonl = out / "data" / st.name / "train.jsonl"
            if not jsonl.exists():
                if echo:
                    print(f"stage {st.name}: writing {st.videos} videos of {'/'.join(map(str, st.seconds(length)))} s "
                          f"({', '.join(st.kinds)}) ...", flush=True)
                write_dataset(jsonl.parent, st.videos, length=st.seconds(length), kinds=st.kinds,
                              seed=100 * seed + TRAIN_SEED_OFFSET + k, workers=torch.get_num_threads())
        if echo:
            print(f"stage {k + 1}/{len(curriculum)} {st.name}: {st.steps} steps", flush=True)
        t0 = time.perf_counter()
        s = TrainSettings.of(folder, **{**RECIPE, "seed": seed, **settings, "steps": st.steps})
        loaded = build(seed) if previous is None else load_model(str(previous))
        result = fit(loaded, jsonl, s, model_name=f"tiny-vniah:{pos}", pos=pos, pos_options=training_options(pos),
                     frames=frames, cache_frames=True, echo=echo, meta=meta)
        done.append({"name": st.name, "steps": result["step"], "loss": result["loss"],
                     "seconds": round(time.perf_counter() - t0, 1)})
        previous = folder / "model"
    result["stages"] = done
    return result
