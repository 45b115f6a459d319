"""mmlong: long multimodal input for Qwen-VL-class vision-language models.

The public API is imported lazily so ``import mmlong`` stays cheap (no torch, no
transformers) until a function is used::

    import mmlong
    pipe = mmlong.load("tiny:qwen2_5_vl", pos="hope", gamma=0.75)
    print(pipe.ask("What happens at the start?", video="clip.mp4").text)
    print(mmlong.resolve("tiny:qwen2_5_vl", budget="16k"))   # the settings load would use, no weights

    model = ...  # any loaded Qwen2-VL / Qwen2.5-VL / Qwen3-VL model
    mmlong.apply(model, pos="videorope")
    mmlong.remove(model)
"""

from __future__ import annotations

# First, before anything can import torchvision: declare the operator schemas the CPU install's
# torchvision build cannot load (an import hook; ``import mmlong`` still imports no torch).
from mmlong import _torchvision_fix

_torchvision_fix.install()

from typing import TYPE_CHECKING  # noqa: E402

__version__ = "0.1.0"
__all__ = ["load", "resolve", "apply", "remove", "FrameSettings", "MmlongError", "__version__"]

from mmlong.errors import MmlongError  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover
    from mmlong.adapters import apply, remove
    from mmlong.api import load, resolve
    from mmlong.video.settings import FrameSettings


def __getattr__(name: str):
    if name in ("load", "resolve"):
        from mmlong import api

        return getattr(api, name)
    if name == "FrameSettings":
        from mmlong.video.settings import FrameSettings

        return FrameSettings
    if name in ("apply", "remove"):
        from mmlong import adapters

        return getattr(adapters, name)
    raise AttributeError(f"module 'mmlong' has no attribute {name!r}")
