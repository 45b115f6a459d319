"""Which frames of a video a model sees: :class:`FrameSettings`, declared once for every entry point.

``mmlong.load``, ``mmlong ask``, ``mmlong plan``, ``mmlong eval``, ``mmlong sparse search`` and
the demo all build one :class:`FrameSettings` and hand it to the planner
(:func:`mmlong.tokens.plan`), which turns it into frame times and a frame size for a video
before anything is decoded. Each default lives here and only here; the command-line flags
are declared once by :func:`add_frame_arguments` and read back by :func:`from_args`::

    s = FrameSettings()                     # 1 fps, at most 64 frames, the model's frame size
    s = FrameSettings(budget="64k")         # frames x resolution fitted to 65,536 visual tokens
    s.rate, s.frame_cap                     # 1.0, 768: a budget raises the default frame cap

Why not qwen-vl-utils' 2 fps / 768 frames: without a token budget nothing bounds the cost but
the frame count, and 768 frames at the model's per-frame maximum are about 295k visual tokens
(Qwen2.5-VL), far past what fits a GPU, let alone a CPU; 64 frames cost at most 24,576. With a
budget the planner lowers the frame size instead, so the cap goes up to qwen-vl-utils' 768.
1 fps instead of 2 halves the frames of every video shorter than the cap; mmlong passes each
frame's real time to the position schemes, so the rate does not distort temporal ids.

``sampling="qwen-vl-utils"`` takes qwen-vl-utils' frames instead (its defaults: 2 fps, at most
768 frames; see :mod:`mmlong.tokens.qwen_sampling`), and with it three of its options:
``total_pixels`` and ``resized_height`` / ``resized_width``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
import re
from dataclasses import dataclass
from typing import Any

from mmlong.errors import MmlongError, reject_unknown_fields

__all__ = ["FrameSettings", "parse_tokens", "add_frame_arguments", "from_args", "DEFAULT_FPS",
           "DEFAULT_MAX_FRAMES", "BUDGET_MAX_FRAMES", "DEFAULT_MIN_FRAMES", "QWEN_VL_UTILS_FPS"]

DEFAULT_FPS = 1.0  # frames per second when neither fps nor num_frames is given
DEFAULT_MAX_FRAMES = 64  # frame cap without a token budget (at most 24,576 Qwen2.5-VL visual tokens)
BUDGET_MAX_FRAMES = 768  # frame cap under a token budget (qwen-vl-utils' FPS_MAX_FRAMES)
DEFAULT_MIN_FRAMES = 4  # a short video still gets this many frames (qwen-vl-utils' FPS_MIN_FRAMES)
QWEN_VL_UTILS_FPS = 2.0  # the rate of sampling="qwen-vl-utils" when neither fps nor num_frames is given (its FPS)
_QVU_ONLY = ("total_pixels", "resized_height", "resized_width")  # options only sampling="qwen-vl-utils" reads

_TOKENS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")


def parse_tokens(value: Any) -> int:
    """A token count from an int or a string: ``"64k" -> 65536`` (k = 1024, M = 1024^2).

    Examples: ``parse_tokens(16384) == parse_tokens("16k") == 16384``;
    ``parse_tokens("1.5k") == 1536``; ``parse_tokens("256K") == 262144``.

    Raises:
        MmlongError: not a positive count.
    """
    if isinstance(value, bool):
        value = None
    if isinstance(value, numbers.Integral):
        n = int(value)
    elif isinstance(value, str) and (m := _TOKENS.match(value)):
        n = int(float(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2}[m.group(2).lower()])
    else:
        n = 0
    if n < 1:
        raise MmlongError(f"a token budget must be a positive count such as 16384, '16k' or '64k', got {value!r}")
    return n


def _positive_int(name: str, value: Any, flag: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1):
        raise MmlongError(f"{name} must be an integer >= 1, got {value!r}; e.g. {flag} 8")


def _finite(name: str, value: Any) -> None:
    if value is not None and not (isinstance(value, numbers.Real) and not isinstance(value, bool)
                                  and math.isfinite(value)):
        raise MmlongError(f"{name} must be a finite number of seconds, got {value!r}")


@dataclass(frozen=True)
class FrameSettings:
    """Which frames of a video the model sees, and at what size (see the module docstring).

    ``None`` means "the default stated on the field"; :attr:`rate` and :attr:`frame_cap`
    resolve the two that depend on other fields.
    """

    fps: float | None = None  # frames per second to sample; None = DEFAULT_FPS (1.0; stored as None) unless num_frames is set
    num_frames: int | None = None  # a fixed frame count instead of fps (exclusive with fps)
    max_frames: int | None = None  # frame cap; None = DEFAULT_MAX_FRAMES (64), BUDGET_MAX_FRAMES (768) under a budget
    min_frames: int = DEFAULT_MIN_FRAMES  # lower clamp on the fps frame count (when the video has that many)
    start: float | None = None  # window start in seconds; None = 0
    end: float | None = None  # window end in seconds; None = the video's end
    budget: int | None = None  # visual tokens per video ("64k" accepted); None = no budget: the model's frame size
    min_pixels: int | None = None  # per-frame area floor of the resized frames; None = the model's
    max_pixels: int | None = None  # per-frame area cap of the resized frames; None = the model's
    sampling: str = "mmlong"  # sampling policy (mmlong.tokens.policies.POLICIES): "mmlong", "qwen-vl-utils", "lmms-eval", ...
    total_pixels: int | None = None  # qwen-vl-utils: pixels of the whole video; None = budget * factor^2, else its own
    resized_height: int | None = None  # qwen-vl-utils: every frame resized to about this height (with resized_width)
    resized_width: int | None = None  # qwen-vl-utils: every frame resized to about this width (with resized_height)

    def __post_init__(self) -> None:
        if self.budget is not None:
            object.__setattr__(self, "budget", parse_tokens(self.budget))
        if self.fps is not None and self.num_frames is not None:
            raise MmlongError("pass fps or num_frames, not both (--fps or --num-frames)")
        if self.fps is not None and not (isinstance(self.fps, numbers.Real) and not isinstance(self.fps, bool)
                                         and math.isfinite(self.fps) and self.fps > 0):
            raise MmlongError(f"fps must be a positive number, got {self.fps!r}; e.g. --fps 1")
        if self.fps is not None and float(self.fps) == self._default_rate:
            object.__setattr__(self, "fps", None)  # the default rate has one spelling, so equal settings compare equal
        _positive_int("num_frames", self.num_frames, "--num-frames")
        _positive_int("max_frames", self.max_frames, "--max-frames")
        _positive_int("min_frames", self.min_frames, "--min-frames")
        for name in ("min_pixels", "max_pixels", *_QVU_ONLY):
            _positive_int(name, getattr(self, name), "--" + name.replace("_", "-"))
        if self.min_pixels is not None and self.max_pixels is not None and self.min_pixels > self.max_pixels:
            raise MmlongError(f"min_pixels ({self.min_pixels}) is above max_pixels ({self.max_pixels}); swap or lower it")
        _finite("start", self.start)
        _finite("end", self.end)
        if self.start is not None and self.end is not None and self.start > self.end:
            raise MmlongError(f"start ({self.start}) is after end ({self.end}); pass start <= end")
        from mmlong.tokens.policies import POLICIES

        if self.sampling not in POLICIES:
            raise MmlongError(f"unknown sampling policy {self.sampling!r}; choose one of: {', '.join(POLICIES)}")
        given = [name for name in _QVU_ONLY if getattr(self, name) is not None]
        if given and self.sampling != "qwen-vl-utils":
            raise MmlongError(f"{', '.join(given)} are qwen-vl-utils options; add --sampling qwen-vl-utils "
                              "(sampling='qwen-vl-utils'), or use --budget / --max-pixels with mmlong's sampling")
        if (self.resized_height is None) != (self.resized_width is None):
            raise MmlongError("pass resized_height and resized_width together (--resized-height H --resized-width W)")

    @property
    def _default_rate(self) -> float:
        return QWEN_VL_UTILS_FPS if self.sampling == "qwen-vl-utils" else DEFAULT_FPS

    @property
    def rate(self) -> float | None:
        """The sampling rate: ``fps``, else :data:`DEFAULT_FPS` (:data:`QWEN_VL_UTILS_FPS` under
        ``sampling="qwen-vl-utils"``); None when ``num_frames`` is set."""
        if self.num_frames is not None:
            return None
        return float(self.fps) if self.fps is not None else self._default_rate

    @property
    def frame_cap(self) -> int:
        """``max_frames``, else 768 under a budget or ``sampling="qwen-vl-utils"`` and 64 otherwise."""
        if self.max_frames is not None:
            return int(self.max_frames)
        big = self.budget is not None or self.sampling == "qwen-vl-utils"
        return BUDGET_MAX_FRAMES if big else DEFAULT_MAX_FRAMES

    @classmethod
    def of(cls, value: Any = None, **overrides: Any) -> FrameSettings:
        """Settings from a FrameSettings, a dict of fields or None, with ``overrides`` that are not None.

        Example: ``FrameSettings.of({"fps": 2}, budget="16k") == FrameSettings(fps=2, budget=16384)``.
        An override of ``num_frames`` clears an ``fps`` of the base and vice versa, so
        ``FrameSettings.of(FrameSettings(fps=2), num_frames=8)`` samples 8 frames.
        """
        if value is None:
            base = cls()
        elif isinstance(value, FrameSettings):
            base = value
        elif isinstance(value, dict):
            reject_unknown_fields(cls, value, "frame setting")
            base = cls(**value)
        else:
            raise MmlongError(f"frame settings must be a FrameSettings or a dict of its fields, got {type(value).__name__}")
        changes = {k: v for k, v in overrides.items() if v is not None}
        if not changes:
            return base
        reject_unknown_fields(cls, changes, "frame setting")
        if "num_frames" in changes and "fps" not in changes:
            changes["fps"] = None
        elif "fps" in changes and "num_frames" not in changes:
            changes["num_frames"] = None
        return dataclasses.replace(base, **changes)

    def as_dict(self) -> dict:
        """Every field, JSON-ready."""
        return dataclasses.asdict(self)

    def describe(self) -> str:
        """One line, e.g. ``"1 fps, at most 64 frames, no budget (the model's frame size)"``."""
        how = f"{self.num_frames} frames" if self.num_frames is not None else f"{self.rate:g} fps"
        parts = [how, f"at most {self.frame_cap} frames"]
        if self.num_frames is None:
            parts.append(f"at least {self.min_frames}")
        if self.start is not None or self.end is not None:
            parts.append(f"window {self.start or 0:g}-{'end' if self.end is None else f'{self.end:g}'} s")
        parts.append(f"budget {self.budget} visual tokens" if self.budget else "no budget (the model's frame size)")
        if self.sampling != "mmlong":
            parts.append(f"sampling {self.sampling}")
        parts += [f"{name} {getattr(self, name)}" for name in _QVU_ONLY if getattr(self, name) is not None]
        return ", ".join(parts)


# ----------------------------------------------------------------------------- command line

_FLAGS = ("fps", "num_frames", "max_frames", "min_frames", "start", "end", "budget", "min_pixels", "max_pixels",
          "sampling", *_QVU_ONLY)


class _Deprecated(argparse.Action):
    """``--frames N``: the old spelling of ``--num-frames``; works for one release, with a warning."""

    def __call__(self, parser, namespace, values, option_string=None):
        import sys

        print("mmlong: warning: --frames is deprecated and will be removed in the next release; use --num-frames",
              file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_frame_arguments(parser: argparse.ArgumentParser, *, budget: bool = True) -> None:
    """Declare the frame flags on ``parser`` (every one defaults to the :class:`FrameSettings` default).

    ``budget=False`` leaves out ``--budget`` / ``--sampling`` (commands that never plan a budget).
    """
    g = parser.add_argument_group("frames", "which frames of a video the model sees (mmlong.video.FrameSettings)")
    g.add_argument("--fps", type=float, default=None, help=f"frames per second to sample (default {DEFAULT_FPS:g})")
    g.add_argument("--num-frames", type=int, default=None, dest="num_frames",
                   help="sample exactly this many frames instead of --fps")
    g.add_argument("--frames", type=int, default=None, dest="num_frames", action=_Deprecated, help=argparse.SUPPRESS)
    g.add_argument("--max-frames", "--max_num_frames", type=int, default=None, dest="max_frames",
                   help=f"frame cap (default {DEFAULT_MAX_FRAMES}; {BUDGET_MAX_FRAMES} with --budget)")
    g.add_argument("--min-frames", type=int, default=None, dest="min_frames",
                   help=f"a short video still gets this many frames (default {DEFAULT_MIN_FRAMES})")
    g.add_argument("--start", type=float, default=None, help="window start in seconds (default 0)")
    g.add_argument("--end", type=float, default=None, help="window end in seconds (default: the video's end)")
    g.add_argument("--min-pixels", type=int, default=None, dest="min_pixels",
                   help="per-frame area floor of resized frames (default: the model's)")
    g.add_argument("--max-pixels", type=int, default=None, dest="max_pixels",
                   help="per-frame area cap of resized frames (default: the model's)")
    if budget:
        g.add_argument("--budget", default=None,
                       help="visual tokens per video, e.g. 16k or 64k: frames x resolution are planned to fit "
                            "(default: none, the model's frame size)")
        g.add_argument("--sampling", default=None,
                       help="which frames: mmlong (default: real-time spacing), qwen-vl-utils (its exact frames, "
                            "sizes and second_per_grid_ts), lmms-eval / lmms-eval-chat (those of lmms-eval's "
                            "Qwen2.5-VL simple / chat wrapper)")
        g.add_argument("--total-pixels", type=int, default=None, dest="total_pixels",
                       help="qwen-vl-utils sampling: pixels of the whole video (default: its MODEL_SEQ_LEN budget)")
        g.add_argument("--resized-height", type=int, default=None, dest="resized_height",
                       help="qwen-vl-utils sampling: resize every frame to about this height (with --resized-width)")
        g.add_argument("--resized-width", type=int, default=None, dest="resized_width",
                       help="qwen-vl-utils sampling: resize every frame to about this width (with --resized-height)")


def from_args(args: argparse.Namespace) -> FrameSettings:
    """The :class:`FrameSettings` for flags declared by :func:`add_frame_arguments`."""
    return FrameSettings.of(None, **{k: getattr(args, k, None) for k in _FLAGS})
