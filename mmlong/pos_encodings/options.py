"""Run-time options of the position schemes, as one frozen dataclass.

Every knob a scheme or a frequency extension reads lives here, so it can be validated
once, printed, and written next to results. Unknown names fail with the list of valid ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mmlong.errors import MmlongError, reject_unknown_fields

AXES = ("t", "h", "w")
SCALINGS = ("pi", "ntk", "yarn", "mrope_pp")
_NUMBERS = ("gamma", "seed", "delta", "v2pe_delta", "factor", "original_max_position_embeddings", "beta_fast",
            "beta_slow", "attention_factor")


@dataclass(frozen=True)
class PosOptions:
    """Options shared by all schemes; each scheme reads the ones it needs."""

    gamma: float = 1.0  # HoPE temporal scale: t_k = b0 + gamma*k (paper: 1.5 QA, 0.75 retrieval)
    gamma_choices: tuple[float, ...] | None = None  # HoPE training: draw gamma per visual item from this set
    seed: int = 0  # seed for gamma_choices draws (deterministic per item)
    delta: float = 2.0  # VideoRoPE temporal spacing between temporal patches
    v2pe_delta: float = 0.25  # V2PE step per visual token (stride/256; README uses 1/4)
    sections: tuple[int, int, int] | None = None  # slots per axis (t, h, w); None = the model's
    scaling: str | None = None  # per-axis frequency extension: pi | ntk | yarn | mrope_pp
    factor: float | None = None  # extension factor s = target length / original length
    original_max_position_embeddings: int | None = None  # L for YaRN / M-RoPE++; None = config's
    scale_axes: tuple[str, ...] = AXES  # axes whose slots the extension touches
    ramp: str = "r"  # M-RoPE++ height ramp: "r" (paper, YaRN r-space) or "linear" (in slot index)
    beta_fast: float = 32.0  # YaRN: slots with more rotations than this are kept
    beta_slow: float = 1.0  # YaRN: slots with fewer rotations than this are interpolated
    attention_factor: float | None = None  # YaRN cos/sin scale; None = 0.1*ln(s) + 1

    def __post_init__(self):
        import numbers

        for name in _NUMBERS:
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real)):
                raise MmlongError(f"position option {name} must be a number, got {v!r}; e.g. --opt {name}=1.5")
        for name in ("gamma_choices", "sections"):
            v = getattr(self, name)
            if v is not None and not all(isinstance(x, numbers.Real) and not isinstance(x, bool) for x in v):
                raise MmlongError(f"position option {name} must be numbers, got {v!r}; e.g. --opt {name}=0.5,0.75,1.0")
        if not (self.gamma > 0):
            raise MmlongError(f"gamma must be > 0 (got {self.gamma}); HoPE uses 1.5 for long-video QA, 0.75 for retrieval")
        if self.gamma_choices is not None and any(not (g > 0) for g in self.gamma_choices):
            raise MmlongError(f"gamma_choices must all be > 0 (got {self.gamma_choices})")
        if not (self.delta > 0):
            raise MmlongError(f"delta must be > 0 (got {self.delta}); VideoRoPE uses 2")
        if not (self.v2pe_delta > 0):
            raise MmlongError(f"v2pe_delta must be > 0 (got {self.v2pe_delta}); V2PE uses 1/256 .. 1")
        if self.scaling is not None and self.scaling not in SCALINGS:
            raise MmlongError(f"unknown scaling {self.scaling!r}; choose one of {', '.join(SCALINGS)} or None")
        if self.factor is not None and not (self.factor >= 1):
            raise MmlongError(f"factor must be >= 1 (got {self.factor}); it is target length / trained length")
        bad = [a for a in self.scale_axes if a not in AXES]
        if bad:
            raise MmlongError(f"scale_axes must be a subset of {AXES} (got {self.scale_axes})")
        if self.ramp not in ("r", "linear"):
            raise MmlongError(f"ramp must be 'r' or 'linear' (got {self.ramp!r})")
        if self.sections is not None and len(self.sections) != 3:
            raise MmlongError(f"sections must give 3 slot counts (t, h, w), got {self.sections}")

    @classmethod
    def from_kwargs(cls, **opts) -> "PosOptions":
        """Build from keyword arguments, rejecting unknown names with the valid list."""
        reject_unknown_fields(cls, opts, "position option")
        for key in ("gamma_choices", "scale_axes", "sections"):
            if isinstance(opts.get(key), list):
                opts[key] = tuple(opts[key])
            elif key != "scale_axes" and isinstance(opts.get(key), (int, float)):
                opts[key] = (opts[key],)
        if isinstance(opts.get("scale_axes"), str):
            opts["scale_axes"] = tuple(opts["scale_axes"].replace(",", ""))
        return cls(**opts)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)
