"""Run-time options of the position schemes, as one frozen dataclass.

Every knob a scheme or a frequency extension reads lives here, so it can be validated
once, printed, and written next to results. Unknown names fail with the list of valid ones.

The knowledge-preserved stretch (:class:`Stretch`) comes in two spellings, both parsed here
by :meth:`PosOptions.from_kwargs`: nested, ``stretch={"keep": 64, "ratio": 4}`` (Python), or
flat, ``stretch_keep=64, stretch_ratio=4, stretch_temporal_only=True`` (what ``--opt k=v``
gives on the command line).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mmlong.errors import MmlongError, reject_unknown_fields

AXES = ("t", "h", "w")
SCALINGS = ("pi", "ntk", "yarn", "mrope_pp")
STRETCH_KEYS = ("keep", "ratio", "temporal_only")  # the nested form's keys; flat: stretch_<key>
_NUMBERS = ("gamma", "seed", "delta", "v2pe_delta", "factor", "original_max_position_embeddings", "beta_fast",
            "beta_slow", "attention_factor")


def _is_number(v) -> bool:
    import numbers

    return isinstance(v, numbers.Real) and not isinstance(v, bool)


@dataclass(frozen=True)
class Stretch:
    """Knowledge-preserved stretching of position ids (applied after the scheme, before frequencies).

    ``f(v) = v`` for ``v < keep`` and ``keep + (v - keep) / ratio`` beyond. By default every id
    value (t, h and w of every token) goes through ``f``; with ``temporal_only`` only the
    temporal offset ``t - t0`` of video tokens does (``t0`` = the video's first t id).
    Example: keep 8, ratio 4 maps ids 0, 7, 8, 12, 16 to 0, 7, 8, 9, 10.
    """

    keep: float  # K: ids (or, temporal_only, temporal offsets) below K are untouched
    ratio: float  # r > 0: the slope beyond K is 1 / r
    temporal_only: bool = False  # stretch only t - t0 inside video blocks; text and spatial offsets kept

    def __post_init__(self):
        if not _is_number(self.keep) or not _is_number(self.ratio):
            raise MmlongError(f"stretch keep and ratio must be numbers (got keep={self.keep!r}, ratio={self.ratio!r}); "
                              "e.g. --opt stretch_keep=64 --opt stretch_ratio=4")
        if not (self.keep >= 0):
            raise MmlongError(f"stretch keep must be >= 0 (got {self.keep}); it is the id below which nothing moves")
        if not (self.ratio > 0):
            raise MmlongError(f"stretch ratio must be > 0 (got {self.ratio}); ids beyond keep advance by 1/ratio")
        if not isinstance(self.temporal_only, bool):
            raise MmlongError(f"stretch temporal_only must be true or false (got {self.temporal_only!r})")

    @classmethod
    def parse(cls, value) -> "Stretch | None":
        """A :class:`Stretch` from None, a Stretch, or a dict with keys keep, ratio[, temporal_only]."""
        if value is None or isinstance(value, cls):
            return value
        if not isinstance(value, dict):
            raise MmlongError(f"stretch must be a dict like {{'keep': 64, 'ratio': 4}} (got {value!r})")
        bad = sorted(set(value) - set(STRETCH_KEYS))
        if bad:
            raise MmlongError(f"unknown stretch key(s) {', '.join(map(str, bad))}; valid: {', '.join(STRETCH_KEYS)}")
        missing = [k for k in ("keep", "ratio") if value.get(k) is None]
        if missing:
            raise MmlongError(f"stretch needs {' and '.join(missing)}; e.g. stretch={{'keep': 64, 'ratio': 4}} "
                              "or --opt stretch_keep=64 --opt stretch_ratio=4")
        return cls(**value)


def _pop_stretch(opts: dict):
    """Move the flat ``stretch_<key>`` options of ``opts`` into one nested ``stretch`` value."""
    flat = {k[len("stretch_"):]: opts.pop(k) for k in list(opts) if k.startswith("stretch_")}
    if not flat:
        return opts.pop("stretch", None)
    if opts.get("stretch") is not None:
        raise MmlongError("give the stretch either as stretch={...} or as stretch_keep/stretch_ratio/"
                          "stretch_temporal_only, not both")
    opts.pop("stretch", None)
    bad = sorted(set(flat) - set(STRETCH_KEYS))
    if bad:
        raise MmlongError(f"unknown position option(s) {', '.join('stretch_' + b for b in bad)}; valid stretch "
                          f"options: {', '.join('stretch_' + k for k in STRETCH_KEYS)}")
    return flat


def merge_options(base: dict, override: dict) -> dict:
    """``{**base, **override}`` for scheme option dicts, the stretch taken whole from ``override``
    when it sets one (in either spelling), so flat recorded options and a nested given one never clash.

    Example: ``merge_options({"stretch_keep": 8, "stretch_ratio": 2}, {"stretch": {"keep": 4, "ratio": 4}})``
    is ``{"stretch": {"keep": 4, "ratio": 4}}``.
    """
    base, override = dict(base or {}), dict(override or {})
    if "stretch" in override or any(k.startswith("stretch_") for k in override):
        base = {k: v for k, v in base.items() if k != "stretch" and not k.startswith("stretch_")}
    return {**base, **override}


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
    stretch: Stretch | None = None  # knowledge-preserved stretching of the ids (None = off)

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
        if self.stretch is not None and not isinstance(self.stretch, Stretch):
            object.__setattr__(self, "stretch", Stretch.parse(self.stretch))

    @classmethod
    def from_kwargs(cls, **opts) -> "PosOptions":
        """Build from keyword arguments, rejecting unknown names with the valid list.

        The stretch is accepted nested (``stretch={"keep": K, "ratio": r}``) or flat
        (``stretch_keep=K, stretch_ratio=r, stretch_temporal_only=True``).
        """
        opts = dict(opts)
        stretch = _pop_stretch(opts)
        reject_unknown_fields(cls, opts, "position option")
        opts["stretch"] = Stretch.parse(stretch)
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
