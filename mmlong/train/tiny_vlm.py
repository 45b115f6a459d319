"""``mmlong train tiny-vlm``: a small Qwen2.5-VL-architecture model trained from scratch on video needles.

::

    mmlong train tiny-vlm --pos hope --out runs/tiny-vniah-hope        # ~15 minutes on 2 CPU cores

Every weight, the vision tower's included, starts random (seeded); the model learns the three
``vniah_synth`` question kinds (what, when, order) from ``mmlong data vniah`` videos of
``length`` seconds at 1 fps, sampled exactly as the eval task and ``mmlong ask`` sample them.
These models are mmlong's measuring instrument: which position scheme generalises to longer
videos than it was trained on (``benchmarks/length_generalization.py``), and what a sparse
pattern or token reduction costs on a model that has learned something. The shipped ones
load as ``mmlong.load("tiny-vniah:SCHEME")``.

The recipe is :func:`mmlong.train.sft.fit` with a model built here (:func:`build`) and full
training (no LoRA, vision tower trained); HoPE trains with dynamic temporal scaling (a gamma
drawn per video from ``HOPE_GAMMAS`` every step) and runs with gamma 1.
"""

from __future__ import annotations

from pathlib import Path

from mmlong.train.settings import TrainSettings

__all__ = ["build", "train_tiny_vlm", "training_options", "TINY_VLM", "RECIPE", "HOPE_GAMMAS", "SCHEMES"]

#: The architecture: tiny_config overrides (text width 4 * head_dim).
TINY_VLM = {"head_dim": 32, "layers": 4, "vision_depth": 2}
#: Training defaults of the recipe (TrainSettings fields).
RECIPE = {"steps": 1500, "batch_size": 16, "lr": 2e-3, "warmup_steps": 50, "schedule": "cosine",
          "weight_decay": 0.01, "lora": False, "train_vision": True, "group_by_length": False, "save_every": 250,
          "log_every": 25, "max_tokens": 4096}
HOPE_GAMMAS = (0.5, 0.75, 1.0, 1.25, 1.5)  # HoPE's dynamic temporal scaling at training time
SCHEMES = ("native", "hope", "videorope", "mrope_pp")  # the schemes whose models ship with mmlong
TRAIN_SEED_OFFSET = 1  # training videos come from seed + 1 on a stream the eval task never draws from


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


def train_tiny_vlm(pos: str, out: str | Path, *, data: str | Path | None = None, videos: int = 3000,
                   length: int = 16, seed: int = 0, echo: bool = True, **settings) -> dict:
    """Train the tiny VLM under scheme ``pos``; the model is exported to ``OUT/model``.

    Args:
        pos: the position scheme to train with.
        out: the run folder (checkpoints, log, ``model/``); an unfinished run there resumes.
        data: a ``mmlong data vniah`` folder; None = ``OUT/data``, written on first use.
        videos: training videos to write when ``data`` is None.
        length: their length in seconds (= frames at 1 fps): the training length L.
        seed: the model's initial weights and the data order; the videos use ``seed + 1``.
        **settings: :class:`TrainSettings` fields replacing :data:`RECIPE` (``steps=``, ``lr=``, ...).
    """
    from mmlong.data.vniah import write_dataset
    from mmlong.pos_encodings.registry import get_scheme
    from mmlong.train.sft import fit

    get_scheme(pos)
    out = Path(out)
    s = TrainSettings.of(out, **{**RECIPE, "seed": seed, **settings})
    if data is None:
        data = out / "data"
        if not (data / "train.jsonl").exists():
            if echo:
                print(f"writing {videos} training videos of {length} s to {data} ...", flush=True)
            write_dataset(data, videos, length=length, seed=seed + TRAIN_SEED_OFFSET)
    jsonl = Path(data) / "train.jsonl" if Path(data).is_dir() else Path(data)
    frames = {"fps": 1.0, "max_frames": 10 * length}  # every frame, as vniah_synth samples them
    return fit(build(seed), jsonl, s, model_name=f"tiny-vniah:{pos}", pos=pos, pos_options=training_options(pos),
               frames=frames, cache_frames=True, echo=echo,
               meta={"recipe": "tiny-vlm", "length": length, "architecture": TINY_VLM})
